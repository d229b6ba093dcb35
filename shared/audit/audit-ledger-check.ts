// Cross-checks the aggregator database's privacy ledger against the audit log's releases, scope by scope.
import { canonicalJson } from './canonical-json.ts';
import type { AuditProblem } from './audit-problem.ts';
import type { VerifiedRelease } from './audit-verify.ts';

/**
 * The run's own scope (`run:<id>`) must hold exactly the events of the audit's releases, in
 * order. Other scopes (e.g. `site:<name>`) may be shared with other runs, so there the audit's
 * events must appear in the ledger in order, possibly with other charges between them.
 * Returns the first disagreement, or undefined.
 */
export function checkLedgerAgainstAudit(runId: string, releases: readonly VerifiedRelease[], ledgerEvents: (scope: string) => unknown[]): AuditProblem | undefined {
  const byScope = new Map<string, { seq: number; event: string }[]>();
  for (const r of releases) {
    for (const scope of r.data.scopes) {
      const list = byScope.get(scope) ?? [];
      for (const ev of r.data.privacy_events) list.push({ seq: r.seq, event: canonicalJson(ev) });
      byScope.set(scope, list);
    }
  }
  const runScope = `run:${runId}`;
  if (!byScope.has(runScope)) byScope.set(runScope, []);
  for (const [scope, audit] of byScope) {
    const ledger = ledgerEvents(scope).map((e) => canonicalJson(e));
    if (scope === runScope) {
      for (let k = 0; k < audit.length; k++) {
        if (ledger[k] !== audit[k]!.event) {
          return { code: 'E_AUDIT_LEDGER_MISMATCH', seq: audit[k]!.seq, index: audit[k]!.seq, message: `scope "${scope}": ledger charge #${k} is ${ledger[k] ?? '(missing)'}, the audit log's release charged ${audit[k]!.event}` };
        }
      }
      if (ledger.length > audit.length) {
        return { code: 'E_AUDIT_LEDGER_MISMATCH', seq: null, index: null, message: `scope "${scope}": the ledger has ${ledger.length - audit.length} charge(s) after the last audited release (charges with no audit entry)` };
      }
    } else {
      let at = 0;
      for (const [k, a] of audit.entries()) {
        while (at < ledger.length && ledger[at] !== a.event) at++;
        if (at === ledger.length) {
          // Matching is greedy, so with identical charges the release named is the first one left unmatched, not necessarily the row that changed.
          return {
            code: 'E_AUDIT_LEDGER_MISMATCH', seq: a.seq, index: a.seq,
            message: `scope "${scope}": only ${k} of the audit log's ${audit.length} charges are in the ledger in order, and not this release's ${a.event} (${ledger.length} ledger rows): a ledger row was edited or removed, or the log records a charge the ledger never took`,
          };
        }
        at++;
      }
    }
  }
  return undefined;
}
