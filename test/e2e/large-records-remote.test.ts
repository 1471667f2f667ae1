// Large records through a broker (`sluice serve`, and the local socket every
// process on a shared data dir uses): what the log accepts must pass the wire,
// and a frame the broker refuses must fail its request, not hang. Before, a
// record of the log's limit made a frame just over the broker's 64 MiB; the
// broker closed the connection with TOO_LARGE, the client took that for an
// outage and sent the same frame again, forever.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { startBroker } from '../server/helpers.ts';
import { MAX_RECORD_BYTES } from '../../src/log/batch.ts';

/** A JSON string line of exactly `bytes` bytes. */
function jsonString(bytes: number): Buffer {
  const b = Buffer.alloc(bytes, 0x61);
  b[0] = 0x22;
  b[bytes - 1] = 0x22;
  return b;
}

test('produce and consume through a broker: a record of the log limit passes the wire, and is read back whole', async (t) => {
  const dataDir = tmpDir(t);
  const broker = await startBroker(dataDir);
  t.after(() => broker.stop());
  const env = { SLUICE_BROKER: broker.url };
  assert.equal((await runCli(['topic', 'create', 'big', '--partitions', '1'], { dataDir, env })).code, 0);
  const input = Buffer.concat([Buffer.from('{"n":1}\n'), jsonString(MAX_RECORD_BYTES), Buffer.from('\n{"n":3}\n')]);
  const produced = await runCli(['produce', 'big'], { dataDir, env, input, timeoutMs: 60_000 });
  assert.equal(produced.code, 0, produced.stderr);
  assert.match(produced.stderr, /^produced 3 records to big \(partition 0 offsets 0-2\)$/m);

  const consumed = await runCli(['consume', 'big', '--max', '3'], { dataDir, env, timeoutMs: 60_000 });
  assert.equal(consumed.code, 0, consumed.stderr);
  const sizes = consumed.stdout.split('\n').filter((l) => l !== '').map((l) => Buffer.byteLength(l));
  assert.deepEqual(sizes, [7, MAX_RECORD_BYTES, 7]);
});

test('a request over the broker --max-frame-bytes fails at once with TOO_LARGE naming the limit; the records before it stay', async (t) => {
  const dataDir = tmpDir(t);
  const broker = await startBroker(dataDir, { args: ['--max-frame-bytes', String(1024 * 1024)] });
  t.after(() => broker.stop());
  const env = { SLUICE_BROKER: broker.url };
  assert.equal((await runCli(['topic', 'create', 'big', '--partitions', '1'], { dataDir, env })).code, 0);
  const input = Buffer.concat([Buffer.from('{"n":1}\n'), jsonString(2 * 1024 * 1024), Buffer.from('\n{"n":3}\n')]);
  // One record per append, so the first is acknowledged before the big one is sent.
  const r = await runCli(['produce', 'big', '--batch-records', '1'], { dataDir, env, input, timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stderr);
  const [error, summary] = r.stderr.split('\n');
  assert.match(error!, /^sluice: the append of 1 record to big\/0 was not written: a request of \d+ bytes is over the broker's limit of 1048576 bytes for one frame \(sluice serve --max-frame-bytes\)/);
  assert.equal(summary, 'produced 1 record to big (partition 0 offset 0)');
  assert.ok(broker.alive, 'the broker is still up');

  const consumed = await runCli(['consume', 'big'], { dataDir, env, timeoutMs: 30_000 });
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.equal(consumed.stdout, '{"n":1}\n');
});
