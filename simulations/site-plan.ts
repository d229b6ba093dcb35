// Expands a scenario into its sites: names, seeds, models, settings and private shares — the same for every mode.
import { loadDataset, sharedSamples, splitRange } from '../shared/data/catalog.ts';
import { subset } from '../shared/data/image-dataset.ts';
import { partitionLabels, summarizePartition, type PartitionSummary } from '../shared/data/partition.ts';
import type { Dataset } from '../shared/data/types.ts';
import type { SiteSettings } from '../client/site-agent.ts';
import { check } from '../shared/util/errors.ts';
import { modelOfSite, type Scenario } from './scenario.ts';
import { resolveSimModel, simModelName } from './sim-models.ts';

export interface SitePlan {
  /** 1-based. */
  index: number;
  name: string;
  modelName: string;
  settings: SiteSettings;
  privateData: Dataset;
}

export interface SimulationData {
  pool: Dataset;
  publicSet: Dataset;
  evalSet: Dataset;
  sites: SitePlan[];
  partition: PartitionSummary;
}

/** Site i's seed: distinct per site, fixed by the scenario seed (loopback site configs carry the same). */
function siteSeed(s: Scenario, index: number): number {
  return s.seed * 10_000 + index;
}

export function siteName(index: number): string {
  return `site-${index}`;
}

/** The SiteAgent settings of site `index` (1-based). */
function siteSettings(s: Scenario, index: number, input: readonly number[], classes: number): SiteSettings {
  return {
    name: siteName(index),
    model: resolveSimModel(modelOfSite(s, index), input, classes),
    teachers: s.privacy.teachersPerSite,
    local: { epochs: s.sites.local.epochs, batchSize: s.sites.local.batch, lr: s.sites.local.lr, optimizer: s.sites.local.optimizer },
    digest: { ...s.sites.digest },
    // one operator holds every simulated site: per-round accuracy curves need the private-data metrics
    policy: { clip: s.privacy.clip, localNoiseMultiplier: s.sites.localNoiseMultiplier, shareMetrics: true, ...(s.sites.competence ? { competence: { ...s.sites.competence } } : {}) },
    seed: siteSeed(s, index),
    device: 'cpu',
    threads: s.sites.threads,
  };
}

/**
 * Refuses, in the scenario's own words, a partition that cannot be made: the partitioner
 * (shared with deployments) would name its `clients` and `shards` inputs instead of the fields.
 */
function checkPartitionFits(s: Scenario, samples: number): void {
  const sites = s.sites.count;
  check(sites <= samples, 'sites.count',
    `${sites} sites but data.dataset has only ${samples} samples (${s.data.dataset}); every site needs at least one: use fewer sites or a larger split`, 'E_SCENARIO_INVALID');
  const shards = s.data.partition.shards;
  if (s.data.partition.scheme === 'shards' && shards !== undefined) {
    check(sites * shards <= samples, 'data.partition.shards',
      `${sites} sites × ${shards} shards = ${sites * shards} shards but data.dataset has only ${samples} samples (${s.data.dataset}); every shard needs at least one: lower shards, use fewer sites or a larger split`, 'E_SCENARIO_INVALID');
  }
}

/**
 * Refuses data sets that share samples, from the split specs alone (nothing is decoded): a public
 * sample that is also private leaves its site as a prediction the privacy story does not cover,
 * and an eval set that overlaps data trained or distilled on inflates every accuracy. The eval
 * set must also come from the private pool's dataset, or the scores compare different label spaces.
 */
export function checkDataSets(s: Scenario): void {
  const { dataset, publicSet, evalSet } = s.data;
  const pairs: [field: string, spec: string, other: string, otherField: string, why: string][] = [
    ['data.public_set', publicSet, dataset, 'data.dataset (the private pool)',
      'predictions on public samples leave the sites and are released, so private samples must not be among them'],
    ['data.eval_set', evalSet, dataset, 'data.dataset (the private pool)', 'the sites train on those samples, so their accuracy there is inflated'],
    ['data.eval_set', evalSet, publicSet, 'data.public_set', 'the students distill on those samples, so their accuracy there is inflated'],
  ];
  for (const [field, spec, other, otherField, why] of pairs) {
    const shared = sharedSamples(spec, other);
    check(shared === undefined, field,
      `${spec} shares the samples ${shared} with ${otherField} ${other}: ${why}; use disjoint ranges (e.g. mnist:train[0:20000] private, mnist:train[20000:30000] public, mnist:test eval)`,
      'E_SCENARIO_INVALID');
  }
  const pool = splitRange(dataset).dataset;
  const scored = splitRange(evalSet).dataset;
  check(scored === pool, 'data.eval_set',
    `${evalSet} is ${scored} but data.dataset ${dataset} is ${pool}: the sites would be scored on another dataset's labels; use a split of ${pool}`, 'E_SCENARIO_INVALID');
}

/**
 * Loads the data once and partitions the pool once (a site process computes the same share from
 * the same scheme, clients and seed: see client/run-site.ts loadPrivateData).
 */
export function planSites(s: Scenario): SimulationData {
  checkDataSets(s);
  const pool = loadDataset(s.data.dataset);
  const publicSet = loadDataset(s.data.publicSet);
  const evalSet = loadDataset(s.data.evalSet);
  check(publicSet.numClasses === pool.numClasses && evalSet.numClasses === pool.numClasses, 'data',
    'dataset, public_set and eval_set must have the same classes (use splits of one dataset)', 'E_SCENARIO_INVALID');
  checkPartitionFits(s, pool.length);
  const p = s.data.partition;
  const partition = partitionLabels(p.scheme, { labels: pool.labels, numClasses: pool.numClasses, clients: s.sites.count, seed: p.seed }, { alpha: p.alpha, shards: p.shards, sigma: p.sigma, infeasibleAdvice: 'raise data.partition.alpha or use fewer sites (sites.count)' });
  const sites = partition.clients.map((c, i): SitePlan => {
    const index = i + 1;
    check(c.indices.length >= s.privacy.teachersPerSite, `site ${index}`,
      `has ${c.indices.length} private samples but needs at least ${s.privacy.teachersPerSite} (one per teacher); use a larger dataset or fewer sites`, 'E_SCENARIO_INVALID');
    return {
      index, name: siteName(index), modelName: simModelName(modelOfSite(s, index)),
      settings: siteSettings(s, index, pool.shape, pool.numClasses),
      privateData: subset(pool, c.indices),
    };
  });
  return { pool, publicSet, evalSet, sites, partition: summarizePartition(partition) };
}
