// Verifies an audit log: chain, hashes, signatures, header commitment, ε replay per scope, and the database ledger.
import type { PrivacyEvent } from '../privacy/events.ts';
import { decodePublicKey, fingerprint } from '../crypto/identity.ts';
import { RdpAccountant } from '../privacy/rdp-accountant.ts';
import type { PrivacyBudget } from '../privacy/ledger.ts';
import type { RdpConversion } from '../privacy/rdp-conversion.ts';
import { FedistillError } from '../util/errors.ts';
import {
  type AuditEntry, GENESIS_HASH, hashAuditEntry, isAuditProblem, readAuditEntry, verifyAuditSignature, verifyEd25519,
} from './audit-entry.ts';
import { headerSigningBytes, type LoadedAuditLog } from './audit-export.ts';
import type { AuditCode, AuditProblem } from './audit-problem.ts';
import { checkLedgerAgainstAudit } from './audit-ledger-check.ts';
import { type PrivacyUnitRecord, type ReleaseData, readRunAccounting, validateReleaseData } from './release-data.ts';
import { chargeMismatch, type MechanismParams, paramsMismatch } from './mechanism-record.ts';

/** Relative tolerance between a reported ε and the replayed one. */
const EPSILON_TOLERANCE = 1e-9;

export interface VerifyOptions {
  /** The aggregator key the auditor expects (base64); any other key fails with E_AUDIT_KEY_MISMATCH. */
  pinnedPublicKey?: string;
  /**
   * Accept releases that record no `mechanism` (logs written by other tools): their ε is still
   * replayed, but their charge is not checked against a mechanism; VerifyResult.uncheckedReleases
   * counts them. Default false: such a release is E_AUDIT_UNCHECKED_RELEASE (the aggregator always
   * writes a record, so one missing is a finding).
   */
  allowUnchecked?: boolean;
}

/** A release that passed every check, with the ε replayed for each scope. */
export interface VerifiedRelease {
  seq: number;
  round: number | null;
  at: string;
  data: ReleaseData;
  /** Replayed ε per scope after this release. */
  epsilon: Record<string, number>;
}

export interface VerifyResult {
  ok: boolean;
  /** The first problem, in entry order (header-level problems have seq null). */
  problem?: AuditProblem;
  runId: string;
  publicKey: string;
  fingerprint?: string;
  source: 'file' | 'database';
  /** Entries that passed every check (all of them when ok). */
  entries: AuditEntry[];
  releases: VerifiedRelease[];
  budgets: Record<string, PrivacyBudget>;
  /** δ each charged scope's ε is reported at. */
  deltas: Record<string, number>;
  /** Charges each scope carried in from earlier runs on the same ledger (composed), where the log declares them. */
  carried: Record<string, PrivacyEvent>;
  accounting: { orders?: number[]; conversion: RdpConversion };
  /** The mechanism run_started declares (`mechanism_params`), which every release's record was checked against. */
  mechanismParams?: MechanismParams;
  /** The privacy unit run_started declares (absent in logs written before it was recorded). */
  privacyUnit?: PrivacyUnitRecord;
  /** Verified releases that record no mechanism (accepted only with allowUnchecked): their charge was replayed, not checked. */
  uncheckedReleases: number;
  /** The last entry is run_finished. */
  finished: boolean;
  /** The header's head_signature was present (and verified). */
  headSigned: boolean;
  /** The database's ledger table was cross-checked. */
  ledgerChecked: boolean;
}

class VerifyStop extends Error {
  constructor(readonly problem: AuditProblem) { super(problem.message); }
}

/** What a key mismatch means: a pinned value that is no key at all is a typo, not a forgery. */
function pinnedKeyHint(pinned: string): string {
  try { decodePublicKey(pinned); } catch {
    return 'the pinned value is not a base64 Ed25519 public key (44 characters, as "fedistill keys show" prints on its "public key" line; a fingerprint such as 3f2a:91c0:… is not a key)';
  }
  return 'this log was not signed by the aggregator you pinned (or the pinned key is not its key: compare fingerprints); do not rely on it';
}

function stop(code: AuditCode, seq: number | null, index: number | null, message: string): never {
  throw new VerifyStop({ code, seq, index, message });
}

/** Whether a reported ε matches a replayed one within EPSILON_TOLERANCE (relative). */
export function epsilonMatches(reported: number, replayed: number): boolean {
  return Math.abs(reported - replayed) <= EPSILON_TOLERANCE * Math.max(Math.abs(reported), Math.abs(replayed), Number.MIN_VALUE);
}

/**
 * Why run_finished's `epsilon`/`delta` (both optional: logs of other tools may omit them) are not
 * the run scope's replayed ε at its δ, or undefined when they are. A scope nothing charged is at ε 0.
 */
function runFinishedMismatch(data: Record<string, unknown>, acc: RdpAccountant | undefined, delta: number | undefined, conversion: RdpConversion): { code: AuditCode; message: string } | undefined {
  const { epsilon, delta: reportedDelta } = data;
  if (reportedDelta !== undefined) {
    if (typeof reportedDelta !== 'number' || !(reportedDelta > 0 && reportedDelta < 1)) return { code: 'E_AUDIT_BAD_ENTRY', message: `delta must be in (0, 1), got ${JSON.stringify(reportedDelta)}` };
    if (delta !== undefined && reportedDelta !== delta) return { code: 'E_AUDIT_EPSILON_MISMATCH', message: `reports the run's ε at δ = ${reportedDelta}, but the run scope's δ is ${delta}` };
  }
  if (epsilon === undefined) return undefined;
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) return { code: 'E_AUDIT_BAD_ENTRY', message: `epsilon must be a finite ε ≥ 0, got ${JSON.stringify(epsilon)}` };
  const at = delta ?? (reportedDelta as number | undefined);
  if (at === undefined) return { code: 'E_AUDIT_NO_DELTA', message: 'reports an ε, but neither it nor the run declares a δ to replay it at' };
  let replayed = 0;
  if (acc) { try { replayed = acc.getEpsilon(at, { conversion }).epsilon; } catch { replayed = Infinity; } }
  return epsilonMatches(epsilon, replayed) ? undefined
    : { code: 'E_AUDIT_EPSILON_MISMATCH', message: `reports the run's final ε = ${epsilon}, its releases replay to ε = ${replayed} at δ = ${at}` };
}

/**
 * Checks a log entry by entry and stops at the first problem: seq continuity, run id,
 * prev_hash, hash recomputation, signature, entry schema, and for each release that it records its
 * mechanism (unless allowUnchecked), that the record agrees with run_started's mechanism_params,
 * its charge against the record (rows, noise, sensitivity, answers), the ε it reports against a
 * replay of its events per scope, and that the replayed ε is within the scope's budget; run_finished's ε
 * against the run scope's replay. Then the header's count, head and signature, and (database only) the ledger table.
 */
export function verifyAuditLog(log: LoadedAuditLog, options: VerifyOptions = {}): VerifyResult {
  const h = log.header;
  const result: VerifyResult = {
    ok: false, runId: h.run_id, publicKey: h.public_key, source: log.source, entries: [], releases: [],
    // null-prototype maps: scope names come from the log, and "__proto__" must stay an ordinary key
    budgets: Object.create(null), deltas: Object.create(null), carried: Object.create(null),
    accounting: { conversion: 'improved' }, uncheckedReleases: 0, finished: false, headSigned: false, ledgerChecked: false,
  };
  try {
    if (options.pinnedPublicKey !== undefined && options.pinnedPublicKey.trim() !== h.public_key) {
      stop('E_AUDIT_KEY_MISMATCH', null, null, `the log is signed by ${h.public_key}, not by the pinned key ${options.pinnedPublicKey.trim()}: ${pinnedKeyHint(options.pinnedPublicKey)}`);
    }
    let key: Uint8Array;
    try { key = decodePublicKey(h.public_key, 'header public_key'); } catch (e) { stop('E_AUDIT_BAD_HEADER', null, null, (e as Error).message); }
    result.fingerprint = fingerprint(key);
    let prev = GENESIS_HASH;
    let runDelta: number | undefined;
    const accountants = new Map<string, RdpAccountant>();
    for (const raw of log.entries) {
      const i = raw.index;
      const where = raw.line !== undefined ? ` (line ${raw.line})` : '';
      if (raw.parseError !== undefined) stop('E_AUDIT_BAD_FORMAT', null, i, `entry #${i}${where} is not JSON: ${raw.parseError}${i === log.entries.length - 1 ? ' (the last line: the file was probably cut short; copy the export again)' : ''}`);
      const e = readAuditEntry(raw.value, i);
      if (isAuditProblem(e)) stop(e.code, e.seq, i, `entry #${i}${where}: ${e.message}`);
      if (e.seq !== i) stop('E_AUDIT_SEQ_GAP', e.seq, i, `entry #${i}${where} has seq ${e.seq}; expected ${i} (an entry was removed, inserted or moved)`);
      if (e.runId !== h.run_id) stop('E_AUDIT_RUN_MISMATCH', e.seq, i, `entry belongs to run "${e.runId}", the log to "${h.run_id}"`);
      if (e.prev_hash !== prev) stop('E_AUDIT_BAD_PREV_HASH', e.seq, i, `prev_hash ${e.prev_hash.slice(0, 16)}… is not the previous entry's hash ${prev.slice(0, 16)}… (the chain is broken here: entries before it were removed, inserted or moved and renumbered, or this entry's prev_hash was edited)`);
      let recomputed: string;
      try { recomputed = hashAuditEntry(e); } catch (err) { stop('E_AUDIT_BAD_ENTRY', e.seq, i, (err as Error).message); }
      if (recomputed !== e.hash) stop('E_AUDIT_BAD_HASH', e.seq, i, `content hashes to ${recomputed.slice(0, 16)}…, the entry says ${e.hash.slice(0, 16)}… (the entry was altered after it was signed: what it records cannot be relied on)`);
      if (!verifyAuditSignature(e.hash, e.signature, key)) stop('E_AUDIT_BAD_SIGNATURE', e.seq, i, `signature does not verify under ${h.public_key} (fingerprint ${result.fingerprint}): the entry was re-hashed by someone without that key, or the log's key was replaced`);
      // Semantics, on content now known to be what the aggregator signed.
      const bad: (err: unknown) => never = (err) => stop(err instanceof FedistillError && err.code === 'E_AUDIT_NO_DELTA' ? 'E_AUDIT_NO_DELTA' : 'E_AUDIT_BAD_ENTRY', e.seq, i, (err as Error).message);
      if ((i === 0) !== (e.kind === 'run_started')) stop('E_AUDIT_BAD_ENTRY', e.seq, i, i === 0 ? `the first entry must be run_started, got ${e.kind}` : 'run_started appears again after the first entry');
      if (e.kind === 'run_started' || e.kind === 'config_change') {
        try {
          const acc = readRunAccounting(e.data);
          for (const [scope, b] of Object.entries(acc.budgets ?? {})) result.budgets[scope] = b;
          if (acc.delta !== undefined) runDelta = acc.delta;
          if (acc.accounting) {
            if (e.kind === 'config_change' && accountants.size > 0) throw new FedistillError('E_AUDIT_BAD_ENTRY', 'config_change cannot change accounting after the first release');
            result.accounting = { ...result.accounting, ...acc.accounting };
          }
          if (acc.mechanism_params) {
            if (e.kind === 'config_change') throw new FedistillError('E_AUDIT_BAD_ENTRY', 'config_change cannot declare mechanism_params: the run\'s mechanism is declared once, in run_started');
            result.mechanismParams = acc.mechanism_params;
          }
          if (acc.privacy_unit) {
            if (e.kind === 'config_change') throw new FedistillError('E_AUDIT_BAD_ENTRY', 'config_change cannot declare privacy_unit: the run\'s unit is declared once, in run_started');
            result.privacyUnit = acc.privacy_unit;
          }
          // Earlier runs' charges of a scope start its replay; they must come before its first release here.
          for (const [scope, ev] of Object.entries(acc.carried ?? {})) {
            if (accountants.has(scope)) throw new FedistillError('E_AUDIT_BAD_ENTRY', `carried charges for scope "${scope}" come after its first release in this run`);
            accountants.set(scope, new RdpAccountant({ orders: result.accounting.orders }).compose(ev));
            result.carried[scope] = ev;
          }
        } catch (err) { bad(err); }
      }
      if (e.kind === 'release') {
        let data: ReleaseData;
        try { data = validateReleaseData(e.data); } catch (err) { bad(err); }
        if (!data.mechanism) {
          if (!options.allowUnchecked) {
            stop('E_AUDIT_UNCHECKED_RELEASE', e.seq, i, 'the release records no mechanism, so its charge cannot be checked against what the mechanism costs (the aggregator writes one with every release); '
              + 'for a log written by another tool, pass --allow-unchecked to replay its ε without that check');
          }
        } else {
          const declared = result.mechanismParams && paramsMismatch(result.mechanismParams, data.mechanism);
          if (declared) stop('E_AUDIT_CHARGE_MISMATCH', e.seq, i, `the release's ${data.mechanism.kind} mechanism record disagrees with run_started's mechanism_params: ${declared}`);
          const why = chargeMismatch(data.mechanism, data.privacy_events);
          if (why !== undefined) stop('E_AUDIT_CHARGE_MISMATCH', e.seq, i, `the release records a ${data.mechanism.kind} mechanism but ${why}`);
          if (data.queries_answered !== undefined && data.mechanism.kind === 'confident_gnmax' && data.queries_answered !== data.mechanism.answered) {
            stop('E_AUDIT_CHARGE_MISMATCH', e.seq, i, `queries_answered ${data.queries_answered} differs from the mechanism's ${data.mechanism.answered}`);
          }
        }
        const epsilon: Record<string, number> = Object.create(null);
        for (const scope of data.scopes) {
          const delta = result.budgets[scope]?.delta ?? runDelta;
          if (delta === undefined) stop('E_AUDIT_NO_DELTA', e.seq, i, `scope "${scope}" has no budget and the run declares no default delta in run_started`);
          if (Object.hasOwn(result.deltas, scope) && result.deltas[scope] !== delta) stop('E_AUDIT_BAD_ENTRY', e.seq, i, `δ of scope "${scope}" changed from ${result.deltas[scope]} to ${delta} mid-run`);
          result.deltas[scope] = delta;
          let acc = accountants.get(scope);
          if (!acc) accountants.set(scope, acc = new RdpAccountant({ orders: result.accounting.orders }));
          for (const ev of data.privacy_events) acc.compose(ev);
          let replayed: number;
          try { replayed = acc.getEpsilon(delta, { conversion: result.accounting.conversion }).epsilon; } catch { replayed = Infinity; }
          const reported = data.epsilon_after[scope]!;
          if (!epsilonMatches(reported, replayed)) {
            stop('E_AUDIT_EPSILON_MISMATCH', e.seq, i, `scope "${scope}": reported ε = ${reported}, its events replay to ε = ${replayed} at δ = ${delta}`);
          }
          const budget = result.budgets[scope];
          if (budget !== undefined && replayed > budget.epsilon && !epsilonMatches(replayed, budget.epsilon)) {
            stop('E_AUDIT_OVER_BUDGET', e.seq, i, `scope "${scope}": this release brings ε to ${replayed} at δ = ${delta}, over the scope's budget ε = ${budget.epsilon}; it should have been refused`);
          }
          epsilon[scope] = replayed;
        }
        result.releases.push({ seq: e.seq, round: e.round, at: e.at, data, epsilon });
        if (!data.mechanism) result.uncheckedReleases++;
      }
      if (e.kind === 'run_finished') {
        // The run's final ε is a reported figure like epsilon_after: replay it too.
        const runScope = `run:${h.run_id}`;
        const acc = accountants.get(runScope);
        const delta = result.deltas[runScope] ?? result.budgets[runScope]?.delta ?? runDelta;
        const why = runFinishedMismatch(e.data, acc, delta, result.accounting.conversion);
        if (why) stop(why.code, e.seq, i, `run_finished: ${why.message}`);
      }
      result.entries.push(e);
      prev = e.hash;
    }
    const n = log.entries.length;
    if (h.entries !== n || h.chain_head !== prev) {
      const msg = h.entries > n ? `the header promises ${h.entries} entries, the log has ${n} (entries from seq ${n} on are missing)`
        : h.entries < n ? `the header promises ${h.entries} entries, the log has ${n} (entries were appended after export)`
          : `the header's chain_head ${h.chain_head.slice(0, 16)}… is not the last entry's hash ${prev.slice(0, 16)}…`;
      stop('E_AUDIT_HEAD_MISMATCH', h.entries > n ? n : n > 0 ? n - 1 : null, null, msg);
    }
    if (h.head_signature !== undefined) {
      if (!verifyEd25519(headerSigningBytes(h), h.head_signature, key)) {
        stop('E_AUDIT_BAD_HEAD_SIGNATURE', null, null, 'the header\'s head_signature does not verify; the header was altered');
      }
      result.headSigned = true;
    }
    if (log.ledgerEvents) {
      const p = checkLedgerAgainstAudit(h.run_id, result.releases, log.ledgerEvents);
      if (p) throw new VerifyStop(p);
      result.ledgerChecked = true;
    }
    result.finished = result.entries.at(-1)?.kind === 'run_finished';
    result.ok = true;
  } catch (err) {
    if (!(err instanceof VerifyStop)) throw err;
    result.problem = err.problem;
  }
  return result;
}
