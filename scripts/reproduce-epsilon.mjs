// Independent auditor's check: every scope's ε in a fedistill audit export, recomputed from the papers' formulas alone.
// It imports node: builtins only (no fedistill module, no npm package), so it can be read and run on its own.
//
// Sources of every formula below (docs/privacy.md and docs/audit.md state which ones the project uses):
//   [M17]  I. Mironov, "Rényi Differential Privacy", CSF 2017. Prop. 3 (the classic conversion) and
//          Prop. 7 / Table II: the Gaussian mechanism with L2 sensitivity Δ and noise N(0, σ²) has RDP
//          α·Δ²/(2σ²) at every order α > 1, i.e. α/(2z²) with noise multiplier z = σ/Δ. RDP composes
//          by addition, order by order (Prop. 1).
//   [CKS20] C. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for Differential Privacy",
//          NeurIPS 2020, Prop. 12 (also Balle et al. 2020, "Hypothesis testing interpretations and Rényi
//          DP", AISTATS, Thm. 21): (α, ρ)-RDP ⇒ (ε, δ)-DP with
//          ε = ρ + log1p(−1/α) − (log δ + log α)/(α − 1); dp_accounting uses it for α > 1.01 only.
//          The same paper (Thm. 8–10) gives the discrete Gaussian the continuous one's RDP, which is
//          why a grid release is charged as a Gaussian.
//   [P18]  N. Papernot, S. Song, I. Mironov, A. Raghunathan, K. Talwar, Ú. Erlingsson, "Scalable
//          Private Learning with PATE", ICLR 2018: GNMax at σ is (α, α/σ²)-RDP data-independently
//          (Prop. 8; one vote moving changes the histogram by √2 in L2); Confident-GNMax's threshold
//          step (max vote + N(0, σ₁²) ≥ T, sensitivity 1) is then (α, α/(2σ₁²))-RDP.
//
// Usage: node scripts/reproduce-epsilon.mjs EXPORT.jsonl   (see --help). Exit 0: every ε agrees
// to 1e-9 relative; 1: a disagreement, a finding, or an event this script cannot reproduce; 2: bad input.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { argv, exit, stdout, stderr } from 'node:process';

const HELP = `Usage: node scripts/reproduce-epsilon.mjs EXPORT [--public-key KEY] [--tolerance REL]

Recomputes, for every privacy scope of a fedistill audit export ("fedistill audit export DB
--run ID --out EXPORT"), the ε at the scope's δ from the release records alone, with the
published RDP formulas (Mironov 2017 for the Gaussian; Papernot et al. 2018 for GNMax and
Confident-GNMax, data-independent; the conversion the run declares: Canonne-Kamath-Steinke
2020 "improved" or Mironov 2017 "classic"), over the run's order grid. Uses no fedistill code.

Each release is charged twice, independently:
  from_mechanism  what its "mechanism" record costs (noise, sensitivity derived from clip,
                  domain, grid and columns; queries and answers), checked against the run's
                  declared mechanism_params;
  from_events     its logged privacy events, each replayed with the formula of its type.
Both must equal the ε the aggregator reported after every release (epsilon_after), within
--tolerance (relative, default 1e-9).

It also checks the chain the numbers come from (docs/audit.md, "Canonical JSON"): each entry's
SHA-256 over its canonical JSON, prev_hash links, Ed25519 signatures under the header's key
(pin it with --public-key, base64, obtained out of band), the header's count, chain head and
head_signature.

Prints one JSON object: {ok, run_id, public_key, key_pinned, head_signed, finished, notes: [...],
chain: {ok, problem?}, tolerance, conversion, orders, releases, scopes: {scope: {delta, releases,
epsilon_reproduced, epsilon_ledger, abs_diff, rel_diff, order, epsilon_from_events,
worst_rel_diff_over_releases, agrees}}, findings: [...], unreproducible: [...]}. A scope with a
charge this script cannot replay (listed in unreproducible) has epsilon_reproduced, abs_diff,
rel_diff and order null (epsilon_from_events null when an event is the one), and agrees false.
  key_pinned   --public-key was given; when false, "ok" means only that the file is consistent
               under the key its own header names, which whoever rewrites the log can replace;
  head_signed  the header carries head_signature (whether it verifies is part of chain.ok); when
               false, entries removed from the end of the log (header edited to match) pass;
  finished     the last entry is run_finished; when false, the run is unfinished or the log was
               cut short, and ε may still grow;
  notes        one sentence for each of the three that is false: what it means and what to do.
               Each note is also printed to stderr as "reproduce-epsilon: note: ...".
Notes do not change "ok" or the exit status.
Exit 0: all agree; 1: a disagreement, a finding, a broken chain, or an event kind it cannot
reproduce; 2: bad input, with "reproduce-epsilon: CODE: message" on stderr (E_FILE_NOT_FOUND,
E_AUDIT_BAD_FORMAT, E_AUDIT_BAD_HEADER, E_AUDIT_BAD_ENTRY; docs/audit.md).`;

// ---------- order grid and conversion ----------

/** dp_accounting's default orders (rdp_privacy_accountant.py): 1.1…10.9 by 0.1, 11…63, 128, 256, 512, 1024. */
function dpAccountingOrders() {
  const orders = [];
  for (let i = 11; i <= 109; i++) orders.push(i / 10);
  for (let a = 11; a <= 63; a++) orders.push(a);
  orders.push(128, 256, 512, 1024);
  return orders;
}

/**
 * (ε, δ) from an RDP curve: the best order of the grid. "improved" is [CKS20] Prop. 12 as
 * dp_accounting computes it (orders ≤ 1.01 give +∞: the bound is unstable there), with its KL
 * shortcut: KL ≤ ρ at any order α > 1 and total variation ≤ √(1 − e^{−KL}) (Bretagnolle–Huber),
 * so δ² > 1 − e^{−ρ} gives ε = 0 (fedistill uses it, like the conversion, at orders > 1.01 only);
 * "classic" is [M17] Prop. 3, ε = ρ − log δ/(α − 1). At α = ∞, ε = ρ. ε is floored at 0.
 */
function epsilonAt(orders, rdp, delta, conversion) {
  let best = Infinity;
  let bestOrder = null;
  orders.forEach((a, i) => {
    const r = rdp[i];
    let eps;
    if (!Number.isFinite(r) || !(r >= 0)) eps = Infinity;
    else if (a === Infinity) eps = r;
    else if (conversion === 'classic') eps = r - Math.log(delta) / (a - 1);
    else if (!(a > 1.01)) eps = Infinity;
    else if (delta * delta + Math.expm1(-r) > 0) eps = 0;
    else eps = r + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < best) { best = eps; bestOrder = a; }
  });
  return { epsilon: Math.max(0, best), order: bestOrder };
}

// ---------- RDP of one charge, per order ----------

/** [M17] Gaussian with noise multiplier z (σ over L2 sensitivity): α/(2z²) per release. */
const gaussianRdp = (a, z) => a / (2 * z * z);
/** [P18] GNMax, data-independent: α/σ² (a vote moves: L2 change √2). */
const gnmaxRdp = (a, sigma) => a / (sigma * sigma);
/** [P18] Confident-GNMax threshold step, data-independent: α/(2σ₁²) (sensitivity 1). */
const thresholdRdp = (a, sigma1) => a / (2 * sigma1 * sigma1);

/**
 * RDP curve of one privacy event (docs/privacy.md, "Privacy events"), or null with the reason when
 * the event needs a formula this script does not implement (data-dependent PATE bounds, the
 * subsampled Gaussian, Laplace, pure ε-DP): those are reported, never counted as free.
 */
function eventRdp(event, orders) {
  const count = event.count ?? 1;
  if (!Number.isSafeInteger(count) || count < 1) return { why: `count ${JSON.stringify(event.count)} is not a positive integer` };
  const times = (curve) => ({ curve: curve.map((r) => r * count) });
  switch (event.type) {
    case 'gaussian': {
      const z = event.noise_multiplier;
      if (!(z > 0)) return { why: `gaussian noise_multiplier ${JSON.stringify(z)} is not > 0` };
      return times(orders.map((a) => gaussianRdp(a, z)));
    }
    case 'pate_threshold':
      if ('threshold' in event || 'max_vote' in event) return { why: 'pate_threshold with threshold/max_vote (data-dependent bound)' };
      if (!(event.sigma > 0)) return { why: 'pate_threshold sigma is not > 0' };
      return times(orders.map((a) => thresholdRdp(a, event.sigma)));
    case 'pate_gnmax':
      if ('votes' in event) return { why: 'pate_gnmax with votes (data-dependent bound)' };
      if (!(event.sigma > 0)) return { why: 'pate_gnmax sigma is not > 0' };
      return times(orders.map((a) => gnmaxRdp(a, event.sigma)));
    case 'composed': {
      if (!Array.isArray(event.events)) return { why: 'composed without an events array' };
      const sum = orders.map(() => 0);
      for (const inner of event.events) {
        const r = eventRdp(inner, orders);
        if (!r.curve) return r;
        r.curve.forEach((x, i) => { sum[i] += x; });
      }
      return times(sum);
    }
    default:
      return { why: `event type ${JSON.stringify(event.type)} (not implemented here)` };
  }
}

/** 2^(⌊log2 x⌋ − 23): the float32 rounding step at x (docs/privacy.md, transport rounding). */
function float32Step(x) {
  let e = Math.floor(Math.log2(x));
  if (2 ** e > x) e -= 1; // guard log2's rounding just below a power of two
  if (2 ** (e + 1) <= x) e += 1;
  return 2 ** (e - 23);
}

const close = (a, b, rel) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

/**
 * The RDP curve a release's `mechanism` record costs, derived from its primitive fields
 * (docs/audit.md, "release"; docs/privacy.md, "Mechanisms"), plus findings where the record
 * disagrees with the run's declared `mechanism_params` or with itself.
 */
function mechanismRdp(m, params, release, orders, note) {
  if (m.adjacency !== 'replace-one') note(`mechanism adjacency ${JSON.stringify(m.adjacency)} is not "replace-one"`);
  if (params && params.kind !== m.kind) note(`mechanism kind ${m.kind} but run_started declares ${params.kind}`);
  if (m.kind === 'gaussian_rows') {
    // Replace-one sensitivity of one clipped row: √2·C for probabilities (entries ≥ 0), 2·C signed;
    // plus the release grid's rounding and the float32 transport step, each per entry, over √cols.
    const base = m.domain === 'signed' ? 2 * m.clip : Math.SQRT2 * m.clip;
    const rounding = m.grid === undefined ? 0 : (m.grid + (m.transport_ulp ?? 0)) * Math.sqrt(m.cols);
    const sensitivity = base + rounding;
    if (!close(sensitivity, m.sensitivity, 1e-12)) note(`logged sensitivity ${m.sensitivity} ≠ derived ${sensitivity}`);
    if (params) {
      if (params.clip !== m.clip) note(`clip ${m.clip} ≠ declared ${params.clip}`);
      if (params.domain !== m.domain) note(`domain ${m.domain} ≠ declared ${params.domain}`);
      if (!close(m.noise_std, params.noise_multiplier * params.clip, 1e-9)) note(`noise_std ${m.noise_std} ≠ declared noise_multiplier·clip = ${params.noise_multiplier * params.clip}`);
      if (params.rows_per_round !== undefined && params.rows_per_round !== m.rows) note(`rows ${m.rows} ≠ declared ${params.rows_per_round}`);
      if (params.cols !== undefined && params.cols !== m.cols) note(`cols ${m.cols} ≠ declared ${params.cols}`);
      if (params.grid !== undefined && params.grid !== m.grid) note(`grid ${m.grid} ≠ declared ${params.grid}`);
      // A run that declares a grid sends replies as Float32, so its records must charge that rounding:
      // a record that leaves transport_ulp out claims a smaller sensitivity, hence a smaller ε.
      const step = float32Step(params.teachers_per_site * params.clip);
      if ((m.transport_ulp !== undefined || params.grid !== undefined) && m.transport_ulp !== step) {
        note(`transport_ulp ${m.transport_ulp} ≠ float32 step of teachers_per_site·clip (${step})`);
      }
    }
    // `rows` Gaussian mechanisms, noise multiplier σ/Δ, composed ([M17]).
    const z = m.noise_std / sensitivity;
    return orders.map((a) => m.rows * gaussianRdp(a, z));
  }
  if (m.kind === 'confident_gnmax') {
    if (m.accounting !== 'data-independent') return null; // data-dependent bounds need the votes and [P18]'s Thm 6
    if (params) {
      for (const k of ['threshold', 'sigma1', 'sigma2', 'accounting']) if (params[k] !== m[k]) note(`${k} ${m[k]} ≠ declared ${params[k]}`);
      if (params.queries_per_round !== undefined && params.queries_per_round !== m.queries) note(`queries ${m.queries} ≠ declared ${params.queries_per_round}`);
    }
    if (release.queries_answered !== undefined && release.queries_answered !== m.answered) note(`answered ${m.answered} ≠ queries_answered ${release.queries_answered}`);
    // Threshold step once per query, GNMax once per answered query ([P18], realized cost).
    return orders.map((a) => m.queries * thresholdRdp(a, m.sigma1) + m.answered * gnmaxRdp(a, m.sigma2));
  }
  return null;
}

// ---------- the signed chain (docs/audit.md, "Canonical JSON" and "Export file") ----------

/** A problem with the input itself, with the stable code docs/audit.md gives it (exit 2). */
class InputError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

/**
 * RFC 8785-style canonical JSON: keys sorted by UTF-16 code units, no whitespace, JSON.stringify's
 * numbers and strings. A number JSON cannot write is an error, not "null": a literal such as 1e999
 * parses to Infinity, and JSON.stringify would turn it into the null that was signed. Nesting past
 * 64 is an error too (docs/audit.md, "Canonical JSON", rule 5).
 */
function canonical(v, depth = 0) {
  if (depth > 64) throw new Error('nests deeper than 64');
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${v} (a number out of range) has no JSON form`);
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, depth + 1)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k], depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** An Ed25519 public key from its 32 raw bytes (base64), wrapped in the fixed SPKI DER prefix of RFC 8410. */
function ed25519Key(base64) {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32) throw new Error(`public key ${base64} is not 32 bytes of base64`);
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

/** The first problem in the chain, or null: seq, run, prev_hash, hash, signature, then the header's claims. */
function chainProblem(header, entries, pinnedKey) {
  if (pinnedKey !== undefined && pinnedKey !== header.public_key) return `signed by ${header.public_key}, not the pinned key ${pinnedKey}`;
  let key;
  try { key = ed25519Key(header.public_key); } catch (err) { return err.message; }
  let prev = '0'.repeat(64);
  for (const [i, e] of entries.entries()) {
    const at = `entry ${i} (seq ${e.seq})`;
    if (e.seq !== i) return `${at}: seq is not its position ${i}`;
    if (e.runId !== header.run_id) return `${at}: run ${e.runId}, not ${header.run_id}`;
    if (e.prev_hash !== prev) return `${at}: prev_hash is not the previous entry's hash`;
    const hashed = { seq: e.seq, at: e.at, kind: e.kind, runId: e.runId, round: e.round ?? null, site: e.site ?? null, data: e.data, prev_hash: e.prev_hash };
    const known = new Set([...Object.keys(hashed), 'hash', 'signature']);
    const extra = Object.keys(e).filter((k) => !known.has(k));
    if (extra.length) return `${at}: fields ${extra.join(', ')} are not covered by the hash`;
    let text;
    try { text = canonical(hashed); } catch (err) { return `${at}: not canonical JSON: ${err.message}`; }
    const hash = createHash('sha256').update(text, 'utf8').digest('hex');
    if (hash !== e.hash) return `${at}: hash does not recompute (content altered)`;
    if (typeof e.signature !== 'string' || !verify(null, Buffer.from(hash, 'hex'), key, Buffer.from(e.signature, 'base64'))) return `${at}: signature does not verify`;
    prev = hash;
  }
  if (header.entries !== entries.length) return `header says ${header.entries} entries, the file has ${entries.length}`;
  if (header.chain_head !== prev) return 'header chain_head is not the last entry\'s hash';
  if (header.head_signature !== undefined) {
    const { head_signature: sig, ...rest } = header;
    if (!verify(null, Buffer.from(canonical(rest), 'utf8'), key, Buffer.from(sig, 'base64'))) return 'head_signature does not verify (header altered)';
  }
  return null;
}

// ---------- reading the export and replaying it ----------

/** Largest export read (500 MiB): it is read as one string, and V8's strings stop just short of 512 Mi characters. */
const MAX_EXPORT_BYTES = 500 * 1024 * 1024;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The header and entry objects of an export; anything that is not that shape is an InputError. */
function readExport(path) {
  let text;
  let fd;
  try {
    // non-blocking, and a regular file only: a FIFO with no writer would hang here, /dev/zero never end
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InputError('E_AUDIT_BAD_FORMAT', `${path} is not a regular file (a pipe, socket or device): pass an audit export`);
    if (st.size > MAX_EXPORT_BYTES) throw new InputError('E_AUDIT_BAD_FORMAT', `${path} is ${st.size} bytes, over the ${MAX_EXPORT_BYTES} (500 MiB) an export is read up to: not an audit export`);
    text = readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('E_FILE_NOT_FOUND', `cannot read ${path} (${err.code ?? err.message}); check the path`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new InputError('E_AUDIT_BAD_FORMAT', `${path}: empty file`);
  const parsed = lines.map((l, i) => {
    try { return JSON.parse(l); } catch { throw new InputError('E_AUDIT_BAD_FORMAT', `${path}:${i + 1}: not JSON`); }
  });
  const [header, ...entries] = parsed;
  if (!isObject(header) || header.format !== 'fedistill-audit' || header.version !== 1) {
    throw new InputError('E_AUDIT_BAD_FORMAT', `${path}: not a fedistill-audit version 1 export (header ${lines[0].slice(0, 120)})`);
  }
  for (const [k, type] of [['public_key', 'string'], ['run_id', 'string'], ['chain_head', 'string'], ['entries', 'number']]) {
    if (typeof header[k] !== type) throw new InputError('E_AUDIT_BAD_HEADER', `${path}: header field ${k} must be a ${type}, got ${typeof header[k] === 'object' ? (header[k] === null ? 'null' : 'an object') : String(header[k]).slice(0, 60)}`);
  }
  if (header.head_signature !== undefined && typeof header.head_signature !== 'string') throw new InputError('E_AUDIT_BAD_HEADER', `${path}: header field head_signature must be a string`);
  const bad = entries.findIndex((e) => !isObject(e) || !isObject(e.data));
  if (bad >= 0) throw new InputError('E_AUDIT_BAD_ENTRY', `${path}:${bad + 2}: an entry must be a JSON object with a data object`);
  return { header, entries };
}

/** Replays the export; returns the report object. */
function reproduce(header, entries, tolerance) {
  const findings = [];
  const unreproducible = [];
  let orders = dpAccountingOrders();
  let conversion = 'improved';
  let defaultDelta;
  let params = null;
  const budgets = {};
  /**
   * scope → {delta, fromMechanism: rdp[], fromEvents: rdp[], releases, ledger, worst, broken, mechanismBroken}:
   * `broken`, some charge's events could not be replayed; `mechanismBroken`, some charge could be
   * replayed neither from its record nor from its events (its ε is then not computed: null, not 0)
   */
  const scopes = new Map();
  let releases = 0;

  const scopeOf = (name, seq) => {
    let s = scopes.get(name);
    if (!s) {
      const delta = budgets[name]?.delta ?? defaultDelta;
      if (!(delta > 0 && delta < 1)) throw new Error(`seq ${seq}: scope ${name} has no δ in (0, 1)`);
      s = { delta, fromMechanism: orders.map(() => 0), fromEvents: orders.map(() => 0), releases: 0, ledger: null, worst: 0 };
      scopes.set(name, s);
    }
    return s;
  };
  const add = (target, curve) => curve.forEach((x, i) => { target[i] += x; });

  for (const e of entries) {
    const d = e.data ?? {};
    if (e.kind === 'run_started' || e.kind === 'config_change') {
      if (e.kind === 'run_started') {
        if (d.accounting?.orders) orders = d.accounting.orders;
        if (d.accounting?.conversion) conversion = d.accounting.conversion;
        if (conversion !== 'improved' && conversion !== 'classic') throw new Error(`seq ${e.seq}: unknown conversion ${JSON.stringify(conversion)}`);
        if (!Array.isArray(orders) || !orders.every((a) => typeof a === 'number' && a > 1)) throw new Error(`seq ${e.seq}: orders must be numbers > 1`);
        params = d.mechanism_params ?? null;
        defaultDelta = d.delta;
      }
      Object.assign(budgets, d.budgets ?? {});
      // Charges a scope brings in from earlier runs: only their events exist here (verify those runs' logs).
      for (const [name, event] of Object.entries(d.carried ?? {})) {
        const s = scopeOf(name, e.seq);
        const r = eventRdp(event, orders);
        if (!r.curve) { unreproducible.push({ seq: e.seq, scope: name, why: `carried: ${r.why}` }); s.broken = true; s.mechanismBroken = true; continue; }
        add(s.fromMechanism, r.curve);
        add(s.fromEvents, r.curve);
      }
      continue;
    }
    if (e.kind === 'run_finished') {
      const runScope = `run:${header.run_id}`;
      const s = scopes.get(runScope);
      if (s && typeof d.epsilon === 'number' && !close(d.epsilon, s.ledger ?? 0, tolerance)) findings.push(`seq ${e.seq}: run_finished ε ${d.epsilon} ≠ last reported ${s.ledger} for ${runScope}`);
      continue;
    }
    if (e.kind !== 'release') continue;
    releases++;
    const note = (why) => findings.push(`seq ${e.seq}: ${why}`);
    const events = d.privacy_events ?? (d.privacy_event ? [d.privacy_event] : []);
    const fromEvents = orders.map(() => 0);
    let eventsOk = true;
    for (const ev of events) {
      const r = eventRdp(ev, orders);
      if (r.curve) add(fromEvents, r.curve);
      else { eventsOk = false; unreproducible.push({ seq: e.seq, why: r.why }); }
    }
    let fromMechanism = d.mechanism ? mechanismRdp(d.mechanism, params, d, orders, note) : null;
    if (!d.mechanism) unreproducible.push({ seq: e.seq, why: 'release without a mechanism record: charged from its events only' });
    else if (!fromMechanism) unreproducible.push({ seq: e.seq, why: `mechanism ${d.mechanism.kind} (${d.mechanism.accounting ?? 'unknown accounting'}) is not reproducible from public formulas here` });
    // without a record it reproduces, the events stand in for it: if they cannot either, nothing does
    const mechanismOk = fromMechanism !== null || eventsOk;
    if (!fromMechanism) fromMechanism = fromEvents;
    for (const name of d.scopes ?? []) {
      const s = scopeOf(name, e.seq);
      if (!eventsOk) s.broken = true;
      if (!mechanismOk) s.mechanismBroken = true;
      add(s.fromMechanism, fromMechanism);
      add(s.fromEvents, fromEvents);
      s.releases++;
      const reported = d.epsilon_after?.[name];
      if (typeof reported !== 'number') { note(`no epsilon_after for ${name}`); continue; }
      s.ledger = reported;
      if (s.mechanismBroken) continue;
      const ours = epsilonAt(orders, s.fromMechanism, s.delta, conversion).epsilon;
      const rel = Math.abs(ours - reported) / Math.max(Math.abs(ours), Math.abs(reported), Number.MIN_VALUE);
      s.worst = Math.max(s.worst, rel);
    }
  }

  const out = {};
  let ok = findings.length === 0 && unreproducible.length === 0;
  for (const [name, s] of scopes) {
    const mine = epsilonAt(orders, s.fromMechanism, s.delta, conversion);
    const viaEvents = epsilonAt(orders, s.fromEvents, s.delta, conversion);
    const ledger = s.ledger ?? 0;
    const absDiff = Math.abs(mine.epsilon - ledger);
    const relDiff = absDiff / Math.max(Math.abs(mine.epsilon), Math.abs(ledger), Number.MIN_VALUE);
    const agrees = !s.broken && close(mine.epsilon, ledger, tolerance) && close(viaEvents.epsilon, ledger, tolerance) && s.worst <= tolerance;
    if (!agrees) ok = false;
    // a scope with a charge replayed from nothing has no reproduced ε: null (0 would read as "free")
    const m = s.mechanismBroken ? null : mine;
    out[name] = {
      delta: s.delta, releases: s.releases, epsilon_reproduced: m && m.epsilon, epsilon_ledger: s.ledger,
      abs_diff: m && absDiff, rel_diff: m && relDiff, order: m && m.order, epsilon_from_events: s.broken ? null : viaEvents.epsilon,
      worst_rel_diff_over_releases: m && s.worst, agrees,
    };
  }
  return { ok, run_id: header.run_id, tolerance, conversion, orders: orders.length, releases, scopes: out, findings, unreproducible };
}

// ---------- what the check leaves unproven ----------

/**
 * What a passing check still leaves open, as {key_pinned, head_signed, finished, notes}: the
 * chain proves only consistency under the header's own key, only up to its last entry, and only
 * for the releases made so far, so a reader of "ok": true must be told which of these hold.
 */
function coverage(header, entries, pinnedKey) {
  const keyPinned = pinnedKey !== undefined;
  const headSigned = header.head_signature !== undefined;
  const finished = entries.at(-1)?.kind === 'run_finished';
  const notes = [];
  if (!keyPinned) {
    notes.push(`the signing key was not pinned: the chain checks out under ${header.public_key}, the key the export's own header names, which whoever rewrites the log can replace; obtain the aggregator's public key out of band and rerun with --public-key KEY`);
  }
  if (!headSigned) {
    notes.push('the export\'s header has no head_signature, so entries removed from the end of the log (header edited to match) would not be detected; ask the operator for an export made with `fedistill audit export … --identity` so the head is signed');
  }
  if (!finished) {
    notes.push('the log does not end with run_finished: the run is not finished (or the log was cut short), so ε may still grow; the figures here are ε so far, not the run\'s final ε');
  }
  return { key_pinned: keyPinned, head_signed: headSigned, finished, notes };
}

// ---------- command line ----------

const args = argv.slice(2);
if (args.includes('--help') || args.includes('-h')) { stdout.write(`${HELP}\n`); exit(0); }
/** Removes `--name VALUE` from args and returns VALUE (undefined when absent). */
function option(name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  if (value === undefined) { stderr.write(`${name} needs a value\n${HELP}\n`); exit(2); }
  return value;
}
const tolerance = Number(option('--tolerance') ?? 1e-9);
const publicKey = option('--public-key');
if (args.length !== 1 || !(tolerance >= 0)) { stderr.write(`${HELP}\n`); exit(2); }
let report;
let problem = null;
try {
  const { header, entries } = readExport(args[0]);
  problem = chainProblem(header, entries, publicKey);
  const { ok, run_id: runId, ...rest } = reproduce(header, entries, tolerance);
  report = {
    ok: ok && problem === null, run_id: runId, public_key: header.public_key, ...coverage(header, entries, publicKey),
    chain: problem === null ? { ok: true } : { ok: false, problem }, ...rest,
  };
} catch (err) {
  // Input that is not an export: 2. A broken chain whose content cannot even be replayed: 1, naming the break.
  if (err instanceof InputError) { stderr.write(`reproduce-epsilon: ${err.code}: ${err.message}\n`); exit(2); }
  if (problem !== null) { stderr.write(`reproduce-epsilon: E_AUDIT_BAD_ENTRY: the chain is broken (${problem}), and the entries cannot be replayed: ${err.message}\n`); exit(1); }
  stderr.write(`reproduce-epsilon: E_AUDIT_BAD_ENTRY: cannot replay the export: ${err.message}\n`);
  exit(2);
}
for (const note of report.notes) stderr.write(`reproduce-epsilon: note: ${note}\n`);
stdout.write(`${JSON.stringify(report, null, 2)}\n`);
exit(report.ok ? 0 : 1);
