// The real process with its stdout closed early (`fedistill … | head`): a silent exit 141, never an EPIPE stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXIT_CLOSED_PIPE } from '../../../cli/main.ts';

const BIN = fileURLToPath(new URL('../../../bin/fedistill.js', import.meta.url));

/** Runs the CLI with a stdout pipe whose reading end is closed before the CLI writes to it. */
function runIntoClosedPipe(argv: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader went away: every write the CLI makes now fails with EPIPE
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

test('a reader that closes stdout early ends the CLI quietly with 141 (128 + SIGPIPE), without a stack trace', async () => {
  assert.equal(EXIT_CLOSED_PIPE, 141);
  for (const argv of [['data', 'list', '--json'], ['data', 'list']]) {
    const r = await runIntoClosedPipe(argv);
    assert.equal(r.signal, null, argv.join(' '));
    assert.equal(r.code, EXIT_CLOSED_PIPE, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|\n\s+at /, argv.join(' '));
    assert.equal(r.stderr, '', 'nothing to say: the reader chose to stop');
  }
});
