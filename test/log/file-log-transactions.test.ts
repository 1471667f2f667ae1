// File-log-only transaction tests: what readers (in this process and in
// others) see while the commit point is held back or fails (fault injection
// with setIo), and repair of a crash between the commit record and the group
// offsets file. The transaction tests of the Log interface are in
// test/log/suite/transactions.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { setIo, realIo } from '../../src/log/file/io.ts';
import { isSluiceError } from '../../src/errors.ts';
import { values } from './suite/transactions.ts';

const b = (s: string) => Buffer.from(s);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-txn-'));
  try {
    await fn(dir);
  } finally {
    setIo(realIo);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Holds back fdatasync calls on the transaction log (found via /proc) until released. */
function holdTxnLogSync(): { reached: Promise<void>; release: () => void } {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  setIo({
    ...realIo,
    fdatasync: async (fd) => {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('txn.log')) {
        reached();
        await gate;
      }
      return realIo.fdatasync(fd);
    },
  });
  return { reached: reachedP, release };
}

test('a transaction becomes visible atomically across partitions and commits group offsets with it', async () => {
  await withDir(async (dir) => {
    const log = await openFileLog({ dataDir: dir });
    try {
      await log.createTopic('in');
      await log.createTopic('out', { partitions: 2 });
      await log.append('in', 0, [{ key: null, value: b('i0') }, { key: null, value: b('i1') }]);
      const producer = await log.initProducer('job-a');
      const hold = holdTxnLogSync();
      const committing = log.commitTransaction(producer, 1, {
        writes: [
          { topic: 'out', partition: 0, records: [{ key: null, value: b('a') }] },
          { topic: 'out', partition: 1, records: [{ key: null, value: b('b') }, { key: null, value: b('c') }] },
        ],
        offsets: [{ group: 'job-a', offsets: [{ topic: 'in', partition: 0, offset: 2 }] }],
      });
      await hold.reached; // the records are written and fsynced; the commit record is not
      const reader = await openFileLog({ dataDir: dir, readOnly: true });
      assert.deepEqual(await values(log, 'out', 1), [], 'read_committed sees nothing before the commit point');
      assert.deepEqual(await values(reader, 'out', 1), [], 'neither does a reader in another process');
      assert.deepEqual(await values(log, 'out', 1, 'read_uncommitted'), ['b', 'c']);
      assert.deepEqual(await log.committedOffsets('job-a'), []);
      let woke = false;
      const waiting = log.waitFor('out', 0, 0).then(() => (woke = true));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(woke, false, 'read_committed waiters wait for the commit');
      hold.release();
      const result = await committing;
      await waiting;
      assert.deepEqual(result.appended.map((a) => [a.topic, a.partition, a.baseOffset, a.lastOffset]), [['out', 0, 0, 0], ['out', 1, 0, 1]]);
      assert.deepEqual(await values(log, 'out', 0), ['a']);
      assert.deepEqual(await values(log, 'out', 1), ['b', 'c']);
      assert.deepEqual(await values(reader, 'out', 1), ['b', 'c']);
      assert.deepEqual(await log.committedOffsets('job-a'), [{ topic: 'in', partition: 0, offset: 2 }]);
      await reader.close();
    } finally {
      await log.close();
    }
  });
});

test('a transaction that fails at its commit point is never visible, before or after a restart', async () => {
  await withDir(async (dir) => {
    let log = await openFileLog({ dataDir: dir });
    await log.createTopic('out');
    const producer = await log.initProducer('job-b');
    await log.commitTransaction(producer, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('kept') }] }], offsets: [] });
    setIo({
      ...realIo,
      fdatasync: async (fd) => {
        if (fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('txn.log')) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        return realIo.fdatasync(fd);
      },
    });
    await assert.rejects(
      log.commitTransaction(producer, 2, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('lost') }] }], offsets: [] }),
      /EIO/,
    );
    setIo(realIo);
    assert.deepEqual(await values(log, 'out', 0), ['kept'], 'the failed transaction is aborted');
    assert.deepEqual(await values(log, 'out', 0, 'read_uncommitted'), ['kept', 'lost']);
    await assert.rejects(
      log.commitTransaction(producer, 2, { writes: [], offsets: [] }),
      (e) => isSluiceError(e, 'FENCED') && /register it again/.test(e.message),
      'a producer that failed mid-transaction must re-register',
    );
    await log.close();

    log = await openFileLog({ dataDir: dir });
    assert.deepEqual(await values(log, 'out', 0), ['kept'], 'still aborted after a restart');
    const again = await log.initProducer('job-b');
    assert.equal(again.epoch, producer.epoch + 1);
    await log.commitTransaction(again, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('next') }] }], offsets: [] });
    assert.deepEqual(await values(log, 'out', 0), ['kept', 'next']);
    await log.close();
  });
});

test('a crash between the commit record and the group offsets is repaired on open', async () => {
  await withDir(async (dir) => {
    let log = await openFileLog({ dataDir: dir });
    await log.createTopic('in');
    await log.append('in', 0, [{ key: null, value: b('r') }]);
    const p = await log.initProducer('job-e');
    await log.commitTransaction(p, 1, { writes: [], offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 1 }] }] });
    await log.close();
    fs.rmSync(join(dir, 'groups', 'g', 'offsets.log')); // as if the crash came before the group store was written
    log = await openFileLog({ dataDir: dir });
    assert.deepEqual(await log.committedOffsets('g'), [{ topic: 'in', partition: 0, offset: 1 }]);
    await log.close();
  });
});

test('a transaction one of its partitions refuses (a keyless record for a compacted topic) is refused before anything is written, without failing its producer', async () => {
  await withDir(async (dir) => {
    const log = await openFileLog({ dataDir: dir });
    try {
      await log.createTopic('out');
      await log.createTopic('table', { compact: true });
      const p = await log.initProducer('job-k');
      const keyless = { key: null, value: b('no key') };
      await assert.rejects(
        log.commitTransaction(p, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('a') }] }, { topic: 'table', partition: 0, records: [keyless] }], offsets: [] }),
        (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.details.topic === 'table',
      );
      assert.deepEqual(await values(log, 'out', 0, 'read_uncommitted'), [], 'nothing was written');
      await log.commitTransaction(p, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('ok') }] }], offsets: [] });
      assert.deepEqual(await values(log, 'out', 0), ['ok'], 'the producer carries on, and readers are not held back');
    } finally {
      await log.close();
    }
  });
});

test('a transaction the previous writer left undecided (records written, no commit record) is not committed by a resent commit: FENCED until registered again', async () => {
  await withDir(async (dir) => {
    let log = await openFileLog({ dataDir: dir });
    await log.createTopic('out');
    const producer = await log.initProducer('job-r');
    const body = (v: string) => ({ writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b(v) }] }], offsets: [] });
    await log.commitTransaction(producer, 1, body('one'));
    // As if the process died between the records and the commit record: that write never reaches the file.
    setIo({
      ...realIo,
      writev: async (fd, bufs, position) => {
        if (fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('txn.log')) throw Object.assign(new Error('EIO: i/o error, writev'), { code: 'EIO' });
        return realIo.writev(fd, bufs, position);
      },
    });
    await assert.rejects(log.commitTransaction(producer, 2, body('two')), /EIO/);
    setIo(realIo);
    await log.close();

    log = await openFileLog({ dataDir: dir });
    try {
      // A broker's client outlives the broker and resends the commit with the same producer and sequence.
      await assert.rejects(
        log.commitTransaction(producer, 2, body('two')),
        (e) => isSluiceError(e, 'FENCED') && /register it again/.test(e.message) && e.details.epoch === producer.epoch,
      );
      assert.deepEqual(await values(log, 'out', 0), ['one'], 'the undecided attempt stays aborted');
      const again = await log.initProducer('job-r');
      await log.commitTransaction(again, 1, body('two'));
      assert.deepEqual(await values(log, 'out', 0), ['one', 'two'], 'once, not twice');
    } finally {
      await log.close();
    }
  });
});
