// Disk faults injected where real ones strike (src/log/file/io.ts): a failing
// fdatasync or writev (EIO, ENOSPC, a short write then ENOSPC). The append that
// hit it rejects with IO_ERROR, the partition stays failed until reopened,
// nothing acknowledged is lost, and after a reopen appends work again.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { io, realIo, setIo, type Io } from '../../src/log/file/io.ts';
import { isSluiceError, type SluiceError } from '../../src/errors.ts';
import type { LogRecord, ProducerRecord } from '../../src/record.ts';
import { sameRecord } from '../helpers/crash-records.ts';
import { readAll as readPartition } from '../helpers/read-all.ts';

const T = 'faults';

afterEach(() => setIo(realIo));

function rec(p: number, i: number): ProducerRecord {
  return { key: Buffer.from(`k${i}`), value: Buffer.from(JSON.stringify({ p, i, pad: 'y'.repeat((i * 53) % 400) })), timestamp: 5_000 + i, headers: { p: String(p), i: String(i) } };
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault, ${syscall}`), { code, syscall, errno: code === 'EIO' ? -5 : -28 });
}

/** The real Io, with `over` replacing some calls. */
function faultyIo(over: Partial<Io>): Io {
  return { ...realIo, ...over };
}

function readAll(log: FileLog, p: number): Promise<LogRecord[]> {
  return readPartition(log, T, p, { from: 0 });
}

function isIoError(partition: number) {
  return (e: unknown) => {
    assert.ok(isSluiceError(e, 'IO_ERROR'), `expected IO_ERROR, got ${String(e)}`);
    assert.equal((e as SluiceError).details.topic, T);
    assert.equal((e as SluiceError).details.partition, partition);
    return true;
  };
}

interface Setup {
  dataDir: string;
  log: FileLog;
  /** Per partition: the records acknowledged so far, at offsets 0.. */
  acked: ProducerRecord[][];
}

async function setup(t: { after(fn: () => Promise<void> | void): void }, segmentBytes = 1024 * 1024): Promise<Setup> {
  const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-faults-'));
  const s: Setup = { dataDir, log: await openFileLog({ dataDir }), acked: [[], []] };
  t.after(async () => {
    setIo(realIo);
    await s.log.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  await s.log.createTopic(T, { partitions: 2, file: { segmentBytes } });
  for (let b = 0; b < 5; b++) await appendAcked(s, 0, 4);
  await appendAcked(s, 1, 3);
  return s;
}

async function appendAcked(s: Setup, p: number, n: number): Promise<void> {
  const start = s.acked[p]!.length;
  const records = Array.from({ length: n }, (_, k) => rec(p, start + k));
  const res = await s.log.append(T, p, records);
  assert.deepEqual(res, { baseOffset: start, lastOffset: start + n - 1 });
  s.acked[p]!.push(...records);
}

/** Closes and reopens the log; checks every acknowledged record; returns how many records partition p holds. */
async function reopenAndCheck(s: Setup): Promise<number[]> {
  await s.log.close();
  s.log = await openFileLog({ dataDir: s.dataDir });
  const counts: number[] = [];
  for (const p of [0, 1]) {
    const got = await readAll(s.log, p);
    const acked = s.acked[p]!;
    assert.ok(got.length >= acked.length, `partition ${p}: ${got.length} records after reopen, ${acked.length} were acknowledged`);
    got.forEach((r, i) => assert.equal(r.offset, i, `partition ${p}: dense offsets`));
    acked.forEach((want, i) => assert.ok(sameRecord(got[i]!, want), `partition ${p}: acknowledged record ${i} intact`));
    counts.push(got.length);
  }
  return counts;
}

/** Whatever survived beyond the acknowledged records must be the unacknowledged appends, whole, in order. */
function adoptSurvivors(s: Setup, p: number, count: number, unacked: ProducerRecord[]): void {
  const extra = count - s.acked[p]!.length;
  assert.ok(extra <= unacked.length, `partition ${p}: ${extra} unexpected records`);
  s.acked[p]!.push(...unacked.slice(0, extra));
}

for (const [syscall, code] of [
  ['fdatasync', 'EIO'],
  ['fdatasync', 'ENOSPC'],
  ['writev', 'EIO'],
  ['writev', 'ENOSPC'],
] as const) {
  test(`${syscall} fails with ${code}: IO_ERROR, the partition stays failed, nothing acknowledged is lost`, async (t) => {
    const s = await setup(t);
    let calls = 0;
    setIo(
      faultyIo(
        syscall === 'fdatasync'
          ? { fdatasync: async () => { calls++; throw errno(code, 'fdatasync'); } }
          : { writev: async () => { calls++; throw errno(code, 'writev'); } },
      ),
    );
    // Several appends in flight share the failing write: all of them fail.
    const unacked = [rec(0, 20), rec(0, 21), rec(0, 22)];
    const results = await Promise.allSettled([s.log.append(T, 0, [unacked[0]!]), s.log.append(T, 0, [unacked[1]!, unacked[2]!])]);
    assert.ok(calls > 0, `${syscall} was called`);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(isIoError(0)((r as PromiseRejectedResult).reason));
      assert.match(((r as PromiseRejectedResult).reason as Error).message, new RegExp(`${T}/0`));
      assert.match(((r as PromiseRejectedResult).reason as Error).message, new RegExp(code));
    }
    // The disk recovers, but the partition stays failed until reopened: no appends on top of a
    // write whose fate is unknown.
    setIo(realIo);
    await assert.rejects(s.log.append(T, 0, [rec(0, 99)]), isIoError(0));
    // Reads of what was acknowledged still work, and so does the other partition.
    const before = await s.log.read(T, 0, 0, { maxRecords: 20 });
    assert.equal(before.records.length, 20);
    before.records.forEach((r, i) => assert.ok(sameRecord(r, s.acked[0]![i]!)));
    await appendAcked(s, 1, 2);

    const counts = await reopenAndCheck(s);
    adoptSurvivors(s, 0, counts[0]!, unacked);
    // After the reopen the partition appends again, right after what survived.
    await appendAcked(s, 0, 3);
    await appendAcked(s, 1, 1);
    await reopenAndCheck(s);
  });
}

test('a short write and then ENOSPC: the torn batch is cut off on reopen', async (t) => {
  const s = await setup(t);
  setIo(
    faultyIo({
      writev: async (fd, bufs, position) => {
        // Half of the bytes reach the file, then the disk is full.
        const all = Buffer.concat(bufs);
        const half = all.subarray(0, Math.floor(all.length / 2));
        await realIo.writev(fd, [half], position);
        throw errno('ENOSPC', 'writev');
      },
    }),
  );
  const unacked = Array.from({ length: 10 }, (_, k) => rec(0, 20 + k));
  await assert.rejects(s.log.append(T, 0, unacked), isIoError(0));
  setIo(realIo);
  await assert.rejects(s.log.append(T, 0, [rec(0, 99)]), isIoError(0));
  const counts = await reopenAndCheck(s);
  assert.equal(counts[0], 20, 'the half-written batch is gone');
  await appendAcked(s, 0, 5);
  await reopenAndCheck(s);
});

test('fdatasync fails while a segment rolls: acknowledged records survive, appends work after reopen', async (t) => {
  const s = await setup(t, 4096);
  // Appends go one at a time, so a group's first fdatasync with no writev before it is
  // the one that closes the old segment in a roll: fail the second such sync.
  let wrote = false;
  let rollSyncs = 0;
  setIo(
    faultyIo({
      writev: (fd, bufs, position) => {
        wrote = true;
        return realIo.writev(fd, bufs, position);
      },
      fdatasync: async (fd) => {
        const inRoll = !wrote;
        wrote = false;
        if (inRoll && ++rollSyncs === 2) throw errno('EIO', 'fdatasync');
        return realIo.fdatasync(fd);
      },
    }),
  );
  const unacked: ProducerRecord[] = [];
  for (let n = 0; n < 100 && unacked.length === 0; n++) {
    const start = s.acked[0]!.length;
    const records = Array.from({ length: 6 }, (_, k) => rec(0, start + k));
    try {
      await appendAcked(s, 0, 6);
    } catch (e) {
      assert.ok(isIoError(0)(e));
      unacked.push(...records);
    }
  }
  assert.equal(rollSyncs, 2, 'the fault struck in a roll');
  assert.equal(unacked.length, 6, 'the append that needed the roll failed');
  setIo(realIo);
  assert.ok((await s.log.describeTopic(T)).partitions[0]!.segments! > 1, 'segments rolled');
  const counts = await reopenAndCheck(s);
  adoptSurvivors(s, 0, counts[0]!, unacked);
  await appendAcked(s, 0, 6);
  await reopenAndCheck(s);
});

test('a failing read rejects with IO_ERROR naming the file', async (t) => {
  const s = await setup(t);
  setIo(faultyIo({ read: async () => { throw errno('EIO', 'read'); } }));
  await assert.rejects(s.log.read(T, 0, 0), (e) => {
    assert.ok(isSluiceError(e, 'IO_ERROR'), `expected IO_ERROR, got ${String(e)}`);
    assert.match(String((e as SluiceError).details.file), /topics\/faults\/0\/0+\.log$/);
    assert.match((e as Error).message, /EIO/);
    return true;
  });
  setIo(realIo);
  assert.equal((await s.log.read(T, 0, 0)).records.length, 20, 'reads work again once the disk does');
});

test('closing while an interval fsync is in flight waits for it, then publishes once (CI hit fd -1 in a late publish)', async (t) => {
  const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-faults-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const log = await openFileLog({ dataDir });
  await log.createTopic(T, { partitions: 1, file: { fsync: { intervalMs: 5 } } });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const syncStarted = new Promise<void>((r) => (started = r));
  setIo(faultyIo({ fdatasync: async (fd) => { await realIo.fdatasync(fd); started(); await gate; } }));
  await log.append(T, 0, [rec(0, 0)]);
  const keepAlive = setInterval(() => {}, 1000); // the sync timer is unref'd
  await syncStarted;
  clearInterval(keepAlive);
  const closed = log.close();
  await new Promise((r) => setTimeout(r, 20));
  release();
  await closed;
  setIo(realIo);
  const again = await openFileLog({ dataDir });
  assert.equal((await readPartition(again, T, 0, { from: 0 })).length, 1);
  await again.close();
});

test('the injected Io is restored after each test', () => {
  assert.equal(io, realIo);
});
