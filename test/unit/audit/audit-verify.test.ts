// Tampering with an audit log in any way — a flipped byte, a lost, moved or forged entry, a lie about ε, another key — fails verify at that entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { canonicalJson } from '../../../shared/audit/canonical-json.ts';
import { hashAuditEntry, signAuditHash } from '../../../shared/audit/audit-entry.ts';
import { exportAuditLog, loadAuditSource, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { type VerifyResult, verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { encodePublicKey, generateIdentity } from '../../../shared/crypto/identity.ts';
import { type AuditFixture, buildAuditRun, CENTRAL_MECHANISM, CENTRAL_PARAMS, RELEASED_ROUNDS, RUN } from './audit-fixture.ts';
import { RELEASE_GRID } from '../../../shared/privacy/grid-gaussian.ts';
import { chargeMismatch, type GaussianRowsRecord, validateMechanismRecord } from '../../../shared/audit/mechanism-record.ts';

function verifyText(text: string, pinnedPublicKey?: string): VerifyResult {
  return verifyAuditLog(parseAuditExport(text, 'test'), { pinnedPublicKey });
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').trimEnd().split('\n');
}

/** Positions of characters in a JSON value's text that can change without breaking JSON: letters/digits in strings, digits in numbers. */
function mutablePositions(valueText: string): number[] {
  const out: number[] = [];
  let inString = false;
  for (let i = 0; i < valueText.length; i++) {
    const c = valueText[i]!;
    if (c === '"' && valueText[i - 1] !== '\\') { inString = !inString; continue; }
    if ((inString && /[A-Za-z0-9]/.test(c) && valueText[i - 1] !== '\\') || (!inString && /[0-9]/.test(c))) out.push(i);
  }
  return out;
}

function flip(c: string): string {
  if (/[0-9]/.test(c)) return String((Number(c) + 1) % 10);
  return c === 'a' ? 'b' : c === 'A' ? 'B' : /[a-z]/.test(c) ? 'a' : 'A';
}

const EXPECTED: Record<string, string[]> = {
  seq: ['E_AUDIT_SEQ_GAP'], at: ['E_AUDIT_BAD_HASH', 'E_AUDIT_BAD_ENTRY'], kind: ['E_AUDIT_BAD_ENTRY'],
  runId: ['E_AUDIT_RUN_MISMATCH'], round: ['E_AUDIT_BAD_HASH'], site: ['E_AUDIT_BAD_HASH'], data: ['E_AUDIT_BAD_HASH'],
  prev_hash: ['E_AUDIT_BAD_PREV_HASH'], hash: ['E_AUDIT_BAD_HASH'], signature: ['E_AUDIT_BAD_SIGNATURE'],
};

test('one changed character in any field value of any entry fails verify at that entry', () => {
  const f = buildAuditRun();
  try {
    const all = lines(f.exportTo());
    assert.equal(verifyText(all.join('\n')).ok, true);
    let mutations = 0;
    for (let i = 1; i < all.length; i++) {
      const entry = JSON.parse(all[i]!) as Record<string, unknown>;
      for (const field of Object.keys(EXPECTED)) {
        const valueText = canonicalJson(entry[field]);
        const at = all[i]!.indexOf(`"${field}":${valueText}`) + field.length + 3;
        const positions = mutablePositions(valueText);
        if (entry[field] === null) continue; // null has no byte that keeps the line JSON
        assert.ok(positions.length > 0, `${field} of entry ${i - 1} has a mutable character`);
        for (const p of new Set([positions[0]!, positions.at(-1)!])) {
          const line = all[i]!;
          const changed = line.slice(0, at + p) + flip(line[at + p]!) + line.slice(at + p + 1);
          JSON.parse(changed); // still JSON: the change is inside a value
          const v = verifyText([...all.slice(0, i), changed, ...all.slice(i + 1)].join('\n'));
          assert.equal(v.ok, false, `entry ${i - 1} field ${field}: change at ${p} was not detected`);
          assert.equal(v.problem!.index, i - 1, `entry ${i - 1} field ${field}: named entry #${v.problem!.index} (${v.problem!.code})`);
          assert.ok(EXPECTED[field]!.includes(v.problem!.code), `entry ${i - 1} field ${field}: got ${v.problem!.code}`);
          mutations++;
        }
      }
    }
    assert.ok(mutations >= 150, `tested ${mutations} mutations`);
  } finally {
    f.close();
  }
});

test('deleting, reordering, duplicating or inserting entries fails verify naming the entry', () => {
  const f = buildAuditRun();
  try {
    const [header, ...entries] = lines(f.exportTo());
    const check = (list: string[], code: string, index: number | null, seq: number | null) => {
      const v = verifyText([header!, ...list].join('\n'));
      assert.equal(v.ok, false);
      assert.equal(v.problem!.code, code, v.problem!.message);
      assert.equal(v.problem!.index, index);
      assert.equal(v.problem!.seq, seq);
    };
    check([...entries.slice(0, 4), ...entries.slice(5)], 'E_AUDIT_SEQ_GAP', 4, 5); // deleted seq 4
    check([...entries.slice(0, 4), entries[5]!, entries[4]!, ...entries.slice(6)], 'E_AUDIT_SEQ_GAP', 4, 5); // swapped 4 and 5
    check([...entries.slice(0, 6), entries[3]!, ...entries.slice(6)], 'E_AUDIT_SEQ_GAP', 6, 3); // replayed copy of seq 3
    check(entries.slice(0, -1), 'E_AUDIT_HEAD_MISMATCH', null, entries.length - 1); // truncated: the signed header promised more
    // A forged entry slotted in with correct seq, prev_hash and hash, signed by someone else.
    const at = 6;
    const prev = JSON.parse(entries[at - 1]!);
    const body = { seq: at, at: '2025-03-01T12:00:30.000Z', kind: 'config_change' as const, runId: RUN, round: null, site: null, data: { budgets: { 'run:r1': { epsilon: 500, delta: 1e-5 } } }, prev_hash: prev.hash };
    const hash = hashAuditEntry(body);
    const forged = canonicalJson({ ...body, hash, signature: signAuditHash(hash, generateIdentity().secretKey) });
    check([...entries.slice(0, at), forged, ...entries.slice(at)], 'E_AUDIT_BAD_SIGNATURE', at, at);
  } finally {
    f.close();
  }
});

test('a signed header catches a rewritten chain head; an unknown export format is refused', () => {
  const f = buildAuditRun();
  try {
    const [header, ...entries] = lines(f.exportTo());
    const h = JSON.parse(header!);
    const cut = entries.slice(0, -1);
    const forgedHeader = canonicalJson({ ...h, entries: cut.length, chain_head: JSON.parse(cut.at(-1)!).hash });
    const v = verifyText([forgedHeader, ...cut].join('\n'));
    assert.equal(v.problem?.code, 'E_AUDIT_BAD_HEAD_SIGNATURE');
    assert.throws(() => parseAuditExport('{"format":"other"}\n'), /not a fedistill-audit export/);
  } finally {
    f.close();
  }
});

test('a wrong reported ε is caught even when the aggregator signed it', () => {
  const f = buildAuditRun({ reportEpsilon: (scope, eps, round) => (scope === 'site:b' && round === 1 ? eps * (1 - 1e-6) : eps) });
  try {
    const v = verifyText(readFileSync(f.exportTo(), 'utf8'));
    assert.equal(v.ok, false);
    assert.equal(v.problem!.code, 'E_AUDIT_EPSILON_MISMATCH');
    const release = f.auditLog.entries(RUN).filter((e) => e.kind === 'release')[1]!;
    assert.equal(v.problem!.seq, release.seq);
    assert.match(v.problem!.message, /site:b/);
  } finally {
    f.close();
  }
  const tiny = buildAuditRun({ reportEpsilon: (_s, eps) => eps * (1 + 1e-12) });
  try {
    assert.equal(verifyText(readFileSync(tiny.exportTo(), 'utf8')).ok, true, 'within the 1e-9 relative tolerance');
  } finally {
    tiny.close();
  }
});

test('a wrong key is caught: a pinned key that differs, and a log re-signed under another key', () => {
  const f = buildAuditRun();
  try {
    const text = readFileSync(f.exportTo(), 'utf8');
    const mallory = generateIdentity();
    const pinned = encodePublicKey(f.identity.publicKey);
    assert.equal(verifyText(text, pinned).ok, true);
    assert.equal(verifyText(text, encodePublicKey(mallory.publicKey)).problem?.code, 'E_AUDIT_KEY_MISMATCH');
    // Header key swapped: the aggregator's signatures no longer verify.
    const [header, ...entries] = text.trimEnd().split('\n');
    const swapped = canonicalJson({ ...JSON.parse(header!), public_key: encodePublicKey(mallory.publicKey), head_signature: undefined });
    const v = verifyText([swapped, ...entries].join('\n'));
    assert.equal(v.problem?.code, 'E_AUDIT_BAD_SIGNATURE');
    assert.equal(v.problem?.seq, 0);
    // Every entry re-signed by Mallory: self-consistent, so only pinning the key catches it.
    const resigned = entries.map((l) => { const e = JSON.parse(l); return canonicalJson({ ...e, signature: signAuditHash(e.hash, mallory.secretKey) }); });
    assert.equal(verifyText([swapped, ...resigned].join('\n')).ok, true);
    assert.equal(verifyText([swapped, ...resigned].join('\n'), pinned).problem?.code, 'E_AUDIT_KEY_MISMATCH');
  } finally {
    f.close();
  }
});

test('a database whose audit_log or ledger table was altered fails verify', () => {
  const f = buildAuditRun();
  try {
    const db = f.db.sqlite;
    const verifyDb = () => { const s = loadAuditSource(f.dbPath); try { return verifyAuditLog(s.log); } finally { s.close(); } };
    const release = f.auditLog.entries(RUN).find((e) => e.kind === 'release')!;
    db.exec('DROP TRIGGER audit_log_no_update');
    const original = (db.prepare('SELECT data_json FROM audit_log WHERE seq = ?').get(release.seq) as { data_json: string }).data_json;
    db.prepare('UPDATE audit_log SET data_json = ? WHERE seq = ?').run(original.replace('"queries_answered":30', '"queries_answered":31'), release.seq);
    let v = verifyDb();
    assert.equal(v.problem?.code, 'E_AUDIT_BAD_HASH');
    assert.equal(v.problem?.seq, release.seq);
    db.prepare('UPDATE audit_log SET data_json = ? WHERE seq = ?').run(original, release.seq);
    assert.equal(verifyDb().ok, true);
    // The ledger's second charge of the run scope is rewritten to a cheaper event.
    db.prepare(`UPDATE ledger SET event_json = ? WHERE scope = 'run:r1' AND seq = 1`).run(JSON.stringify({ type: 'gaussian', noise_multiplier: 100 }));
    v = verifyDb();
    assert.equal(v.problem?.code, 'E_AUDIT_LEDGER_MISMATCH');
    assert.equal(v.problem?.seq, f.auditLog.entries(RUN).filter((e) => e.kind === 'release')[1]!.seq);
    // ... or forgotten: the ledger now holds fewer charges than the log released.
    db.prepare(`DELETE FROM ledger WHERE scope = 'run:r1' AND seq = 1`).run();
    assert.equal(verifyDb().problem?.code, 'E_AUDIT_LEDGER_MISMATCH');
  } finally {
    f.close();
  }
});

test('a release whose charge is not what its recorded mechanism costs fails with E_AUDIT_CHARGE_MISMATCH', () => {
  const f = buildAuditRun({ mechanism: (round) => (round === 1 ? { ...CENTRAL_MECHANISM, answered: 31 } : CENTRAL_MECHANISM) });
  try {
    const v = verifyText(readFileSync(f.exportTo(), 'utf8'));
    assert.equal(v.problem?.code, 'E_AUDIT_CHARGE_MISMATCH');
    assert.equal(v.problem!.seq, f.auditLog.entries(RUN).filter((e) => e.kind === 'release')[1]!.seq);
    assert.match(v.problem!.message, /GNMax 30 time\(s\) for 31 answered/);
  } finally {
    f.close();
  }
  const ok = buildAuditRun();
  try {
    assert.equal(verifyText(readFileSync(ok.exportTo(), 'utf8')).ok, true, 'the fixture\'s own records match its charges');
  } finally {
    ok.close();
  }
});

test('gaussian_rows records bind the charge to rows, noise and the replace-one sensitivity', () => {
  const m = validateMechanismRecord({ kind: 'gaussian_rows', rows: 100, clip: 1, noise_std: 10, sensitivity: Math.SQRT2, domain: 'probabilities', adjacency: 'replace-one' }) as GaussianRowsRecord;
  assert.equal(chargeMismatch(m, [{ type: 'gaussian', noise_multiplier: 10 / Math.SQRT2, count: 100 }]), undefined);
  assert.equal(chargeMismatch(m, [{ type: 'composed', count: 4, events: [{ type: 'gaussian', noise_multiplier: 10 / Math.SQRT2, count: 25 }] }]), undefined);
  // σ/clip charged as if one unit moved a row by clip (add/remove): half the RDP it costs.
  assert.match(chargeMismatch(m, [{ type: 'gaussian', noise_multiplier: 10, count: 100 }])!, /noise multiplier 10; noise std 10 over sensitivity/);
  assert.match(chargeMismatch(m, [{ type: 'gaussian', noise_multiplier: 10 / Math.SQRT2, count: 99 }])!, /99 Gaussian mechanism\(s\) for 100 released rows/);
  assert.match(chargeMismatch({ ...m, sensitivity: 1 }, [{ type: 'gaussian', noise_multiplier: 10, count: 100 }])!, /not the replace-one bound/);
  assert.throws(() => validateMechanismRecord({ ...m, adjacency: 'add-remove' }), /adjacency: must be "replace-one"/);
  assert.throws(() => validateMechanismRecord({ ...m, extra: 1 }), /mechanism\.extra: is not a field/);
  assert.throws(() => validateMechanismRecord({ ...m, rows: -1 }), /rows: must be an integer/);
});

test('a release that records no mechanism is E_AUDIT_UNCHECKED_RELEASE; allowUnchecked accepts the log and counts it', () => {
  const f = buildAuditRun({ omitMechanism: true });
  try {
    const text = readFileSync(f.exportTo(), 'utf8');
    const releases = f.auditLog.entries(RUN).filter((e) => e.kind === 'release');
    const v = verifyText(text);
    assert.equal(v.ok, false);
    assert.equal(v.problem?.code, 'E_AUDIT_UNCHECKED_RELEASE');
    assert.equal(v.problem!.seq, releases[0]!.seq, 'the first release without a record is named');
    assert.match(v.problem!.message, /records no mechanism.*--allow-unchecked/);
    assert.equal(v.releases.length, 0, 'verify stops there, as for any finding');
    const w = verifyAuditLog(parseAuditExport(text, 'test'), { allowUnchecked: true });
    assert.equal(w.ok, true, JSON.stringify(w.problem));
    assert.equal(w.uncheckedReleases, RELEASED_ROUNDS);
    assert.equal(w.releases.length, RELEASED_ROUNDS);
  } finally {
    f.close();
  }
  // One release of three lost its record: it is named; allowUnchecked counts only that one.
  const one = buildAuditRun({ mechanism: (round) => (round === 1 ? undefined : CENTRAL_MECHANISM) });
  try {
    const text = readFileSync(one.exportTo(), 'utf8');
    const v = verifyText(text);
    assert.equal(v.problem?.code, 'E_AUDIT_UNCHECKED_RELEASE');
    assert.equal(v.problem!.seq, one.auditLog.entries(RUN).filter((e) => e.kind === 'release')[1]!.seq);
    assert.equal(v.releases.length, 1);
    assert.equal(verifyAuditLog(parseAuditExport(text, 'test'), { allowUnchecked: true }).uncheckedReleases, 1);
  } finally {
    one.close();
  }
  // allowUnchecked skips only the mechanism check: an unchecked release's ε is still replayed.
  const lying = buildAuditRun({ omitMechanism: true, reportEpsilon: (_s, eps, round) => (round === 2 ? eps * 0.9 : eps) });
  try {
    const v = verifyAuditLog(parseAuditExport(readFileSync(lying.exportTo(), 'utf8'), 'test'), { allowUnchecked: true });
    assert.equal(v.problem?.code, 'E_AUDIT_EPSILON_MISMATCH');
    assert.equal(v.uncheckedReleases, 2, 'the two releases before it');
  } finally {
    lying.close();
  }
});

/** A soft-label run: each released round charges 10 rows of 10 columns, clip 1, noise 12 × clip, on the release grid. */
function gaussianRun(options: { declaredNoiseMultiplier?: number; declaredClip?: number; transportUlp?: number; sensitivityUlp?: number; declared?: Record<string, number> } = {}) {
  const clip = 1, noiseMultiplier = 12, rows = 10, cols = 10;
  const ulp = options.transportUlp;
  const sensitivity = Math.SQRT2 * clip + (RELEASE_GRID + (options.sensitivityUlp ?? ulp ?? 0)) * Math.sqrt(cols);
  const mechanism: GaussianRowsRecord = {
    kind: 'gaussian_rows', rows, cols, clip, noise_std: noiseMultiplier * clip, sensitivity, domain: 'probabilities', grid: RELEASE_GRID,
    ...(ulp !== undefined ? { transport_ulp: ulp } : {}), adjacency: 'replace-one',
  };
  return buildAuditRun({
    central: { type: 'gaussian', noise_multiplier: (noiseMultiplier * clip) / sensitivity, count: rows },
    mechanism: () => mechanism,
    mechanismParams: { kind: 'gaussian_rows', clip: options.declaredClip ?? clip, noise_multiplier: options.declaredNoiseMultiplier ?? noiseMultiplier, teachers_per_site: 1, domain: 'probabilities', ...options.declared },
  });
}

function verifyRun(f: AuditFixture): VerifyResult {
  return verifyText(readFileSync(f.exportTo(), 'utf8'));
}

test('run_started\'s mechanism_params bind every release\'s record: a record that disagrees is E_AUDIT_CHARGE_MISMATCH naming the field', () => {
  const cases: [AuditFixture, string | undefined, RegExp | undefined][] = [
    [gaussianRun(), undefined, undefined],
    [buildAuditRun(), undefined, undefined],
    // The record's noise std (and the charge, which agrees with it) is not what the run was configured with.
    [gaussianRun({ declaredNoiseMultiplier: 8 }), 'E_AUDIT_CHARGE_MISMATCH', /noise_std 12 differs from the run's declared noise_multiplier 8 × clip 1 = 8/],
    [gaussianRun({ declaredNoiseMultiplier: 12 * (1 + 1e-12) }), undefined, undefined],
    [gaussianRun({ declaredClip: 2, declaredNoiseMultiplier: 6 }), 'E_AUDIT_CHARGE_MISMATCH', /clip 1 differs from the run's declared clip 2/],
    [buildAuditRun({ mechanismParams: { ...CENTRAL_PARAMS, sigma2: 41 } }), 'E_AUDIT_CHARGE_MISMATCH', /sigma2 40 differs from the run's declared sigma2 41/],
    [buildAuditRun({ mechanismParams: { ...CENTRAL_PARAMS, threshold: 180 } }), 'E_AUDIT_CHARGE_MISMATCH', /threshold 200 differs from the run's declared threshold 180/],
    [buildAuditRun({ mechanismParams: { ...CENTRAL_PARAMS, accounting: 'data-dependent' } }), 'E_AUDIT_CHARGE_MISMATCH', /accounting "data-independent" differs/],
    [buildAuditRun({ mechanismParams: { kind: 'gaussian_rows', clip: 1, noise_multiplier: 12, teachers_per_site: 1, domain: 'probabilities' } }), 'E_AUDIT_CHARGE_MISMATCH', /kind confident_gnmax differs from the run's declared gaussian_rows/],
    // What sets the count and the sensitivity is the run's: a record cannot claim fewer rows, or drop
    // the float32 transport step, to charge less.
    [gaussianRun({ transportUlp: 2 ** -23, declared: { rows_per_round: 10, cols: 10, grid: RELEASE_GRID } }), undefined, undefined],
    [gaussianRun({ transportUlp: 2 ** -23, declared: { rows_per_round: 300, cols: 10, grid: RELEASE_GRID } }), 'E_AUDIT_CHARGE_MISMATCH', /rows 10 differ from the run's declared rows_per_round 300/],
    [gaussianRun({ declared: { rows_per_round: 10, cols: 10, grid: RELEASE_GRID } }), 'E_AUDIT_CHARGE_MISMATCH', /transport_ulp undefined is not the float32 step 1\.1920928955078125e-7/],
    [buildAuditRun({ mechanismParams: { ...CENTRAL_PARAMS, queries_per_round: 64 } }), 'E_AUDIT_CHARGE_MISMATCH', /queries 50 differ from the run's declared queries_per_round 64/],
  ];
  for (const [f, code, message] of cases) {
    try {
      const v = verifyRun(f);
      assert.equal(v.problem?.code, code, JSON.stringify(v.problem));
      if (code === undefined) {
        assert.equal(v.ok, true);
        assert.deepEqual(v.mechanismParams, f.auditLog.entries(RUN)[0]!.data.mechanism_params, 'the declared parameters are in the result');
        continue;
      }
      assert.equal(v.problem!.seq, f.auditLog.entries(RUN).find((e) => e.kind === 'release')!.seq, 'the first release is named');
      assert.match(v.problem!.message, message!);
    } finally {
      f.close();
    }
  }
});

/** A run whose run_started entry is signed as given, bypassing AuditLog.append's own validation (a log another tool wrote). */
function signedRunStarted(f: AuditFixture, runId: string, data: Record<string, unknown>): string {
  f.store.setPublicKey(runId, encodePublicKey(f.identity.publicKey));
  const body = { seq: 0, at: '2025-03-01T12:00:00.000Z', kind: 'run_started' as const, runId, round: null, site: null, data, prev_hash: '0'.repeat(64) };
  const hash = hashAuditEntry(body);
  f.store.insert({ ...body, hash, signature: signAuditHash(hash, f.identity.secretKey) });
  return exportAuditLog(f.store, runId);
}

test('mechanism_params is checked for schema in run_started (E_AUDIT_BAD_ENTRY; append refuses it too) and refused in config_change', () => {
  const bad: [unknown, RegExp][] = [
    [{ ...CENTRAL_PARAMS, sigma1: 0 }, /mechanism_params\.sigma1: must be a positive finite number/],
    [{ kind: 'gaussian_rows', clip: 1, noise_multiplier: 12, domain: 'probabilities' }, /teachers_per_site: must be an integer ≥ 1/],
    [{ kind: 'gaussian_rows', clip: 1, noise_multiplier: 12, teachers_per_site: 1, domain: 'logits' }, /domain: must be "probabilities" or "signed"/],
    [{ ...CENTRAL_PARAMS, queries: 50 }, /mechanism_params\.queries: is not a field of a confident_gnmax mechanism_params/],
    [{ kind: 'gnmax' }, /mechanism_params\.kind: must be "gaussian_rows" or "confident_gnmax"/],
    ['confident_gnmax', /mechanism_params: must be a JSON object/],
  ];
  const f = buildAuditRun();
  try {
    bad.forEach(([params, message], n) => {
      const data = { delta: 1e-5, mechanism_params: params };
      assert.throws(() => f.auditLog.append({ kind: 'run_started', runId: `bad-${n}`, data }), (e: Error & { code?: string }) => e.code === 'E_AUDIT_BAD_ENTRY' && message.test(e.message));
      const v = verifyAuditLog(parseAuditExport(signedRunStarted(f, `bad-${n}`, data), 'bad'));
      assert.equal(v.problem?.code, 'E_AUDIT_BAD_ENTRY', JSON.stringify(params));
      assert.equal(v.problem!.seq, 0);
      assert.match(v.problem!.message, message);
    });
    // Declared once: a config_change may not swap the run's mechanism for another.
    const runId = 'swap';
    f.auditLog.append({ kind: 'run_started', runId, data: { delta: 1e-5, mechanism_params: CENTRAL_PARAMS } });
    f.auditLog.append({ kind: 'config_change', runId, data: { mechanism_params: { ...CENTRAL_PARAMS, sigma2: 400 } } });
    const v = verifyAuditLog(parseAuditExport(exportAuditLog(f.store, runId), 'swap'));
    assert.equal(v.problem?.code, 'E_AUDIT_BAD_ENTRY');
    assert.equal(v.problem!.seq, 1);
    assert.match(v.problem!.message, /config_change cannot declare mechanism_params/);
  } finally {
    f.close();
  }
});

test('a gaussian_rows record with transport_ulp verifies when its sensitivity includes (grid + transport_ulp)·√cols, and fails when it does not', () => {
  const ulp = 2 ** -23; // Float32's step at 1, the largest entry of a probability row clipped to 1
  const ok = gaussianRun({ transportUlp: ulp });
  try {
    const v = verifyRun(ok);
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.equal((v.releases[0]!.data.mechanism as GaussianRowsRecord).transport_ulp, ulp);
  } finally {
    ok.close();
  }
  // The record names the transport rounding but its sensitivity (and charge) leave it out.
  const short = gaussianRun({ transportUlp: ulp, sensitivityUlp: 0 });
  try {
    const v = verifyRun(short);
    assert.equal(v.problem?.code, 'E_AUDIT_CHARGE_MISMATCH');
    assert.match(v.problem!.message, /is not the replace-one bound .* and Float32 transport rounding of 1\.1920928955078125e-7/);
  } finally {
    short.close();
  }
});
