// The privacy ledger: charges within budget are recorded, charges past it are refused atomically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLedgerStore, PrivacyLedger, type LedgerStore, type LedgerTransaction } from '../../../shared/privacy/ledger.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';

const step = { type: 'gaussian', noise_multiplier: 5 } as const;

test('charges are accepted until the next would exceed ε, then refused with the projected ε', () => {
  const ledger = new PrivacyLedger(new MemoryLedgerStore());
  ledger.setBudget('run:1', { epsilon: 2, delta: 1e-5 });
  let accepted = 0;
  for (;;) {
    const r = ledger.tryCharge(step, { scope: 'run:1' });
    if (r.status === 'refused') {
      assert.ok(r.projectedEpsilon > 2);
      assert.equal(r.scope, 'run:1');
      break;
    }
    accepted++;
    assert.ok(r.epsilon['run:1']! <= 2);
  }
  const spent = ledger.spent('run:1');
  assert.equal(spent.entries, accepted);
  assert.ok(spent.epsilon <= 2);
  const replay = new RdpAccountant();
  for (const e of ledger.events('run:1')) replay.compose(e);
  assert.equal(replay.getEpsilon(1e-5).epsilon, spent.epsilon);
  const again = ledger.tryCharge(step, { scope: 'run:1' });
  assert.equal(again.status, 'refused');
  assert.equal(ledger.spent('run:1').entries, accepted);
});

test('a charge to a run and a site must fit both; a refusal charges neither', () => {
  const ledger = new PrivacyLedger(new MemoryLedgerStore());
  ledger.setBudget('run:1', { epsilon: 100, delta: 1e-5 });
  ledger.setBudget('site:a', { epsilon: 1, delta: 1e-5 });
  const big = { type: 'gaussian', noise_multiplier: 0.5 };
  const r = ledger.tryCharge(big, { scope: ['run:1', 'site:a'] });
  assert.equal(r.status, 'refused');
  assert.equal(r.status === 'refused' && r.scope, 'site:a');
  assert.equal(ledger.spent('run:1').entries, 0);
  const ok = ledger.tryCharge(step, { scope: ['run:1', 'site:a'], note: 'round 1' });
  assert.equal(ok.status, 'accepted');
  assert.equal(ok.status === 'accepted' && ok.entries.length, 2);
});

test('bad events, unknown scopes and bad budgets are errors, not refusals', () => {
  const ledger = new PrivacyLedger(new MemoryLedgerStore());
  assert.throws(() => ledger.tryCharge(step, { scope: 'nobody' }), /no budget/);
  ledger.setBudget('s', { epsilon: 1, delta: 1e-5 });
  assert.throws(() => ledger.tryCharge({ type: 'gaussian', noise_multiplier: -1 }, { scope: 's' }), /noise_multiplier/);
  assert.throws(() => ledger.setBudget('s', { epsilon: 1, delta: 2 }), /budget\.delta/);
  assert.throws(() => ledger.setBudget('s', { epsilon: 0, delta: 1e-5 }), /budget\.epsilon/);
});

test('check and append run inside one store.atomically call (what a SQLite store wraps in a transaction)', () => {
  const inner = new MemoryLedgerStore();
  let calls = 0;
  let appendsOutside = 0;
  let inside = false;
  const spy: LedgerStore = {
    atomically<T>(fn: (tx: LedgerTransaction) => T): T {
      calls++;
      return inner.atomically((tx) => {
        inside = true;
        try {
          return fn({ ...tx, append: (e) => { if (!inside) appendsOutside++; return tx.append(e); } });
        } finally { inside = false; }
      });
    },
  };
  const ledger = new PrivacyLedger(spy);
  ledger.setBudget('s', { epsilon: 5, delta: 1e-5 });
  const before = calls;
  ledger.tryCharge(step, { scope: 's' });
  assert.equal(calls - before, 1);
  assert.equal(appendsOutside, 0);
});

test('a store shared by two ledgers: each sees the other\'s charges (cache is invalidated by count)', () => {
  const store = new MemoryLedgerStore();
  const a = new PrivacyLedger(store);
  const b = new PrivacyLedger(store);
  a.setBudget('s', { epsilon: 1.5, delta: 1e-5 });
  let n = 0;
  while (a.tryCharge(step, { scope: 's' }).status === 'accepted') n++;
  assert.ok(n > 0);
  assert.equal(b.tryCharge(step, { scope: 's' }).status, 'refused');
  assert.equal(b.spent('s').entries, n);
});
