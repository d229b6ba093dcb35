// Canary-exposure audit: plant secrets in one site's data, run the distillation federation, measure each secret's exposure in the students.
import { loadDataset } from '../../data/catalog.ts';
import { subset } from '../../data/image-dataset.ts';
import { partitionLabels } from '../../data/partition.ts';
import { accuracyOf } from '../../ml/index.ts';
import type { CryptoRng } from '../../privacy/rng.ts';
import { epsilonFromEvents } from '../../privacy/rdp-accountant.ts';
import type { CanaryScenario } from './attack-scenario.ts';
import { logProbRows, mlpSpec, seededTrainer } from './attack-training.ts';
import { canaryExposure, chanceExposure } from './canary-exposure.ts';
import { generateCanaries, nearDuplicates } from './canaries.ts';
import { releaseTeacherLabels } from './teacher-release.ts';
import { check } from '../../util/errors.ts';
import { gatherRows } from '../../ml/train-data.ts';

export interface ReleaseExposure {
  /** Mean exposure (bits) over the canaries: the headline figure. */
  meanExposure: number;
  /** Per canary, in bits (max digits·log2(classes)). */
  exposures: number[];
  /** Fraction of canary positions whose secret label is the student's top class. */
  secretTop1: number;
  /** The student's accuracy on the held-out set. */
  studentAccuracy: number;
  /** Formal ε (site-level, at the scenario's δ) of the release, null when nothing is noised. */
  epsilon: number | null;
  /** Fraction of public rows released to the student (1 without a support gate). */
  releasedRows: number;
  /** Fraction of the canaries' public near-duplicates released (1 without a support gate). */
  releasedCanaryRows: number;
}

export interface CanaryRunResult {
  seed: number;
  /** Mean accuracy of the site teachers on the held-out set, and site 1's recall of its canaries. */
  teacherAccuracy: number;
  canaryTeacherRecall: number;
  /** Bits a secret carries (digits·log2 classes) and the expected exposure of a model that learned nothing. */
  maxExposure: number;
  chanceExposure: number;
  publicRows: number;
  releases: Record<string, ReleaseExposure>;
}

export interface AttackRunOptions {
  delta: number;
  /** Privacy noise source, one per run (node:crypto unless a test seeds it). */
  noise: (label: string) => CryptoRng;
  threads?: number;
  progress?: (line: string) => void;
}

/**
 * One seed of the canary audit. Site 1 holds `private_copies` jittered copies of every canary
 * pattern with its secret label; the public set holds `public_copies` other near-duplicates,
 * so the secrets can reach the students only through what the teachers release on it. Every
 * release policy distills a student from the same init and shuffles; the exposure of each
 * secret is then read off that student's predictions on the exact canary patterns.
 */
export async function runCanaryAttack(sc: CanaryScenario, seed: number, o: AttackRunOptions): Promise<CanaryRunResult> {
  const threads = o.threads ?? 1;
  const say = o.progress ?? (() => {});
  const pool = loadDataset(sc.privateSet);
  const pub = loadDataset(sc.publicSet);
  const evalSet = loadDataset(sc.evalSet);
  const pixels = pool.shape.reduce((a, b) => a * b, 1);
  const classes = pool.numClasses;
  const spec = mlpSpec(sc.hidden, pool.shape, classes);
  const c = sc.canaries;
  const canaries = generateCanaries({ count: c.count, digits: c.digits, classes, pixels, density: c.density, seed });
  const part = partitionLabels('iid', { labels: pool.labels, numClasses: classes, clients: sc.sites, seed });

  const teachers = [];
  let teacherAcc = 0;
  let recall = 0;
  for (let k = 0; k < sc.sites; k++) {
    const shard = subset(pool, part.clients[k]!.indices);
    let features = shard.features;
    let labels: Uint8Array = shard.labels;
    if (k === 0) {
      const dup = nearDuplicates(canaries, c.privateCopies, c.flip, `${seed}/private`);
      features = concat(features, dup.features);
      labels = Uint8Array.from([...labels, ...Array.from(dup.source, (p) => canaries.secretLabels[p]!)]);
    }
    const t = seededTrainer(spec, sc.teacher, `${seed}/canary/teacher/${k}`, threads);
    await t.fit({ features, labels }, { epochs: sc.teacher.epochs });
    const acc = (await t.evaluate(evalSet)).accuracy;
    teacherAcc += acc / sc.sites;
    if (k === 0) {
      const p = await t.predict(canaries.patterns);
      recall = accuracyOf(p.logits, p.classes, canaries.secretLabels);
    }
    say(`canary seed ${seed}: teacher ${k + 1}/${sc.sites} trained on ${labels.length} samples, accuracy ${acc.toFixed(3)}`);
    teachers.push(t);
  }

  const pubDup = nearDuplicates(canaries, c.publicCopies, c.flip, `${seed}/public`);
  const publicFeatures = concat(pub.features, pubDup.features);
  const rows = publicFeatures.length / pixels;
  const teacherProbs = [];
  for (const t of teachers) teacherProbs.push((await t.predict(publicFeatures)).probs);

  const releases: Record<string, ReleaseExposure> = {};
  for (const [name, policy] of Object.entries(sc.releases)) {
    const rel = releaseTeacherLabels(teacherProbs, rows, classes, policy, o.noise(`canary/${seed}/${name}`), publicFeatures);
    const train = rel.released ? releasedOnly(publicFeatures, rel.targets, rel.released, rows) : { features: publicFeatures, softTargets: rel.targets };
    const student = seededTrainer(spec, sc.student, `${seed}/canary/student`, threads);
    await student.distill(train, { epochs: sc.student.epochs });
    const { logProbs } = await logProbRows(student, canaries.patterns);
    const exposures: number[] = [];
    let top1 = 0;
    for (let i = 0; i < c.count; i++) {
      const span = logProbs.subarray(i * c.digits * classes, (i + 1) * c.digits * classes);
      const secret = canaries.secretLabels.subarray(i * c.digits, (i + 1) * c.digits);
      exposures.push(canaryExposure(span, classes, secret));
      for (let j = 0; j < c.digits; j++) {
        let best = 0;
        for (let k = 1; k < classes; k++) if (span[j * classes + k]! > span[j * classes + best]!) best = k;
        if (best === secret[j]) top1++;
      }
    }
    const studentAccuracy = (await student.evaluate(evalSet)).accuracy;
    const epsilon = rel.events.length ? epsilonFromEvents(rel.events, o.delta).epsilon : null;
    const canaryStart = rows - pubDup.source.length;
    const releasedRows = rel.released ? countOnes(rel.released, 0, rows) / rows : 1;
    const releasedCanaryRows = rel.released ? countOnes(rel.released, canaryStart, rows) / (rows - canaryStart) : 1;
    releases[name] = { meanExposure: mean(exposures), exposures, secretTop1: top1 / (c.count * c.digits), studentAccuracy, epsilon, releasedRows, releasedCanaryRows };
    const gated = rel.released ? `, ${(100 * releasedRows).toFixed(0)}% of rows released (${(100 * releasedCanaryRows).toFixed(0)}% of canary copies)` : '';
    say(`canary seed ${seed}: ${name} student: mean exposure ${mean(exposures).toFixed(2)} bits, accuracy ${studentAccuracy.toFixed(3)}${gated}`);
  }
  return {
    seed,
    teacherAccuracy: teacherAcc,
    canaryTeacherRecall: recall,
    maxExposure: c.digits * Math.log2(classes),
    chanceExposure: chanceExposure(classes ** c.digits),
    publicRows: rows,
    releases,
  };
}

/** The released rows only: what a student distills from when a support gate withholds some. */
function releasedOnly(features: Float32Array, targets: Float32Array, released: Uint8Array, rows: number): { features: Float32Array; softTargets: Float32Array } {
  const dim = features.length / rows;
  const cols = targets.length / rows;
  const idx = Uint32Array.from({ length: rows }, (_, r) => r).filter((r) => released[r]);
  check(idx.length > 0, 'support_gate.min_support', 'withheld every public row, so there is nothing to distill from; lower min_support or the noise', 'E_NOTHING_RELEASED');
  return {
    features: gatherRows(features, dim, idx, new Float32Array(idx.length * dim)),
    softTargets: gatherRows(targets, cols, idx, new Float32Array(idx.length * cols)),
  };
}

function countOnes(mask: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n += mask[i]!;
  return n;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
}
