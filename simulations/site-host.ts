// Hosts a group of simulated sites in one thread: their agents, local training, secure clients, and what they report at the end.
import { type CentralPolicy, type Query, SiteAgent, type SiteSettings } from '../client/site-agent.ts';
import { SiteClient } from '../client/site-client.ts';
import { SiteLedger } from '../client/site-ledger.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import type { FrameTransport } from '../shared/channel/transport.ts';
import type { Identity } from '../shared/crypto/identity.ts';
import { scalePixels } from '../shared/data/image-dataset.ts';
import type { Dataset } from '../shared/data/types.ts';
import { mapPool, type Turns, turns } from './concurrency.ts';

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

/**
 * Most answers and digests a thread's hosted sites run at once. Each holds its own copies of the
 * public rows it was asked (digesting, of the consensus and private rows it distills on) until it
 * is done, and ONNX Runtime runs them on this one thread whatever the number in flight: with every
 * site of a worker started at once (they all get the query, or the consensus, in the same moment),
 * 1,000 sites held about 1.5 GiB of such copies together. A thread with at most this many sites runs
 * them all at once, as before; with more, replies reach the aggregator spread out over the phase, so
 * its straggler cut-off (straggler grace after the quorum) applies as in a deployment.
 */
export const HOSTED_IN_FLIGHT = 32;

/** A hosted site whose answers and digests take turns with the other sites of its thread. Results do not change: a site's answer and digest depend on its own state and seeds, not on when it runs. */
class HostedAgent extends SiteAgent {
  constructor(private readonly turn: Turns, ...args: ConstructorParameters<typeof SiteAgent>) {
    super(...args);
  }

  override answer(q: Query, central: CentralPolicy): ReturnType<SiteAgent['answer']> {
    return this.turn(() => super.answer(q, central));
  }

  override digest(...args: Parameters<SiteAgent['digest']>): ReturnType<SiteAgent['digest']> {
    return this.turn(() => super.digest(...args));
  }
}

/**
 * `ds` with its features scaled from its 8-bit pixels when read, and kept only while something uses
 * them (a fit, a digest) instead of for the whole run: the same values (pixels / 255, as
 * ImageDataset computes them), without each hosted site holding 4 bytes per private value between
 * rounds (about 180 MiB over 1,000 sites sharing MNIST's 60,000 training samples). Reads within one
 * synchronous stretch get the same array (a WeakRef keeps its target until then).
 */
export function featuresOnUse(ds: Dataset): Dataset {
  const pixels = ds.pixels;
  if (!pixels) return ds;
  let held: WeakRef<Float32Array> | undefined;
  return {
    spec: ds.spec, name: ds.name, split: ds.split, length: ds.length, shape: ds.shape, numClasses: ds.numClasses,
    labels: ds.labels, pixels, ...(ds.subsetOf ? { subsetOf: ds.subsetOf } : {}),
    get hash() { return ds.hash; },
    get features() {
      let f = held?.deref();
      if (!f) held = new WeakRef(f = scalePixels(pixels));
      return f;
    },
  };
}

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
    const turn = turns(HOSTED_IN_FLIGHT);
    await mapPool(this.sites, concurrency, async (p) => {
      const agent = new HostedAgent(turn, p.settings, { privateData: featuresOnUse(p.privateData), publicSet: this.shared.publicSet, evalSet: this.shared.evalSet }, new SiteLedger(p.ledgerFile));
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
