// Mechanism records and a run's declared mechanism_params: schemas, the transport-rounding bound, and agreement between the two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chargeMismatch, type GaussianRowsRecord, type MechanismParams, paramsMismatch, validateMechanismParams, validateMechanismRecord,
} from '../../../shared/audit/mechanism-record.ts';

const GRID = 2 ** -20;
const ULP = 2 ** -23;
const COLS = 10;
const BASE = { kind: 'gaussian_rows', rows: 100, cols: COLS, clip: 1, noise_std: 10, domain: 'probabilities', grid: GRID, adjacency: 'replace-one' } as const;

test('transport_ulp adds transport_ulp·√cols to the gaussian_rows sensitivity bound; the charge must follow', () => {
  const sensitivity = Math.SQRT2 + (GRID + ULP) * Math.sqrt(COLS);
  const m = validateMechanismRecord({ ...BASE, transport_ulp: ULP, sensitivity }) as GaussianRowsRecord;
  assert.equal(m.transport_ulp, ULP);
  assert.equal(chargeMismatch(m, [{ type: 'gaussian', noise_multiplier: 10 / sensitivity, count: 100 }]), undefined);
  // The grid-only bound is now too small: one unit may move a row by more than it says.
  const gridOnly = Math.SQRT2 + GRID * Math.sqrt(COLS);
  assert.match(chargeMismatch({ ...m, sensitivity: gridOnly }, [{ type: 'gaussian', noise_multiplier: 10 / gridOnly, count: 100 }])!,
    /sensitivity .* is not the replace-one bound .* on a grid of 9\.5367431640625e-7 with 10 columns and Float32 transport rounding of 1\.1920928955078125e-7/);
  // Without transport_ulp the grid-only bound is still the right one.
  const plain = validateMechanismRecord({ ...BASE, sensitivity: gridOnly }) as GaussianRowsRecord;
  assert.equal(plain.transport_ulp, undefined);
  assert.equal(chargeMismatch(plain, [{ type: 'gaussian', noise_multiplier: 10 / gridOnly, count: 100 }]), undefined);
});

test('transport_ulp must be a positive number and comes only with a grid', () => {
  const { grid: _g, cols: _c, ...noGrid } = BASE;
  assert.throws(() => validateMechanismRecord({ ...noGrid, transport_ulp: ULP, sensitivity: Math.SQRT2 }), /transport_ulp: comes with grid and cols/);
  assert.throws(() => validateMechanismRecord({ ...BASE, transport_ulp: 0, sensitivity: 2 }), /transport_ulp: must be a positive finite number/);
  assert.throws(() => validateMechanismRecord({ ...BASE, transport_ulp: '1e-7', sensitivity: 2 }), /transport_ulp: must be a positive finite number/);
});

test('mechanism_params: exactly the fields of its kind, and paramsMismatch names the field that disagrees with both values', () => {
  const gaussian = validateMechanismParams({ kind: 'gaussian_rows', clip: 0.5, noise_multiplier: 12, teachers_per_site: 4, domain: 'probabilities' });
  assert.deepEqual(gaussian, { kind: 'gaussian_rows', clip: 0.5, noise_multiplier: 12, teachers_per_site: 4, domain: 'probabilities' });
  const record = validateMechanismRecord({ ...BASE, clip: 0.5, noise_std: 6, sensitivity: Math.SQRT2 * 0.5 + GRID * Math.sqrt(COLS) });
  assert.equal(paramsMismatch(gaussian, record), undefined);
  assert.match(paramsMismatch(gaussian, { ...record, noise_std: 6.1 } as GaussianRowsRecord)!, /noise_std 6\.1 differs from the run's declared noise_multiplier 12 × clip 0\.5 = 6/);
  assert.equal(paramsMismatch(gaussian, { ...record, noise_std: 6 * (1 + 1e-12) } as GaussianRowsRecord), undefined, 'within the 1e-9 relative tolerance');
  assert.match(paramsMismatch(gaussian, { ...record, clip: 0.25 } as GaussianRowsRecord)!, /clip 0\.25 differs from the run's declared clip 0\.5/);
  assert.match(paramsMismatch(gaussian, { ...record, domain: 'signed' } as GaussianRowsRecord)!, /domain "signed" differs from the run's declared domain "probabilities"/);
  const pate: MechanismParams = validateMechanismParams({ kind: 'confident_gnmax', threshold: 200, sigma1: 150, sigma2: 40, accounting: 'data-dependent' });
  assert.match(paramsMismatch(pate, record)!, /kind gaussian_rows differs from the run's declared confident_gnmax/);
  assert.throws(() => validateMechanismParams({ ...gaussian, noise_std: 6 }), /mechanism_params\.noise_std: is not a field/);
  assert.throws(() => validateMechanismParams({ ...gaussian, teachers_per_site: 1.5 }), /teachers_per_site: must be an integer ≥ 1/);
  assert.throws(() => validateMechanismParams({ kind: 'confident_gnmax', threshold: 200, sigma1: 150, sigma2: 40, accounting: 'exact' }), /accounting: must be "data-independent" or "data-dependent"/);
  assert.throws(() => validateMechanismParams({ kind: 'confident_gnmax', threshold: Infinity, sigma1: 150, sigma2: 40, accounting: 'data-dependent' }), /threshold: must be a finite number/);
});
