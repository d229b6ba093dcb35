// Learning-rate schedules as a pure function of progress, so a resumed run uses the same rates.
import { check } from '../util/errors.ts';

export type LrSchedule =
  | { kind: 'constant' }
  | { kind: 'step'; everyEpochs: number; gamma: number }
  | { kind: 'cosine'; totalEpochs: number; minLr?: number };

export function validateSchedule(s: LrSchedule): void {
  check(['constant', 'step', 'cosine'].includes(s?.kind), 'schedule', `must be constant, step or cosine, got ${JSON.stringify(s?.kind)}`);
  if (s.kind === 'step') check(s.everyEpochs > 0 && s.gamma > 0, 'schedule', 'step needs everyEpochs > 0 and gamma > 0');
  if (s.kind === 'cosine') check(s.totalEpochs > 0, 'schedule', 'cosine needs totalEpochs > 0');
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
