// Site-side competence weighting: a discriminator (own private data vs the public set) scales each soft-label reply by how much the sample looks like the site's own data.
//
// Under strong label skew a site's model answers every public sample with one of the few classes it
// has seen, confidently; averaged over sites, these confident wrong answers are systematic (always
// the same classes) and students learn them. Trained with the two sides balanced, the
// discriminator's odds D/(1−D) estimate the density ratio p_site(x)/p_public(x): the Bayes
// mixture of site experts weights site k by n_k·p_k(x) (DaFKD's domain-aware weighting, done
// without a generator). A reply row is multiplied by w(x) = min(1, ratio/fullWeightRatio) ∈ [0, 1]
// before the usual L2 clip, so a row's norm stays ≤ clip and nothing else leaves the site: the
// sensitivity and the privacy event are those of an unweighted reply. The discriminator is trained
// on all of the site's data, so this is only sound for the site-level unit (one teacher per site).
import type { Dataset } from '../shared/data/types.ts';
import { buildModel, type ModelSpec } from '../shared/ml/index.ts';
import { Trainer } from '../shared/ml/trainer.ts';
import { gatherRows } from '../shared/ml/train-data.ts';
import type { DeviceRequest } from '../shared/ml/runtime.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { check } from '../shared/util/errors.ts';
import { CONFIG_FILE_FIELDS, type ConfigFields, isMapping, shown } from '../shared/util/config-fields.ts';

export interface CompetenceSettings {
  /** Epochs of discriminator training (private vs public, balanced). */
  epochs: number;
  /** Density ratio at and above which a reply gets full weight (below: proportional). */
  fullWeightRatio: number;
  /** Hidden units of the discriminator MLP (784-h-2 on MNIST). */
  hidden: number;
  /** Public samples used as the "not mine" side (a seeded subset when the public set is larger). */
  maxPublicSamples: number;
}

export const COMPETENCE_DEFAULTS: CompetenceSettings = { epochs: 2, fullWeightRatio: 0.5, hidden: 128, maxPublicSamples: 10_000 };

/** The snake_case keys of `policy.competence` (site.yaml) and `sites.competence` (scenarios). */
const COMPETENCE_KEYS = ['epochs', 'full_weight_ratio', 'hidden', 'max_public_samples'] as const;

/**
 * The one parser of competence settings, for site files and scenarios alike: absent, null or false
 * → off (undefined); true → the defaults; a mapping → its fields over the defaults. `fields` gives
 * the file format's error codes; errors name `field` (e.g. `policy.competence.epochs`).
 */
export function competenceSettingsAt(v: unknown, field: string, fields: ConfigFields): CompetenceSettings | undefined {
  if (v === undefined || v === null || v === false) return undefined;
  fields.checkField(v === true || isMapping(v), field, `must be true, false or a mapping, got ${shown(v)}`);
  const m = isMapping(v) ? v : {};
  fields.onlyKeys(m, COMPETENCE_KEYS, field);
  const d = COMPETENCE_DEFAULTS;
  return {
    epochs: fields.numberAt(m, 'epochs', field, d.epochs, { int: true, min: 1 }),
    fullWeightRatio: fields.numberAt(m, 'full_weight_ratio', field, d.fullWeightRatio, { min: 0, exclusiveMin: true }),
    hidden: fields.numberAt(m, 'hidden', field, d.hidden, { int: true, min: 1 }),
    maxPublicSamples: fields.numberAt(m, 'max_public_samples', field, d.maxPublicSamples, { int: true, min: 1 }),
  };
}

/** Checks settings built in code (not read from a file) by the same rules as the files (fields `competence.*`). */
export function validateCompetence(c: CompetenceSettings): void {
  competenceSettingsAt(competenceFields(c), 'competence', CONFIG_FILE_FIELDS);
}

/** The snake_case fields of a site file (site.yaml `policy.competence`) for these settings. */
export function competenceFields(c: CompetenceSettings): Record<string, number> {
  return { epochs: c.epochs, full_weight_ratio: c.fullWeightRatio, hidden: c.hidden, max_public_samples: c.maxPublicSamples };
}

/** Turns discriminator probabilities P(private | x) into reply weights in [0, 1]. */
export function competenceWeights(pPrivate: ArrayLike<number>, fullWeightRatio: number): Float32Array {
  const w = new Float32Array(pPrivate.length);
  for (let i = 0; i < w.length; i++) {
    const d = Math.min(1, Math.max(0, pPrivate[i]!));
    const ratio = d >= 1 ? Infinity : d / (1 - d);
    w[i] = Math.min(1, ratio / fullWeightRatio);
  }
  return w;
}

/** A trained private-vs-public discriminator that weights this site's replies. */
export class DomainCompetence {
  private constructor(private readonly discriminator: Trainer, readonly settings: CompetenceSettings) {}

  /**
   * Trains on the public set (label 0; a seeded subset of at most `maxPublicSamples`) against the
   * private data resampled to the same count (label 1), so that the odds estimate the density ratio.
   */
  static async train(privateData: Dataset, publicSet: Dataset, settings: CompetenceSettings, o: { seed: number; device: DeviceRequest; threads?: number; batchSize: number; lr: number }): Promise<DomainCompetence> {
    validateCompetence(settings);
    check(privateData.length > 0, 'competence', 'needs private data to train the discriminator');
    const per = privateData.features.length / privateData.length;
    check(publicSet.features.length / publicSet.length === per, 'competence', 'the public set and the private data must have the same sample shape');
    const rng = new SeededRng(`${o.seed}/competence`);
    const pub = publicSet.length <= settings.maxPublicSamples
      ? Uint32Array.from({ length: publicSet.length }, (_, i) => i)
      : rng.permutation(publicSet.length).subarray(0, settings.maxPublicSamples);
    const n = 2 * pub.length;
    const features = new Float32Array(n * per);
    const labels = new Int32Array(n).fill(1, pub.length);
    gatherRows(publicSet.features, per, pub, features);
    // Every private sample once before any repeats (balanced classes by resampling, not by weights).
    const order = rng.permutation(privateData.length);
    const priv = Uint32Array.from({ length: pub.length }, (_, j) => (j < order.length ? order[j]! : rng.int(privateData.length)));
    gatherRows(privateData.features, per, priv, features.subarray(pub.length * per));
    const spec: ModelSpec = { input: [...privateData.shape], classes: 2, layers: [{ type: 'flatten' }, { type: 'dense', units: settings.hidden }, { type: 'relu' }, { type: 'dense', units: 2 }] };
    const trainer = new Trainer(buildModel(spec, { seed: o.seed }), { optimizer: 'adam', lr: o.lr, batchSize: o.batchSize, device: o.device, threads: o.threads, seed: o.seed });
    await trainer.fit({ features, labels }, { epochs: settings.epochs });
    return new DomainCompetence(trainer, settings);
  }

  /** One weight in [0, 1] per sample of `features` (rows of the public set). */
  async weights(features: Float32Array): Promise<Float32Array> {
    const { probs } = await this.discriminator.predict(features);
    const p = new Float32Array(probs.length / 2);
    for (let i = 0; i < p.length; i++) p[i] = probs[2 * i + 1]!;
    return competenceWeights(p, this.settings.fullWeightRatio);
  }
}
