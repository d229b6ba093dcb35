// The audit log itself: canonical hashing, signed appends inside the caller's transaction, and a clean run that verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { canonicalJson } from '../../../shared/audit/canonical-json.ts';
import { GENESIS_HASH, hashAuditEntry, type AuditEntryBody } from '../../../shared/audit/audit-entry.ts';
import { exportAuditLog, loadAuditSource, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';
import { buildAuditRun, CENTRAL, RELEASED_ROUNDS, RUN } from './audit-fixture.ts';

test('canonical JSON sorts keys, drops undefined, rejects non-JSON values; the entry hash is SHA-256 of it', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, d: { z: -0, y: 1e-5 } }), '{"a":[true,null,"x"],"b":1,"d":{"y":0.00001,"z":0}}');
  for (const bad of [NaN, Infinity, new Float64Array(2), [undefined], () => 1]) {
    assert.throws(() => canonicalJson({ v: bad }), (e: FedistillError) => e.code === 'E_AUDIT_NOT_JSON');
  }
  const body: AuditEntryBody = { seq: 0, at: '2025-01-01T00:00:00.000Z', kind: 'run_started', runId: 'r', round: null, site: null, data: { delta: 1e-5 }, prev_hash: GENESIS_HASH };
  const text = `{"at":"2025-01-01T00:00:00.000Z","data":{"delta":0.00001},"kind":"run_started","prev_hash":"${GENESIS_HASH}","round":null,"runId":"r","seq":0,"site":null}`;
  assert.equal(hashAuditEntry(body), createHash('sha256').update(text).digest('hex'));
});

test('a logged run verifies from the database (with the ledger cross-check) and from its export', () => {
  const f = buildAuditRun();
  try {
    const entries = f.auditLog.entries(RUN);
    assert.equal(entries.length, 12);
    assert.deepEqual(entries.map((e) => e.seq), [...entries.keys()]);
    // signed through node:crypto, checked here with tweetnacl: the same Ed25519 bytes
    for (const e of [entries[0]!, entries.at(-1)!]) assert.ok(nacl.sign.detached.verify(Buffer.from(e.hash, 'hex'), Buffer.from(e.signature, 'base64'), f.identity.publicKey));
    const fromDb = loadAuditSource(f.dbPath);
    const v = verifyAuditLog(fromDb.log);
    fromDb.close();
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.equal(v.ledgerChecked, true);
    assert.equal(v.releases.length, RELEASED_ROUNDS);
    assert.equal(v.finished, true);
    const spent = f.ledger.spent(`run:${RUN}`).epsilon;
    assert.equal(v.releases.at(-1)!.epsilon[`run:${RUN}`], spent);
    const fromFile = loadAuditSource(f.exportTo());
    const w = verifyAuditLog(fromFile.log, { pinnedPublicKey: Buffer.from(f.identity.publicKey).toString('base64') });
    assert.equal(w.ok, true, JSON.stringify(w.problem));
    assert.equal(w.headSigned, true);
    assert.equal(w.entries.at(-1)!.hash, v.entries.at(-1)!.hash);
  } finally {
    f.close();
  }
});

test('append refuses a first entry other than run_started, invalid release data, and a second signing key', () => {
  const f = buildAuditRun();
  try {
    assert.throws(() => f.auditLog.append({ kind: 'site_joined', runId: 'fresh', site: 'a', data: {} }), /must be run_started/);
    assert.throws(() => f.auditLog.append({ kind: 'release', runId: RUN, round: 9, data: { privacy_events: [CENTRAL], scopes: ['run:r1'], epsilon_after: {} } }),
      (e: FedistillError) => e.code === 'E_AUDIT_BAD_ENTRY' && /epsilon_after/.test(e.message));
    assert.throws(() => f.auditLog.append({ kind: 'release', runId: RUN, round: 9, data: { privacy_event: { type: 'gaussian' }, scopes: ['run:r1'], epsilon_after: { 'run:r1': 1 } } }),
      (e: FedistillError) => e.code === 'E_INVALID_PRIVACY_EVENT');
    const other = new AuditLog(f.store, generateIdentity());
    assert.throws(() => other.append({ kind: 'config_change', runId: RUN, data: {} }), (e: FedistillError) => e.code === 'E_AUDIT_KEY_CHANGED');
    assert.equal(f.auditLog.entries(RUN).length, 12);
  } finally {
    f.close();
  }
});

test('an append inside the caller\'s transaction rolls back with it, and the table refuses UPDATE and DELETE', () => {
  const f = buildAuditRun();
  try {
    const before = f.auditLog.entries(RUN).length;
    assert.throws(() => f.db.transaction(() => {
      f.auditLog.append({ kind: 'config_change', runId: RUN, data: { note: 'will roll back' } });
      throw new Error('release failed');
    }), /release failed/);
    assert.equal(f.auditLog.entries(RUN).length, before);
    const e = f.auditLog.append({ kind: 'config_change', runId: RUN, data: { note: 'kept' } });
    assert.equal(e.seq, before);
    assert.throws(() => f.db.sqlite.prepare(`UPDATE audit_log SET data_json = '{}' WHERE seq = 0`).run(), /append-only/);
    assert.throws(() => f.db.sqlite.prepare('DELETE FROM audit_log WHERE seq = 1').run(), /append-only/);
  } finally {
    f.close();
  }
});

test('scope and site names like "__proto__" stay ordinary keys: the log verifies and nothing is polluted', () => {
  const f = buildAuditRun();
  try {
    const runId = 'proto';
    const data = JSON.parse('{"budgets":{"__proto__":{"epsilon":10,"delta":0.00001}},"delta":0.00001}');
    f.auditLog.append({ kind: 'run_started', runId, data });
    const event = { type: 'gaussian', noise_multiplier: 5 } as const;
    const eps = epsilonFromEvents([event], 1e-5).epsilon;
    const ev = JSON.stringify(event);
    const release = JSON.parse(`{"privacy_events":[${ev}],"scopes":["__proto__","constructor"],"epsilon_after":{"__proto__":${eps},"constructor":${eps}},"site_events":{"__proto__":${ev}}}`);
    f.auditLog.append({ kind: 'release', runId, round: 0, data: release });
    // The release records no mechanism: what is tested here is its keys, not its charge.
    const v = verifyAuditLog(parseAuditExport(exportAuditLog(f.store, runId), 'proto'), { allowUnchecked: true });
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.equal(v.uncheckedReleases, 1);
    assert.deepEqual(Object.keys(v.releases[0]!.epsilon).sort(), ['__proto__', 'constructor']);
    assert.equal(v.budgets['__proto__']!.epsilon, 10);
    assert.equal(({} as Record<string, unknown>).epsilon, undefined);
    assert.equal(Object.getPrototypeOf(v.budgets), null);
  } finally {
    f.close();
  }
});
