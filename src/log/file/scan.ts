// Walks the batches of a segment file, verifying each one's CRC. Used to
// recover the active segment after a crash, to rebuild lost indexes, and by
// readers in other processes to find how far the file is complete.
//
// The hard question at a bad batch is: torn tail or corruption? A crash can
// only tear the end of the file (appends are sequential), so if a valid batch
// with a later offset still follows the bad bytes, the damage is in the middle
// and must be reported, never truncated away. Otherwise it is a torn tail.

import { MAGIC, MAX_BATCH_BYTES, readBatchHeader, type BatchHeader, type BatchProblem, BATCH_HEADER_SIZE } from '../batch.ts';
import fs from 'node:fs';
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
  /** What was wrong with the bytes at tornAt. */
  tornKind?: BatchProblem;
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
    pos += p;
    if (problem === 'short' && pos + BATCH_HEADER_SIZE <= fileSize) {
      // The batch at `pos` runs past the end of this chunk, though the file holds more.
      const avail = buf.length - p;
      if (avail < BATCH_HEADER_SIZE) {
        if (p > 0) continue; // only its header straddles: re-read from its start
      } else {
        const size = buf.readUInt32BE(p) + 4;
        if (size > avail && pos + size <= fileSize) {
          // Re-read from its start, whole if it is larger than a chunk (a batch may be up to
          // MAX_BATCH_BYTES): also when it starts a chunk, or a big batch would look torn.
          if (p > 0 && size <= CHUNK) continue;
          const big = await readFully(fd, size, pos);
          const h = readBatchHeader(big, 0, big.length);
          if (typeof h !== 'string') {
            visit(h, pos, big, 0);
            nextOffset = h.baseOffset + h.lastOffsetDelta + 1;
            pos += h.size;
            continue;
          }
          problem = h;
        }
      }
    }
    const resume = await findNextValidBatch(fd, pos + 1, fileSize, nextOffset);
    if (resume === null) return { validSize: pos, nextOffset, corrupt, tornAt: pos, tornKind: problem };
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

/**
 * The synchronous twin of findNextValidBatch, for a reader that meets damage the
 * open-time scan did not see (a closed segment is opened from its index, so its
 * middle is not scanned). Returns the first complete, valid batch after `from`.
 */
export function findNextValidBatchSync(fd: number, from: number, end: number, minOffset: number): { position: number; offset: number } | null {
  const read = (length: number, position: number): Buffer => {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  };
  let pos = from;
  while (pos + BATCH_HEADER_SIZE <= end) {
    const buf = read(Math.min(CHUNK, end - pos), pos);
    if (buf.length < BATCH_HEADER_SIZE) break;
    for (let i = 0; i + BATCH_HEADER_SIZE <= buf.length; i++) {
      if (buf[i + 8] !== MAGIC) continue;
      const size = buf.readUInt32BE(i) + 4;
      if (size < BATCH_HEADER_SIZE || pos + i + size > end) continue;
      const whole = i + size <= buf.length ? buf : read(size, pos + i);
      const h = readBatchHeader(whole, whole === buf ? i : 0, whole.length);
      if (typeof h !== 'string' && h.baseOffset >= minOffset) return { position: pos + i, offset: h.baseOffset };
    }
    pos += Math.max(1, buf.length - BATCH_HEADER_SIZE + 1);
  }
  return null;
}

/** What is wrong with the batch at `position` ('crc' when the bytes there now look fine). */
export function problemAtSync(fd: number, position: number, end: number): BatchProblem {
  const head = Buffer.allocUnsafe(Math.min(BATCH_HEADER_SIZE, Math.max(0, end - position)));
  const n = head.length > 0 ? fs.readSync(fd, head, 0, head.length, position) : 0;
  if (n < BATCH_HEADER_SIZE) return 'short';
  const size = head.readUInt32BE(0) + 4;
  if (size > BATCH_HEADER_SIZE && position + size <= end && size <= MAX_BATCH_BYTES + 4) {
    const whole = Buffer.allocUnsafe(size);
    const got = fs.readSync(fd, whole, 0, size, position);
    const h = readBatchHeader(whole.subarray(0, got), 0, got);
    return typeof h === 'string' ? h : 'crc';
  }
  const h = readBatchHeader(head, 0, end - position);
  return typeof h === 'string' ? h : 'crc';
}
