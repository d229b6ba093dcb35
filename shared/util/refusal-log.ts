// Logs refused connections without flooding: the first per (address, code) at once, repeats as one summary line per window.

/** How often repeats are summarised, and how many (address, code) pairs are remembered. */
export interface RefusalLogOptions {
  /** Where lines go (the operator's log). */
  log: (line: string) => void;
  /** Repeats of one (address group, code) are summarised at most once per window (default 10 s). */
  windowMs?: number;
  /** Pairs remembered at once (default 1,000): past it the oldest is forgotten, its repeats counted as "other addresses". */
  maxKeys?: number;
  /** First-refusal lines per window (default 100): past it new pairs are only counted, as "other addresses". */
  maxFirstLinesPerWindow?: number;
  /** The group an address is counted under (the aggregator passes addressGroup: an IPv6 /64). Default: the address. */
  groupOf?: (address: string) => string;
  /** Clock, injectable for tests (default Date.now). */
  now?: () => number;
  /** Arms the window's end; default an unref'd setTimeout, so a pending summary never keeps the process alive. */
  schedule?: (fn: () => void, ms: number) => { cancel(): void };
}

interface Entry { group: string; code: string; repeats: number }

const unrefTimeout = (fn: () => void, ms: number): { cancel(): void } => {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

/**
 * One unauthenticated address can be refused thousands of times a second (TCP connects have no
 * rate limit before the per-address cap refuses them): a line each would flood the operator's log
 * and its disk. This keeps one line for the first refusal of each (address group, code) and one
 * summary per window for the rest; memory and lines per window are bounded however many addresses
 * an attacker holds (at most maxFirstLinesPerWindow + maxKeys + 1 lines per window).
 */
export class RefusalLog {
  private readonly log: (line: string) => void;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly maxFirstLines: number;
  private readonly groupOf: (address: string) => string;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => { cancel(): void };
  /** Insertion order is age: the first entry is the one forgotten when full. */
  private readonly entries = new Map<string, Entry>();
  /** Refusals not listed by address this window (pairs forgotten or over the first-line cap), per code. */
  private readonly others = new Map<string, number>();
  private windowStart: number | undefined;
  private firstLines = 0;
  private timer: { cancel(): void } | undefined;

  constructor(o: RefusalLogOptions) {
    this.log = o.log;
    this.windowMs = o.windowMs ?? 10_000;
    this.maxKeys = o.maxKeys ?? 1_000;
    this.maxFirstLines = o.maxFirstLinesPerWindow ?? 100;
    this.groupOf = o.groupOf ?? ((a) => a);
    this.now = o.now ?? Date.now;
    this.schedule = o.schedule ?? unrefTimeout;
  }

  /** Records one refused connection: logged at once if its (group, code) is new, else counted for the summary. */
  note(address: string, code: string): void {
    // a window that ended while no timer ran (or before it fired) is summarised first
    if (this.windowStart !== undefined && this.now() - this.windowStart >= this.windowMs) this.flush();
    if (this.windowStart === undefined) this.startWindow();
    const group = this.groupOf(address);
    const key = `${group}\u0000${code}`;
    const entry = this.entries.get(key);
    if (entry) {
      entry.repeats++;
      return;
    }
    if (this.firstLines >= this.maxFirstLines) {
      this.countOther(code, 1);
      return;
    }
    if (this.entries.size >= this.maxKeys) this.forgetOldest();
    this.entries.set(key, { group, code, repeats: 0 });
    this.firstLines++;
    this.log(`refused a connection from ${address}: ${code}`);
  }

  /** Writes the window's summary lines now; pairs with no repeats in it are forgotten. Called by the timer and by close. */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const seconds = Math.round(this.windowMs / 1000);
    for (const [key, e] of this.entries) {
      if (e.repeats === 0) {
        // quiet for a whole window: its next refusal is logged at once again
        this.entries.delete(key);
        continue;
      }
      this.log(`refused ${e.repeats} more connection${e.repeats === 1 ? '' : 's'} from ${e.group}: ${e.code} in the last ${seconds} s`);
      e.repeats = 0;
    }
    if (this.others.size > 0) {
      const total = [...this.others.values()].reduce((a, b) => a + b, 0);
      const byCode = [...this.others].map(([code, n]) => `${code} ×${n}`).join(', ');
      this.log(`refused ${total} more connection${total === 1 ? '' : 's'} from other addresses (too many to list one by one) in the last ${seconds} s: ${byCode}`);
      this.others.clear();
    }
    this.windowStart = undefined;
    this.firstLines = 0;
    // pairs still active keep a window running, so their repeats are summarised; none: no timer
    if (this.entries.size > 0) this.startWindow();
  }

  /** Summarises what is pending and stops the timer: nothing stays scheduled after the server closes. */
  close(): void {
    this.flush();
    this.timer?.cancel();
    this.timer = undefined;
    this.entries.clear();
    this.windowStart = undefined;
  }

  private startWindow(): void {
    this.windowStart = this.now();
    this.timer = this.schedule(() => this.flush(), this.windowMs);
  }

  private forgetOldest(): void {
    const [key, e] = this.entries.entries().next().value as [string, Entry];
    this.entries.delete(key);
    if (e.repeats > 0) this.countOther(e.code, e.repeats);
  }

  private countOther(code: string, n: number): void {
    this.others.set(code, (this.others.get(code) ?? 0) + n);
  }
}
