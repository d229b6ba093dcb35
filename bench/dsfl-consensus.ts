// Benchmark: how right is round 1's DS-FL consensus on the public set, with and without competence-weighted replies (minutes, not a full run).
// Usage: node --import tsx bench/dsfl-consensus.ts [--scenario simulations/scenarios/dsfl-mnist-noniid.yaml] [--queries N]
// Trains every site of the scenario once (local training, plus the discriminator for the weighted
// replies), asks each for soft labels on the same public samples through the real SiteAgent, and
// aggregates with the real DS-FL + central Gaussian strategy. Noise here is seeded (reproducible,
// NOT private). Prints the fraction of public samples whose consensus argmax is the true label.
import { SiteAgent, type SiteSettings } from '../client/site-agent.ts';
import { SiteLedger } from '../client/site-ledger.ts';
import { COMPETENCE_DEFAULTS } from '../client/domain-competence.ts';
import { SoftLabelAverage } from '../server/strategies/soft-label-average.ts';
import { CentralGaussian } from '../server/strategies/central-gaussian.ts';
import type { RoundPlan, SiteReply } from '../server/strategies/strategy.ts';
import { CryptoRng } from '../shared/privacy/rng.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { loadScenario } from '../simulations/scenario.ts';
import { planSites } from '../simulations/site-plan.ts';
import { seededRandomSource } from '../simulations/seeded-noise.ts';
import { benchArgs } from './bench-args.ts';
import { snakeCaseKeys } from './json-keys.ts';

const { values } = benchArgs({
  name: 'dsfl-consensus',
  summary: `How right round 1's DS-FL consensus is on the public set, with and without competence-weighted replies
(docs/simulations.md; minutes, seeded noise, NOT private). Progress on stderr, one JSON object on stdout.`,
  options: {
    scenario: { kind: 'string', arg: 'FILE', default: 'simulations/scenarios/dsfl-mnist-noniid.yaml', help: 'simulation scenario' },
    queries: { kind: 'integer', arg: 'N', defaultHelp: "the scenario's queries_per_round", help: 'public samples asked' },
  },
});
const t0 = Date.now();
const s = loadScenario(values.scenario);
const data = planSites(s);
const queries = values.queries ?? s.strategy.queriesPerRound;
const indices = new SeededRng(s.seed).permutation(data.publicSet.length).slice(0, Math.min(queries, data.publicSet.length)).sort();
const labels = Array.from(indices, (i) => data.publicSet.labels[i]!);
const competence = s.sites.competence ?? COMPETENCE_DEFAULTS;

/** Each site's soft-label reply on `indices` at reply temperature `t`, with or without competence weighting. */
async function replies(weighted: boolean, temperatures: number[]): Promise<Map<number, SiteReply[]>> {
  const out = new Map<number, SiteReply[]>(temperatures.map((t) => [t, []]));
  for (const p of data.sites) {
    const settings: SiteSettings = { ...p.settings, policy: { clip: p.settings.policy.clip, localNoiseMultiplier: 0, ...(weighted ? { competence } : {}) } };
    const agent = new SiteAgent(settings, { privateData: p.privateData, publicSet: data.publicSet }, new SiteLedger());
    await agent.prepare();
    for (const t of temperatures) {
      const a = await agent.answer({ runId: 'bench', round: 0, requestId: `${p.name}/${t}`, indices, replyKind: 'soft_labels', params: { temperature: t, clip: s.privacy.clip } }, { noiseMultiplier: s.privacy.noiseMultiplier });
      out.get(t)!.push({ site: p.name, rows: a.rows, cols: a.cols, teachers: a.teachers, soft: a.soft! });
    }
    process.stderr.write(`${weighted ? 'weighted' : 'plain'}: ${p.name} ready (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  return out;
}

/** Fraction of rows whose consensus argmax is the true label (noiseless, and with the scenario's central noise). */
function consensusAccuracy(rs: SiteReply[]): { noiseless: number; noised: number } {
  const inner = new SoftLabelAverage({ queriesPerRound: indices.length, entropyReductionTemperature: s.strategy.entropyReductionTemperature });
  const plan: RoundPlan = { round: 0, indices, replyKind: 'soft_labels', params: {} };
  const ctx = { publicSize: data.publicSet.length, numClasses: data.publicSet.numClasses, rng: new SeededRng(1), noise: new CryptoRng(seededRandomSource('bench/dsfl-consensus')) };
  const noised = new CentralGaussian(inner, { clip: s.privacy.clip, noiseMultiplier: s.privacy.noiseMultiplier }).aggregate(plan, rs, [], ctx)!;
  const clean = inner.aggregate(plan, rs, [], ctx)!;
  const acc = (soft: Float32Array) => {
    const c = data.publicSet.numClasses;
    let ok = 0;
    labels.forEach((y, r) => { const row = soft.subarray(r * c, (r + 1) * c); if (row.indexOf(Math.max(...row)) === y) ok++; });
    return Math.round((10_000 * ok) / labels.length) / 10_000;
  };
  return { noiseless: acc(clean.soft!), noised: acc(noised.soft!) };
}

const temps = [...new Set([1, s.strategy.replyTemperature])];
const plain = await replies(false, temps);
const weighted = await replies(true, temps);
console.log(JSON.stringify({
  bench: 'dsfl-consensus', scenario: values.scenario, seed: s.seed, sites: data.sites.length, queries: indices.length,
  partition: snakeCaseKeys(s.data.partition), noise_multiplier: s.privacy.noiseMultiplier, entropy_reduction_temperature: s.strategy.entropyReductionTemperature,
  // the site settings as site.yaml and scenarios spell them (full_weight_ratio, max_public_samples)
  competence: snakeCaseKeys(competence), noise: 'seeded (reproducible, NOT private)',
  // keyed by reply kind and temperature (data, not field names)
  consensus_accuracy: Object.fromEntries(temps.flatMap((t) => [
    [`plain, reply T=${t}`, consensusAccuracy(plain.get(t)!)],
    [`competence-weighted, reply T=${t}`, consensusAccuracy(weighted.get(t)!)],
  ])),
  seconds: (Date.now() - t0) / 1000,
}));
