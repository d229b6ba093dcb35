// The aggregator's tamper-evident audit log: each entry hash-chained to the previous and signed by the aggregator's key.
import { encodePublicKey, type Identity } from '../crypto/identity.ts';
import { check, FedistillError } from '../util/errors.ts';
import {
  AUDIT_ENTRY_KINDS, type AuditEntry, type AuditEntryBody, type AuditEntryInput, GENESIS_HASH, hashAuditEntry, signAuditHash,
} from './audit-entry.ts';
import type { AuditStore } from './sqlite-audit-store.ts';
import { canonicalJson } from './canonical-json.ts';
import { readRunAccounting, validateReleaseData } from './release-data.ts';

/** Entries larger than this (canonical data) are refused: an export must stay readable line by line. */
export const MAX_AUDIT_DATA_BYTES = 8 * 1024 * 1024;

export interface AuditLogOptions {
  /** Clock for `at` (tests inject one). */
  now?: () => Date;
}

/**
 * Appends signed, hash-chained entries, one chain per run. `append` is synchronous and runs in
 * the store's transaction (a savepoint inside the caller's), so the aggregator can record a
 * release, its ledger charge and its audit entry all-or-nothing.
 */
export class AuditLog {
  private readonly store: AuditStore;
  private readonly identity: Identity;
  private readonly publicKey: string;
  private readonly now: () => Date;

  constructor(store: AuditStore, identity: Identity, options: AuditLogOptions = {}) {
    this.store = store;
    this.identity = identity;
    this.publicKey = encodePublicKey(identity.publicKey);
    this.now = options.now ?? (() => new Date());
  }

  /** Records one event of a run and returns the stored entry. Release data is validated first. */
  append(input: AuditEntryInput): AuditEntry {
    check((AUDIT_ENTRY_KINDS as readonly string[]).includes(input.kind), 'kind', `unknown audit entry kind "${input.kind}"; expected one of ${AUDIT_ENTRY_KINDS.join(', ')}`);
    check(typeof input.runId === 'string' && input.runId !== '', 'runId', 'must be a non-empty string');
    check(input.round === undefined || (Number.isSafeInteger(input.round) && input.round >= 0), 'round', `must be an integer ≥ 0, got ${input.round}`);
    check(input.site === undefined || (typeof input.site === 'string' && input.site !== ''), 'site', 'must be a non-empty string');
    let data = input.data;
    if (input.kind === 'release') data = validateReleaseData(data);
    if (input.kind === 'run_started' || input.kind === 'config_change') readRunAccounting(data);
    // Parse back the canonical text so what is hashed now is exactly what a reader will see.
    const text = canonicalJson(data, 'data');
    check(Buffer.byteLength(text) <= MAX_AUDIT_DATA_BYTES, 'data', `is ${Buffer.byteLength(text)} bytes; at most ${MAX_AUDIT_DATA_BYTES}`);
    const stored = JSON.parse(text) as Record<string, unknown>;
    return this.store.atomically(() => {
      const key = this.store.publicKey(input.runId);
      if (key === undefined) this.store.setPublicKey(input.runId, this.publicKey);
      else if (key !== this.publicKey) {
        throw new FedistillError('E_AUDIT_KEY_CHANGED', `run "${input.runId}" is audited under key ${key}; this aggregator signs with ${this.publicKey}. Use the run's original identity`);
      }
      const head = this.store.head(input.runId);
      if (head === undefined) check(input.kind === 'run_started', 'kind', `the first entry of run "${input.runId}" must be run_started, got ${input.kind}`);
      const body: AuditEntryBody = {
        seq: head ? head.seq + 1 : 0, at: this.now().toISOString(), kind: input.kind, runId: input.runId,
        round: input.round ?? null, site: input.site ?? null, data: stored, prev_hash: head?.hash ?? GENESIS_HASH,
      };
      const hash = hashAuditEntry(body);
      const entry: AuditEntry = { ...body, hash, signature: signAuditHash(hash, this.identity.secretKey) };
      this.store.insert(entry);
      return entry;
    });
  }

  /** A run's entries in order. */
  entries(runId: string): AuditEntry[] {
    return this.store.entries(runId);
  }
}
