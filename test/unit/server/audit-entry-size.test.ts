// The most sites an aggregator admits, and why: at that many participants with the longest names, a round's signed
// audit entries still fit the 8 MiB cap whatever the sites send, so a round can always be recorded and the run go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RunDatabase } from '../../../server/run-database.ts';
import { releaseRound } from '../../../server/run-release.ts';
import { oneRoundConfig, stubStrategy } from './release-stubs.ts';
import { SiteBudgets } from '../../../server/run-site-budgets.ts';
import { PrivacyLedger } from '../../../shared/privacy/ledger.ts';
import { CryptoRng } from '../../../shared/privacy/rng.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import type { RoundPlan, SiteReply } from '../../../server/strategies/strategy.ts';
import { AuditLog, MAX_AUDIT_DATA_BYTES } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { canonicalJson } from '../../../shared/audit/canonical-json.ts';
import { fitSiteMap, siteMapBudget } from '../../../shared/audit/site-map-budget.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { Allowlist, MAX_ALLOWLIST_SITES } from '../../../shared/crypto/allowlist.ts';
import { validateScenario } from '../../../simulations/scenario.ts';
import type { ChannelError } from '../../../protocols/error-catalogue.ts';

const EVENT: PrivacyEvent = { type: 'gaussian', noise_multiplier: 1, count: 1 };
/** A site name of the longest form the allowlist accepts (64 characters). */
const siteName = (i: number) => `site-${String(i).padStart(5, '0')}-`.padEnd(64, 'x');

test(`an allowlist of more than ${MAX_ALLOWLIST_SITES} sites is refused, naming the limit; a scenario cannot ask for more either`, () => {
  const entries = (n: number) => Array.from({ length: n }, (_, i) => [randomBytes(32), siteName(i)] as const);
  assert.equal(new Allowlist(entries(MAX_ALLOWLIST_SITES)).size, MAX_ALLOWLIST_SITES);
  assert.throws(() => new Allowlist(entries(MAX_ALLOWLIST_SITES + 1)), (e: ChannelError) => e.code === 'E_ALLOWLIST_INVALID' && /at most 10000/.test(e.message));
  const scenario = (count: number) => ({
    name: 'm', rounds: 1, data: { dataset: 'mnist:train[0:100]', public_set: 'mnist:test[0:50]', eval_set: 'mnist:test[50:100]' },
    sites: { count }, strategy: { name: 'dsfl' },
  });
  assert.equal(validateScenario(scenario(MAX_ALLOWLIST_SITES)).sites.count, MAX_ALLOWLIST_SITES);
  assert.throws(() => validateScenario(scenario(MAX_ALLOWLIST_SITES + 1)), /sites\.count.*10000/);
});

test(`${MAX_ALLOWLIST_SITES} participants with 64-character names, each with a 4 KiB event: the release entry fits the cap`, { timeout: 120_000 }, () => {
  const sites = Array.from({ length: MAX_ALLOWLIST_SITES }, (_, i) => siteName(i));
  const db = new RunDatabase(':memory:');
  const ledger = new PrivacyLedger(db);
  const audit = new AuditLog(new SqliteAuditStore(db.sqlite), generateIdentity());
  for (const scope of ['run:r', ...sites.map((s) => `site:${s}`)]) ledger.setBudget(scope, { epsilon: 1e6, delta: 1e-5 });
  audit.append({ kind: 'run_started', runId: 'r', data: { delta: 1e-5 } });
  const budgets = new SiteBudgets({ db, ledger, runId: 'r', runScope: 'run:r', roundEvent: EVENT, log: () => {}, notify: () => true });
  const config = oneRoundConfig(1e6);
  const strategy = stubStrategy(EVENT);
  // each site's event: a composition of Gaussians, ~4 KiB of JSON (the wire allows 16 KiB)
  const siteEvent = (i: number): PrivacyEvent => ({ type: 'composed', events: Array.from({ length: 70 }, (_, k) => ({ type: 'gaussian', noise_multiplier: 1 + i / 1e4 + k / 1e9 })) });
  const replies: SiteReply[] = sites.map((site) => ({ site, rows: 2, cols: 2, teachers: 1, soft: new Float32Array(4) }));
  const out = releaseRound({ db, config, strategy, ledger, runScope: 'run:r', budgets, audit }, {
    plan: { indices: Uint32Array.of(0, 1) } as unknown as RoundPlan, round: 0, replies, failures: [],
    siteEvents: Object.fromEntries(sites.map((s, i) => [s, siteEvent(i)])),
    ctx: { publicSize: 2, numClasses: 2, rng: new SeededRng(1), noise: new CryptoRng() },
  });
  assert.equal(out.status, 'released');
  const entry = audit.entries('r').find((e) => e.kind === 'release')!;
  const data = entry.data as { scopes: string[]; site_events: object; site_events_omitted?: object };
  assert.equal(data.scopes.length, MAX_ALLOWLIST_SITES + 1);
  const bytes = Buffer.byteLength(canonicalJson(entry.data));
  assert.ok(bytes <= MAX_AUDIT_DATA_BYTES, `${bytes} bytes`);
  assert.equal(Object.keys(data.site_events).length + Object.keys(data.site_events_omitted ?? {}).length, MAX_ALLOWLIST_SITES);
  assert.ok(Object.keys(data.site_events_omitted ?? {}).length > 0, 'the events passed the budget');
  db.close();
});

test('the site map budget is what the cap leaves after the rest of the entry, so an entry fits even when every site is a digest', () => {
  const rest = { participants: Array.from({ length: MAX_ALLOWLIST_SITES }, (_, i) => siteName(i)), metrics: { epsilon: 1 } };
  const budget = siteMapBudget(rest);
  assert.ok(budget <= MAX_AUDIT_DATA_BYTES - Buffer.byteLength(canonicalJson(rest)));
  // every participant sent the largest metrics map allowed: all become digests, and those fit
  const metrics = Object.fromEntries(rest.participants.map((p, i) => [p, Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`m${k}`.padEnd(128, 'x'), i + k / 7]))]));
  const fitted = fitSiteMap(metrics, budget);
  const entry = { ...rest, site_metrics: fitted.kept, site_metrics_omitted: fitted.omitted };
  assert.ok(Buffer.byteLength(canonicalJson(entry)) <= MAX_AUDIT_DATA_BYTES);
  assert.equal(Object.keys(fitted.kept).length + Object.keys(fitted.omitted).length, MAX_ALLOWLIST_SITES);
});
