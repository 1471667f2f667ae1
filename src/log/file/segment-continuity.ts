// Whether a partition's segments are contiguous: each closed segment's records
// (and gaps) end exactly where the next segment begins. Rolls always leave
// them so, and so does retention (it deletes from the head). Compaction used to
// leave gaps (a rewritten segment ended at its last kept record; an emptied one
// was deleted), so a deleted middle segment of a compacted topic could not be
// told from its work. Compaction now ends each rewritten segment with a gap
// batch up to the next segment's base and never deletes a segment outright, so
// a gap between segments is damage in every topic.
//
// Directories written before that may hold legitimate gaps, so the check is
// only made where the partition says it holds: the `contiguous` file in the
// partition dir, written at topic creation (for compacted topics) and after the
// first compaction run that leaves the segments contiguous (an older dir is
// upgraded there). It is only ever written when it is true, and every step of a
// roll, a retention delete or a compaction merge keeps it true, so a crash
// anywhere cannot make it a false alarm. A non-compacted topic is judged
// contiguous with or without it.

import fs from 'node:fs';
import { join } from 'node:path';
import { replaceFile } from './json-frames.ts';

const MARKER = 'contiguous';
const TEXT = 'The segments of this partition are contiguous: a gap between two of them is damage (see docs/log.md).\n';

export function continuityMarkerPath(dir: string): string {
  return join(dir, MARKER);
}

/** Whether a gap between two segments of this partition is damage. */
export function gapsAreDamage(dir: string, compact: boolean): boolean {
  return !compact || fs.existsSync(continuityMarkerPath(dir));
}

/** Writes the marker into a partition dir being built (the caller syncs the dir). */
export function writeContinuityMarker(dir: string): void {
  fs.writeFileSync(continuityMarkerPath(dir), TEXT);
}

/** Each segment ends where the next begins. */
export function segmentsContiguous(segments: readonly { baseOffset: number; nextOffset: number }[]): boolean {
  for (let i = 0; i + 1 < segments.length; i++) if (segments[i]!.nextOffset !== segments[i + 1]!.baseOffset) return false;
  return true;
}

/**
 * After a compaction run whose changes are durable: records that the segments are contiguous,
 * if they are and it is not yet recorded (an older dir upgraded).
 */
export function markContiguousIfSo(dir: string, segments: readonly { baseOffset: number; nextOffset: number }[]): void {
  if (fs.existsSync(continuityMarkerPath(dir)) || !segmentsContiguous(segments)) return;
  replaceFile(continuityMarkerPath(dir), Buffer.from(TEXT));
}
