// `fedistill server`: the aggregator of a federated distillation run.
import type { CommandSpec } from '../parse.ts';
import type { RunSummary } from '../../server/aggregator.ts';
import type { SiteFailure } from '../../server/strategies/strategy.ts';
import { loadRunConfig } from '../../server/run-config.ts';
import { runAggregator } from '../../server/run-aggregator.ts';

const failureJson = (f: SiteFailure) => ({ site: f.site, reason: f.reason, ...(f.detail !== undefined ? { detail: f.detail } : {}) });

/**
 * The --json summary of a run, snake_case like every fedistill output. `bytes` and `site_metrics`
 * are keyed by site name and `metrics` by metric name (data, kept as they are).
 */
export function runSummaryJson(s: RunSummary & { database: string }) {
  // a run stopped by a signal exits 1: `ok` and `error` as every --json failure has them (README)
  const stopped = s.status === 'stopped';
  return {
    ok: !stopped,
    ...(stopped ? { error: { code: 'E_INTERRUPTED', message: `the aggregator stopped before run ${s.runId} ended; restart it with the same config to resume the run` } } : {}),
    run_id: s.runId, status: s.status, epsilon: s.epsilon, delta: s.delta,
    rounds: s.rounds.map((r) => ({
      round: r.round, participants: r.participants, failures: r.failures.map(failureJson), epsilon: r.epsilon,
      metrics: r.metrics, site_metrics: r.siteMetrics, resumed: r.resumed,
    })),
    bytes: s.bytes,
    ...(s.stalled ? {
      stalled: { round: s.stalled.round, attempts: s.stalled.attempts, replies: s.stalled.replies, quorum: s.stalled.quorum, failures: s.stalled.failures.map(failureJson) },
    } : {}),
    database: s.database,
  };
}

export const serverCommand: CommandSpec = {
  name: 'server',
  summary: 'run the aggregator of a federated distillation run',
  description:
    'Runs the aggregator described by a run config (YAML): listens for sites on the secure channel,\n' +
    'authenticates them against the allowlist, drives the rounds with the configured strategy and\n' +
    'records every release and its privacy charge in SQLite (one transaction each). Restarted with\n' +
    'the same config after a crash, it resumes the run from the database. See docs/runs.md.',
  flags: {
    config: { type: 'string', help: 'run config file (YAML)', required: true, arg: 'FILE' },
    json: { type: 'boolean', help: 'print the run summary as JSON' },
  },
  examples: ['fedistill server --config run.yaml'],
  async run(args, io) {
    const config = loadRunConfig(String(args.flags.config));
    const summary = await runAggregator(config, (l) => io.err(`[aggregator] ${l}`));
    if (args.flags.json) io.out(JSON.stringify(runSummaryJson(summary)));
    else {
      io.out(`run ${summary.runId}: ${summary.status}, ${summary.rounds.length} rounds this session, ε = ${summary.epsilon.toFixed(4)} at δ = ${summary.delta}`);
      io.out(`database: ${summary.database}`);
      // Ctrl-C is not the end of the run: say how to go on (sites keep retrying meanwhile)
      if (summary.status === 'stopped') io.out(`the run is not over: restart \`fedistill server --config ${args.flags.config}\` to resume it; its sites keep retrying until then`);
    }
    return summary.status === 'stopped' ? 1 : 0;
  },
};
