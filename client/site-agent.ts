// The site's learning side, independent of transport: trains locally, answers queries on the public
// set through its local policy, records every release in its own ledger, and distills from consensus.
import type { Dataset } from '../shared/data/types.ts';
import { subset } from '../shared/data/image-dataset.ts';
import { buildModel, type ModelSpec } from '../shared/ml/index.ts';
import { Trainer } from '../shared/ml/trainer.ts';
import type { OnnxTeacher } from '../shared/ml/inference.ts';
import type { DeviceRequest } from '../shared/ml/runtime.ts';
import { centralReleaseSensitivity, clipL2Rows, gaussianRowsCharge, releaseSensitivity } from '../shared/privacy/soft-labels.ts';
import { addGridGaussian } from '../shared/privacy/grid-gaussian.ts';
import { CryptoRng } from '../shared/privacy/rng.ts';
import { confidentGnmaxWorstCase } from '../shared/privacy/pate-accounting.ts';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { check, FedistillError } from '../shared/util/errors.ts';
import type { SiteLedger } from './site-ledger.ts';
import { type CompetenceSettings, DomainCompetence } from './domain-competence.ts';
import { temperatureSoftmax, weightRows } from './reply-rows.ts';
import { RdpAccountant } from '../shared/privacy/rdp-accountant.ts';

export interface SiteSettings {
  name: string;
  model: 'mlp' | 'cnn' | ModelSpec;
  /** 1 = site-level unit (the site is one teacher); k > 1 = example-level (k teachers on disjoint shards). */
  teachers: number;
  local: { epochs: number; batchSize: number; lr: number; optimizer: 'sgd' | 'adam' | 'adamw' };
  /**
   * Digest, per round: `epochs` over the accumulated consensus mixed with private samples (at least
   * as many as consensus samples, at least `privateMix`), then `revisitEpochs` on all private data.
   */
  digest: { epochs: number; revisitEpochs: number; temperature: number; privateMix: number };
  /**
   * Local policy: clip per teacher row, optional local Gaussian noise (σ = multiplier × clip), and
   * optional competence weighting of soft-label replies (client/domain-competence.ts; site-level unit only).
   * `epsilon`: the site's own budget — a query whose charge would take the ledger's ε at the
   * site's own `delta` (default 1e-5, never the run's) above it is refused; none = no cap.
   */
  policy: {
    clip: number; localNoiseMultiplier: number; competence?: CompetenceSettings; epsilon?: number; delta?: number;
    /**
     * Send the aggregator the metrics computed on this site's own data (evaluation accuracy, the
     * distillation loss over private samples) after each round. No privacy charge covers them, so
     * the default is false: only the consensus size and the site's own ε leave. Local simulations,
     * where one operator holds every site, turn it on.
     */
    shareMetrics?: boolean;
  };
  seed: number;
  device: DeviceRequest;
  threads?: number;
}

/** What a query asks (the transport-level message, minus envelope). */
export interface Query {
  runId: string;
  round: number;
  requestId: string;
  indices: Uint32Array;
  /** As asked: anything but vote_histogram or soft_labels is refused (E_QUERY_INVALID). */
  replyKind: string;
  params: Record<string, number>;
  /** The asking aggregator's public key (base64), recorded with the release in the site's ledger. */
  aggregator?: string;
  /** The content hash of the public set the query names: when given, it must be this site's. */
  publicSetHash?: string;
}

export interface Answer {
  rows: number;
  cols: number;
  teachers: number;
  votes?: Int32Array;
  soft?: Float32Array;
  /** The worst-case event this site charged itself. */
  event: PrivacyEvent;
}

/** What the aggregator promised to add (from the run's Welcome): used for the site's own bound when it adds no noise itself. */
export interface CentralPolicy { noiseMultiplier?: number; sigma1?: number; sigma2?: number; threshold?: number }

export class SiteAgent {
  readonly settings: SiteSettings;
  readonly privateData: Dataset;
  readonly publicSet: Dataset;
  readonly evalSet: Dataset | undefined;
  readonly ledger: SiteLedger;
  private readonly student: Trainer;
  private teacherTrainers: { predict(x: Float32Array): Promise<{ logits: Float32Array }> }[] = [];
  private external = false;
  private readonly noise = new CryptoRng();
  /** Accuracy on the evaluation set after local-only training (the baseline). */
  baselineAccuracy: number | undefined;
  lastAccuracy: number | undefined;
  /** The latest consensus row per public index, accumulated over rounds. */
  private readonly consensus = new Map<number, Float32Array>();
  private readonly mixRng: SeededRng;
  private competence: DomainCompetence | undefined;

  constructor(settings: SiteSettings, data: { privateData: Dataset; publicSet: Dataset; evalSet?: Dataset }, ledger: SiteLedger) {
    check(Number.isSafeInteger(settings.teachers) && settings.teachers >= 1, 'teachers', 'must be a positive integer');
    check(settings.teachers <= data.privateData.length, 'teachers', `${settings.teachers} teachers but only ${data.privateData.length} private samples`);
    check(settings.policy.clip > 0, 'policy.clip', 'must be > 0');
    check(settings.policy.localNoiseMultiplier >= 0, 'policy.local_noise_multiplier', 'must be ≥ 0');
    const { epsilon, delta } = settings.policy;
    check(epsilon === undefined || (Number.isFinite(epsilon) && epsilon > 0), 'policy.epsilon', `must be a positive finite number, got ${epsilon}`);
    check(delta === undefined || (delta > 0 && delta < 1), 'policy.delta', `must be in (0, 1), got ${delta}`);
    // The discriminator sees all of the site's data: one example would move every teacher's weight.
    check(settings.policy.competence === undefined || settings.teachers === 1, 'policy.competence',
      'competence weighting needs the site-level privacy unit (one teacher per site); remove it or set teachers: 1');
    // The teachers and the student read the private data's sample size: a public or eval set of
    // another size would be sliced at the wrong width and answered on misaligned values, with no
    // error anywhere (or one about sample counts after training)
    const values = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
    const own = data.privateData;
    for (const [field, d] of [['public_set', data.publicSet], ['eval_set', data.evalSet]] as const) {
      if (d === undefined) continue;
      check(values(d.shape) === values(own.shape), field, `${d.spec} has samples of shape [${d.shape}] (${values(d.shape)} values), but the private data's are [${own.shape}] (${values(own.shape)}): fix data.shape (or the CSV) to match, or use a ${field} of the same kind`, 'E_SHAPE_MISMATCH');
      check(d.numClasses === own.numClasses, field, `${d.spec} has ${d.numClasses} classes, but the private data has ${own.numClasses}: fix data.classes to match, or use a ${field} of the same kind`, 'E_SHAPE_MISMATCH');
    }
    this.settings = settings;
    this.privateData = data.privateData;
    this.publicSet = data.publicSet;
    this.evalSet = data.evalSet;
    this.ledger = ledger;
    this.student = this.trainer(settings.seed);
    this.mixRng = new SeededRng(`${settings.seed}/digest-mix`);
  }

  private trainer(seed: number): Trainer {
    const s = this.settings;
    const model = buildModel(s.model, { seed, input: [...this.privateData.shape], classes: this.privateData.numClasses });
    return new Trainer(model, { optimizer: s.local.optimizer, lr: s.local.lr, batchSize: s.local.batchSize, device: s.device, threads: s.threads, seed });
  }

  /** Answers queries with an external ONNX classifier (one teacher, inference only) instead of trained teachers. */
  useExternalTeacher(t: OnnxTeacher): void {
    this.teacherTrainers = [t];
    this.external = true;
  }

  /** Local-only training: the student on all private data; k > 1 also trains k teachers on disjoint shards. */
  async prepare(onEpoch?: (what: string, epoch: number, loss: number) => void): Promise<void> {
    const s = this.settings;
    const res = await this.student.fit(this.privateData, { epochs: s.local.epochs });
    res.forEach((r) => onEpoch?.('student', r.epoch, r.loss));
    if (s.teachers > 1 && !this.external) {
      const perm = new SeededRng(s.seed ^ 0x5eed).permutation(this.privateData.length);
      for (let t = 0; t < s.teachers; t++) {
        const shard = perm.filter((_, i) => i % s.teachers === t);
        const tr = this.trainer(s.seed * 1000 + t + 1);
        await tr.fit(subset(this.privateData, shard), { epochs: s.local.epochs });
        await tr.release(); // a teacher only predicts from now on: free its training sessions
        this.teacherTrainers.push(tr);
      }
    }
    this.baselineAccuracy = this.lastAccuracy = await this.evaluate();
    if (s.policy.competence) {
      this.competence = await DomainCompetence.train(this.privateData, this.publicSet, s.policy.competence,
        { seed: s.seed * 7 + 3, device: s.device, threads: s.threads, batchSize: s.local.batchSize, lr: s.local.lr });
    }
  }

  async evaluate(): Promise<number | undefined> {
    if (!this.evalSet) return undefined;
    return (await this.student.evaluate(this.evalSet)).accuracy;
  }

  /** The public rows at `indices`, into `out` (the digest's training matrix) or a new array. */
  private gather(indices: Uint32Array, out = new Float32Array(indices.length * (this.publicSet.features.length / this.publicSet.length))): Float32Array {
    const per = this.publicSet.features.length / this.publicSet.length;
    indices.forEach((idx, r) => {
      check(idx < this.publicSet.length, 'indices', `public index ${idx} is outside the public set (${this.publicSet.length})`);
      out.set(this.publicSet.features.subarray(idx * per, (idx + 1) * per), r * per);
    });
    return out;
  }

  /**
   * Refuses, before anything is computed, a query this site must not answer: one that does not
   * fit its public set or asks nonsense (E_QUERY_INVALID), or a release its local policy does not
   * allow (E_QUERY_REFUSED).
   */
  private admit(q: Query): void {
    const n = this.publicSet.length;
    const invalid = (why: string): never => { throw new FedistillError('E_QUERY_INVALID', `request ${q.requestId}: ${why}`); };
    // A request id is one ledger entry: answering it again would be a release nobody recorded.
    if (this.ledger.has(q.requestId)) throw new FedistillError('E_QUERY_REPLAYED', `request ${q.requestId} was answered before; answering again would release twice under one ledger entry`);
    // The rows are this site's public set: a query naming another set asks for samples the site does not hold.
    if (q.publicSetHash !== undefined && q.publicSetHash !== this.publicSet.hash) {
      throw new FedistillError('E_PUBLIC_SET_MISMATCH', `request ${q.requestId} names public set hash ${q.publicSetHash}; this site's public set hashes to ${this.publicSet.hash}: nothing was computed`);
    }
    if (q.replyKind !== 'vote_histogram' && q.replyKind !== 'soft_labels') invalid(`reply kind ${JSON.stringify(q.replyKind)} is not one this site offers (vote_histogram, soft_labels)`);
    // An honest query asks each public sample at most once; more rows than the set only multiplies work (and, duplicated, noise draws).
    if (q.indices.length > n) invalid(`${q.indices.length} indices; the public set has ${n} samples`);
    for (let i = 0; i < q.indices.length; i++) if (q.indices[i]! >= n) invalid(`public index ${q.indices[i]} is outside the public set (${n} samples)`);
    for (const k of ['temperature', 'clip'] as const) {
      const v = q.params[k];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) invalid(`params.${k} must be a positive finite number, got ${v}`);
    }
    if (q.replyKind === 'vote_histogram' && this.settings.policy.localNoiseMultiplier > 0) {
      throw new FedistillError('E_QUERY_REFUSED', `request ${q.requestId}: a vote histogram carries no local noise, and this site's policy adds local noise (local_noise_multiplier ${this.settings.policy.localNoiseMultiplier}) to everything it releases`);
    }
  }

  /**
   * Refuses (E_SITE_BUDGET_EXHAUSTED) a charge that would take the ledger over the site's own budget,
   * at the site's own δ; and, budget or not, a charge with no finite ε at any order (a clip or σ
   * asked so small that it underflows): recorded, it would leave the ledger without any bound.
   */
  private checkBudget(q: Query, event: PrivacyEvent): void {
    const budget = this.settings.policy.epsilon;
    const delta = this.settings.policy.delta ?? 1e-5;
    let alone = Infinity;
    try { alone = new RdpAccountant().compose(event).getEpsilon(delta).epsilon; } catch { /* no finite order: refused below */ }
    if (!Number.isFinite(alone)) {
      throw new FedistillError('E_QUERY_REFUSED', `request ${q.requestId}: its charge (${JSON.stringify(event)}) has no finite ε at any order; the clip or noise it implies is too small to account for; nothing was released`);
    }
    if (budget === undefined) return;
    const projected = this.ledger.epsilon(delta, event);
    if (!(projected <= budget)) {
      throw new FedistillError('E_SITE_BUDGET_EXHAUSTED', `request ${q.requestId}: answering would take this site's ε to ${projected.toPrecision(4)} at δ=${delta}, over its own budget policy.epsilon = ${budget}; nothing was released`);
    }
  }

  /** How many teachers answer this site's queries (its shards' teachers, an external teacher, or the student): its weight in the aggregate. */
  get answeringTeachers(): number {
    return Math.max(1, this.teacherTrainers.length);
  }

  /**
   * Answers a query through the local policy and records the release in the site's ledger before
   * returning it. Soft labels: softmax(logits/T) per teacher, each row clipped to `clip`, summed
   * over teachers, plus local noise if configured. Votes: per-row histogram of teacher argmaxes.
   * The charge is fixed and checked against the site's budget before any teacher runs.
   */
  async answer(q: Query, central: CentralPolicy): Promise<Answer> {
    const rows = q.indices.length;
    const cols = this.publicSet.numClasses;
    const z = this.settings.policy.localNoiseMultiplier;
    this.admit(q);
    // The run may ask for a tighter clip, never a looser one.
    const clip = Math.min(this.settings.policy.clip, q.params.clip ?? Infinity);
    let event: PrivacyEvent;
    if (q.replyKind === 'vote_histogram') {
      // Worst case for this site: every query answered, data-independent GNMax bound.
      check(central.sigma1 !== undefined && central.sigma2 !== undefined && central.threshold !== undefined, 'welcome.privacy', 'the run must state sigma1, sigma2 and threshold for PATE');
      event = confidentGnmaxWorstCase(rows, { sigma1: central.sigma1!, sigma2: central.sigma2! });
    } else if (z > 0) {
      // The site's own noise: the run's promised noise (Welcome) cannot lower the charge. One
      // teacher's replaced data moves its clipped softmax row by ≤ √2·clip (replace-one), and the
      // noise's grid rounding by ≤ grid·√cols more.
      event = gaussianRowsCharge(z * clip, releaseSensitivity(clip, cols), rows);
    } else {
      check(central.noiseMultiplier !== undefined && central.noiseMultiplier > 0, 'welcome.privacy.noise_multiplier',
        'the run adds no central noise and this site adds no local noise: set policy.local_noise_multiplier > 0');
      // σ = z·(the run's clip) ≥ z·(this site's clip, never looser): charging the latter is conservative.
      // The reply travels as float32 before the aggregator's noise: that rounding counts too.
      event = gaussianRowsCharge(central.noiseMultiplier! * clip, centralReleaseSensitivity(clip, cols, this.answeringTeachers), rows);
    }
    this.checkBudget(q, event);
    const x = this.gather(q.indices);
    const teachers = this.teacherTrainers.length > 0 ? this.teacherTrainers : [this.student];
    const temperature = q.params.temperature ?? 1;
    let answer: Answer;
    if (q.replyKind === 'vote_histogram') {
      const votes = new Int32Array(rows * cols);
      for (const t of teachers) {
        const { logits } = await t.predict(x);
        for (let r = 0; r < rows; r++) {
          let best = 0;
          for (let c = 1; c < cols; c++) if (logits[r * cols + c]! > logits[r * cols + best]!) best = c;
          votes[r * cols + best]! += 1;
        }
      }
      answer = { rows, cols, teachers: teachers.length, votes, event };
    } else {
      const sum = new Float64Array(rows * cols);
      // Weights scale rows before the clip: the reply's bound, hence its event, is unchanged.
      const weights = this.competence ? await this.competence.weights(x) : undefined;
      for (const t of teachers) {
        const { logits } = await t.predict(x);
        const probs = temperatureSoftmax(logits, rows, cols, temperature);
        if (weights) weightRows(probs, cols, weights);
        const clipped = clipL2Rows(probs, rows, cols, clip);
        for (let i = 0; i < sum.length; i++) sum[i]! += clipped[i]!;
      }
      if (z > 0) addGridGaussian(sum, z * clip, this.noise);
      answer = { rows, cols, teachers: teachers.length, soft: Float32Array.from(sum), event };
    }
    const noise = q.replyKind !== 'vote_histogram' && z > 0 ? 'local' : 'central';
    const recorded = this.ledger.record({ runId: q.runId, round: q.round, requestId: q.requestId, replyKind: q.replyKind, rows, event, noise, ...(q.aggregator ? { aggregator: q.aggregator } : {}) });
    // admit() refused a recorded id; one recorded meanwhile (a concurrent caller) must not leave uncounted
    if (!recorded) throw new FedistillError('E_QUERY_REPLAYED', `request ${q.requestId} was recorded while it was being answered; nothing was sent`);
    return answer;
  }

  /**
   * Distills the student from everything the federation has released so far (the latest
   * consensus per public sample: DS-FL/FedMD soft labels, or PATE's answered labels), then
   * revisits private data, and returns the new metrics (the site's own ε bound at `delta`).
   * Metrics computed on private data are returned only with `policy.shareMetrics`: they go to the aggregator.
   */
  async digest(delta: number, c: { indices: Uint32Array; cols: number; soft?: Float32Array; labels?: Int32Array }): Promise<Record<string, number>> {
    const s = this.settings;
    c.indices.forEach((idx, r) => {
      if (c.soft) this.consensus.set(idx, c.soft.slice(r * c.cols, (r + 1) * c.cols));
      else if (c.labels && c.labels[r]! >= 0) {
        const row = new Float32Array(c.cols);
        row[c.labels[r]!] = 1;
        this.consensus.set(idx, row);
      }
    });
    let distillLoss = NaN;
    if (this.consensus.size > 0) {
      // One pass over the consensus samples mixed with as many private samples (one-hot targets),
      // so the student learns the federation's classes without forgetting its own.
      const pub = Uint32Array.from(this.consensus.keys());
      const nPriv = Math.min(this.privateData.length, Math.max(pub.length, s.digest.privateMix));
      const priv = this.mixRng.permutation(this.privateData.length).subarray(0, nPriv);
      const per = this.privateData.features.length / this.privateData.length;
      const n = pub.length + nPriv;
      const x = new Float32Array(n * per);
      const targets = new Float32Array(n * c.cols);
      this.gather(pub, x); // straight into x: no second copy of the public rows per digest (a simulation holds one per hosted site at once)
      pub.forEach((k, r) => targets.set(this.consensus.get(k)!, r * c.cols));
      priv.forEach((k, j) => {
        const r = pub.length + j;
        x.set(this.privateData.features.subarray(k * per, (k + 1) * per), r * per);
        targets[r * c.cols + this.privateData.labels[k]!] = 1;
      });
      const r = await this.student.distill({ features: x, softTargets: targets, temperature: s.digest.temperature }, { epochs: s.digest.epochs });
      distillLoss = r.at(-1)?.loss ?? NaN;
    }
    if (s.digest.revisitEpochs > 0) await this.student.fit(this.privateData, { epochs: s.digest.revisitEpochs });
    this.lastAccuracy = await this.evaluate();
    const share = s.policy.shareMetrics === true;
    const epsilon = this.ledger.epsilon(delta);
    return {
      ...(share && this.lastAccuracy !== undefined ? { accuracy: this.lastAccuracy } : {}),
      ...(share && Number.isFinite(distillLoss) ? { distill_loss: distillLoss } : {}),
      consensus_samples: this.consensus.size,
      // a ledger with no finite bound (see SiteLedger.epsilon) sends none: metrics carry finite numbers only
      ...(Number.isFinite(epsilon) ? { ledger_epsilon: epsilon } : {}),
    };
  }

  async exportStudent(path: string): Promise<void> {
    await this.student.exportOnnx(path);
  }
}
