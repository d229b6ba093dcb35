// Hosts a group of simulated sites in one thread: their agents, local training, secure clients, and what they report at the end.
import { SiteAgent, type SiteSettings } from '../client/site-agent.ts';
import { SiteClient } from '../client/site-client.ts';
import { SiteLedger } from '../client/site-ledger.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import type { FrameTransport } from '../shared/channel/transport.ts';
import type { Identity } from '../shared/crypto/identity.ts';
import type { Dataset } from '../shared/data/types.ts';
import { mapPool } from './concurrency.ts';

export interface HostedSite {
  name: string;
  settings: SiteSettings;
  privateData: Dataset;
  identity: Identity;
  /** Keep the site's ledger in this JSON-lines file (default: in memory). */
  ledgerFile?: string;
}

/** What a site knows at the end (the aggregator knows the rest). */
export interface HostedOutcome { name: string; localOnlyAccuracy?: number; finalAccuracy?: number; ledgerEpsilon: number; crashed: boolean }

interface Live { agent: SiteAgent; client?: SecureClient; crashed: boolean }

export class SiteHost {
  private readonly live = new Map<string, Live>();

  constructor(
    private readonly sites: readonly HostedSite[],
    private readonly shared: { publicSet: Dataset; evalSet: Dataset; serverPublicKey: Uint8Array; delta: number },
    private readonly connect: (site: string) => FrameTransport | Promise<FrameTransport>,
    private readonly log: (line: string) => void,
  ) {}

  /** Local training of every hosted site, `concurrency` at a time; `onReady` after each. */
  async prepare(concurrency: number, onReady: () => void): Promise<void> {
    await mapPool(this.sites, concurrency, async (p) => {
      const agent = new SiteAgent(p.settings, { privateData: p.privateData, publicSet: this.shared.publicSet, evalSet: this.shared.evalSet }, new SiteLedger(p.ledgerFile));
      await agent.prepare();
      this.live.set(p.name, { agent, crashed: false });
      onReady();
    });
  }

  /** Connects every site (the real handshake) and lets its SiteClient serve the rounds. */
  async start(): Promise<void> {
    await Promise.all(this.sites.map(async (p) => {
      const l = this.live.get(p.name)!;
      const client = new SecureClient({
        connect: () => this.connect(p.name), identity: p.identity, serverPublicKey: this.shared.serverPublicKey,
        reconnect: { initialDelayMs: 20, maxDelayMs: 500 },
      });
      const site = new SiteClient(l.agent, client, this.shared.publicSet.spec);
      // A site that fails for good shows up as missing replies; its promise must not go unhandled.
      site.finished.catch((e: Error) => this.log(`${p.name} stopped: ${e.message}`));
      l.client = client;
      await client.start();
    }));
  }

  /** Stops a site for good (simulated crash). */
  crash(name: string): void {
    const l = this.live.get(name);
    if (!l) return;
    l.crashed = true;
    l.client?.close('simulated crash');
  }

  outcomes(): HostedOutcome[] {
    return this.sites.map((p) => {
      const l = this.live.get(p.name)!;
      return { name: p.name, localOnlyAccuracy: l.agent.baselineAccuracy, finalAccuracy: l.agent.lastAccuracy, ledgerEpsilon: l.agent.ledger.epsilon(this.shared.delta), crashed: l.crashed };
    });
  }

  close(): void {
    for (const l of this.live.values()) l.client?.close('simulation over');
  }
}
