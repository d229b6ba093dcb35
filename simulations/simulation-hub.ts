// The aggregator's view of the sites in a simulation: the real hub, plus fault injection and per-round byte counts.
//
// Faults act where a real network would: a dropped site never receives the round's query (the
// aggregator records it as a timeout), latency delays delivery, a disconnect cuts the live session
// (the site reconnects on its own), a crash stops the site for good. Decisions are seeded by
// (scenario seed, round, site, attempt), so both modes and every rerun drop the same sites.
import type { ReplyMessage } from '../protocols/messages.ts';
import type { OutgoingRequest, SecureSession } from '../shared/channel/secure-session.ts';
import { FedistillError } from '../shared/util/errors.ts';
import { SeededRng } from '../shared/util/prng.ts';
import type { SiteHub } from '../server/aggregator.ts';
import type { Scenario } from './scenario.ts';
import { siteName } from './site-plan.ts';

/** Traffic of one round, from the aggregator's side of every session (handshakes and joins count in round 0). */
export interface RoundTraffic { round: number; bytesUp: number; bytesDown: number }

export interface FaultEvent { round: number; site: string; fault: 'dropout' | 'disconnect' | 'crash' }

export interface SimulationHubHooks {
  /** Stops a site for good (in-process: closes its client; loopback: kills its process). */
  crashSite(site: string): void;
  /** Called once per round, before the round's first query goes out. */
  roundStarted?(round: number): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SimulationHub implements SiteHub {
  readonly faults: FaultEvent[] = [];
  private readonly sessions: SecureSession[] = [];
  private readonly snapshots: { round: number; up: number; down: number }[] = [];
  private readonly attempts = new Map<string, number>();
  private readonly crashed = new Set<string>();
  private inner: SiteHub;
  /** Set while the aggregator is "crashed": queries never leave it. */
  private down = false;

  constructor(inner: SiteHub, private readonly scenario: Scenario, private readonly hooks: SimulationHubHooks) {
    this.inner = inner;
    this.watch(inner);
  }

  /** After a simulated aggregator restart: the same counters and faults, over the new server. */
  replaceInner(inner: SiteHub): void {
    this.inner = inner;
    this.down = false;
    this.watch(inner);
  }

  /** The aggregator died: queries of the current round are lost until replaceInner. */
  markDown(): void {
    this.down = true;
  }

  private watch(hub: SiteHub): void {
    hub.on('session', (s: SecureSession) => { this.sessions.push(s); });
  }

  on(event: 'session', listener: (s: SecureSession) => void): unknown {
    return this.inner.on(event, listener);
  }

  session(name: string): SecureSession | undefined {
    return this.crashed.has(name) ? undefined : this.inner.session(name);
  }

  get connectedSites(): string[] {
    return this.inner.connectedSites.filter((s) => !this.crashed.has(s));
  }

  get allowlistedSites(): string[] | undefined {
    return this.inner.allowlistedSites;
  }

  /** Total bytes so far over every session this hub has seen: up = sites → aggregator. */
  totals(): { up: number; down: number } {
    let up = 0;
    let down = 0;
    for (const s of this.sessions) { up += s.stats.bytesIn; down += s.stats.bytesOut; }
    return { up, down };
  }

  /** Bytes per round: the difference between the totals at the start of consecutive rounds. */
  traffic(): RoundTraffic[] {
    const end = this.totals();
    const marks = this.snapshots;
    return marks.map((m, i) => {
      const from = i === 0 ? { up: 0, down: 0 } : m;
      const to = marks[i + 1] ?? end;
      return { round: m.round, bytesUp: to.up - from.up, bytesDown: to.down - from.down };
    });
  }

  private startRound(round: number): void {
    if (this.snapshots.some((s) => s.round === round)) return;
    this.snapshots.push({ round, ...this.totals() });
    this.hooks.roundStarted?.(round);
    const { faults } = this.scenario;
    for (const f of faults.siteCrashes.filter((c) => c.round === round)) {
      const site = siteName(f.site);
      if (this.crashed.has(site)) continue;
      this.crashed.add(site);
      this.faults.push({ round, site, fault: 'crash' });
      this.hooks.crashSite(site);
    }
    for (const f of faults.disconnects.filter((c) => c.round === round)) {
      const site = siteName(f.site);
      const s = this.inner.session(site);
      this.faults.push({ round, site, fault: 'disconnect' });
      s?.close(4000, 'simulated network cut');
    }
  }

  /** Seeded: the same (seed, round, site, attempt) always gives the same answer. */
  private drops(site: string, round: number): boolean {
    const p = this.scenario.faults.dropout;
    if (p <= 0) return false;
    const key = `${round}/${site}`;
    const attempt = this.attempts.get(key) ?? 0;
    this.attempts.set(key, attempt + 1);
    return new SeededRng(`${this.scenario.seed}/dropout/${round}/${site}/${attempt}`).next() < p;
  }

  async request(site: string, message: OutgoingRequest, opts?: { timeoutMs?: number }): Promise<ReplyMessage> {
    const round = message.type === 'query_request' ? message.round : undefined;
    if (round !== undefined) {
      this.startRound(round);
      if (this.down) throw new FedistillError('E_SESSION_CLOSED', 'the aggregator crashed (simulated)');
      if (this.crashed.has(site)) throw new FedistillError('E_NOT_CONNECTED', `site ${site} crashed (simulated)`);
      if (this.scenario.faults.disconnects.some((f) => f.round === round && siteName(f.site) === site)) {
        throw new FedistillError('E_NOT_CONNECTED', `site ${site} lost its connection (simulated)`);
      }
      if (this.drops(site, round)) {
        this.faults.push({ round, site, fault: 'dropout' });
        throw new FedistillError('E_REQUEST_TIMEOUT', `site ${site} did not answer round ${round + 1} (simulated dropout)`);
      }
      if (this.scenario.faults.latencyMs > 0) await sleep(this.scenario.faults.latencyMs);
    }
    return this.inner.request(site, message, opts);
  }
}
