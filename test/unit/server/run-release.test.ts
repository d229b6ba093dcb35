// releaseRound when the charge is refused: a participant's own scope drops that site and the rest is aggregated again
// (while the quorum holds); the run scope, or too few sites left, ends the run. Real SQLite ledger, stub strategy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunDatabase } from '../../../server/run-database.ts';
import { releaseRound } from '../../../server/run-release.ts';
import { oneRoundConfig, stubStrategy } from './release-stubs.ts';
import { SiteBudgets } from '../../../server/run-site-budgets.ts';
import { PrivacyLedger } from '../../../shared/privacy/ledger.ts';
import { dpAccountingOrders } from '../../../shared/privacy/orders.ts';
import { CryptoRng } from '../../../shared/privacy/rng.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import type { RoundPlan, SiteReply } from '../../../server/strategies/strategy.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';

const EVENT: PrivacyEvent = { type: 'gaussian', noise_multiplier: 1, count: 1 };
const SITES = ['site-a', 'site-b', 'site-c'];

/** A ledger where each site scope fits one EVENT, not two, and site-a has already paid one (an earlier run). */
function setup(o: { quorum: number; runEpsilon?: number }) {
  const db = new RunDatabase(':memory:');
  const ledger = new PrivacyLedger(db, { orders: dpAccountingOrders(), conversion: 'improved' });
  // ε after one EVENT and after two (RDP composes sub-linearly): a budget between them fits one only
  ledger.setBudget('probe', { epsilon: 1e9, delta: 1e-5 });
  const after = [1, 2].map(() => { ledger.tryCharge(EVENT, { scope: 'probe' }); return ledger.spent('probe').epsilon; });
  ledger.setBudget('run:r', { epsilon: o.runEpsilon ?? 1e6, delta: 1e-5 });
  for (const s of SITES) ledger.setBudget(`site:${s}`, { epsilon: (after[0]! + after[1]!) / 2, delta: 1e-5 });
  assert.equal(ledger.tryCharge(EVENT, { scope: 'site:site-a' }).status, 'accepted');
  const log: string[] = [];
  const told: string[] = [];
  const budgets = new SiteBudgets({ db, ledger, runId: 'r', runScope: 'run:r', roundEvent: EVENT, log: (l) => log.push(l), notify: (site, code) => { told.push(`${site} ${code}`); return true; } });
  const config = oneRoundConfig(1e6, o.quorum);
  const aggregated: string[][] = [];
  const strategy = stubStrategy(EVENT, aggregated);
  const replies: SiteReply[] = SITES.map((site) => ({ site, rows: 2, cols: 2, teachers: 1, soft: new Float32Array(4) }));
  const input = {
    plan: { indices: Uint32Array.of(0, 1) } as unknown as RoundPlan, round: 0, replies, failures: [], siteEvents: {},
    ctx: { publicSize: 2, numClasses: 2, rng: new SeededRng(1), noise: new CryptoRng() },
  };
  const release = () => releaseRound({ db, config, strategy, ledger, runScope: 'run:r', budgets }, input);
  return { db, ledger, log, told, aggregated, input, release };
}

test('a participant whose own scope refuses is dropped; the others are aggregated again and released', () => {
  const s = setup({ quorum: 2 });
  const out = s.release();
  assert.equal(out.status, 'released');
  assert.deepEqual(out.status === 'released' && out.participants, ['site-b', 'site-c']);
  assert.deepEqual(s.aggregated, [SITES, ['site-b', 'site-c']], 'the first aggregate was discarded unreleased; a new one was drawn');
  assert.deepEqual(s.told, ['site-a E_SITE_SCOPE_EXHAUSTED']);
  assert.deepEqual(s.input.failures.map((f: { site: string; detail?: string }) => [f.site, /^E_SITE_SCOPE_EXHAUSTED: .*site:site-a/.test(f.detail ?? '')]), [['site-a', true]]);
  assert.match(s.log.join('\n'), /site site-a left out from the aggregate/);
  // charged once, to the run and the two participants; site-a keeps only its earlier charge
  assert.deepEqual(['run:r', 'site:site-a', 'site:site-b', 'site:site-c'].map((x) => s.db.ledgerEntries(x).length), [1, 1, 1, 1]);
  assert.deepEqual(s.db.getRelease('r', 0) !== undefined, true);
});

test('dropping the refused site below the quorum ends the run (budget_exhausted), nothing charged or released', () => {
  const s = setup({ quorum: 3 });
  const out = s.release();
  assert.equal(out.status, 'budget_exhausted');
  assert.deepEqual(['run:r', 'site:site-b'].map((x) => s.db.ledgerEntries(x).length), [0, 0]);
  assert.equal(s.db.getRelease('r', 0), undefined);
});

test('a refusal by the run scope ends the run as before: no site is dropped or told', () => {
  const s = setup({ quorum: 2, runEpsilon: 1e-3 });
  const out = s.release();
  assert.equal(out.status, 'budget_exhausted');
  assert.match(out.status === 'budget_exhausted' ? out.reason : '', /"run:r"/);
  assert.deepEqual([s.told, s.aggregated.length, s.input.failures.length], [[], 1, 0]);
});

test('a run-scope refusal whose projected ε has no finite value (every order overflows) is audited with projected_epsilon null and ends the run, not a crash', () => {
  const db = new RunDatabase(':memory:');
  const ledger = new PrivacyLedger(db, { orders: dpAccountingOrders(), conversion: 'improved' });
  ledger.setBudget('run:r', { epsilon: 10, delta: 1e-5 });
  ledger.setBudget('site:site-a', { epsilon: 1e6, delta: 1e-5 });
  const store = new SqliteAuditStore(db.sqlite);
  const audit = new AuditLog(store, generateIdentity());
  audit.append({ kind: 'run_started', runId: 'r', data: {} });
  const unaccountable: PrivacyEvent = { type: 'gaussian', noise_multiplier: 1e-295, count: 1 };
  const budgets = new SiteBudgets({ db, ledger, runId: 'r', runScope: 'run:r', roundEvent: unaccountable, audit, log: () => {}, notify: () => true });
  const config = oneRoundConfig(10);
  const strategy = stubStrategy(unaccountable);
  const out = releaseRound({ db, config, strategy, ledger, runScope: 'run:r', budgets, audit }, {
    plan: { indices: Uint32Array.of(0, 1) } as unknown as RoundPlan, round: 0, failures: [], siteEvents: {},
    replies: [{ site: 'site-a', rows: 2, cols: 2, teachers: 1, soft: new Float32Array(4) }],
    ctx: { publicSize: 2, numClasses: 2, rng: new SeededRng(1), noise: new CryptoRng() },
  });
  assert.equal(out.status, 'budget_exhausted');
  const refused = audit.entries('r').filter((e) => e.kind === 'budget_refused');
  assert.deepEqual(refused.map((e) => [e.site, e.data.scope, e.data.projected_epsilon]), [[null, 'run:r', null]]);
  assert.equal(db.getRelease('r', 0), undefined);
});
