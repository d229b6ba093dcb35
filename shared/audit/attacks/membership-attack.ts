// Membership-inference audit: a loss-threshold attack on a student distilled through PATE labels at a calibrated ε.
import { loadDataset } from '../../data/catalog.ts';
import { subset } from '../../data/image-dataset.ts';
import { calibrateNoise } from '../../privacy/calibrate.ts';
import { gnmax } from '../../privacy/noisy-max.ts';
import { SeededRng } from '../../util/prng.ts';
import type { MembershipScenario } from './attack-scenario.ts';
import { labelLogProbs, mlpSpec, seededTrainer } from './attack-training.ts';
import type { AttackRunOptions } from './canary-attack.ts';
import { type EmpiricalEpsilon, empiricalEpsilon } from './empirical-epsilon.ts';
import { rocAuc } from './roc-auc.ts';

export interface AttackFigures {
  auc: number;
  /** ε lower bound (at the scenario's δ and confidence) the attack proves. */
  epsilonLowerBound: EmpiricalEpsilon;
  members: number;
  nonMembers: number;
}

export interface MembershipRunResult {
  seed: number;
  /** The label release: GNMax σ calibrated so that `queries` answers cost ε ≤ target (data-independent). */
  release: { queries: number; sigma: number; epsilon: number; delta: number; labelAccuracy: number };
  teacherAccuracy: number;
  studentAccuracy: number;
  /** The attack on the student (members: the teachers' private data). */
  student: AttackFigures;
  /** The same attack on the teachers themselves, which saw their members: shows the attack has power. */
  teachers: AttackFigures;
}

/**
 * One seed of the membership audit. The private pool is cut into `teachers` disjoint shards
 * (one teacher each: the example-level unit); the student learns only from GNMax labels on
 * public queries. Attack score: log p(y | x), i.e. the negated loss, higher = "member".
 * Members are drawn from the private pool, non-members from the held-out set (same distribution).
 */
export async function runMembershipAttack(sc: MembershipScenario, seed: number, o: AttackRunOptions & { confidence: number }): Promise<MembershipRunResult> {
  const threads = o.threads ?? 1;
  const say = o.progress ?? (() => {});
  const pool = loadDataset(sc.privateSet);
  const heldout = loadDataset(sc.heldoutSet);
  const pub = loadDataset(sc.publicSet);
  const evalSet = loadDataset(sc.evalSet);
  const classes = pool.numClasses;
  const spec = mlpSpec(sc.hidden, pool.shape, classes);
  const rng = new SeededRng(`fedistill/audit/membership/${seed}`);
  const order = rng.permutation(pool.length);
  const per = Math.floor(pool.length / sc.teachers);
  const queries = subset(pub, Array.from({ length: Math.min(sc.queries, pub.length) }, (_, i) => i));

  const votes = new Uint32Array(queries.length * classes);
  const teacherScores: { m: number[]; n: number[] } = { m: [], n: [] };
  const probeTeachers = Math.min(sc.teachers, 10);
  const probePer = Math.min(per, Math.floor(heldout.length / probeTeachers));
  let teacherAcc = 0;
  for (let k = 0; k < sc.teachers; k++) {
    const shard = subset(pool, order.subarray(k * per, (k + 1) * per));
    const t = seededTrainer(spec, sc.teacher, `${seed}/membership/teacher/${k}`, threads);
    await t.fit(shard, { epochs: sc.teacher.epochs });
    const { probs } = await t.predict(queries.features);
    for (let q = 0; q < queries.length; q++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (probs[q * classes + c]! > probs[q * classes + best]!) best = c;
      votes[q * classes + best]!++;
    }
    if (k < probeTeachers) {
      teacherAcc += (await t.evaluate(evalSet)).accuracy / probeTeachers;
      const mine = subset(shard, Array.from({ length: probePer }, (_, i) => i));
      const others = subset(heldout, Array.from({ length: probePer }, (_, i) => k * probePer + i));
      teacherScores.m.push(...await labelLogProbs(t, mine.features, mine.labels));
      teacherScores.n.push(...await labelLogProbs(t, others.features, others.labels));
    }
    if ((k + 1) % 10 === 0 || k + 1 === sc.teachers) say(`membership seed ${seed}: ${k + 1}/${sc.teachers} teachers trained`);
  }

  const cal = calibrateNoise([{ type: 'pate_gnmax', sigma: '?', count: queries.length }], sc.epsilon, o.delta);
  const noise = o.noise(`membership/${seed}`);
  const labels = new Uint8Array(queries.length);
  let correct = 0;
  for (let q = 0; q < queries.length; q++) {
    labels[q] = gnmax(votes.subarray(q * classes, (q + 1) * classes), cal.noise, noise);
    if (labels[q] === queries.labels[q]) correct++;
  }
  const student = seededTrainer(spec, sc.student, `${seed}/membership/student`, threads);
  await student.fit({ features: queries.features, labels }, { epochs: sc.student.epochs });
  const studentAccuracy = (await student.evaluate(evalSet)).accuracy;

  const m = Math.min(sc.attackSamples, pool.length, heldout.length);
  const members = subset(pool, rng.permutation(pool.length).subarray(0, m));
  const nonMembers = subset(heldout, rng.permutation(heldout.length).subarray(0, m));
  const sm = await labelLogProbs(student, members.features, members.labels);
  const sn = await labelLogProbs(student, nonMembers.features, nonMembers.labels);
  const figures = (mScores: ArrayLike<number>, nScores: ArrayLike<number>, tag: string): AttackFigures => ({
    auc: rocAuc(mScores, nScores),
    epsilonLowerBound: empiricalEpsilon(mScores, nScores, { delta: o.delta, confidence: o.confidence, seed: `${seed}/${tag}` }),
    members: mScores.length,
    nonMembers: nScores.length,
  });
  const result: MembershipRunResult = {
    seed,
    release: { queries: queries.length, sigma: cal.noise, epsilon: cal.epsilon, delta: o.delta, labelAccuracy: correct / queries.length },
    teacherAccuracy: teacherAcc,
    studentAccuracy,
    student: figures(sm, sn, 'student'),
    teachers: figures(teacherScores.m, teacherScores.n, 'teachers'),
  };
  say(`membership seed ${seed}: student AUC ${result.student.auc.toFixed(3)} (ε = ${cal.epsilon.toFixed(2)}), teachers' AUC ${result.teachers.auc.toFixed(3)}`);
  return result;
}
