// Damage to the transaction log (issue 13): it decides which transactional
// records every partition shows, so a bad frame is a torn tail only at the
// unsynced end; a flipped byte, a truncation below the synced length or a
// deleted file refuses the whole dir (writers and readers), names the file,
// and changes nothing until a repair. A torn final frame recovers silently.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { TransactionLog } from '../../../src/log/file/transaction-log.ts';
import { DamageReport } from '../../../src/log/file/damage.ts';
import { encodeFrame, HEADER_BYTES } from '../../../src/log/file/json-frames.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { values } from '../suite/transactions.ts';
import { assertRefused, collect, flipByte, repairAll } from './metadata-helpers.ts';

const TXNS = 40;

/** A dir whose topic `out` holds TXNS committed transactions of one record each (value = its number). */
async function committed(t: TestContext): Promise<{ dataDir: string; file: string }> {
  const dataDir = tmpDir(t, 'sluice-txn-damage-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('out');
    const p = await log.initProducer('job');
    for (let i = 1; i <= TXNS; i++) {
      await log.commitTransaction(p, i, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from(String(i)) }] }], offsets: [] });
    }
  } finally {
    await log.close();
  }
  return { dataDir, file: join(dataDir, 'transactions', 'txn.log') };
}

const all = Array.from({ length: TXNS }, (_, i) => String(i + 1));

async function visible(dataDir: string): Promise<string[]> {
  const log = await openFileLog({ dataDir, readOnly: true });
  try {
    return await values(log, 'out', 0);
  } finally {
    await log.close();
  }
}

test('a flipped byte in the middle of txn.log refuses writers and readers, naming the file and byte; the repair keeps every transaction', async (t) => {
  const { dataDir, file } = await committed(t);
  const size = fs.statSync(file).size;
  flipByte(file, Math.floor(size / 2));
  await assertRefused(file, { dataDir }, /CRC mismatch in the frame at byte \d+|claims \d+ bytes/);
  await assertRefused(file, { dataDir, readOnly: true }, /with valid frames after it/);

  const found = await collect(dataDir);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.file, file);
  assert.match(found[0]!.action, /rewrite .*txn\.log from its \d+ readable records/);

  await repairAll(dataDir);
  // Later commits of the same producer epoch decide the earlier transactions: none is lost.
  assert.deepEqual(await visible(dataDir), all);
  const log = await openFileLog({ dataDir });
  try {
    const p = await log.initProducer('job');
    await log.commitTransaction(p, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from('after') }] }], offsets: [] });
    assert.deepEqual(await values(log, 'out', 0), [...all, 'after']);
  } finally {
    await log.close();
  }
});

test('a flipped byte in the last frame of txn.log is damage, not a torn tail', async (t) => {
  const { dataDir, file } = await committed(t);
  flipByte(file, fs.statSync(file).size - 3);
  await assertRefused(file, { dataDir }, /CRC mismatch in the frame at byte \d+/);
});

test('txn.log truncated in the middle is refused: its header records a longer synced length', async (t) => {
  const { dataDir, file } = await committed(t);
  const size = fs.statSync(file).size;
  fs.truncateSync(file, Math.floor(size / 2));
  await assertRefused(file, { dataDir }, new RegExp(`but \\d+ were synced: it was truncated`));
  const [d] = await collect(dataDir);
  assert.match(d!.loss, /an unknown number of commits/);
  await repairAll(dataDir);
  // What the repair says is lost is lost, and nothing else: a prefix of the transactions stays visible.
  const after = await visible(dataDir);
  assert.ok(after.length > 0 && after.length < TXNS, `a prefix is kept (${after.length})`);
  assert.deepEqual(after, all.slice(0, after.length));
});

test('a torn final frame of txn.log (a crash mid-write) recovers silently, and appends continue after the cut', async (t) => {
  const { dataDir, file } = await committed(t);
  // The write of a 41st record that a crash cut short: a prefix of its frame.
  const size = fs.statSync(file).size;
  const frame = encodeFrame({ t: 'init', tid: 'other', pid: 9, epoch: 0 });
  fs.appendFileSync(file, frame.subarray(0, frame.length - 5));
  assert.deepEqual(await visible(dataDir), all);
  // Zeros where the file grew before its data landed are a torn tail too.
  fs.truncateSync(file, size);
  fs.appendFileSync(file, Buffer.alloc(30));
  assert.deepEqual(await visible(dataDir), all);
  const log = await openFileLog({ dataDir });
  try {
    const p = await log.initProducer('job');
    await log.commitTransaction(p, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from('next') }] }], offsets: [] });
  } finally {
    await log.close();
  }
  assert.deepEqual(await visible(dataDir), [...all, 'next']);
});

test('truncating the last acknowledged frame of txn.log is a torn tail (the header never claims it): it opens', async (t) => {
  const { dataDir, file } = await committed(t);
  fs.truncateSync(file, fs.statSync(file).size - 4);
  assert.deepEqual(await visible(dataDir), all.slice(0, -1));
});

test('a deleted txn.log is refused, never read as "nothing committed"; the repair says every transaction becomes aborted', async (t) => {
  const { dataDir, file } = await committed(t);
  fs.rmSync(file);
  await assertRefused(file, { dataDir }, /the transaction log is missing/);
  await assertRefused(file, { dataDir, readOnly: true }, /the transaction log is missing/);
  const [d] = await collect(dataDir);
  assert.match(d!.loss, /become aborted/);
  await repairAll(dataDir);
  assert.deepEqual(await visible(dataDir), [], 'as the repair said');
  const log = await openFileLog({ dataDir, readOnly: true });
  try {
    assert.deepEqual(await values(log, 'out', 0, 'read_uncommitted'), all, 'the records themselves are kept');
  } finally {
    await log.close();
  }
});

test('a fresh data dir has no transaction log to miss; a txn.log without a header (older versions) opens and gets one', async (t) => {
  const dataDir = tmpDir(t, 'sluice-txn-legacy-');
  let log = await openFileLog({ dataDir });
  await log.createTopic('out');
  await log.close();
  const file = join(dataDir, 'transactions', 'txn.log');
  fs.writeFileSync(file, Buffer.concat([encodeFrame({ t: 'init', tid: 'job', pid: 1, epoch: 0 }), encodeFrame({ t: 'commit', pid: 1, epoch: 0, seq: 3, writes: [], offsets: [] })]));
  log = await openFileLog({ dataDir });
  try {
    const p = await log.initProducer('job');
    assert.deepEqual([p.producerId, p.epoch], [1, 1]);
  } finally {
    await log.close();
  }
  assert.equal(fs.readFileSync(file).subarray(0, 4).toString(), 'SLJF');
});

test('committedEnds survives the snapshot rewrite and a reopen; a deleted topic is forgotten', async (t) => {
  const dataDir = tmpDir(t, 'sluice-txn-ends-');
  const txn = new TransactionLog(dataDir, new DamageReport('refuse'), { rewriteAfter: 3 });
  txn.openForWrite();
  await txn.appendDecision({ type: 'register', transactionalId: 'job', producerId: 1, epoch: 0 });
  for (let sequence = 1; sequence <= 6; sequence++) {
    const partition = sequence % 2;
    const writes = [{ topic: sequence === 6 ? 'other' : 'out', partition, baseOffset: sequence * 10, lastOffset: sequence * 10 + 4 }];
    await txn.appendDecision({ type: 'commit', producerId: 1, epoch: 0, sequence, writes, offsets: [] });
  }
  const expected = new Map([
    ['out\u00000', 45],
    ['out\u00001', 55],
    ['other\u00000', 65],
  ]);
  assert.deepEqual(txn.committedEnds(), expected);
  txn.close();
  assert.ok(fs.statSync(join(dataDir, 'transactions', 'txn.log')).size > HEADER_BYTES);
  const again = new TransactionLog(dataDir);
  again.openForWrite();
  assert.deepEqual(again.committedEnds(), expected, 'after rewrites and a reopen');
  await again.forgetTopic('out');
  again.close();
  const third = new TransactionLog(dataDir);
  third.load();
  assert.deepEqual(third.committedEnds(), new Map([['other\u00000', 65]]));
});
