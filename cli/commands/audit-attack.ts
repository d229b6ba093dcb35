// `fedistill audit attack`: empirical privacy audits (canary exposure, membership inference) from an attack scenario.
import type { CliIO, CommandSpec } from '../parse.ts';
import { type AttackScenario, loadAttackScenario } from '../../shared/audit/attacks/attack-scenario.ts';
import { FedistillError, UsageError } from '../../shared/util/errors.ts';
import { scenarioHasKeys } from './simulate.ts';
import { type AttackReport, type CanarySummary, type MembershipSummary, runAttackScenario } from '../../shared/audit/attacks/attack-run.ts';
import type { ReleaseExposure } from '../../shared/audit/attacks/canary-attack.ts';
import type { AttackFigures } from '../../shared/audit/attacks/membership-attack.ts';

function parseSeeds(text: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  // Number('') is 0: an empty item ("1,,2", "1,") must not become seed 0
  const seeds = items.map((s) => (s === '' ? NaN : Number(s)));
  if (!seeds.every((s) => Number.isSafeInteger(s) && s >= 0)) throw new UsageError(`--seeds takes comma-separated non-negative integers, got "${text}"`);
  return seeds;
}

const f2 = (x: number): string => x.toFixed(2);

/** Loads an attack scenario; a simulation scenario (docs/simulations.md) is sent to `fedistill simulate`. */
function loadAttackScenarioFile(file: string): AttackScenario {
  try {
    return loadAttackScenario(file);
  } catch (e) {
    if (e instanceof FedistillError && e.code === 'E_SCENARIO_INVALID' && scenarioHasKeys(file, ['sites', 'strategy', 'rounds', 'kind'])) {
      throw new UsageError(`${file} is a simulation scenario (it has sites, strategy or rounds), not an attack scenario: run "fedistill simulate ${file}"`, 'E_SCENARIO_INVALID');
    }
    throw e;
  }
}

const releaseJson = (r: ReleaseExposure) => ({
  mean_exposure: r.meanExposure, exposures: r.exposures, secret_top1: r.secretTop1, student_accuracy: r.studentAccuracy,
  epsilon: r.epsilon, released_rows: r.releasedRows, released_canary_rows: r.releasedCanaryRows,
});

const canaryJson = (c: CanarySummary) => ({
  compare: c.compare, mean_exposure: c.meanExposure, reduction: c.reduction, reduction_per_seed: c.reductionPerSeed,
  min_reduction: c.minReduction, target_reduction: c.targetReduction, pass: c.pass,
  runs: c.runs.map((run) => ({
    seed: run.seed, teacher_accuracy: run.teacherAccuracy, canary_teacher_recall: run.canaryTeacherRecall,
    max_exposure: run.maxExposure, chance_exposure: run.chanceExposure, public_rows: run.publicRows,
    releases: Object.fromEntries(Object.entries(run.releases).map(([name, rel]) => [name, releaseJson(rel)])),
  })),
});

const figuresJson = (f: AttackFigures) => {
  const b = f.epsilonLowerBound;
  return {
    auc: f.auc, members: f.members, non_members: f.nonMembers,
    epsilon_lower_bound: {
      epsilon_lower_bound: b.epsilonLowerBound, tpr: b.tpr, fpr: b.fpr, tpr_lower: b.tprLower, fpr_upper: b.fprUpper,
      threshold: b.threshold, delta: b.delta, confidence: b.confidence,
      selection: { members: b.selection.members, non_members: b.selection.nonMembers },
      evaluation: { members: b.evaluation.members, non_members: b.evaluation.nonMembers },
    },
  };
};

const membershipJson = (m: MembershipSummary) => ({
  mean_auc: m.meanAuc, max_auc_deviation: m.maxAucDeviation, auc_tolerance: m.aucTolerance,
  max_epsilon_lower_bound: m.maxEpsilonLowerBound, epsilon: m.epsilon, pass: m.pass,
  runs: m.runs.map((run) => ({
    seed: run.seed,
    release: { queries: run.release.queries, sigma: run.release.sigma, epsilon: run.release.epsilon, delta: run.release.delta, label_accuracy: run.release.labelAccuracy },
    teacher_accuracy: run.teacherAccuracy, student_accuracy: run.studentAccuracy, student: figuresJson(run.student), teachers: figuresJson(run.teachers),
  })),
});

/**
 * The --json object, snake_case like every fedistill output; `releases` and `mean_exposure` are
 * keyed by the scenario's release names (data, kept as written).
 */
export function attackReportJson(r: AttackReport) {
  return {
    // the command exits 1 when a target is missed: `ok` says so, as in every --json output
    ok: r.pass,
    scenario: r.scenario, seeds: r.seeds, delta: r.delta, confidence: r.confidence, noise: r.noise,
    ...(r.canary ? { canary: canaryJson(r.canary) } : {}), ...(r.membership ? { membership: membershipJson(r.membership) } : {}),
    pass: r.pass, seconds: r.seconds,
  };
}

/** The human summary: what was measured, per seed, and whether the scenario's targets were met. */
function printReport(r: AttackReport, io: CliIO): void {
  io.out(`attack audit "${r.scenario}", seeds ${r.seeds.join(', ')}, noise ${r.noise === 'seeded' ? 'SEEDED (reproducible, NOT private)' : 'node:crypto'}`);
  if (r.canary) {
    const c = r.canary;
    io.out(`canary exposure (bits; max ${f2(c.runs[0]!.maxExposure)}, chance ${f2(c.runs[0]!.chanceExposure)}):`);
    for (const [name, e] of Object.entries(c.meanExposure)) {
      const per = c.runs.map((run) => f2(run.releases[name]!.meanExposure)).join(' / ');
      const acc = c.runs.map((run) => f2(run.releases[name]!.studentAccuracy)).join(' / ');
      const eps = c.runs[0]!.releases[name]!.epsilon;
      io.out(`  ${name.padEnd(10)} ${f2(e).padStart(6)}   per seed ${per}   student accuracy ${acc}${eps === null ? '' : `   ε = ${f2(eps)} (site-level)`}`);
    }
    const gated = c.runs.map((run) => run.releases[c.compare]!).filter((rel) => rel.releasedRows < 1);
    if (gated.length) io.out(`  ${c.compare} released ${gated.map((rel) => `${(100 * rel.releasedRows).toFixed(0)}%`).join(' / ')} of public rows (canary copies ${gated.map((rel) => `${(100 * rel.releasedCanaryRows).toFixed(0)}%`).join(' / ')})`);
    const perSeed = c.reductionPerSeed.map((x) => `${(100 * x).toFixed(1)}%`).join(' / ');
    io.out(`  ${c.compare} vs plain: ${(100 * c.reduction).toFixed(1)}% lower exposure (per seed ${perSeed}; target ≥ ${(100 * c.targetReduction).toFixed(0)}% on every seed): ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  if (r.membership) {
    const m = r.membership;
    io.out(`membership inference (loss threshold) on a PATE student at ε ≤ ${f2(m.epsilon)} (δ = ${r.delta}):`);
    for (const run of m.runs) {
      io.out(`  seed ${run.seed}: student AUC ${run.student.auc.toFixed(3)}, ε lower bound ${run.student.epsilonLowerBound.epsilonLowerBound.toFixed(3)} at ${100 * r.confidence}%;`
        + ` student accuracy ${f2(run.studentAccuracy)}; teachers' AUC ${run.teachers.auc.toFixed(3)} (ε lb ${f2(run.teachers.epsilonLowerBound.epsilonLowerBound)})`);
    }
    io.out(`  max |AUC − 0.5| = ${m.maxAucDeviation.toFixed(3)} (tolerance ${m.aucTolerance}): ${m.pass ? 'PASS' : 'FAIL'}`);
  }
  io.out(`${r.pass ? 'PASS' : 'FAIL'} in ${r.seconds.toFixed(0)} s`);
}

export const auditAttackCommand: CommandSpec = {
  name: 'attack',
  summary: 'empirical audits: canary exposure and membership inference against distilled students',
  description:
    'Runs the attack scenario FILE in-process: (1) plants canaries (random patterns with secret\n' +
    'labels) in one site\'s data, distills students from plain and from noised/swing releases, and\n' +
    'measures each secret\'s exposure (bits); (2) attacks a student trained on PATE labels at a\n' +
    'calibrated ε with a loss-threshold membership test: AUC and the ε lower bound it proves at the\n' +
    'stated confidence. Exits 1 when a target of the scenario is missed. See docs/audit-attacks.md.',
  flags: {
    scenario: { type: 'string', help: 'attack scenario (YAML)', required: true, arg: 'FILE' },
    seeds: { type: 'string', help: 'override the scenario\'s seeds, e.g. 1,2,3', arg: 'LIST' },
    only: { type: 'string', help: 'run one part of the scenario', choices: ['canary', 'membership'] },
    threads: { type: 'integer', help: 'onnxruntime threads per model', default: 1, min: 1 },
    json: { type: 'boolean', help: 'print one JSON object' },
  },
  examples: [
    'fedistill audit attack --scenario simulations/scenarios/attack-mnist.yaml',
    'fedistill audit attack --scenario simulations/scenarios/attack-tiny.yaml --only canary --json',
  ],
  async run(args, io) {
    const sc = loadAttackScenarioFile(String(args.flags.scenario));
    if (args.flags.seeds !== undefined) sc.seeds = parseSeeds(String(args.flags.seeds));
    const threads = Number(args.flags.threads);
    const r = await runAttackScenario(sc, {
      threads,
      only: args.flags.only as 'canary' | 'membership' | undefined,
      progress: (line) => io.err(line),
    });
    if (args.flags.json) io.out(JSON.stringify(attackReportJson(r)));
    else printReport(r, io);
    return r.pass ? 0 : 1;
  },
};
