// The read path of a partition: find the segment and the nearest index entry,
// read a chunk, verify each batch's CRC, and decode the records from the
// requested offset on. read_committed readers stop at the last stable offset
// and skip the batches of aborted transactions.

import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { LogRecord } from '../../record.ts';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, countRecordsFrom, decodeRecords, MAX_BATCH_BYTES, readBatchHeader, type BatchHeader } from '../batch.ts';
import type { BatchReadResult, ReadOptions, ReadResult } from '../log.ts';
import type { Partition } from './partition.ts';
import type { Segment } from './segment.ts';

/**
 * 256 KiB per read: large enough to amortise the syscall, small enough that
 * several partitions read at once do not keep megabytes alive across awaits
 * (measured: 8 concurrent 1 MiB reads spent a third of their time in GC).
 */
const DEFAULT_MAX_BYTES = 256 * 1024;
const DEFAULT_MAX_RECORDS = 100_000;
/** Smallest file read when few records are wanted. */
const MIN_READ_BYTES = 16 * 1024;

/** Reads from `pos`, at least one whole batch when one starts there, else up to maxBytes. */
async function readChunk(seg: Segment, pos: number, end: number, maxBytes: number): Promise<Buffer> {
  const buf = await seg.read(pos, Math.min(maxBytes, end - pos));
  if (buf.length < 4) return buf;
  const first = buf.readUInt32BE(0) + 4;
  if (first > buf.length && first <= MAX_BATCH_BYTES && pos + first <= end) return seg.read(pos, first);
  return buf;
}

/** Bytes to read for about `records` records, from the segment's average record size. */
function readSize(seg: Segment, records: number, maxBytes: number): number {
  const count = seg.nextOffset - seg.baseOffset;
  if (count <= 0 || records >= DEFAULT_MAX_RECORDS) return maxBytes;
  const avg = seg.size / count;
  return Math.min(maxBytes, Math.max(MIN_READ_BYTES, Math.ceil(records * avg * 1.25)));
}

/** Index of the segment holding `offset` (the last one whose base is at or below it). */
function segmentIndexFor(s: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = s.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]!.baseOffset <= offset) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

export function corruption(p: Partition, offset: number, seg: Segment, position: number, problem: string): SluiceError {
  return new SluiceError(
    ErrorCodes.CORRUPT_RECORD,
    `corrupt batch in ${p.where(offset)} (${problem} check failed at byte ${position} of ${seg.path}); ` +
      `its records are not returned. Run \`sluice repair --data-dir DIR\` to see what a repair would lose, restore the partition from a backup, or read on from an offset past the damage.`,
    { topic: p.topic, partition: p.partition, offset, file: seg.path, position },
  );
}

/** Whether a batch's records are returned: control batches never; aborted transactions' not to read_committed readers. */
function hidden(p: Partition, h: BatchHeader, committedOnly: boolean): boolean {
  if (h.attributes & ATTR_CONTROL) return true;
  if (!committedOnly || (h.attributes & ATTR_TRANSACTIONAL) === 0 || p.visibility === null) return false;
  return p.visibility(h.producerId, h.producerEpoch, h.baseSequence) === 'aborted';
}

/** Takes what a reader wants of one visible batch, from offset `from`, at most `room` records: how many it took, and where the next read starts. */
type Take = (buf: Buffer, pos: number, h: BatchHeader, from: number, room: number) => { taken: number; next: number };

export async function readPartition(p: Partition, offset: number, opts: ReadOptions): Promise<ReadResult> {
  const out: LogRecord[] = [];
  const range = await scanPartition(p, offset, opts, (buf, pos, h, from, room) => {
    const before = out.length;
    decodeRecords(buf, pos, h, from, out, before + room);
    const taken = out.length - before;
    return { taken, next: taken === room ? out[out.length - 1]!.offset + 1 : h.baseOffset + h.lastOffsetDelta + 1 };
  });
  return { records: out, ...range };
}

/** As readPartition, but the visible batches as they are stored (Log.readBatches): no record is decoded. */
export async function readPartitionBatches(p: Partition, offset: number, opts: ReadOptions): Promise<BatchReadResult> {
  const parts: Buffer[] = [];
  let records = 0;
  const range = await scanPartition(p, offset, opts, (buf, pos, h, from) => {
    parts.push(buf.subarray(pos, pos + h.size));
    const taken = countRecordsFrom(buf, pos, h, from);
    records += taken;
    return { taken, next: h.baseOffset + h.lastOffsetDelta + 1 };
  });
  return { batches: parts.length === 1 ? parts[0]! : Buffer.concat(parts), records, ...range };
}

async function scanPartition(p: Partition, offset: number, opts: ReadOptions, take: Take): Promise<Omit<ReadResult, 'records'>> {
  const committedOnly = (opts.isolation ?? 'read_committed') === 'read_committed';
  const end = p.visibleEnd(opts.isolation);
  const start = p.startOffset;
  if (offset < start || offset > p.highWatermark) {
    throw new SluiceError(
      ErrorCodes.OFFSET_OUT_OF_RANGE,
      `offset ${offset} is outside ${p.where()}'s range [${start}, ${p.highWatermark}]`,
      { topic: p.topic, partition: p.partition, offset, startOffset: start, endOffset: p.highWatermark },
    );
  }
  const maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let taken = 0;
  const segments = p.segments;
  let next = offset;
  let done = false;
  let i = segmentIndexFor(segments, offset);
  while (!done && taken === 0 && next < end && i < segments.length) {
    const seg = segments[i]!;
    const segEnd = seg.size;
    let pos = seg.index.positionFor(next - seg.baseOffset);
    let bytes = 0;
    // maxBytes is soft: until a record is found, batches skipped on the way (before `offset`) do not count.
    scanning: while (pos < segEnd && next < end && taken < maxRecords && (bytes < maxBytes || taken === 0)) {
      const buf = await readChunk(seg, pos, segEnd, readSize(seg, maxRecords - taken, maxBytes));
      let b = 0;
      while (b < buf.length && taken < maxRecords) {
        // A batch read in parts by successive small reads is checksummed once, not each time.
        const verified = p.lastVerified.seg === seg && p.lastVerified.pos === pos + b;
        const h = readBatchHeader(buf, b, buf.length, !verified);
        if (h === 'short' && b > 0) break; // the rest comes with the next chunk
        if (typeof h === 'string') {
          const c = seg.corruptionAt(pos + b);
          if (c && c.resumeOffset <= next) {
            pos = c.resumeAt; // the reader asked for offsets past known damage
            continue scanning;
          }
          if (taken > 0) {
            done = true; // hand out the good records first; the next read, from the damage, throws
            break scanning;
          }
          throw corruption(p, next, seg, pos + b, h);
        }
        if (h.baseOffset >= end) {
          done = true;
          break scanning;
        }
        p.lastVerified.seg = seg;
        p.lastVerified.pos = pos + b;
        const last = h.baseOffset + h.lastOffsetDelta;
        if (last >= next) {
          if (hidden(p, h, committedOnly)) next = last + 1;
          else {
            const t = take(buf, b, h, next, maxRecords - taken);
            taken += t.taken;
            next = t.next;
          }
        }
        b += h.size;
      }
      pos += b;
      bytes += b;
    }
    if (pos >= segEnd && !done && taken < maxRecords) {
      i++;
      if (i < segments.length) next = Math.max(next, segments[i]!.baseOffset);
    } else break;
  }
  return { nextOffset: Math.min(next, end), highWatermark: end, startOffset: start };
}

/** The first offset whose record has timestamp >= ts (among visible records); the end if none. */
export async function offsetForTimestamp(p: Partition, ts: number): Promise<number> {
  const end = p.visibleEnd('read_committed');
  for (const seg of p.segments) {
    if (seg.maxTimestamp < ts) continue;
    let pos = seg.index.positionForTime(ts);
    const segEnd = seg.size;
    while (pos < segEnd) {
      const buf = await readChunk(seg, pos, segEnd, DEFAULT_MAX_BYTES);
      let b = 0;
      while (b < buf.length) {
        const h = readBatchHeader(buf, b, buf.length);
        if (h === 'short' && b > 0) break;
        if (typeof h === 'string') throw corruption(p, seg.baseOffset, seg, pos + b, h);
        if (h.baseOffset >= end) return end;
        if (h.maxTimestamp >= ts && !hidden(p, h, true)) {
          const recs: LogRecord[] = [];
          decodeRecords(buf, b, h, 0, recs, Infinity);
          for (const r of recs) if (r.timestamp >= ts) return r.offset;
        }
        b += h.size;
      }
      if (b === 0) break;
      pos += b;
    }
  }
  return end;
}
