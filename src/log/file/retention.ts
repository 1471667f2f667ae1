// Retention deletes whole segments from the head of a partition, never the
// active one: by age (the segment's newest append is older than retentionMs)
// and by size (the partition stays larger than retentionBytes without it).
// Log.deleteRecords deletes them the same way, up to an offset its caller gives.

import type { Partition } from './partition.ts';

/** Deletes the segments whose records are all before `offset` (Log.deleteRecords), never the active one; returns the start offset after it. */
export function deleteBefore(p: Partition, offset: number): number {
  let drop = 0;
  while (drop < p.segments.length - 1 && p.segments[drop]!.nextOffset <= offset) drop++;
  if (drop > 0) dropHead(p, drop);
  return p.startOffset;
}

/** Returns the number of segments deleted. */
export function applyRetention(p: Partition, now: number): number {
  const { retentionMs, retentionBytes } = p.config;
  if (retentionMs === null && retentionBytes === null) return 0;
  let total = 0;
  for (const s of p.segments) total += s.size;
  let drop = 0;
  while (drop < p.segments.length - 1) {
    const s = p.segments[drop]!;
    const expired = retentionMs !== null && s.lastAppendTime < now - retentionMs;
    const oversize = retentionBytes !== null && total - s.size >= retentionBytes;
    if (!expired && !oversize) break;
    total -= s.size;
    drop++;
  }
  if (drop > 0) dropHead(p, drop);
  return drop;
}

function dropHead(p: Partition, drop: number): void {
  const doomed = p.segments.slice(0, drop);
  p.segments = p.segments.slice(drop);
  for (const s of doomed) s.delete();
}
