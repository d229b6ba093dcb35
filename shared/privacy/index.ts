// The privacy core's public API: events, accountant, PATE analysis, mechanisms, noise, ledger.
export * from './events.ts';
export * from './orders.ts';
export * from './rdp-mechanisms.ts';
export * from './rdp-conversion.ts';
export * from './rdp-accountant.ts';
export * from './pate-analysis.ts';
export * from './pate-accounting.ts';
export * from './smooth-sensitivity.ts';
export * from './calibrate.ts';
export * from './rng.ts';
export { exactRational } from './discrete-gaussian.ts';
export * from './noisy-max.ts';
export * from './soft-labels.ts';
export * from './swing-temperature.ts';
export * from './ledger.ts';
export * from './special-functions.ts';
