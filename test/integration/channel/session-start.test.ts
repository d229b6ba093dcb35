// The first frames of a session: sent right behind the last handshake message, they are read, in order, not dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, siteA, sleep, startServer } from './helpers.ts';

const metrics = (round: number) => ({ type: 'metrics' as const, round, values: { x: round } });

test('messages the aggregator sends the moment a session opens reach the site, and the session stays up', async () => {
  const server = await startServer();
  // ws hands the site the server finished and these frames from one TCP read, synchronously
  server.on('session', (s) => { s.send(metrics(1)); s.send(metrics(2)); });
  try {
    for (let i = 0; i < 5; i++) {
      const client = clientFor(server, siteA);
      const got: string[] = [];
      client.on('message', (m) => got.push(`${m.type} ${(m as { round: number }).round}`));
      client.on('disconnect', (info) => got.push(`closed ${info.code}`));
      const session = await client.start();
      await sleep(50);
      // before the fix: nothing arrived, and the next frame closed the session (4022 E_FRAME_OUT_OF_ORDER)
      server.session('site-a')!.send(metrics(3));
      await sleep(50);
      assert.deepEqual(got, ['metrics 1', 'metrics 2', 'metrics 3']);
      assert.equal(session.isOpen, true);
      client.close();
    }
  } finally {
    await server.close();
  }
});
