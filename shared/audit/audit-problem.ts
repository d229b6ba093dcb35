// The audit error catalogue: every way a log, an export or a comparison can fail, with a stable code.

/** Stable codes, documented in docs/audit.md and asserted by tests. */
const AUDIT_CODES = {
  E_AUDIT_BAD_FORMAT: 'a line is not JSON, or the file is not a fedistill-audit export',
  E_AUDIT_BAD_HEADER: 'the export header is missing a field or has a malformed one',
  E_AUDIT_BAD_ENTRY: 'an entry has a missing, extra or malformed field (including release data and privacy events)',
  E_AUDIT_SEQ_GAP: 'an entry is missing, duplicated or out of order (seq is not its position)',
  E_AUDIT_RUN_MISMATCH: 'an entry belongs to another run than the log',
  E_AUDIT_BAD_PREV_HASH: 'prev_hash is not the previous entry\'s hash (chain broken)',
  E_AUDIT_BAD_HASH: 'the entry\'s hash is not the SHA-256 of its canonical content (content altered)',
  E_AUDIT_BAD_SIGNATURE: 'the signature of the entry\'s hash does not verify under the aggregator key',
  E_AUDIT_HEAD_MISMATCH: 'the header\'s entry count or chain head does not match the entries (truncated or extended)',
  E_AUDIT_BAD_HEAD_SIGNATURE: 'the header\'s signature over the chain head does not verify',
  E_AUDIT_KEY_MISMATCH: 'the log is signed by another key than the pinned --public-key',
  E_AUDIT_NO_DELTA: 'a release charges a scope whose δ is not in run_started (or config_change) budgets',
  E_AUDIT_CHARGE_MISMATCH: 'a release\'s privacy events are not what the mechanism it records costs (rows, noise over sensitivity, queries answered), or its record disagrees with the run\'s declared mechanism_params',
  E_AUDIT_UNCHECKED_RELEASE: 'a release records no mechanism, so its charge cannot be checked',
  E_AUDIT_EPSILON_MISMATCH: 'the ε a release reports differs from the ε its privacy events replay to',
  E_AUDIT_OVER_BUDGET: 'a release brought a scope\'s replayed ε above the budget declared for it (the charge should have been refused)',
  E_AUDIT_LEDGER_MISMATCH: 'the database\'s privacy ledger and the audit log disagree on the charges of a scope',
  E_AUDIT_MISSING_RELEASE: 'compare: a release the site recorded is not in the aggregator\'s log',
  E_AUDIT_EVENT_MISMATCH: 'compare: the aggregator logged another privacy event for the site than the site recorded',
  E_AUDIT_UNRECORDED_RELEASE: 'compare: the aggregator logged a release from the site that the site never recorded',
  E_AUDIT_SITE_EPSILON: 'compare: the aggregator reports more ε for the site than the site\'s own worst-case bound',
} as const;

export type AuditCode = keyof typeof AUDIT_CODES;

/** One finding. `seq` names the entry (null for header- or file-level findings); `index` is its position (line − 2 in an export). */
export interface AuditProblem {
  code: AuditCode;
  seq: number | null;
  index: number | null;
  message: string;
}

/** A problem as one line a person can read: "seq 3: E_AUDIT_BAD_HASH: ...". */
export function formatProblem(p: AuditProblem): string {
  const where = p.seq !== null ? `seq ${p.seq}` : p.index !== null ? `entry #${p.index}` : 'log';
  return `${where}: ${p.code}: ${p.message}`;
}
