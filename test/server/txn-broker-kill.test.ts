// A broker SIGKILLed between a transaction's records and its commit record,
// with a client that outlives it: the client resends the commit when the
// broker is back (the connection resends what was in flight). The restarted
// broker must not commit it over the first attempt's records, which are in
// the partitions under the same stamp: that showed the transaction twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import { isSluiceError } from '../../src/errors.ts';
import type { TransactionBody } from '../../src/log/log.ts';
import { values } from '../log/suite/transactions.ts';
import { scope, startBroker } from './helpers.ts';

// Partition 0 gets a small batch, the others large ones: its records are whole on disk
// while the others are still being written, even where fsync costs nothing (tmpfs).
const PARTITIONS = 4;
const RECORDS = 8;
const SMALL = 1024;
const LARGE = 2 * 1024 * 1024;
const ATTEMPTS = 12;

function bytesOf(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.log')) n += fs.statSync(join(dir, f)).size;
  return n;
}

test('a broker SIGKILLed between a transaction\'s records and its commit record: the resent commit never shows them twice', { timeout: 600_000 }, async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  const w = { broker: await startBroker(dataDir) };
  s.defer(() => w.broker.stop());
  const client = await openRemoteLog({ url: w.broker.url, retryForMs: 60_000 });
  s.defer(() => client.close());
  await client.createTopic('out', { partitions: PARTITIONS });
  const txnLog = join(dataDir, 'transactions', 'txn.log');
  const part0 = join(dataDir, 'topics', 'out', '0');
  let struck = 0;
  for (let attempt = 0; attempt < ATTEMPTS && struck === 0; attempt++) {
    const producer = await client.initProducer('job');
    const body: TransactionBody = {
      writes: Array.from({ length: PARTITIONS }, (_, partition) => ({
        topic: 'out',
        partition,
        records: Array.from({ length: RECORDS }, (_, i) => ({ key: null, value: Buffer.from(`${attempt}:${partition}:${i}:`.padEnd(partition === 0 ? SMALL : LARGE, '.')) })),
      })),
      offsets: [],
    };
    const txnBefore = fs.statSync(txnLog).size;
    const before = bytesOf(part0);
    const outcome = client.commitTransaction(producer, 1, body).then(
      () => 'committed',
      (e: unknown) => e,
    );
    // Kill once partition 0 holds the whole batch, unless the commit record got there first.
    while (bytesOf(part0) < before + RECORDS * SMALL && fs.statSync(txnLog).size === txnBefore) await new Promise((r) => setImmediate(r));
    await w.broker.stop('SIGKILL');
    if (fs.statSync(txnLog).size === txnBefore) struck++;
    w.broker = await startBroker(dataDir, { port: w.broker.port });
    const result = await outcome;
    assert.ok(result === 'committed' || isSluiceError(result, 'FENCED'), `the resent commit commits or is fenced, got ${String(result)}`);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const mine = (await values(client, 'out', partition)).filter((v) => v.startsWith(`${attempt}:`));
      assert.equal(mine.length, result === 'committed' ? RECORDS : 0, `attempt ${attempt}, out/${partition}: all of the transaction once, or none of it (${result === 'committed' ? 'committed' : 'fenced'})`);
    }
  }
  assert.ok(struck > 0, `in ${ATTEMPTS} attempts no kill landed between the records and the commit record`);
});
