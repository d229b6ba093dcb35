// Bench: accounts 10,000 data-dependent Confident-GNMax queries (250 teachers, 10 classes, default orders); target < 1 s.
// Run: node --import tsx bench/privacy-pate.ts   (prints one JSON object)
import { analyzeConfidentGnmax } from '../shared/privacy/pate-accounting.ts';
import { dpAccountingOrders, pate2018Orders } from '../shared/privacy/orders.ts';
import { syntheticVotes } from '../test/unit/privacy/synthetic-votes.ts';
import { benchArgs } from './bench-args.ts';

benchArgs({
  name: 'privacy-pate',
  summary: `Accounts 10,000 data-dependent Confident-GNMax queries (250 teachers, 10 classes, default orders),
median of 5 runs; target < 1 s (docs/privacy.md). Prints one JSON object.`,
});

const queries = syntheticVotes(10_000).map((votes) => ({ votes }));
const params = { threshold: 200, sigma1: 150, sigma2: 40 };
analyzeConfidentGnmax(queries.slice(0, 200), params, { delta: 1e-5 }); // warm-up (JIT)
const runs: number[] = [];
let result = analyzeConfidentGnmax(queries, params, { delta: 1e-5 });
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  result = analyzeConfidentGnmax(queries, params, { delta: 1e-5 });
  runs.push(performance.now() - t0);
}
runs.sort((a, b) => a - b);
const paper640 = analyzeConfidentGnmax(queries.slice(0, 640), params, { delta: 1e-5, conversion: 'classic', orders: pate2018Orders() });
console.log(JSON.stringify({
  bench: 'privacy-pate',
  command: 'node --import tsx bench/privacy-pate.ts',
  votes: 'synthetic (test/unit/privacy/synthetic-votes.ts), 250 teachers, 10 classes',
  queries: queries.length,
  orders: dpAccountingOrders().length,
  params,
  cost: 'expected',
  ms_median: Number(runs[2]!.toFixed(1)),
  ms_min: Number(runs[0]!.toFixed(1)),
  under_1s: runs[2]! < 1000,
  epsilon: result.epsilon,
  order: result.order,
  expected_answered: result.expected_answered,
  epsilon_data_independent: result.epsilon_data_independent,
  first_640_paper_settings: { conversion: 'classic', orders: 'pate2018', delta: 1e-5, expected_answered: paper640.expected_answered, epsilon: paper640.epsilon, order: paper640.order },
}));
