// Deletes keys from a compacted topic: appends a tombstone (a record with the
// key and a null value) for each key read from stdin, one per line, in order.
// `sluice produce` cannot: each of its lines is a JSON value, stored as is.
//
//   node --import tsx examples/enrichment/tombstones.ts users < deleted.txt
//
// Uses the data dir as the CLI does: $SLUICE_DATA_DIR, else ./.sluice.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openFileLog, Producer } from '../../src/log/index.ts';

const topic = process.argv[2];
if (topic === undefined) {
  process.stderr.write('usage: tombstones.ts TOPIC < KEYS\n');
  process.exit(2);
}
const keys = readFileSync(0, 'utf8')
  .split('\n')
  .map((k) => k.trim())
  .filter((k) => k !== '');
const log = await openFileLog({ dataDir: resolve(process.env['SLUICE_DATA_DIR'] || '.sluice') });
try {
  await new Producer(log).send(topic, keys.map((k) => ({ key: Buffer.from(k), value: null })));
  process.stderr.write(`deleted ${keys.length} key${keys.length === 1 ? '' : 's'} from ${topic} (tombstones)\n`);
} finally {
  await log.close();
}
