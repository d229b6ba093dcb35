// Reference points for a simulation's report: centralized non-private training (upper bound) and FedAvg.
//
// Local-only accuracy needs no extra run: it is each site's accuracy after local training, before
// round 1 (SiteAgent.baselineAccuracy). FedAvg averages full weight vectors every round, so its
// bytes on the wire are counted as 2 × parameters × 4 bytes × participating sites per round
// (download + upload of float32 weights, no framing), a lower bound on a real deployment.
import { SeededRng } from '../shared/util/prng.ts';
import { Trainer, buildModel, parameterCount } from '../shared/ml/index.ts';
import { subset } from '../shared/data/image-dataset.ts';
import type { Dataset } from '../shared/data/types.ts';
import type { Scenario } from './scenario.ts';
import type { SimulationData } from './site-plan.ts';

export interface CentralizedResult { accuracy: number; epochs: number; samples: number; seconds: number; perEpoch: number[] }
export interface FedAvgRound { round: number; accuracy: number; participants: number; bytes: number }
export type FedAvgResult =
  | { skipped: false; rounds: FedAvgRound[]; finalAccuracy: number; totalBytes: number; parameters: number; seconds: number }
  | { skipped: true; reason: string };

/** Indices into the pool of every site's share (sites hold subsets of the pool). */
function pooledIndices(data: SimulationData): Uint32Array {
  const parts = data.sites.map((p) => p.privateData.subsetOf?.indices ?? new Uint32Array(0));
  const out = new Uint32Array(parts.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of parts) { out.set(x, at); at += x.length; }
  return out.sort();
}

function trainerFor(s: Scenario, data: SimulationData, seed: number): Trainer {
  const site = data.sites[0]!;
  const model = buildModel(site.settings.model, { seed, input: [...data.pool.shape], classes: data.pool.numClasses });
  return new Trainer(model, { optimizer: s.sites.local.optimizer, lr: s.sites.local.lr, batchSize: s.sites.local.batch, threads: Math.max(1, s.sites.threads), seed });
}

/** Every site's private data pooled in one place (what federation avoids), trained with site 1's model. */
export async function runCentralized(s: Scenario, data: SimulationData, epochs: number): Promise<CentralizedResult> {
  const t0 = Date.now();
  const union: Dataset = subset(data.pool, pooledIndices(data));
  const trainer = trainerFor(s, data, s.seed);
  const perEpoch: number[] = [];
  for (let e = 0; e < epochs; e++) {
    await trainer.fit(union, { epochs: 1 });
    perEpoch.push((await trainer.evaluate(data.evalSet)).accuracy);
  }
  return { accuracy: perEpoch.at(-1) ?? NaN, epochs, samples: union.length, seconds: (Date.now() - t0) / 1000, perEpoch };
}

/** Whether site i sits out FedAvg round r: the same seeded dropout the distillation run used (first attempt). */
function dropsOut(s: Scenario, round: number, site: string): boolean {
  return s.faults.dropout > 0 && new SeededRng(`${s.seed}/dropout/${round}/${site}/0`).next() < s.faults.dropout;
}

/**
 * Parameter averaging over the same sites, data, model, rounds and faults. Sites are trained by a
 * pool of `concurrency` trainers; each site's shuffling depends only on (site, round), so the
 * result does not depend on the pool size.
 */
export async function runFedAvg(s: Scenario, data: SimulationData, epochsPerRound: number, concurrency: number, log: (l: string) => void): Promise<FedAvgResult> {
  const models = new Set(data.sites.map((p) => p.modelName));
  if (models.size > 1) return { skipped: true, reason: `sites use different models (${[...models].join(', ')}); parameter averaging needs one architecture` };
  const t0 = Date.now();
  const evalTrainer = trainerFor(s, data, s.seed);
  let global = evalTrainer.getWeights();
  const parameters = parameterCount(evalTrainer.model);
  const pool = Array.from({ length: Math.min(concurrency, data.sites.length) }, () => trainerFor(s, data, s.seed));
  const rounds: FedAvgRound[] = [];
  for (let r = 0; r < s.rounds; r++) {
    const crashed = new Set(s.faults.siteCrashes.filter((c) => c.round <= r).map((c) => c.site));
    const participants = data.sites.filter((p) => !crashed.has(p.index) && !dropsOut(s, r, p.name));
    const results: Float32Array[][] = new Array(participants.length);
    let next = 0;
    await Promise.all(pool.map(async (tr) => {
      while (next < participants.length) {
        const i = next++;
        const p = participants[i]!;
        tr.setWeights(global, true);
        tr.epoch = p.index * 100_003 + r * epochsPerRound;
        await tr.fit(p.privateData, { epochs: epochsPerRound });
        results[i] = tr.getWeights();
      }
    }));
    if (participants.length > 0) {
      const total = participants.reduce((a, p) => a + p.privateData.length, 0);
      global = global.map((w, k) => {
        const acc = new Float64Array(w.length);
        participants.forEach((p, i) => {
          const share = p.privateData.length / total;
          const wi = results[i]![k]!;
          for (let j = 0; j < acc.length; j++) acc[j]! += share * wi[j]!;
        });
        return Float32Array.from(acc);
      });
    }
    evalTrainer.setWeights(global);
    const accuracy = (await evalTrainer.evaluate(data.evalSet)).accuracy;
    rounds.push({ round: r, accuracy, participants: participants.length, bytes: 2 * parameters * 4 * participants.length });
    log(`baseline fedavg: round ${r + 1}/${s.rounds}, ${participants.length} sites, accuracy ${(100 * accuracy).toFixed(2)}%`);
  }
  return {
    skipped: false, rounds, finalAccuracy: rounds.at(-1)?.accuracy ?? NaN,
    totalBytes: rounds.reduce((a, x) => a + x.bytes, 0), parameters, seconds: (Date.now() - t0) / 1000,
  };
}
