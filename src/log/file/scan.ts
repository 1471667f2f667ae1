// Walks the batches of a segment file, verifying each one's CRC. Used to
// recover the active segment after a crash, to rebuild lost indexes, and by
// readers in other processes to find how far the file is complete.
//
// The hard question at a bad batch is: torn tail or corruption? A crash can
// only tear the end of the file (appends are sequential), so if a valid batch
// with a later offset still follows the bad bytes, the damage is in the middle
// and must be reported, never truncated away. Otherwise it is a torn tail.

import { MAGIC, readBatchHeader, type BatchHeader, type BatchProblem, BATCH_HEADER_SIZE } from '../batch.ts';
import { readFully } from './io.ts';

const CHUNK = 4 * 1024 * 1024;

export interface ScanProblem {
  kind: BatchProblem;
  /** Where the bad bytes start. */
  position: number;
  /** The offset the bad batch should have started at. */
  offset: number;
  /** Position of the next valid batch after the damage. */
  resumeAt: number;
  /** Base offset of that batch: offsets in [offset, resumeOffset) are lost to the damage. */
  resumeOffset: number;
}

export interface ScanResult {
  /** End of the last valid batch before any torn tail. */
  validSize: number;
  /** Offset after the last valid batch. */
  nextOffset: number;
  /** Damage followed by valid data: reported to readers, never truncated. */
  corrupt: ScanProblem[];
  /** Set when the file ends in bytes that are not a whole valid batch. */
  tornAt: number | null;
}

export type BatchVisitor = (h: BatchHeader, position: number, buf: Buffer, bufPos: number) => void;

/**
 * Scans from `position` (a batch boundary) to `fileSize`. `expectedOffset` is
 * the offset the first batch should start at (for error reports).
 */
export async function scanBatches(
  fd: number,
  position: number,
  fileSize: number,
  expectedOffset: number,
  visit: BatchVisitor,
): Promise<ScanResult> {
  const corrupt: ScanProblem[] = [];
  let nextOffset = expectedOffset;
  let pos = position;
  while (pos < fileSize) {
    const want = Math.min(CHUNK, fileSize - pos);
    const buf = await readFully(fd, want, pos);
    let p = 0;
    let problem: BatchProblem | null = null;
    while (p < buf.length) {
      const h = readBatchHeader(buf, p, buf.length);
      if (typeof h === 'string') {
        problem = h;
        break;
      }
      visit(h, pos + p, buf, p);
      nextOffset = h.baseOffset + h.lastOffsetDelta + 1;
      p += h.size;
    }
    if (problem === null) {
      pos += p;
      continue;
    }
    if (problem === 'short' && p > 0) {
      // The batch straddles the chunk end: re-read from its start (it may be larger than CHUNK).
      pos += p;
      if (pos + BATCH_HEADER_SIZE <= fileSize) {
        const size = buf.readUInt32BE(p) + 4;
        if (size > CHUNK && pos + size <= fileSize) {
          const big = await readFully(fd, size, pos);
          const h = readBatchHeader(big, 0, big.length);
          if (typeof h !== 'string') {
            visit(h, pos, big, 0);
            nextOffset = h.baseOffset + h.lastOffsetDelta + 1;
            pos += h.size;
            continue;
          }
          problem = h;
        } else continue;
      } else {
        problem = 'short';
      }
    } else {
      pos += p;
    }
    const resume = await findNextValidBatch(fd, pos + 1, fileSize, nextOffset);
    if (resume === null) return { validSize: pos, nextOffset, corrupt, tornAt: pos };
    corrupt.push({ kind: problem, position: pos, offset: nextOffset, resumeAt: resume.position, resumeOffset: resume.offset });
    pos = resume.position;
  }
  return { validSize: pos, nextOffset, corrupt, tornAt: null };
}

/**
 * Searches for a position holding a complete batch with a valid CRC whose base
 * offset is at least `minOffset`. Byte-by-byte, but only ever run on damage.
 */
async function findNextValidBatch(
  fd: number,
  from: number,
  fileSize: number,
  minOffset: number,
): Promise<{ position: number; offset: number } | null> {
  let pos = from;
  while (pos + BATCH_HEADER_SIZE <= fileSize) {
    const buf = await readFully(fd, Math.min(CHUNK, fileSize - pos), pos);
    for (let i = 0; i + BATCH_HEADER_SIZE <= buf.length; i++) {
      if (buf[i + 8] !== MAGIC) continue;
      const size = buf.readUInt32BE(i) + 4;
      if (size < BATCH_HEADER_SIZE || pos + i + size > fileSize) continue;
      const whole = i + size <= buf.length ? buf : await readFully(fd, size, pos + i);
      const at = whole === buf ? i : 0;
      const h = readBatchHeader(whole, at, whole.length);
      if (typeof h !== 'string' && h.baseOffset >= minOffset) return { position: pos + i, offset: h.baseOffset };
    }
    pos += Math.max(1, buf.length - BATCH_HEADER_SIZE);
  }
  return null;
}
