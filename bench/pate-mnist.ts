// Bench: the full PATE-MNIST reproduction (250 teachers, Confident-GNMax T=200 σ1=150 σ2=40, 640 queries, semi-supervised student).
// Run: node --import tsx bench/pate-mnist.ts [--scenario FILE] [--out DIR] [--workers N]
// Prints one JSON object on stdout; progress on stderr. Teacher votes are cached in --out (default out/pate-mnist).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { runPateMnist } from '../simulations/pate-mnist/index.ts';
import { benchArgs } from './bench-args.ts';
import { snakeCaseKeys } from './json-keys.ts';

const { values } = benchArgs({
  name: 'pate-mnist',
  summary: `The full PATE-MNIST reproduction: 250 teachers, Confident-GNMax (T=200, σ1=150, σ2=40), 640 queries, a
semi-supervised student (docs/pate-mnist.md). Progress on stderr, one JSON object on stdout.`,
  options: {
    scenario: { kind: 'string', arg: 'FILE', default: 'simulations/scenarios/pate-mnist.yaml', help: 'PATE-MNIST scenario' },
    out: { kind: 'string', arg: 'DIR', default: 'out/pate-mnist', help: 'output folder; teacher votes are cached there' },
    workers: { kind: 'integer', arg: 'N', defaultHelp: "the scenario's sites.workers", help: 'teacher-training threads' },
  },
});
const scenario = parseYaml(readFileSync(values.scenario, 'utf8')) as Record<string, unknown>;
if (values.workers) {
  scenario.sites = { ...(scenario.sites as Record<string, unknown> | undefined), workers: values.workers };
}
const argv = process.argv.slice(2).join(' ');
const result = await runPateMnist(scenario, { out: values.out, json: true, log: (l) => process.stderr.write(`${l}\n`) });
// the result's own keys are snake_case already; converted at the print boundary all the same
console.log(JSON.stringify(snakeCaseKeys({
  bench: 'pate-mnist',
  command: `node --import tsx bench/pate-mnist.ts${argv ? ` ${argv}` : ''}`,
  scenario_file: values.scenario,
  out: values.out,
  ...result,
})));
