// Learning-rate schedules as a pure function of progress, so a resumed run uses the same rates.
import { check } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';

export type LrSchedule =
  | { kind: 'constant' }
  | { kind: 'step'; everyEpochs: number; gamma: number }
  | { kind: 'cosine'; totalEpochs: number; minLr?: number };

/** Checks a schedule; `base`, when given, is the learning rate it scales (a cosine's minLr may not exceed it). */
export function validateSchedule(s: LrSchedule, base?: number): void {
  check(['constant', 'step', 'cosine'].includes(s?.kind), 'schedule', `must be constant, step or cosine, got ${JSON.stringify(s?.kind)}`);
  const known = { constant: [], step: ['everyEpochs', 'gamma'], cosine: ['totalEpochs', 'minLr'] }[s.kind] as string[];
  for (const k of Object.keys(s)) check(k === 'kind' || known.includes(k), `schedule.${k}`, `is not a setting of the ${s.kind} schedule${didYouMean(k, known)}${known.length ? `; its settings are ${known.join(', ')}` : ''}`);
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  // finite: an infinite gamma gives an infinite rate (NaN weights) from the first boundary on
  if (s.kind === 'step') check(positive(s.everyEpochs) && positive(s.gamma), 'schedule', `step needs finite everyEpochs > 0 and gamma > 0, got ${s.everyEpochs} and ${s.gamma}`);
  if (s.kind === 'cosine') {
    check(positive(s.totalEpochs), 'schedule', `cosine needs a finite totalEpochs > 0, got ${s.totalEpochs}`);
    // below 0 the rate turns negative (gradient ascent); NaN makes every weight NaN
    const min = s.minLr ?? 0;
    check(Number.isFinite(min) && min >= 0 && (base === undefined || min <= base), 'schedule.minLr', `must be a finite number in [0, lr${base === undefined ? '' : ` = ${base}`}], got ${s.minLr}`);
  }
}

/** Learning rate at fractional epoch `e` (epoch index + fraction of its batches done). */
export function lrAt(s: LrSchedule, base: number, e: number): number {
  switch (s.kind) {
    case 'constant': return base;
    case 'step': return base * Math.pow(s.gamma, Math.floor(e / s.everyEpochs));
    case 'cosine': {
      const min = s.minLr ?? 0;
      const t = Math.min(1, e / s.totalEpochs);
      return min + 0.5 * (base - min) * (1 + Math.cos(Math.PI * t));
    }
  }
}
