// Benchmark: the full empirical privacy audit (canary exposure, membership inference) on MNIST, printing one JSON object.
// Usage: node --import tsx bench/audit-attack.ts [--scenario FILE] [--seeds 1,2,3] [--threads T]
import { loadAttackScenario } from '../shared/audit/attacks/attack-scenario.ts';
import { runAttackScenario } from '../shared/audit/attacks/attack-run.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const scenarioPath = flag('scenario') ?? 'simulations/scenarios/attack-mnist.yaml';
const sc = loadAttackScenario(scenarioPath);
if (flag('seeds')) sc.seeds = flag('seeds')!.split(',').map(Number);
const r = await runAttackScenario(sc, { threads: Number(flag('threads') ?? 1), progress: (l) => process.stderr.write(l + '\n') });
const c = r.canary;
const m = r.membership;
const round = (x: number, d = 4): number => Number(x.toFixed(d));
console.log(JSON.stringify({
  command: `node --import tsx bench/audit-attack.ts --scenario ${scenarioPath}`,
  scenario: r.scenario,
  seeds: r.seeds,
  noise: r.noise,
  canary: c && {
    compare: c.compare,
    mean_exposure_bits: Object.fromEntries(Object.entries(c.meanExposure).map(([k, v]) => [k, round(v, 3)])),
    exposure_per_seed: Object.fromEntries(Object.keys(c.meanExposure).map((k) => [k, c.runs.map((run) => round(run.releases[k]!.meanExposure, 3))])),
    student_accuracy_per_seed: Object.fromEntries(Object.keys(c.meanExposure).map((k) => [k, c.runs.map((run) => round(run.releases[k]!.studentAccuracy, 3))])),
    epsilon_site_level: Object.fromEntries(Object.keys(c.meanExposure).map((k) => [k, c.runs[0]!.releases[k]!.epsilon])),
    reduction: round(c.reduction),
    reduction_per_seed: c.reductionPerSeed.map((x) => round(x)),
    min_reduction: round(c.minReduction),
    target_reduction: c.targetReduction,
    released_rows_per_seed: Object.fromEntries(Object.keys(c.meanExposure).map((k) => [k, c.runs.map((run) => round(run.releases[k]!.releasedRows, 3))])),
    released_canary_copies_per_seed: Object.fromEntries(Object.keys(c.meanExposure).map((k) => [k, c.runs.map((run) => round(run.releases[k]!.releasedCanaryRows, 3))])),
    max_exposure_bits: round(c.runs[0]!.maxExposure, 3),
    chance_exposure_bits: round(c.runs[0]!.chanceExposure, 3),
    teacher_accuracy_per_seed: c.runs.map((run) => round(run.teacherAccuracy, 3)),
    pass: c.pass,
  },
  membership: m && {
    release_epsilon: round(m.epsilon),
    delta: r.delta,
    confidence: r.confidence,
    student_auc_per_seed: m.runs.map((run) => round(run.student.auc)),
    student_epsilon_lower_bound_per_seed: m.runs.map((run) => round(run.student.epsilonLowerBound.epsilonLowerBound)),
    max_auc_deviation: round(m.maxAucDeviation),
    student_accuracy_per_seed: m.runs.map((run) => round(run.studentAccuracy, 3)),
    label_accuracy_per_seed: m.runs.map((run) => round(run.release.labelAccuracy, 3)),
    gnmax_sigma: round(m.runs[0]!.release.sigma, 3),
    teachers_auc_per_seed: m.runs.map((run) => round(run.teachers.auc)),
    teachers_epsilon_lower_bound_per_seed: m.runs.map((run) => round(run.teachers.epsilonLowerBound.epsilonLowerBound)),
    pass: m.pass,
  },
  pass: r.pass,
  seconds: round(r.seconds, 1),
}));
