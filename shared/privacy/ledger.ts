// The privacy ledger: a charge that would exceed a scope's (ε, δ) budget is refused before anything is released.
//
// Storage-agnostic: PrivacyLedger works over a LedgerStore. The check and the append happen in
// one `store.atomically(...)` call, which a SQLite store runs inside a transaction, so two
// concurrent charges can never both fit into the last bit of budget.
import { check, FedistillError, UsageError } from '../util/errors.ts';
import { type PrivacyEvent, validatePrivacyEvent } from './events.ts';
import { RdpAccountant } from './rdp-accountant.ts';
import type { RdpConversion } from './rdp-conversion.ts';

/** A scope's (ε, δ) budget; e.g. scope "run:42" or "site:hospital-a". */
export interface PrivacyBudget { epsilon: number; delta: number }

export interface LedgerEntry {
  /** Position in the scope's ledger, from 0. */
  seq: number;
  scope: string;
  event: PrivacyEvent;
  /** ISO time of the charge. */
  at: string;
  /** Free-form label of what was released (round, query ids). */
  note?: string;
}

/** Reads and writes inside one atomic step of the store. */
export interface LedgerTransaction {
  getBudget(scope: string): PrivacyBudget | undefined;
  setBudget(scope: string, budget: PrivacyBudget): void;
  /** Number of entries of a scope. */
  count(scope: string): number;
  /** Entries of a scope from position `from` (inclusive), in order. */
  entries(scope: string, from?: number): LedgerEntry[];
  append(entry: Omit<LedgerEntry, 'seq'>): LedgerEntry;
}

/** Durable storage for ledgers. `atomically` must run fn as one all-or-nothing step. */
export interface LedgerStore {
  atomically<T>(fn: (tx: LedgerTransaction) => T): T;
}

/** An in-memory store (tests, simulations). Single-threaded JS makes each call atomic; a throw rolls back appends. */
export class MemoryLedgerStore implements LedgerStore {
  private readonly ledgers = new Map<string, LedgerEntry[]>();
  private readonly budgets = new Map<string, PrivacyBudget>();

  atomically<T>(fn: (tx: LedgerTransaction) => T): T {
    const pending: LedgerEntry[] = [];
    const pendingBudgets = new Map<string, PrivacyBudget>();
    const list = (scope: string) => this.ledgers.get(scope) ?? [];
    const tx: LedgerTransaction = {
      getBudget: (scope) => pendingBudgets.get(scope) ?? this.budgets.get(scope),
      setBudget: (scope, budget) => { pendingBudgets.set(scope, { ...budget }); },
      count: (scope) => list(scope).length + pending.filter((e) => e.scope === scope).length,
      // Copy only from `from` on: the ledger replays incrementally, and copying the whole list per charge is O(n²).
      entries: (scope, from = 0) => {
        const stored = list(scope);
        const mine = pending.filter((e) => e.scope === scope);
        return from >= stored.length ? mine.slice(from - stored.length) : [...stored.slice(from), ...mine];
      },
      append: (entry) => {
        const full: LedgerEntry = { ...entry, seq: tx.count(entry.scope) };
        pending.push(full);
        return full;
      },
    };
    const result = fn(tx);
    for (const e of pending) {
      const l = this.ledgers.get(e.scope) ?? [];
      l.push(e);
      this.ledgers.set(e.scope, l);
    }
    for (const [s, b] of pendingBudgets) this.budgets.set(s, b);
    return result;
  }
}

export interface LedgerOptions {
  orders?: readonly number[];
  conversion?: RdpConversion;
  /** Clock for entry times (tests inject one). */
  now?: () => Date;
}

export interface ChargeOptions {
  /** One scope or several (e.g. the run and the site): the charge must fit every one. */
  scope: string | readonly string[];
  note?: string;
}

export type ChargeResult =
  | { status: 'accepted'; entries: LedgerEntry[]; epsilon: Record<string, number> }
  | { status: 'refused'; scope: string; projectedEpsilon: number; budget: PrivacyBudget; reason: string };

/**
 * An event read back from the store, validated again: a row edited or corrupted on disk must
 * stop accounting with E_LEDGER_CORRUPT, never be counted as free or as something else.
 */
function storedEvent(e: LedgerEntry): PrivacyEvent {
  try {
    return validatePrivacyEvent(e.event, `ledger["${e.scope}"][${e.seq}].event`);
  } catch (err) {
    throw new FedistillError('E_LEDGER_CORRUPT', `the privacy ledger holds an invalid event, so its ε cannot be computed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Budgets and charges per scope. `tryCharge` projects ε with the new event included and
 * appends it only if every scope stays within budget — in the same atomic step.
 */
export class PrivacyLedger {
  private readonly store: LedgerStore;
  private readonly options: LedgerOptions;
  /** Per-scope accountant cache, valid while its entry count matches the store's. */
  private readonly cache = new Map<string, { count: number; acc: RdpAccountant }>();

  constructor(store: LedgerStore, options: LedgerOptions = {}) {
    this.store = store;
    this.options = options;
  }

  /** Sets (or replaces) a scope's budget. */
  setBudget(scope: string, budget: PrivacyBudget): void {
    check(Number.isFinite(budget.epsilon) && budget.epsilon > 0, 'budget.epsilon', `must be a positive finite number, got ${budget.epsilon}`);
    check(budget.delta > 0 && budget.delta < 1, 'budget.delta', `must be in (0, 1), got ${budget.delta}`);
    this.store.atomically((tx) => tx.setBudget(scope, budget));
  }

  /** The composed accountant of a scope, replaying only entries not yet cached. */
  private accountantFor(tx: LedgerTransaction, scope: string): RdpAccountant {
    const n = tx.count(scope);
    let c = this.cache.get(scope);
    if (!c || c.count > n) c = { count: 0, acc: new RdpAccountant({ orders: this.options.orders }) };
    for (const e of tx.entries(scope, c.count)) c.acc.compose(storedEvent(e));
    c.count = n;
    this.cache.set(scope, c);
    return c.acc;
  }

  /** ε spent so far in a scope at its budget's δ (0 when nothing is charged). */
  spent(scope: string): { epsilon: number; delta: number; entries: number } {
    return this.store.atomically((tx) => {
      const budget = tx.getBudget(scope);
      if (!budget) throw new UsageError(`scope "${scope}" has no budget; call setBudget first`, 'E_NO_BUDGET');
      const n = tx.count(scope);
      if (n === 0) return { epsilon: 0, delta: budget.delta, entries: 0 };
      const eps = this.accountantFor(tx, scope).getEpsilon(budget.delta, { conversion: this.options.conversion });
      return { epsilon: eps.epsilon, delta: budget.delta, entries: n };
    });
  }

  /**
   * Charges `event` to every scope if all stay within budget; otherwise charges nothing and says
   * which scope refused and what ε it would have reached. Release only after `accepted`.
   */
  tryCharge(eventJson: PrivacyEvent | unknown, options: ChargeOptions): ChargeResult {
    const event = validatePrivacyEvent(eventJson);
    const scopes = typeof options.scope === 'string' ? [options.scope] : [...new Set(options.scope)];
    check(scopes.length > 0, 'scope', 'needs at least one scope');
    return this.store.atomically((tx): ChargeResult => {
      const projected: Record<string, number> = {};
      for (const scope of scopes) {
        const budget = tx.getBudget(scope);
        if (!budget) throw new UsageError(`scope "${scope}" has no budget; call setBudget first`, 'E_NO_BUDGET');
        const acc = this.accountantFor(tx, scope).clone().compose(event);
        let eps: number;
        try { eps = acc.getEpsilon(budget.delta, { conversion: this.options.conversion }).epsilon; } catch { eps = Infinity; }
        if (!(eps <= budget.epsilon)) {
          return { status: 'refused', scope, projectedEpsilon: eps, budget, reason: `charging would bring scope "${scope}" to ε = ${eps} > budget ${budget.epsilon} at δ = ${budget.delta}` };
        }
        projected[scope] = eps;
      }
      const at = (this.options.now ?? (() => new Date()))().toISOString();
      const entries = scopes.map((scope) => tx.append({ scope, event, at, ...(options.note ? { note: options.note } : {}) }));
      return { status: 'accepted', entries, epsilon: projected };
    });
  }

  /** The scope's events in order, for export and replay by an auditor. */
  events(scope: string): PrivacyEvent[] {
    return this.store.atomically((tx) => tx.entries(scope).map((e) => e.event));
  }
}
