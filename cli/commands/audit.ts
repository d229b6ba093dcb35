// `fedistill audit`: export, verify, report on and cross-check the aggregator's tamper-evident audit log.
import { existsSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { CliIO, CommandSpec, FlagValues } from '../parse.ts';
import { FedistillError, UsageError } from '../../shared/util/errors.ts';
import { SiteLedger } from '../../client/site-ledger.ts';
import { chooseAuditRun, exportAuditLog, isSqliteFile, loadAuditSource, sqlite } from '../../shared/audit/audit-export.ts';
import { SqliteAuditStore } from '../../shared/audit/sqlite-audit-store.ts';
import { type VerifyResult, verifyAuditLog } from '../../shared/audit/audit-verify.ts';
import { formatProblem } from '../../shared/audit/audit-problem.ts';
import { type AuditReport, buildAuditReport, formatAuditReportText, roundLabel } from '../../shared/audit/audit-report.ts';
import { formatAuditReportHtml } from '../../shared/audit/audit-report-html.ts';
import { compareSiteLedger } from '../../shared/audit/audit-compare.ts';
import { auditAttackCommand } from './audit-attack.ts';
import { readKeyFile } from './keys.ts';
import { decodePublicKey } from '../../shared/crypto/identity.ts';

const runFlag = { type: 'string', help: 'run id (optional when the database holds one run)', arg: 'ID' } as const;
const keyFlag = { type: 'string', help: 'pin the aggregator\'s public key (base64); any other signer fails', arg: 'KEY' } as const;
const jsonFlag = { type: 'boolean', help: 'print one JSON object' } as const;
const allowUncheckedFlag = {
  type: 'boolean',
  help: 'accept releases that record no mechanism (logs written by other tools): their ε is replayed, their charge not checked; default: E_AUDIT_UNCHECKED_RELEASE',
} as const;

/** Writes a file, refusing to replace one unless --force: an audit artefact is not overwritten by accident. */
function writeOutput(path: string, text: string, force: boolean): void {
  if (!force && existsSync(path)) throw new FedistillError('E_FILE_EXISTS', `${path} already exists; choose another --out or pass --force`);
  try { writeFileSync(path, text); } catch (e) {
    throw new FedistillError('E_FILE_WRITE', `cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A note for people when --allow-unchecked let releases through whose charge nothing checked. */
function uncheckedNote(v: VerifyResult): string | undefined {
  return v.uncheckedReleases > 0
    ? `${v.uncheckedReleases} of ${v.releases.length} releases record no mechanism and were accepted unchecked (--allow-unchecked): their ε was replayed, but not checked against what a mechanism costs`
    : undefined;
}

/**
 * A note for people when the log verified without --public-key: its signatures check out under
 * the key the log carries, which whoever rewrites the log can replace, so the verdict says
 * nothing about who wrote it until the fingerprint is compared with the aggregator's.
 */
function unpinnedNote(v: VerifyResult, flags: FlagValues): string | undefined {
  return flags['public-key'] === undefined && v.fingerprint !== undefined
    ? `the signing key was not pinned: the log is intact under the key it carries itself, which anyone who rewrites the log can replace; compare fingerprint ${v.fingerprint} with the aggregator's, obtained out of band, or pass --public-key`
    : undefined;
}

/**
 * A note for people when the end of the log is not protected: a truncated log would pass. A
 * run_finished at the end does not protect it: the aggregator appends after run_finished when a
 * run is extended (restarted with more rounds) or retried after a stall, so a log cut back to an
 * earlier run_finished looks finished too. Only a budget_exhausted finish is final (nothing is
 * ever appended after it), so only that, or a signed head, goes without the note.
 */
function unsignedTailNote(v: VerifyResult): string | undefined {
  if (v.headSigned) return undefined;
  const last = v.entries.at(-1);
  if (v.finished && last?.data.status === 'budget_exhausted') return undefined;
  const why = v.source === 'database' ? 'a database has no signed chain head' : 'the export\'s header is unsigned (exported without --identity)';
  const cut = v.finished
    ? `and a finished run can be extended or retried, so a log cut back to a run_finished (this one has ${v.entries.filter((e) => e.kind === 'run_finished').length}) would pass too`
    : 'and the log has no run_finished entry, so entries removed from its end would not be detected';
  return `the end of the log is not protected: ${why}, ${cut}; to check the end, compare it with every site's ledger (audit compare), or ask the operator for an export made with --identity`;
}

/** Loads and verifies a log from an export file or a database. */
function verifySource(source: string, flags: FlagValues): VerifyResult {
  const key = flags['public-key'] as string | undefined;
  // a key that cannot be one is a mistyped argument (exit 2), not a log that failed its check
  if (key !== undefined) {
    try { decodePublicKey(key, '--public-key'); } catch (e) {
      throw new UsageError(`${(e as Error).message}: pass the aggregator's key, 44 characters, as "fedistill keys show" prints on its "public key" line (a fingerprint such as 3f2a:91c0:… is not a key)`, 'E_INVALID_PARAMETER');
    }
  }
  const { log, close } = loadAuditSource(source, flags.run as string | undefined);
  try {
    return verifyAuditLog(log, { pinnedPublicKey: flags['public-key'] as string | undefined, allowUnchecked: Boolean(flags['allow-unchecked']) });
  } finally {
    close();
  }
}

function verifySummary(v: VerifyResult): Record<string, unknown> {
  const scopes = Object.fromEntries(Object.keys(v.deltas).sort().map((s) => {
    const last = v.releases.filter((r) => r.data.scopes.includes(s)).at(-1);
    return [s, { epsilon: last?.epsilon[s] ?? 0, delta: v.deltas[s] }];
  }));
  return {
    ok: v.ok, run_id: v.runId, source: v.source, public_key: v.publicKey, fingerprint: v.fingerprint ?? null,
    entries: v.entries.length, releases: v.releases.length, finished: v.finished, head_signed: v.headSigned, privacy_unit: v.privacyUnit ?? null,
    ledger_checked: v.ledgerChecked, releases_with_mechanism: v.releases.filter((r) => r.data.mechanism !== undefined).length,
    releases_unchecked: v.uncheckedReleases, mechanism_params: v.mechanismParams ?? null, scopes, ...(v.problem ? { problem: v.problem } : {}),
  };
}

const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'write one run\'s audit log as a self-contained JSON-lines file',
  description:
    'Reads the audit_log of run ID from the aggregator database DB (read-only) and writes FILE:\n' +
    'a header line {format, version, public_key, run_id, chain_head, entries} and one line per\n' +
    'entry, all in canonical JSON. With --identity (the aggregator\'s key file) the header also\n' +
    'carries head_signature, so removing trailing entries is evident too. Format: docs/audit.md.',
  positionals: [{ name: 'db', help: 'aggregator SQLite database', required: true }],
  flags: {
    run: runFlag,
    out: { type: 'string', help: 'file to write', required: true, arg: 'FILE' },
    identity: { type: 'string', help: 'aggregator identity file, to sign the chain head', arg: 'KEYFILE' },
    force: { type: 'boolean', help: 'overwrite FILE if it exists' },
    json: jsonFlag,
  },
  examples: ['fedistill audit export runs/agg.db --run r1 --out r1.audit.jsonl --identity aggregator.key'],
  run(args, io) {
    const path = args.positionals[0]!;
    if (!existsSync(path)) throw new FedistillError('E_FILE_NOT_FOUND', `cannot read ${path} (no such file); pass the aggregator's database file`);
    if (!isSqliteFile(path)) throw new FedistillError('E_DB_OPEN', `${path} is not an SQLite database; pass the aggregator's database file`);
    const db = new Database(path, { readonly: true, fileMustExist: true });
    let text: string;
    let runId: string;
    try {
      const store = sqlite(path, () => new SqliteAuditStore(db, { readonly: true }));
      runId = sqlite(path, () => chooseAuditRun(path, store, args.flags.run as string | undefined));
      const identity = args.flags.identity ? readKeyFile(String(args.flags.identity)) : undefined;
      text = sqlite(path, () => exportAuditLog(store, runId, identity));
    } finally {
      db.close();
    }
    const out = String(args.flags.out);
    writeOutput(out, text, Boolean(args.flags.force));
    const entries = text.split('\n').length - 2;
    if (args.flags.json) io.out(JSON.stringify({ run_id: runId, out, entries, head_signed: Boolean(args.flags.identity) }));
    else io.out(`exported ${entries} entries of run ${runId} to ${out}${args.flags.identity ? ' (chain head signed)' : ''}`);
    return 0;
  },
};

const verifyCommand: CommandSpec = {
  name: 'verify',
  summary: 'check an audit log\'s chain, signatures and every reported ε',
  description:
    'Checks SOURCE (an export file or the aggregator database) entry by entry: seq continuity,\n' +
    'prev_hash links, hash recomputation, Ed25519 signatures, then replays every release\'s privacy\n' +
    'events per scope with the RDP accountant and compares the ε each release reported (relative\n' +
    'tolerance 1e-9), after checking each charge against the mechanism the release records (and\n' +
    'the record against run_started\'s mechanism_params). A release with no record is a finding\n' +
    '(E_AUDIT_UNCHECKED_RELEASE) unless --allow-unchecked. For a database, the ledger table is\n' +
    'cross-checked too. Exits 1 naming the first bad entry (seq and a stable code such as E_AUDIT_BAD_HASH).\n' +
    'Without --public-key the signatures are checked under the key the log carries itself, which a\n' +
    'forger can replace: pin the aggregator\'s key, obtained out of band (docs/audit.md, "What this does\n' +
    'and does not prove").',
  positionals: [{ name: 'source', help: 'export file or aggregator database', required: true }],
  flags: { run: runFlag, 'public-key': keyFlag, 'allow-unchecked': allowUncheckedFlag, json: jsonFlag },
  examples: ['fedistill audit verify r1.audit.jsonl --public-key "$(fedistill keys show aggregator.key --json | jq -r .public_key)"', 'fedistill audit verify runs/agg.db --run r1 --json'],
  run(args, io) {
    const v = verifySource(args.positionals[0]!, args.flags);
    if (args.flags.json) io.out(JSON.stringify(verifySummary(v)));
    else if (v.ok) {
      const pinned = args.flags['public-key'] !== undefined ? ', the pinned key' : '';
      io.out(`OK: run ${v.runId}, ${v.entries.length} entries, ${v.releases.length} releases, signed by ${v.publicKey} (fingerprint ${v.fingerprint}${pinned})${v.headSigned ? '; chain head signed' : ''}`);
      for (const [scope, s] of Object.entries(verifySummary(v).scopes as Record<string, { epsilon: number; delta: number }>)) {
        io.out(`  ${scope}: ε = ${s.epsilon} at δ = ${s.delta} (replayed, matches the log)`);
      }
      const withMechanism = v.releases.filter((r) => r.data.mechanism !== undefined).length;
      const params = v.mechanismParams ? `, and each record agrees with run_started's ${v.mechanismParams.kind} mechanism_params` : '';
      io.out(withMechanism > 0 ? `  charges: ${withMechanism} of ${v.releases.length} releases record their mechanism, and each charge is what it costs${params}`
        : `  charges: no release records its mechanism`);
      const note = uncheckedNote(v);
      if (note) io.out(`  unchecked: ${note}`);
      if (v.ledgerChecked) io.out('  ledger table: agrees with the audit log');
      else if (v.source === 'database') io.out('  ledger table: none in this database, so not cross-checked');
      const tail = unsignedTailNote(v);
      if (tail) io.err(`note: ${tail}`);
      const unpinned = unpinnedNote(v, args.flags);
      if (unpinned) io.err(`note: ${unpinned}`);
    } else io.err(`FAILED: ${formatProblem(v.problem!)}`);
    return v.ok ? 0 : 1;
  },
};

/** What `audit report --out FILE --json` prints: where the report went and its headline figures. */
function reportSummary(r: AuditReport, v: VerifyResult, out: string, format: string): Record<string, unknown> {
  return {
    ok: r.verified, out, format, run_id: r.run_id, site: r.site, verified: r.verified, finished: r.finished,
    entries: r.entries, releases: r.releases, releases_refused: r.releases_refused, releases_unchecked: v.uncheckedReleases,
    scopes: Object.fromEntries(r.scopes.map((s) => [s.scope, { epsilon: s.epsilon_spent, delta: s.delta, budget_epsilon: s.budget_epsilon, epsilon_left: s.epsilon_left }])),
    ...(r.problem ? { problem: r.problem } : {}),
  };
}

const reportCommand: CommandSpec = {
  name: 'report',
  summary: 'what a run spent: ε and δ per scope over releases, mechanisms, queries, budget left',
  description:
    'Verifies SOURCE, then reports per scope the ε (at the scope\'s δ) after every release, the\n' +
    'mechanisms used (event types and counts), queries answered and refused, releases refused\n' +
    'for budget, and budget left. --format html writes one self-contained page with an inline\n' +
    'SVG chart (opens offline). Exits 1 when the log does not verify (the report then covers\n' +
    'only the entries before the problem and says so). Text output numbers rounds from 1, as\n' +
    'the aggregator\'s log does; the JSON keeps the log\'s 0-based `round`.\n' +
    'Without --out the report is stdout, so --json is --format json (another --format is a usage\n' +
    'error). With --out FILE the report goes to FILE in --format, and --json (or --format json)\n' +
    'prints one JSON summary on stdout: {ok, out, format, run_id, verified, releases, scopes, …}.',
  positionals: [{ name: 'source', help: 'export file or aggregator database', required: true }],
  flags: {
    run: runFlag,
    site: { type: 'string', help: 'only the scope site:S and the releases involving site S', arg: 'S' },
    format: { type: 'string', help: 'report format', choices: ['text', 'json', 'html'], defaultHelp: 'json with --json, else text' },
    out: { type: 'string', help: 'write the report to FILE instead of stdout', arg: 'FILE' },
    force: { type: 'boolean', help: 'overwrite --out if it exists' },
    'public-key': keyFlag,
    'allow-unchecked': allowUncheckedFlag,
    json: { type: 'boolean', help: 'print one JSON object: the report, or with --out a summary of what was written' },
  },
  examples: [
    'fedistill audit report r1.audit.jsonl --format html --out r1.html',
    'fedistill audit report runs/agg.db --run r1 --site hospital-a --json',
    'fedistill audit report runs/agg.db --run r1 --format html --out r1.html --json',
  ],
  run(args, io) {
    const asked = args.flags.format as string | undefined;
    const out = args.flags.out as string | undefined;
    if (args.flags.json && out === undefined && asked !== undefined && asked !== 'json') {
      throw new UsageError(`--json prints the report as JSON on stdout, --format ${asked} asks for ${asked}: pass one of them, or write the ${asked} report with --out FILE and keep --json for a JSON summary`);
    }
    const format = asked ?? (args.flags.json ? 'json' : 'text');
    const v = verifySource(args.positionals[0]!, args.flags);
    const site = args.flags.site as string | undefined;
    const r = buildAuditReport(v, { site });
    if (site !== undefined && !r.sites.includes(site) && r.releases === 0) {
      io.err(`audit report: no site "${site}" in this log (sites: ${r.sites.join(', ') || 'none'}); the report covers nothing`);
    }
    // `ok` (the log verified; the command exits 1 when not) first, as in every --json output
    const text = format === 'json' ? JSON.stringify({ ok: r.verified, ...r }) : format === 'html' ? formatAuditReportHtml(r) : formatAuditReportText(r).join('\n');
    if (out !== undefined) {
      writeOutput(out, text.endsWith('\n') ? text : text + '\n', Boolean(args.flags.force));
      io.err(`audit report: wrote ${out}`);
      // --format json counts as JSON mode (a failure prints a JSON object), so success answers in JSON too.
      if (args.flags.json || format === 'json') io.out(JSON.stringify(reportSummary(r, v, out, format)));
    } else io.out(text);
    const note = uncheckedNote(v);
    if (note) io.err(`audit report: ${note}`);
    const unpinned = v.ok && !args.flags.json ? unpinnedNote(v, args.flags) : undefined;
    if (unpinned) io.err(`audit report: ${unpinned}`);
    if (!v.ok) io.err(`audit report: the log does not verify: ${formatProblem(v.problem!)}`);
    return v.ok ? 0 : 1;
  },
};

/** Whether a file given as a site ledger is really an aggregator database or audit export (arguments swapped). */
function isAggregatorLog(path: string): boolean {
  // not a regular file (a FIFO would block the read below): the site ledger's reader says so, with its own code
  try { if (isSqliteFile(path)) return true; } catch { return false; }
  const head = Buffer.alloc(64);
  let n = 0;
  try { const fd = openSync(path, 'r'); try { n = readSync(fd, head, 0, head.length, 0); } finally { closeSync(fd); } } catch { return false; }
  // An export's header is canonical JSON, so its keys come sorted: "chain_head" first.
  return head.subarray(0, n).toString('utf8').startsWith('{"chain_head":');
}

function reportCompare(io: CliIO, json: boolean, r: ReturnType<typeof compareSiteLedger>): void {
  if (json) { io.out(JSON.stringify(r)); return; }
  io.out(`${r.ok ? 'OK' : 'MISMATCH'}: site ${r.site || '?'}, run ${r.run_id}: ${r.matched}/${r.checked} releases match`
    + (r.refused ? `, ${r.refused} refused for budget` : '')
    + (r.unaggregated ? `, ${r.unaggregated} recorded but not aggregated (the log names the site among the round's failures)` : '') + (r.other_runs ? ` (${r.other_runs} entries of other runs ignored)` : ''));
  if (r.site_epsilon !== null) {
    const earlier = r.aggregator_epsilon_cumulative !== null && r.aggregator_epsilon_cumulative !== r.aggregator_epsilon
      ? ` (${r.aggregator_epsilon_cumulative} with its charges of earlier runs)` : '';
    if (r.site_noise === 'local') {
      io.out(`  site's own worst-case ε = ${r.site_epsilon} from its local noise (holds whatever the aggregator does); aggregator's charge for this run = ${r.aggregator_epsilon ?? 'n/a'}${earlier} at δ = ${r.delta}`);
    } else {
      // The relation as found: an over-charge (E_AUDIT_SITE_EPSILON) must not print as "≥".
      const relation = r.problems.some((p) => p.code === 'E_AUDIT_SITE_EPSILON') ? '<' : '≥';
      io.out(`  site's own worst-case ε = ${r.site_epsilon} ${relation} aggregator's charge for this run = ${r.aggregator_epsilon ?? 'n/a'}${earlier} at δ = ${r.delta}`);
    }
  }
  for (const p of r.problems) io.out(`  ${p.round !== null ? `round ${roundLabel(p.round)}: ` : ''}${p.code}: ${p.message}`);
}

const compareCommand: CommandSpec = {
  name: 'compare',
  summary: 'check a site\'s own ledger against the aggregator\'s audit log',
  description:
    'Verifies AGGREGATOR_LOG (export or database), then checks that every release in\n' +
    'SITE_LEDGER (the site\'s JSON-lines ledger) for the same run appears in the log at the same\n' +
    'round with the same privacy event in site_events (canonical JSON equality; for an event the\n' +
    'entry left out for size, its SHA-256 in site_events_omitted), that the log\n' +
    'attributes no other release to the site, and that the site\'s own worst-case ε for the run is\n' +
    'at least what the aggregator charged scope site:S for the run\'s releases (unless the site\n' +
    'added the noise itself). Exits 1 on any mismatch.',
  positionals: [
    { name: 'site_ledger', help: 'the site\'s ledger (JSON lines)', required: true },
    { name: 'aggregator_log', help: 'export file or aggregator database', required: true },
  ],
  flags: {
    site: { type: 'string', help: 'the site\'s name in the log (inferred when only one site fits)', arg: 'S' },
    'site-noise': { type: 'string', choices: ['local', 'central'],
      help: 'who added the noise, for a ledger that does not record it (written before its "noise" field): local when the site\'s policy.local_noise_multiplier > 0' },
    run: runFlag, 'public-key': keyFlag, 'allow-unchecked': allowUncheckedFlag, json: jsonFlag,
  },
  examples: ['fedistill audit compare site-a.ledger.jsonl r1.audit.jsonl --site site-a'],
  run(args, io) {
    const [ledgerPath, logPath] = args.positionals as [string, string];
    if (!existsSync(ledgerPath)) throw new FedistillError('E_FILE_NOT_FOUND', `cannot read ${ledgerPath}; pass the site's ledger file`);
    if (isAggregatorLog(ledgerPath)) {
      throw new UsageError(`${ledgerPath} is the aggregator's log, not a site's ledger: the site's ledger comes first, then the aggregator's export or database`);
    }
    const siteEntries = new SiteLedger(ledgerPath).all();
    const v = verifySource(logPath, args.flags);
    const r = compareSiteLedger(siteEntries, v, { site: args.flags.site as string | undefined, siteNoise: args.flags['site-noise'] as 'local' | 'central' | undefined });
    reportCompare(io, Boolean(args.flags.json), r);
    const note = uncheckedNote(v);
    if (note) io.err(`audit compare: ${note}`);
    const unpinned = v.ok && !args.flags.json ? unpinnedNote(v, args.flags) : undefined;
    if (unpinned) io.err(`audit compare: ${unpinned}`);
    return r.ok ? 0 : 1;
  },
};

export const auditCommand: CommandSpec = {
  name: 'audit',
  summary: 'export, verify and report on the aggregator\'s signed audit log',
  description:
    'The aggregator keeps a hash-chained audit log, each entry signed with its Ed25519 key, in its\n' +
    'database. These commands export it, verify it (chain, signatures, every reported ε replayed),\n' +
    'report what was spent, and compare it with a site\'s own ledger. See docs/audit.md.',
  examples: ['fedistill audit verify runs/agg.db --run r1', 'fedistill audit report r1.audit.jsonl --format html --out r1.html'],
  subcommands: [exportCommand, verifyCommand, reportCommand, compareCommand, auditAttackCommand],
};
