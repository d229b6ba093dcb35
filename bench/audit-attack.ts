// Benchmark: the full empirical privacy audit (canary exposure, membership inference) on MNIST, printing one JSON object.
// Usage: node --import tsx bench/audit-attack.ts [--scenario FILE] [--seeds 1,2,3] [--threads T]
import { loadAttackScenario } from '../shared/audit/attacks/attack-scenario.ts';
import { runAttackScenario } from '../shared/audit/attacks/attack-run.ts';
import { benchArgs } from './bench-args.ts';

const { values: args } = benchArgs({
  name: 'audit-attack',
  summary: `The full empirical privacy audit on MNIST: canary exposure (plain vs noisy/swing distillation) and
membership-inference AUC (docs/audit-attacks.md). Progress on stderr, one JSON object on stdout.`,
  options: {
    scenario: { kind: 'string', arg: 'FILE', default: 'simulations/scenarios/attack-mnist.yaml', help: 'attack scenario; simulations/scenarios/attack-tiny.yaml is a smoke run of seconds' },
    seeds: { kind: 'integers', arg: '1,2,3', defaultHelp: "the scenario's seeds", help: 'seeds to run, comma-separated' },
    threads: { kind: 'integer', arg: 'T', default: 1, help: 'onnxruntime threads per model' },
  },
});

const scenarioPath = args.scenario;
const sc = loadAttackScenario(scenarioPath);
if (args.seeds) sc.seeds = args.seeds;
const r = await runAttackScenario(sc, { threads: args.threads, progress: (l) => process.stderr.write(l + '\n') });
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
