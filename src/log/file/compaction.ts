// Log compaction: in the closed segments of a compacted topic, keep only the
// newest record per key; drop tombstones (null values) once they are older than
// deleteRetentionMs, so consumers that were behind still see the delete.
// Offsets are preserved (each kept record keeps its offset; gaps remain).
//
// When: like Kafka's log cleaner. The segments up to the end of the last run
// are clean (no key twice among them); those after are dirty. A run is due
// when the dirty bytes are at least minCleanableDirtyRatio of the compactable
// bytes (clean + dirty), so each run reads about as much new data as it
// rereads old, and compaction costs in proportion to the bytes written instead
// of the log's size at every segment roll. A run is also due when a tombstone
// kept by the last run has expired, so an idle topic still sheds its deletes.
// The bookkeeping is in memory: after a restart the whole log is dirty.
//
// How: the newest offset per key is collected from the dirty segments only;
// then every compactable segment is filtered with it (a clean record survives
// unless its key was written again since). Segments that lose records are
// rewritten, and adjacent ones merged up to segmentBytes, into
// `<first file>.cleaned`, fsynced, and renamed over the first: a crash leaves
// either the old file or the new one, and leftover `.cleaned` files are
// deleted on open, as are segments a merge had taken in (see replaceSegments).
//
// Segments stay contiguous (segment-continuity.ts): a rewritten file ends with
// a gap batch up to the next segment's base offset, even when its last records
// were removed, and a segment that loses every record is merged into its
// neighbours rather than deleted, so a missing segment is always damage. Gap
// batches inside a merged file say nothing (offsets in a compacted segment may
// skip), so a rewrite drops them and writes only the trailing one.

import fs from 'node:fs';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, decodeRecords, encodeBatch, encodeGapBatch, isGapBatch, type BatchHeader } from '../batch.ts';
import type { LogRecord } from '../../record.ts';
import type { Partition } from './partition.ts';
import { Segment } from './segment.ts';
import { indexPath, timeIndexPath } from './segment-index.ts';
import { scanBatches } from './scan.ts';
import { fsyncDir } from './io.ts';
import { markContiguousIfSo } from './segment-continuity.ts';

/** What compaction remembers about a partition between runs. */
export interface CleanerState {
  /** Offsets below this were compacted by the last run (always a segment boundary). */
  cleanEnd: number;
  /** Append time of the oldest tombstone the last run kept; Infinity when none. */
  oldestTombstone: number;
  /** The `now` of the last run. */
  lastRun: number;
  /** How many runs read the log (for tests and diagnostics). */
  runs: number;
}

export function newCleanerState(): CleanerState {
  return { cleanEnd: 0, oldestTombstone: Infinity, lastRun: -Infinity, runs: 0 };
}

function keyString(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1');
}

async function eachBatch(p: Partition, seg: Segment, visit: (h: BatchHeader, records: LogRecord[], raw: Buffer) => void): Promise<void> {
  const scan = await seg.withFd((fd) =>
    scanBatches(fd, 0, seg.size, seg.baseOffset, (h, _pos, buf, bufPos) => {
      const records: LogRecord[] = [];
      if ((h.attributes & ATTR_CONTROL) === 0) decodeRecords(buf, bufPos, h, 0, records, Infinity);
      visit(h, records, buf.subarray(bufPos, bufPos + h.size));
    }),
  );
  const damage = scan.corrupt[0]?.position ?? scan.tornAt;
  if (damage !== null) {
    // Rewriting would drop the damaged bytes silently; left alone, reads keep reporting them.
    throw new SluiceError(
      ErrorCodes.CORRUPT_RECORD,
      `compaction of ${p.where()} stopped: ${seg.path} is damaged at byte ${damage}; the segment was left as it is`,
      { topic: p.topic, partition: p.partition, file: seg.path, position: damage },
    );
  }
}

/**
 * Records of transactions not committed (aborted, or still in flight) neither
 * count as a key's newest value nor survive: an in-flight transaction that
 * later aborts must not have displaced the value before it.
 */
function committed(p: Partition, h: BatchHeader): boolean {
  if ((h.attributes & ATTR_TRANSACTIONAL) === 0 || p.visibility === null) return true;
  return p.visibility(h.producerId, h.producerEpoch, h.baseSequence) === 'committed';
}

function bytes(segs: readonly Segment[]): number {
  let n = 0;
  for (const s of segs) n += s.size;
  return n;
}

/**
 * The compactable segments (closed, and below the last stable offset, as
 * segments past it hold undecided transactions), split at the clean end; null
 * when no run is due. Reads nothing, so a check with nothing to do is cheap.
 */
export function cleaningPlan(p: Partition, now: number): { clean: Segment[]; dirty: Segment[] } | null {
  const st = p.cleaner;
  const lso = p.lastStableOffset;
  const segs = p.segments;
  const clean: Segment[] = [];
  const dirty: Segment[] = [];
  for (let i = 0; i < segs.length - 1 && segs[i]!.nextOffset <= lso; i++) (segs[i]!.nextOffset <= st.cleanEnd ? clean : dirty).push(segs[i]!);
  const dirtyBytes = bytes(dirty);
  const ratioDue = dirtyBytes > 0 && dirtyBytes >= p.config.file.minCleanableDirtyRatio * (dirtyBytes + bytes(clean));
  // At most every deleteRetentionMs / 2: a steady stream of expiring tombstones must not reread the log every minute.
  const retention = p.config.deleteRetentionMs;
  const tombstonesDue = clean.length > 0 && st.oldestTombstone < now - retention && now - st.lastRun >= retention / 2;
  return ratioDue || tombstonesDue ? { clean, dirty } : null;
}

/** Compacts the closed segments of `p` if a run is due. Returns how many records were removed. */
export async function compactPartition(p: Partition, now: number): Promise<number> {
  const plan = cleaningPlan(p, now);
  if (plan === null) return 0;
  const segs = [...plan.clean, ...plan.dirty];
  // Taken before any rewrite: a rewritten segment may end earlier (its last records dropped).
  const cleanEnd = Math.max(p.cleaner.cleanEnd, segs[segs.length - 1]!.nextOffset);
  const latest = new Map<string, number>();
  for (const seg of plan.dirty) {
    await eachBatch(p, seg, (h, records) => {
      if (!committed(p, h)) return;
      for (const r of records) if (r.key) latest.set(keyString(r.key), r.offset);
    });
  }
  const tombstoneHorizon = now - p.config.deleteRetentionMs;
  let oldestTombstone = Infinity;
  let removed = 0;
  let rewrote = false;
  // Adjacent segments are merged up to segmentBytes, so runs do not leave ever more small files.
  // `end`: the offset after the last batch kept, where the trailing gap batch starts.
  let group: Group = { segs: [], out: [], bytes: 0, changed: false, end: 0 };
  const flush = async () => {
    const last = group.segs[group.segs.length - 1];
    if (last) {
      const next = p.segments[p.segments.indexOf(last) + 1]!; // the active segment is never compacted
      // Also a file left by an older release that ends before the next one begins: closing its gap upgrades the dir.
      if (group.segs.length > 1 || group.changed || last.nextOffset < next.baseOffset) {
        await replaceSegments(p, group.segs, withTrailingGap(group, next.baseOffset));
        rewrote = true;
      }
    }
    group = { segs: [], out: [], bytes: 0, changed: false, end: 0 };
  };
  for (const seg of segs) {
    const out: Buffer[] = [];
    let dropped = 0;
    let gaps = 0;
    let end = 0;
    await eachBatch(p, seg, (h, records, raw) => {
      if (isGapBatch(h)) {
        gaps++; // rewritten only at the end of a file (above)
        return;
      }
      if (h.attributes & ATTR_CONTROL) {
        out.push(Buffer.from(raw)); // other control batches are kept as they are
        end = h.baseOffset + h.lastOffsetDelta + 1;
        return;
      }
      const live = committed(p, h);
      const expired = h.appendTime < tombstoneHorizon;
      const kept = records.filter((r) => {
        if (!live || r.key === null) return false;
        // Not in the map: a clean record whose key was not written since.
        const newest = latest.get(keyString(r.key));
        return (newest === undefined || newest === r.offset) && !(r.value === null && expired);
      });
      if (kept.some((r) => r.value === null) && h.appendTime < oldestTombstone) oldestTombstone = h.appendTime;
      dropped += records.length - kept.length;
      if (kept.length === records.length) {
        out.push(Buffer.from(raw));
        end = h.baseOffset + h.lastOffsetDelta + 1;
      } else if (kept.length > 0) {
        out.push(
          encodeBatch(kept, {
            baseOffset: h.baseOffset,
            appendTime: h.appendTime,
            attributes: h.attributes,
            producer: h.producerId >= 0 ? { producerId: h.producerId, producerEpoch: h.producerEpoch, baseSequence: h.baseSequence } : undefined,
            offsetDeltas: kept.map((r) => r.offset - h.baseOffset),
          }),
        );
        end = kept[kept.length - 1]!.offset + 1;
      }
    });
    removed += dropped;
    let bytes = 0;
    for (const b of out) bytes += b.length;
    if (group.segs.length > 0 && group.bytes + bytes > p.config.file.segmentBytes) await flush();
    group.segs.push(seg);
    group.out.push(...out);
    group.bytes += bytes;
    // A segment left with nothing but gaps is merged into a neighbour (0 bytes always fit) or rewritten as one gap.
    group.changed ||= dropped > 0 || (out.length === 0 && gaps > 1);
    if (out.length > 0) group.end = end;
  }
  await flush();
  if (rewrote) fsyncDir(p.dir);
  // Only once the rewrites are durable: the marker must never claim what a crash could undo.
  markContiguousIfSo(p.dir, p.segments);
  p.cleaner = { cleanEnd, oldestTombstone, lastRun: now, runs: p.cleaner.runs + 1 };
  return removed;
}

interface Group {
  segs: Segment[];
  out: Buffer[];
  bytes: number;
  changed: boolean;
  end: number;
}

/**
 * The group's batches, then a gap batch up to `nextBase` where the kept records end before it.
 * Its times are the group's own (newest append, newest timestamp): retention by age and seeks
 * by time treat the file as they treated the segments it replaces.
 */
function withTrailingGap(group: Group, nextBase: number): Buffer[] {
  const from = Math.max(group.end, group.segs[0]!.baseOffset);
  if (from >= nextBase) return group.out;
  let appendTime = -Infinity;
  let maxTimestamp = -Infinity;
  for (const s of group.segs) {
    if (s.lastAppendTime > appendTime) appendTime = s.lastAppendTime;
    if (s.maxTimestamp > maxTimestamp) maxTimestamp = s.maxTimestamp;
  }
  if (!Number.isFinite(appendTime)) appendTime = Date.now();
  if (!Number.isFinite(maxTimestamp)) maxTimestamp = appendTime;
  return [...group.out, encodeGapBatch(from, nextBase, appendTime, maxTimestamp)];
}

/**
 * Replaces `segs` (adjacent) with one file under the first one's name holding
 * `batches`. A crash after the rename but before the others are deleted leaves
 * them overlapping the first one's offsets: Partition.open deletes them.
 */
async function replaceSegments(p: Partition, segs: Segment[], batches: Buffer[]): Promise<void> {
  const first = segs[0]!;
  const cleaned = first.path + '.cleaned';
  const fd = fs.openSync(cleaned, 'w');
  try {
    for (const b of batches) fs.writeSync(fd, b);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  // The old index must not outlive the rename: a merged file may be as large as the old one (its
  // index would pass for current), and a smaller one would look truncated (its index covers more).
  for (const f of [indexPath(first.path), timeIndexPath(first.path)]) fs.rmSync(f, { force: true });
  fsyncDir(p.dir);
  fs.renameSync(cleaned, first.path);
  const { segment } = await Segment.open(first.path, first.baseOffset, { writable: true, full: true, files: p.files });
  segment.persistIndex();
  p.segments = p.segments.flatMap((s) => (s === first ? [segment] : segs.includes(s) ? [] : [s]));
  first.close();
  for (const s of segs.slice(1)) s.delete();
}
