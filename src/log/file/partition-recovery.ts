// Torn tail or damage? What a writer decides about a partition's segments on
// open, before it changes anything.
//
// A crash can only tear the unsynced end of the last segment: the bytes after
// its last fsync point. Whether bytes were synced is known only from durable
// evidence, and each piece of evidence is a lower bound of what must be there:
//
// - the `hw` file's synced end (watermark-file.ts): published only after the
//   data below it was fdatasynced, under every fsync policy;
// - a segment's persisted index: written only after the bytes it covers were
//   fdatasynced (at a roll, a clean close, after recovery);
// - the transaction log's committed ends (the records its commits wrote),
//   from the FileLog; not committed offsets, which may name any offset. With fsync
//   `interval` or `never` a transaction's records were not synced at its
//   commit, so after a power loss these can exceed the data without damage;
//   they are trusted anyway, because losing committed records silently is
//   worse than asking the user to confirm a loss that power loss explains.
//
// Not evidence: the `hw` file's high watermark (with `interval`/`never` it
// covers page-cache data a power loss may take), file sizes, or the scan
// itself. So under `interval`/`never`, acknowledged records written after the
// last sync point can vanish in a power loss without a report: that is what
// those policies trade for speed.
//
// Anything short of the evidence is damage. So is a closed segment that ends
// in a torn batch, is shorter than its index says, or ends before the next
// segment begins (a deleted segment; in a compacted partition only where it is
// known to be contiguous, as compaction by older releases left such gaps:
// segment-continuity.ts). Damage in the middle
// of a segment (a bad batch with valid batches after it) is not judged here:
// nothing needs truncating for it, and reads report it with CORRUPT_RECORD.
//
// A repair truncates the segment to its last whole batch and writes a gap
// batch over the lost offsets, so they are never handed out again: readers and
// consumer groups that were past them stay consistent.

import fs from 'node:fs';
import { join } from 'node:path';
import { encodeGapBatch } from '../batch.ts';
import type { FileLogTopicConfig } from '../log.ts';
import type { Damage } from './damage.ts';
import { fsyncDir } from './io.ts';
import { segmentFileName, type OpenedSegment } from './segment.ts';
import { indexPath, timeIndexPath } from './segment-index.ts';
import { writeWatermarkFile } from './watermark-file.ts';
import { removeProducerSnapshot } from './producer-state.ts';
import { replaceFile } from './json-frames.ts';
import { writeContinuityMarker } from './segment-continuity.ts';

/** Something durable saying offsets below `end` existed; `source` names it for messages. */
export interface EndEvidence {
  end: number;
  source: string;
}

export interface RecoveryTarget {
  topic: string;
  partition: number;
  dir: string;
  config: FileLogTopicConfig;
}

/**
 * The damage among a partition's segments (oldest first), judged against the evidence.
 * `midSegment` (only `sluice repair`, which scans every segment in full): also bad batches
 * with valid ones after them, which a writer leaves for reads to report (CORRUPT_RECORD).
 * `gapsAreDamage`: whether a segment ending before the next one begins is (segment-continuity.ts).
 */
export function findDamage(
  p: RecoveryTarget,
  opened: readonly OpenedSegment[],
  evidence: readonly EndEvidence[],
  opts: { midSegment: boolean; gapsAreDamage: boolean },
): Damage[] {
  const out: Damage[] = [];
  if (opts.midSegment) for (const o of opened) if (o.scan.corrupt.some((c) => Number.isFinite(c.resumeOffset))) out.push(corruptBatchesDamage(p, o));
  for (let i = 0; i + 1 < opened.length; i++) {
    const d = closedSegmentDamage(p, opened[i]!, opened[i + 1]!.segment.baseOffset, opts.gapsAreDamage);
    if (d) out.push(d);
  }
  const last = opened[opened.length - 1];
  const d = last ? activeSegmentDamage(p, last, evidence) : missingPartitionDamage(p, evidence);
  if (d) out.push(d);
  return out;
}

function closedSegmentDamage(p: RecoveryTarget, o: OpenedSegment, nextBase: number, gapsAreDamage: boolean): Damage | null {
  const seg = o.segment;
  const problems: string[] = [];
  if (o.wholeEnd < o.fileSize) problems.push(`bytes ${o.wholeEnd}-${o.fileSize} at its end are not a whole batch`);
  if (o.indexed !== null && o.indexed > o.fileSize) problems.push(`it is ${o.fileSize} bytes long but its index says ${o.indexed} were written and synced`);
  const gap = seg.nextOffset < nextBase;
  if (gap && gapsAreDamage) problems.push(`its records end at offset ${seg.nextOffset} but the next segment starts at ${nextBase}: no segment file holds offsets ${seg.nextOffset}-${nextBase - 1}`);
  if (problems.length === 0) return null;
  // A compacted segment's offsets were not all records: say so, not "N records lost".
  const lost = gap ? `${offsets(p, seg.nextOffset, nextBase)}${p.config.compact ? ' (the records compaction had kept of them)' : ''}` : `the records in bytes ${o.wholeEnd}-${Math.max(o.fileSize, o.indexed ?? 0)}`;
  return damage(p, o, `closed segment of ${p.topic}/${p.partition}: ${problems.join('; ')}`, lost, gap ? nextBase : null, false);
}

function activeSegmentDamage(p: RecoveryTarget, o: OpenedSegment, evidence: readonly EndEvidence[]): Damage | null {
  const seg = o.segment;
  const claims: string[] = [];
  if (o.indexed !== null && o.indexed > o.wholeEnd) claims.push(`its index says ${o.indexed} bytes were written and synced`);
  let end = seg.nextOffset;
  for (const e of evidence) {
    if (e.end <= seg.nextOffset) continue;
    claims.push(`${e.source} says offsets below ${e.end} existed`);
    end = Math.max(end, e.end);
  }
  if (claims.length === 0) return null;
  const tail = o.wholeEnd < o.fileSize ? `, followed by ${o.fileSize - o.wholeEnd} bytes that are not a whole batch` : '';
  const problem = `the last segment of ${p.topic}/${p.partition} ends after byte ${o.wholeEnd} (offset ${seg.nextOffset})${tail}, but ${claims.join(', and ')}`;
  const lost = end > seg.nextOffset ? `${offsets(p, seg.nextOffset, end)} (at least ${end - seg.nextOffset} records) acknowledged and now missing` : `the acknowledged records in bytes ${o.wholeEnd}-${o.indexed} (offsets from ${seg.nextOffset} on)`;
  return damage(p, o, problem, lost, end > seg.nextOffset ? end : null, true);
}

/** No segment file at all, where evidence says records existed. */
function missingPartitionDamage(p: RecoveryTarget, evidence: readonly EndEvidence[]): Damage | null {
  const e = evidence.reduce<EndEvidence | null>((a, b) => (b.end > (a?.end ?? 0) ? b : a), null);
  if (!e) return null;
  return {
    file: p.dir,
    problem: `${p.topic}/${p.partition} has no segment files, but ${e.source} says offsets below ${e.end} existed`,
    loss: `${offsets(p, 0, e.end)} (every record of the partition)`,
    action: `start the partition afresh at offset ${e.end}`,
    repair: () => {
      fs.mkdirSync(p.dir, { recursive: true });
      fs.closeSync(fs.openSync(join(p.dir, segmentFileName(e.end)), 'w'));
      if (p.config.compact) writeContinuityMarker(p.dir); // one segment: contiguous
      writeWatermarkFile(p.dir, { highWatermark: e.end, lastStableOffset: e.end, syncedEnd: e.end });
      fsyncDir(p.dir);
    },
  };
}

/**
 * Bad batches inside a segment: the repair rewrites it (tmp + rename) with a gap batch in place
 * of each bad range, so its offsets read as lost, are never reused, and the batches after it stay.
 */
function corruptBatchesDamage(p: RecoveryTarget, o: OpenedSegment): Damage {
  const path = o.segment.path;
  const bad = o.scan.corrupt.filter((c) => Number.isFinite(c.resumeOffset));
  const ranges = bad.map((c) => offsets(p, c.offset, c.resumeOffset));
  return {
    file: path,
    problem: `bad batches in ${p.topic}/${p.partition} with valid ones after them: ${bad.map((c) => `${c.kind} check failed at byte ${c.position} (offset ${c.offset})`).join(', ')}`,
    loss: `${ranges.join(', ')} (the records of the bad batches)`,
    action: `rewrite ${path} with the bad bytes replaced by a mark that ${ranges.join(', ')} are lost, so they are never reused`,
    repair: () => {
      const buf = fs.readFileSync(path);
      const parts: Buffer[] = [];
      let at = 0;
      for (const c of bad) {
        parts.push(buf.subarray(at, c.position), encodeGapBatch(c.offset, c.resumeOffset, Date.now()));
        at = c.resumeAt;
      }
      parts.push(buf.subarray(at));
      // Derived from the segment: gone before it changes, so no index outlives the bytes it describes.
      for (const f of [indexPath(path), timeIndexPath(path)]) fs.rmSync(f, { force: true });
      replaceFile(path, Buffer.concat(parts));
      removeProducerSnapshot(p.dir); // it may name a batch the gap replaced
    },
  };
}

function offsets(p: RecoveryTarget, from: number, to: number): string {
  return `offsets ${from}-${to - 1} of ${p.topic}/${p.partition}`;
}

/** Truncate to the last whole batch; with `gapTo`, mark the offsets up to it as lost. */
function damage(p: RecoveryTarget, o: OpenedSegment, problem: string, loss: string, gapTo: number | null, last: boolean): Damage {
  const seg = o.segment;
  const path = seg.path;
  const from = seg.nextOffset;
  const gap = gapTo !== null && gapTo > from;
  const action = `truncate ${path} to byte ${o.wholeEnd}${gap ? ` and mark offsets ${from}-${gapTo - 1} as lost, so they are never reused` : ''}`;
  return {
    file: path,
    problem,
    loss,
    action,
    repair: () => {
      const fd = fs.openSync(path, 'r+');
      try {
        fs.ftruncateSync(fd, o.wholeEnd);
        if (gap) fs.writeSync(fd, encodeGapBatch(from, gapTo, Date.now()), 0, undefined, o.wholeEnd);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      // Derived from the segment: the next open rebuilds them from what is now there.
      for (const f of [indexPath(path), timeIndexPath(path)]) fs.rmSync(f, { force: true });
      // It may name batches the truncation cut: rebuilt from the segments that remain.
      removeProducerSnapshot(p.dir);
      if (gap && last) writeWatermarkFile(p.dir, { highWatermark: gapTo, lastStableOffset: gapTo, syncedEnd: gapTo });
      fsyncDir(p.dir);
    },
  };
}
