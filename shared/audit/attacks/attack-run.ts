// Runs an attack scenario over its seeds and summarises: exposures and their reduction, AUC and ε lower bounds, pass/fail.
import { CryptoRng, type RandomSource } from '../../privacy/rng.ts';
import { SeededRng } from '../../util/prng.ts';
import type { AttackScenario } from './attack-scenario.ts';
import { type CanaryRunResult, runCanaryAttack } from './canary-attack.ts';
import { type MembershipRunResult, runMembershipAttack } from './membership-attack.ts';

export interface CanarySummary {
  compare: string;
  /** Mean over seeds of each release's mean exposure (bits). */
  meanExposure: Record<string, number>;
  /** 1 − exposure(compare) / exposure(plain), from the means over seeds. */
  reduction: number;
  /** The same per seed (same seed, same teachers, same student init): the pass criterion is on every seed. */
  reductionPerSeed: number[];
  minReduction: number;
  targetReduction: number;
  pass: boolean;
  runs: CanaryRunResult[];
}

export interface MembershipSummary {
  meanAuc: number;
  /** Largest |AUC − 0.5| over the seeds: the pass criterion is on every seed. */
  maxAucDeviation: number;
  aucTolerance: number;
  maxEpsilonLowerBound: number;
  epsilon: number;
  pass: boolean;
  runs: MembershipRunResult[];
}

export interface AttackReport {
  scenario: string;
  seeds: number[];
  delta: number;
  confidence: number;
  /** 'crypto' (node:crypto, private) or 'seeded' (test_noise_seed: reproducible, NOT private). */
  noise: 'crypto' | 'seeded';
  canary?: CanarySummary;
  membership?: MembershipSummary;
  pass: boolean;
  seconds: number;
}

/** A RandomSource from xoshiro128** (reproducible runs for tests only: anyone with the seed can remove the noise). */
function seededSource(seed: string): RandomSource {
  const rng = new SeededRng(seed);
  return { fill(words: Uint32Array): void { for (let i = 0; i < words.length; i++) words[i] = rng.nextU32(); } };
}

export interface RunAttackOptions {
  threads?: number;
  progress?: (line: string) => void;
  /** Run only one part of the scenario. */
  only?: 'canary' | 'membership';
}

/** Runs every seed of each part the scenario has and summarises against the scenario's targets. */
export async function runAttackScenario(sc: AttackScenario, o: RunAttackOptions = {}): Promise<AttackReport> {
  const t0 = performance.now();
  const noise = (label: string): CryptoRng => sc.testNoiseSeed === undefined ? new CryptoRng() : new CryptoRng(seededSource(`fedistill/audit/test-noise/${sc.testNoiseSeed}/${label}`));
  const base = { delta: sc.delta, noise, threads: o.threads, progress: o.progress };
  const report: AttackReport = {
    scenario: sc.name, seeds: sc.seeds, delta: sc.delta, confidence: sc.confidence,
    noise: sc.testNoiseSeed === undefined ? 'crypto' : 'seeded', pass: true, seconds: 0,
  };
  if (sc.canary && o.only !== 'membership') {
    const runs: CanaryRunResult[] = [];
    for (const seed of sc.seeds) runs.push(await runCanaryAttack(sc.canary, seed, base));
    const meanExposure: Record<string, number> = {};
    for (const name of Object.keys(sc.canary.releases)) meanExposure[name] = runs.reduce((s, r) => s + r.releases[name]!.meanExposure, 0) / runs.length;
    const reduction = 1 - meanExposure[sc.canary.compare]! / meanExposure.plain!;
    const reductionPerSeed = runs.map((r) => 1 - r.releases[sc.canary!.compare]!.meanExposure / r.releases.plain!.meanExposure);
    const minReduction = Math.min(...reductionPerSeed);
    const pass = minReduction >= sc.canary.targetReduction;
    report.canary = { compare: sc.canary.compare, meanExposure, reduction, reductionPerSeed, minReduction, targetReduction: sc.canary.targetReduction, pass, runs };
    report.pass &&= pass;
  }
  if (sc.membership && o.only !== 'canary') {
    const runs: MembershipRunResult[] = [];
    for (const seed of sc.seeds) runs.push(await runMembershipAttack(sc.membership, seed, { ...base, confidence: sc.confidence }));
    const maxAucDeviation = Math.max(...runs.map((r) => Math.abs(r.student.auc - 0.5)));
    const epsilon = Math.max(...runs.map((r) => r.release.epsilon));
    const pass = maxAucDeviation <= sc.membership.aucTolerance && epsilon <= sc.membership.epsilon;
    report.membership = {
      meanAuc: runs.reduce((s, r) => s + r.student.auc, 0) / runs.length,
      maxAucDeviation,
      aucTolerance: sc.membership.aucTolerance,
      maxEpsilonLowerBound: Math.max(...runs.map((r) => r.student.epsilonLowerBound.epsilonLowerBound)),
      epsilon,
      pass,
      runs,
    };
    report.pass &&= pass;
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
