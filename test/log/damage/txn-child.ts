// Child of txn-kill.test.ts: commits transactions (records + group offsets) and
// plain group commits as fast as it can, printing `ack <value>` once each
// transaction is committed, until the parent SIGKILLs it.

import { openFileLog } from '../../../src/log/file/file-log.ts';

const [dataDir, round] = process.argv.slice(2) as [string, string];
const log = await openFileLog({ dataDir });
if (!(await log.listTopics()).some((t) => t.name === 'out')) await log.createTopic('out');
const p = await log.initProducer('job');
for (let seq = 1; ; seq++) {
  const value = `${round}:${seq}`;
  await log.commitTransaction(p, seq, {
    writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from(value) }] }],
    offsets: [{ group: 'g', offsets: [{ topic: 'out', partition: 0, offset: seq }] }],
  });
  process.stdout.write(`ack ${value}\n`);
  if (seq % 3 === 0) await log.commitOffsets('plain', [{ topic: 'out', partition: 0, offset: seq }]);
}
