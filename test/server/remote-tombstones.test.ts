// `sluice produce --tombstone-field` through a broker: the null value crosses
// the protocol as a null (length -1), not as the text "null", and lands on the
// key's partition as on the embedded log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import { partitionForKey } from '../../src/partitioner.ts';
import { scope, startBroker } from './helpers.ts';

test('produce --tombstone-field through the broker appends null values for the marked keys', async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  const broker = await startBroker(dataDir);
  s.defer(() => broker.stop());
  const cli = (args: string[], input?: string) => runCli(args, { dataDir: join(dataDir, 'not-used'), input, env: { SLUICE_BROKER: broker.url } });
  assert.equal((await cli(['topic', 'create', 'users', '--partitions', '3', '--compact'])).code, 0);
  const input = ['{"id":"a","n":1}', '{"id":"b","n":2}', '{"id":"a","deleted":true}', '{"id":"c","n":3,"deleted":false}'].join('\n');
  const r = await cli(['produce', 'users', '--key-field', 'id', '--tombstone-field', 'deleted'], input);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /produced 4 records to users/);

  const log = await openRemoteLog({ url: broker.url });
  s.defer(() => log.close());
  const seen: [string, string | null][] = [];
  for (let p = 0; p < 3; p++) {
    for (const rec of (await log.read('users', p, 0)).records) {
      assert.equal(p, partitionForKey(rec.key!, 3));
      seen.push([Buffer.from(rec.key!).toString(), rec.value === null ? null : Buffer.from(rec.value).toString()]);
    }
  }
  const a = seen.filter(([k]) => k === 'a').map(([, v]) => v);
  assert.deepEqual(a, ['{"id":"a","n":1}', null], 'a: its row, then a tombstone');
  assert.deepEqual(seen.filter(([, v]) => v === null).length, 1);
});
