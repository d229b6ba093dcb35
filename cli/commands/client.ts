// `fedistill client`: a site agent that keeps its data local and shares only protected predictions.
import type { CommandSpec } from '../parse.ts';
import { loadSiteConfig } from '../../client/site-config.ts';
import { runSite, type SiteOutcome } from '../../client/run-site.ts';
import { errorJson } from '../error-json.ts';
import { signalExitCode } from '../../shared/util/signal-exit.ts';

/**
 * The --json summary of a site (snake_case keys, like every fedistill output): its outcome plus the
 * path of its ledger, which the text summary names too, so a script can find the file its own ε
 * bound comes from (`audit compare` reads it).
 */
export function siteSummaryJson(outcome: SiteOutcome, ledger: string): string {
  // stopped by a signal (exit 1): `ok` and `error` as every --json failure has them (README)
  if (outcome.stopped) {
    return JSON.stringify({ ok: false, error: { code: 'E_INTERRUPTED', message: `site ${outcome.site} stopped before the run ended; every reply it sent is in its ledger ${ledger}: restart it with the same config to rejoin` }, site: outcome.site, stopped: true, ledger });
  }
  const o = outcome;
  return JSON.stringify({
    ok: true, site: o.site, run_id: o.runId, rounds_digested: o.roundsDigested, baseline_accuracy: o.baselineAccuracy, final_accuracy: o.finalAccuracy,
    ledger_epsilon: o.ledgerEpsilon, ledger_delta: o.ledgerDelta, bytes_sent: o.bytesSent, bytes_received: o.bytesReceived,
    ...(o.studentOut !== undefined ? { student_out: o.studentOut } : {}), ledger,
  });
}

export const clientCommand: CommandSpec = {
  name: 'client',
  summary: 'run a site agent (private data stays here)',
  description:
    'Runs a site described by a site config (YAML): loads its private data, trains its local model(s),\n' +
    'connects to the aggregator (pinned key), answers queries on the public set through its local\n' +
    'policy (clipping, temperature, optional local noise), records every release in its own ledger,\n' +
    'and distills its student from each consensus. Reconnects by itself. See docs/runs.md.',
  flags: {
    config: { type: 'string', help: 'site config file (YAML)', required: true, arg: 'FILE' },
    json: { type: 'boolean', help: 'print the site summary as JSON' },
  },
  examples: ['fedistill client --config site-a.yaml'],
  async run(args, io) {
    const config = loadSiteConfig(String(args.flags.config));
    const r = await runSite(config, (l) => io.err(`[${config.settings.name}] ${l}`), {
      // stopped while training locally, the process ends by the signal: --json still prints one object
      onSignalExit: (signal, line) => { if (args.flags.json) io.out(errorJson('fedistill client', 'E_INTERRUPTED', line, signalExitCode(signal))); },
    });
    if (args.flags.json) io.out(siteSummaryJson(r, config.ledger));
    else if (r.stopped) io.out(`site ${r.site}: stopped before the run ended; its ledger: ${r.ledger}`);
    else {
      // the bound covers every run in the site's ledger, not only this one: say which file it is
      // accuracy only with an eval_set (optional)
      const accuracy = r.baselineAccuracy !== undefined || r.finalAccuracy !== undefined
        ? `accuracy ${r.baselineAccuracy?.toFixed(4) ?? 'n/a'} → ${r.finalAccuracy?.toFixed(4) ?? 'n/a'}, ` : '';
      io.out(`site ${r.site}: ${accuracy}own ε bound ${r.ledgerEpsilon.toFixed(3)} (all runs in its ledger ${config.ledger}), ${r.roundsDigested} rounds`);
      if (r.studentOut) io.out(`student: ${r.studentOut}`);
    }
    // like `fedistill server`, a run stopped by a signal is not a success
    return r.stopped ? 1 : 0;
  },
};
