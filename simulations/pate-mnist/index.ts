// Runs the PATE-MNIST reproduction (Papernot et al. 2018): teachers, Confident-GNMax, accounting, semi-supervised student.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadDataset } from '../../shared/data/catalog.ts';
import { SeededRng } from '../../shared/util/prng.ts';
import { check } from '../../shared/util/errors.ts';
import { type PateMnistConfig, parsePateMnistScenario } from './config.ts';
import { teacherVotes } from './teacher-votes.ts';
import { type PrivacyFigures, cachedAggregation, pateFigures } from './pate-aggregation.ts';
import { type GenerationReport, trainStudent } from './student.ts';

export { parsePateMnistScenario, type PateMnistConfig } from './config.ts';

/**
 * The acceptance target: student accuracy ≥ 97% at ε ≤ 2 (δ = 1e-5, classic, pate2018 orders).
 * The issue stated it for the expected ε; `met` checks both the expected and the realized ε, since
 * only the realized one is a bound for the run.
 */
export const PATE_MNIST_TARGET = { student_accuracy: 0.97, epsilon: 2.0 } as const;

export interface PateMnistResult {
  scenario: string;
  seed: number;
  privacy_unit: 'example';
  teachers: {
    count: number; shard_size: number; model: string; epochs: number;
    mean_accuracy: number; min_accuracy: number; max_accuracy: number; seconds: number; from_cache: boolean;
  };
  aggregation: {
    mechanism: 'confident-gnmax'; threshold: number; sigma1: number; sigma2: number;
    queries: number; answered: number;
    /** The answers came from an earlier run's release (pate-answers.json), not a new draw. */
    from_cache: boolean;
    /** Share of answered labels equal to the true label (report only; never used for training). */
    diagnostic_label_accuracy: number;
  };
  privacy: PrivacyFigures;
  student: { model: string; accuracy: number; labeled: number; generations: GenerationReport[]; seconds: number };
  target: { student_accuracy: number; epsilon: number; met: boolean };
  seconds: number;
}

export interface RunOptions { out?: string; log?: (line: string) => void; json?: boolean }

/** The public-set indices the teachers are asked about: the first `n`, or a seeded sample of them. */
export function selectQueries(publicLength: number, n: number, selection: 'first' | 'seeded', seed: number): number[] {
  check(n <= publicLength, 'strategy.queries', `asks ${n} queries of a public set of ${publicLength}`, 'E_SCENARIO_INVALID');
  if (selection === 'first') return Array.from({ length: n }, (_, i) => i);
  const perm = new SeededRng(`pate-mnist/queries/${seed}`).permutation(publicLength);
  return Array.from(perm.subarray(0, n)).sort((a, b) => a - b);
}

/**
 * Runs a `kind: pate-reproduction` scenario end to end and returns its figures. With `out`, the
 * teacher votes are cached there (a rerun skips teacher training) and `result.json` plus the
 * charged privacy events (`privacy-events.json`, replayable with `fedistill privacy epsilon`) are
 * written. Progress goes to `log`.
 */
export async function runPateMnist(scenario: Record<string, unknown>, opts: RunOptions = {}): Promise<PateMnistResult> {
  const cfg: PateMnistConfig = parsePateMnistScenario(scenario);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const t0 = performance.now();
  const pub = loadDataset(cfg.data.publicSet);
  const ev = loadDataset(cfg.data.evalSet);
  const queryIndices = selectQueries(pub.length, cfg.aggregation.queries, cfg.aggregation.querySelection, cfg.seed);
  log(`pate-mnist: ${cfg.teachers.count} teachers on ${cfg.data.teacherSet}, ${queryIndices.length} queries from ${cfg.data.publicSet}, eval ${cfg.data.evalSet}`);

  const tv = await teacherVotes({
    teacherSet: cfg.data.teacherSet, publicSet: cfg.data.publicSet, evalSet: cfg.data.evalSet, teachers: cfg.teachers.count,
    seed: cfg.seed, model: cfg.teachers.model, local: cfg.teachers.local, queryIndices,
  }, cfg.teachers.workers, opts.out, log);

  const { threshold, sigma1, sigma2 } = cfg.aggregation;
  const params = { threshold, sigma1, sigma2 };
  const agg = cachedAggregation(tv.votes, params, opts.out);
  if (agg.fromCache) log(`aggregation: answers read from the cache in ${opts.out} (no new release)`);
  const privacy = pateFigures(tv.votes, agg, params, cfg.privacy, cfg.teachers.count);
  const labeledIndices: number[] = [];
  const labels: number[] = [];
  let right = 0;
  agg.labels.forEach((l, q) => {
    if (l < 0) return;
    labeledIndices.push(queryIndices[q]!);
    labels.push(l);
    if (pub.labels[queryIndices[q]!] === l) right++;
  });
  log(`aggregation: ${labels.length}/${queryIndices.length} answered (${(100 * right / Math.max(1, labels.length)).toFixed(1)}% right); ` +
    `ε realized ${privacy.realized.epsilon.toFixed(3)} (data-dependent), expected ${privacy.expected.epsilon.toFixed(3)} (${privacy.expected.note}), ` +
    `data-independent ${privacy.realized.epsilon_data_independent.toFixed(3)} (publishable) (δ=${cfg.privacy.delta}, ${cfg.privacy.conversion}, ${cfg.privacy.orders} orders)`);

  const st = await trainStudent({ publicSet: pub, labeledIndices, labels, evalSet: ev, seed: cfg.seed }, cfg.student, log);
  const acc = tv.teacherAccuracy;
  const result: PateMnistResult = {
    scenario: cfg.name,
    seed: cfg.seed,
    privacy_unit: 'example',
    teachers: {
      count: cfg.teachers.count, shard_size: Math.min(...tv.shardSizes), model: cfg.teachers.model, epochs: cfg.teachers.local.epochs,
      mean_accuracy: acc.reduce((a, b) => a + b, 0) / acc.length, min_accuracy: Math.min(...acc), max_accuracy: Math.max(...acc),
      seconds: tv.seconds, from_cache: tv.fromCache,
    },
    aggregation: {
      mechanism: 'confident-gnmax', threshold, sigma1, sigma2, queries: queryIndices.length, answered: labels.length, from_cache: agg.fromCache,
      diagnostic_label_accuracy: right / Math.max(1, labels.length),
    },
    privacy,
    student: { model: cfg.student.model, accuracy: st.accuracy, labeled: st.labeled, generations: st.generations, seconds: st.seconds },
    target: {
      ...PATE_MNIST_TARGET,
      met: st.accuracy >= PATE_MNIST_TARGET.student_accuracy && privacy.expected.epsilon <= PATE_MNIST_TARGET.epsilon &&
        privacy.realized.epsilon <= PATE_MNIST_TARGET.epsilon,
    },
    seconds: (performance.now() - t0) / 1000,
  };
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(join(opts.out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(opts.out, 'privacy-events.json'), `${JSON.stringify({ schema_version: 1, events: agg.events })}\n`);
  }
  if (!opts.json) {
    log(`student: ${(100 * st.accuracy).toFixed(2)}% on ${cfg.data.evalSet} from ${labels.length} PATE labels; ` +
      `ε = ${privacy.realized.epsilon.toFixed(3)} (realized) / ${privacy.expected.epsilon.toFixed(3)} (expected, not a guarantee); ` +
      `publishable: ${privacy.realized.epsilon_data_independent.toFixed(3)} (data-independent) at δ=${cfg.privacy.delta}; ` +
      `target ${result.target.met ? 'met' : 'NOT met'}`);
  }
  return result;
}
