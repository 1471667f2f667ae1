// A partition's write path: appends are group-committed (while one
// write+fsync is in flight, new appends queue up and share the next one),
// answered from the producer window when they are retries, rolled into a new
// segment at the topic's size or age, and synced under its fsync policy. The
// high watermark advances only once a group is acknowledged. State lives on
// the Partition (partition.ts); these functions are its append half.

import fs from 'node:fs';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { timestampError, type ProducerRecord } from '../../record.ts';
import { ATTR_TRANSACTIONAL, batchTooLarge, encodeBatch, readBatchHeader, MAX_BATCH_BYTES, type ProducerStamp } from '../batch.ts';
import type { AppendResult } from '../log.ts';
import { keylessRecordError } from '../topic-config.ts';
import { io, fsyncDir, syncData } from './io.ts';
import { hintSuffix } from './file-errors.ts';
import { writeProducerSnapshot } from './producer-state.ts';
import { Segment } from './segment.ts';
import type { Partition } from './partition.ts';

/** Above this many queued batches one write concatenates them (writev caps its iovec count). */
const MAX_IOVECS = 64;

export interface PendingAppend {
  buf: Buffer;
  baseOffset: number;
  lastOffset: number;
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

export function appendRecords(p: Partition, records: readonly ProducerRecord[], producer?: ProducerStamp, attributes = 0): Promise<AppendResult> {
  if (!p.writable) return Promise.reject(new SluiceError(ErrorCodes.READ_ONLY, `cannot append to ${p.where()}: the log was opened read-only`));
  if (p.closed) return Promise.reject(new SluiceError(ErrorCodes.CLOSED, `cannot append to ${p.where()}: the log is closed`));
  if (p.failure) return Promise.reject(p.failure);
  if (records.length === 0) return Promise.reject(new SluiceError(ErrorCodes.INVALID_ARGUMENT, `empty append to ${p.where()}`));
  // Every append to a file log passes here; an Infinity stored would later print as invalid JSON.
  const badTime = timestampError(records, p.where());
  if (badTime) return Promise.reject(badTime);
  const keyless = keylessRecordError(p.topic, p.partition, p.config, records);
  if (keyless) return Promise.reject(keyless);
  if (producer && (attributes & ATTR_TRANSACTIONAL) === 0) {
    const dup = duplicateOf(p, producer, records.length);
    if (dup) return dup;
  }
  const baseOffset = p.nextOffset;
  const buf = encodeBatch(records, { baseOffset, appendTime: Date.now(), producer, attributes });
  if (buf.length > MAX_BATCH_BYTES) {
    return Promise.reject(batchTooLarge(buf.length, records, p.where()));
  }
  p.nextOffset += records.length;
  if (producer) p.lastStamps.set(producer.producerId, { epoch: producer.producerEpoch, sequence: producer.baseSequence, count: records.length, baseOffset, appendTime: Date.now() });
  // Registered before the write so the batch is never stable before its transaction is decided.
  if (attributes & ATTR_TRANSACTIONAL) p.pendingTxns.add(baseOffset);
  return new Promise((resolve, reject) => {
    p.pending.push({ buf, baseOffset, lastOffset: baseOffset + records.length - 1, resolve, reject });
    if (!p.flushing) {
      p.flushing = true;
      // A microtask lets every append issued in this tick join the first write.
      queueMicrotask(() => void flushLoop(p));
    }
  });
}

/**
 * Idempotent appends: a producer stamps each append with a sequence number;
 * the same stamp again (a retry after a lost acknowledgement) gets the first
 * append's offsets instead of a second copy. An older one is refused.
 */
function duplicateOf(p: Partition, producer: ProducerStamp, count: number): Promise<AppendResult> | null {
  const last = p.lastStamps.get(producer.producerId);
  if (!last || last.epoch !== producer.producerEpoch || producer.baseSequence > last.sequence) return null;
  if (producer.baseSequence === last.sequence && count === last.count) {
    const result = { baseOffset: last.baseOffset, lastOffset: last.baseOffset + count - 1 };
    // Acknowledged once the original is: wait for it if it is still being written.
    return last.baseOffset + count <= p.highWatermark ? Promise.resolve(result) : p.waitFor(result.lastOffset, undefined, 'read_uncommitted').then(() => result);
  }
  return Promise.reject(
    new SluiceError(ErrorCodes.INVALID_ARGUMENT, `producer ${producer.producerId} sent sequence ${producer.baseSequence} to ${p.where()} after ${last.sequence}: sequences must increase`, {
      topic: p.topic,
      partition: p.partition,
    }),
  );
}

async function flushLoop(p: Partition): Promise<void> {
  while (p.pending.length > 0 && !p.failure) {
    const group = p.pending;
    p.pending = [];
    try {
      await writeGroup(p, group);
    } catch (e) {
      fail(p, e, group);
      break;
    }
    p.highWatermark = group[group.length - 1]!.lastOffset + 1;
    if (p.config.file.fsync === 'always') p.syncedEnd = p.highWatermark;
    p.published?.publish(p.watermarks());
    for (const a of group) a.resolve({ baseOffset: a.baseOffset, lastOffset: a.lastOffset });
    p.notifyWaiters();
  }
  p.flushing = false;
}

async function writeGroup(p: Partition, group: PendingAppend[]): Promise<void> {
  let run: PendingAppend[] = [];
  let runBytes = 0;
  for (const a of group) {
    if (shouldRoll(p, runBytes + a.buf.length)) {
      if (run.length > 0) await writeRun(p, run);
      run = [];
      runBytes = 0;
      if (p.active.size > 0) await roll(p, a.baseOffset);
    }
    run.push(a);
    runBytes += a.buf.length;
  }
  if (run.length > 0) await writeRun(p, run);
  if (p.config.file.fsync === 'always') await p.active.withFd((fd) => syncData(fd, p.onFsync));
  else markDirty(p);
}

function markDirty(p: Partition): void {
  p.dirty = true;
  // `never` promises no fsync whose errors could be lost.
  if (typeof p.config.file.fsync !== 'object') return;
  const seg = p.active;
  p.dirtySeg = seg;
  seg.file.beforeEvict ??= (fd) => syncBeforeEvict(p, seg, fd);
}

/** Called by the cache, synchronously, while another file waits for the room. */
function syncBeforeEvict(p: Partition, seg: Segment, fd: number): void {
  if (p.dirtySeg !== seg || p.failure) return;
  try {
    fs.fdatasyncSync(fd);
  } catch (e) {
    fail(p, e, []);
  }
}

export function forgetDirty(p: Partition, seg: Segment): void {
  if (p.dirtySeg !== seg) return;
  seg.file.beforeEvict = null;
  p.dirtySeg = null;
}

function shouldRoll(p: Partition, extraBytes: number): boolean {
  const seg = p.active;
  if (seg.size === 0) return false;
  return seg.size + extraBytes > p.config.file.segmentBytes || Date.now() - seg.firstAppendTime >= p.config.file.segmentMs;
}

async function writeRun(p: Partition, run: PendingAppend[]): Promise<void> {
  const seg = p.active;
  const bufs = run.map((a) => a.buf);
  const position = seg.size;
  const total = bufs.reduce((n, b) => n + b.length, 0);
  let written = 0;
  let chunk = bufs.length > MAX_IOVECS ? [Buffer.concat(bufs, total)] : bufs;
  await seg.withFd(async (fd) => {
    while (written < total) {
      const n = await io.writev(fd, chunk, position + written);
      written += n;
      if (written < total) chunk = [Buffer.concat(bufs, total).subarray(written)];
    }
  });
  let pos = position;
  for (const b of bufs) {
    const h = readBatchHeader(b, 0, b.length, false);
    if (typeof h === 'string') throw new Error(`internal: encoded batch unreadable (${h})`);
    seg.onAppended(h, pos);
    pos += h.size;
  }
}

async function roll(p: Partition, baseOffset: number): Promise<void> {
  const old = p.active;
  // Under every policy, also `never`: a closed segment is whole on disk, so its index (and the
  // next segment's base) are evidence that recovery may hold it to.
  await old.withFd((fd) => syncData(fd, p.onFsync));
  forgetDirty(p, old);
  p.syncedEnd = Math.max(p.syncedEnd, old.nextOffset);
  old.persistIndex();
  writeProducerSnapshot(p.dir, baseOffset, p.lastStamps);
  // Replace, never mutate: reads in flight hold the previous array.
  p.segments = [...p.segments, Segment.create(p.dir, baseOffset, p.files)];
  fsyncDir(p.dir);
  p.onRoll?.();
}

function fail(p: Partition, e: unknown, group: PendingAppend[]): void {
  const err = new SluiceError(
    ErrorCodes.IO_ERROR,
    `writing to ${p.where()} failed (${(e as Error).message}${hintSuffix(e)}); the records of this append were not acknowledged, ` +
      `records acknowledged before it are safe. Fix the disk problem and restart: the partition is recovered on open.`,
    { topic: p.topic, partition: p.partition },
    { cause: e },
  );
  p.failure = err;
  for (const a of group) a.reject(err);
  for (const a of p.pending) a.reject(err);
  p.pending = [];
}

export function syncIfDirty(p: Partition): Promise<void> {
  if (!p.dirty || p.closed || p.failure || p.syncing) return Promise.resolve();
  p.syncing = syncDirty(p).finally(() => (p.syncing = null));
  return p.syncing;
}

async function syncDirty(p: Partition): Promise<void> {
  p.dirty = false;
  const seg = p.active;
  const upTo = seg.nextOffset;
  try {
    await seg.withFd((fd) => syncData(fd, p.onFsync));
  } catch (e) {
    fail(p, e, []);
    return;
  }
  // Appends since the sync began marked it dirty again: their fsync is still owed.
  if (!p.dirty) forgetDirty(p, seg);
  p.syncedEnd = Math.max(p.syncedEnd, upTo);
  p.published?.publish(p.watermarks());
}
