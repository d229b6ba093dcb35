// A run's privacy plan before it starts: what each round charges, the ε after every round, and where the budget stops it.
import { existsSync } from 'node:fs';
import { type PrivacyEvent, validatePrivacyEvent } from '../shared/privacy/events.ts';
import type { LedgerStore, PrivacyBudget } from '../shared/privacy/ledger.ts';
import { SITE_SCOPE } from './site-scopes.ts';
import { RunDatabase } from './run-database.ts';
import { RdpAccountant } from '../shared/privacy/rdp-accountant.ts';
import { confidentGnmaxWorstCase } from '../shared/privacy/pate-accounting.ts';
import { centralReleaseSensitivity, gaussianRowsCharge } from '../shared/privacy/soft-labels.ts';
import type { RunConfig } from './run-config.ts';
import { rowsPerRound } from './strategies/strategy.ts';

export interface RunPlan {
  /** What one round charges (PATE: as if every query were answered, the most it can cost). */
  roundEvent: PrivacyEvent;
  /** Whether `roundEvent` is exact (soft labels) or an upper bound (PATE answers only some queries). */
  exact: boolean;
  /** ε at the run's δ after rounds 1…N. */
  epsilonPerRound: number[];
  /** Rounds that fit the budget at their worst: the run stops before querying round roundsWithinBudget + 1 (PATE: at the earliest). */
  roundsWithinBudget: number;
  budget: { epsilon: number; delta: number };
}

/**
 * The charge of one round of `c`, before any site has answered: soft labels cost one Gaussian per
 * row at the replace-one sensitivity on `numClasses` columns; PATE costs at most the threshold step
 * and GNMax for each query. A round asks min(queries_per_round, public set size) rows, as the
 * aggregator does (rowsPerRound). Data-dependent PATE accounting charges less, never more.
 */
export function roundCharge(c: RunConfig, numClasses: number, publicSize: number): { event: PrivacyEvent; exact: boolean } {
  const s = c.strategy;
  const rows = rowsPerRound(s.queriesPerRound, publicSize);
  if (s.name === 'pate') {
    return { event: confidentGnmaxWorstCase(rows, s), exact: false };
  }
  const { clip, noiseMultiplier, teachersPerSite } = c.privacy;
  const sensitivity = centralReleaseSensitivity(clip, numClasses, teachersPerSite);
  return { event: gaussianRowsCharge(noiseMultiplier * clip, sensitivity, rows), exact: true };
}

/**
 * The plan for `c` (its budget and δ, the dp_accounting orders and the improved conversion, as the
 * ledger uses), for a public set of `publicSize` samples: a round asks no more rows than it has.
 */
export function planRun(c: RunConfig, numClasses: number, publicSize: number): RunPlan {
  const { event, exact } = roundCharge(c, numClasses, publicSize);
  const acc = new RdpAccountant();
  const epsilonPerRound: number[] = [];
  let roundsWithinBudget = 0;
  for (let r = 0; r < c.rounds; r++) {
    acc.compose(event);
    const eps = acc.getEpsilon(c.privacy.delta).epsilon;
    epsilonPerRound.push(eps);
    if (eps <= c.privacy.epsilon && roundsWithinBudget === r) roundsWithinBudget = r + 1;
  }
  return { roundEvent: event, exact, epsilonPerRound, roundsWithinBudget, budget: { epsilon: c.privacy.epsilon, delta: c.privacy.delta } };
}

/** The plan in one or two log lines: a run that will hit its budget says so before any site trains. */
export function describePlan(p: RunPlan): string[] {
  const n = p.epsilonPerRound.length;
  const last = p.epsilonPerRound[n - 1] ?? 0;
  const bound = p.exact ? '' : 'at most ';
  const lines = [`privacy plan: ${n} round(s), ε ${bound}${last.toPrecision(4)} at δ = ${p.budget.delta} after the last (round 1: ${bound}${(p.epsilonPerRound[0] ?? 0).toPrecision(4)}); budget ε = ${p.budget.epsilon}`];
  if (p.roundsWithinBudget < n) {
    lines.push(`privacy plan: the budget ${p.exact ? 'stops' : 'may stop'} the run after round ${p.roundsWithinBudget} of ${n}; raise privacy.noise_multiplier (or sigma1/sigma2), or lower queries_per_round or rounds, to fit it`);
  }
  return lines;
}

/** A site's scope on the aggregator's ledger as a plan reads it: its budget and what earlier runs charged it (none for a site never seen). */
export interface SiteScopeState { site: string; budget?: PrivacyBudget; spent: PrivacyEvent[] }

export interface SitesPlan {
  /** Per allowlisted site: ε already spent on this ledger (at its scope's δ) and how many of the run's remaining rounds its scope can still pay. */
  sites: { site: string; spent_epsilon: number; budget: PrivacyBudget; rounds: number }[];
  /** Of the remaining rounds, how many at least `quorum` sites can pay: the run stops before the next one (PATE: at the earliest). */
  rounds: number;
  quorum: number;
  /** Rounds the run has already released, and so charged (a resumed run): the remaining ones are planned, from round fromRound + 1. */
  fromRound: number;
}

/**
 * What the sites' own scopes allow, before the run starts. A site's scope keeps the budget of its
 * first run and is charged in every later run on the database (docs/runs.md, site budgets across
 * runs), so on a database with earlier runs the sites can run out before the run scope does: a site
 * that cannot pay a round is left out, and the run stops once fewer than quorum sites can. A site
 * never seen gets this run's budget at its first join, with nothing spent.
 */
export function planSites(c: RunConfig, roundEvent: PrivacyEvent, scopes: readonly SiteScopeState[], fromRound = 0): SitesPlan {
  const remaining = Math.max(0, c.rounds - fromRound);
  // every site never seen is the same: computed once (an allowlist may name 10,000 of them)
  let fresh: { spent_epsilon: number; budget: PrivacyBudget; rounds: number } | undefined;
  const sites = scopes.map((s) => {
    if (s.budget === undefined && s.spent.length === 0 && fresh) return { site: s.site, ...fresh };
    const budget = s.budget ?? { epsilon: c.privacy.epsilon, delta: c.privacy.delta };
    const acc = new RdpAccountant();
    for (const e of s.spent) acc.compose(e);
    const epsilonOf = () => { try { return acc.getEpsilon(budget.delta).epsilon; } catch { return Infinity; } };
    const spent = s.spent.length ? epsilonOf() : 0;
    let rounds = 0;
    while (rounds < remaining) {
      acc.compose(roundEvent);
      if (!(epsilonOf() <= budget.epsilon)) break;
      rounds++;
    }
    if (s.budget === undefined && s.spent.length === 0) fresh = { spent_epsilon: spent, budget, rounds };
    return { site: s.site, spent_epsilon: spent, budget, rounds };
  });
  const byRounds = sites.map((s) => s.rounds).sort((a, b) => b - a);
  return { sites, rounds: byRounds[c.quorum - 1] ?? 0, quorum: c.quorum, fromRound };
}

/** Rounds of run `runId` already released, and so charged: planning a resumed run starts after them. */
export function releasedRounds(db: { getRun(runId: string): unknown; lastReleasedRound(runId: string): number }, runId: string): number {
  return db.getRun(runId) ? db.lastReleasedRound(runId) + 1 : 0;
}

/** The sites' part of the plan in log lines: only when what the sites spent already (earlier runs, this run's rounds so far) limits some site. */
export function describeSitesPlan(p: SitesPlan, run: RunPlan): string[] {
  const n = run.epsilonPerRound.length;
  const remaining = Math.max(0, n - p.fromRound);
  const limited = p.sites.filter((s) => s.rounds < remaining).sort((a, b) => a.rounds - b.rounds || a.site.localeCompare(b.site));
  if (limited.length === 0) return [];
  const bound = run.exact ? '' : 'at most ';
  const shown = limited.slice(0, 8).map((s) => `${s.site} ${s.rounds} (ε ${s.spent_epsilon.toPrecision(4)} of ${s.budget.epsilon} spent)`).join(', ');
  const more = limited.length > 8 ? `, and ${limited.length - 8} more` : '';
  const spentIn = p.fromRound > 0 ? `this run's ${p.fromRound} released round(s) and any earlier runs` : 'earlier runs';
  const lines = [`privacy plan: sites' own budgets on this database, spent in ${spentIn}: of the ${remaining} round(s) left, each can still pay ${bound}${shown}${more}; a site that cannot pay a round is left out of it`];
  if (p.rounds < remaining && p.fromRound + p.rounds < run.roundsWithinBudget) {
    lines.push(`privacy plan: only ${p.rounds} more round(s) have quorum ${p.quorum} sites that can pay: the run ${run.exact ? 'stops' : 'may stop'} before round ${p.fromRound + p.rounds + 1} of ${n}; raise privacy.noise_multiplier (or sigma1/sigma2), lower queries_per_round or rounds, or add sites new to this database`);
  }
  return lines;
}

/** The scopes of `sites` on a ledger store (the aggregator's database), their events checked as the ledger checks them. */
export function siteScopeStates(store: LedgerStore, sites: readonly string[]): SiteScopeState[] {
  return store.atomically((tx) => sites.map((site) => {
    const scope = SITE_SCOPE(site);
    return { site, budget: tx.getBudget(scope), spent: tx.entries(scope).map((e) => validatePrivacyEvent(e.event, `ledger["${scope}"][${e.seq}]`)) };
  }));
}

/**
 * The scopes of the allowlisted sites in the database at `path`, opened read-only (a running server
 * may hold it), and the rounds run `runId` has released; undefined when there is no database yet (a
 * first run: every site is new, and the allowlist is not read).
 */
export function readSiteScopeStates(path: string, allowlisted: () => readonly string[], runId: string): { scopes: SiteScopeState[]; fromRound: number } | undefined {
  if (path === ':memory:' || !existsSync(path)) return undefined;
  const sites = allowlisted();
  const db = new RunDatabase(path, { readonly: true });
  try {
    return db.initialised ? { scopes: siteScopeStates(db, sites), fromRound: releasedRounds(db, runId) } : undefined;
  } finally {
    db.close();
  }
}
