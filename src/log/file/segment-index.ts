// Sparse indexes of one segment: every ~4 KiB of log an entry records the
// (relative offset, file position) of a batch start and the largest timestamp
// seen before it. Lookups find the nearest entry at or below the target and
// scan forward from there, so indexes stay tiny and are cheap to rebuild.
//
// Persisted as two files beside the segment: `.index` (offset → position) and
// `.timeindex` (timestamp → offset). Both carry the segment size they cover; a
// file whose covered size differs from the segment's is stale and is rebuilt.
//
// An index is derived data: it is never trusted over the segment. A missing,
// damaged or stale one is rebuilt from the segment; nothing is lost with it, but
// a closed segment's bad index (or a malformed active one) is damage to the
// disk, so a warning names it (indexProblems). The one thing recovery takes from it is its covered size
// (CRC-checked with the rest): an index is only written after the bytes it
// covers were fdatasynced, so a segment shorter than that lost acknowledged
// data (see partition-recovery.ts).

import { closeSync, openSync, readFileSync, writeSync, fsyncSync, renameSync, rmSync } from 'node:fs';
import { fileError } from './file-errors.ts';
import { crc32c } from '../../util/crc32c.ts';

export const INDEX_INTERVAL_BYTES = 4096;
const INDEX_MAGIC = 0x534c4958; // "SLIX"
const TIME_MAGIC = 0x534c5458; // "SLTX"
// magic u32 | segment base offset f64 | coveredSize f64 | count u32 | crc u32 (of everything but itself).
// The base offset keeps an index copied beside another segment from passing as its own.
const HEADER = 28;
const CRC_AT = 24;

export class SegmentIndex {
  relOffsets: number[] = [];
  positions: number[] = [];
  /** Largest record timestamp before positions[i]; -Infinity for the first entry. */
  maxTsBefore: number[] = [];
  private bytesSinceEntry = Infinity;

  get length(): number {
    return this.relOffsets.length;
  }

  /** Called for every batch appended at `position`; adds an entry when the interval has passed. */
  onBatch(relOffset: number, position: number, maxTsBefore: number, batchSize: number): void {
    if (this.bytesSinceEntry >= INDEX_INTERVAL_BYTES) {
      this.relOffsets.push(relOffset);
      this.positions.push(position);
      this.maxTsBefore.push(maxTsBefore);
      this.bytesSinceEntry = 0;
    }
    this.bytesSinceEntry += batchSize;
  }

  /** File position of the last indexed batch starting at or before relOffset (0 if none). */
  positionFor(relOffset: number): number {
    const a = this.relOffsets;
    let lo = 0;
    let hi = a.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= relOffset) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best < 0 ? 0 : this.positions[best]!;
  }

  /** File position from which a scan finds the first record with timestamp >= ts. */
  positionForTime(ts: number): number {
    const a = this.maxTsBefore;
    let lo = 0;
    let hi = a.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < ts) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best < 0 ? 0 : this.positions[best]!;
  }

  /** Drops entries at or past `position` (after truncating a torn tail). */
  truncateTo(position: number): void {
    let n = this.positions.length;
    while (n > 0 && this.positions[n - 1]! >= position) n--;
    this.relOffsets.length = n;
    this.positions.length = n;
    this.maxTsBefore.length = n;
    this.bytesSinceEntry = Infinity;
  }

  /** Writes both index files (via temp file + rename, so a crash leaves old or new, never half). */
  persist(logPath: string, coveredSize: number): void {
    const n = this.length;
    const idx = Buffer.alloc(HEADER + n * 8);
    const tim = Buffer.alloc(HEADER + n * 12);
    for (let i = 0; i < n; i++) {
      idx.writeUInt32BE(this.relOffsets[i]!, HEADER + i * 8);
      idx.writeUInt32BE(this.positions[i]!, HEADER + i * 8 + 4);
      tim.writeDoubleBE(this.maxTsBefore[i]!, HEADER + i * 12);
      tim.writeUInt32BE(this.relOffsets[i]!, HEADER + i * 12 + 8);
    }
    writeIndexFile(indexPath(logPath), idx, INDEX_MAGIC, coveredSize, n, baseOf(logPath));
    writeIndexFile(timeIndexPath(logPath), tim, TIME_MAGIC, coveredSize, n, baseOf(logPath));
  }

  /** Loads both files; null when either is missing, damaged, or covers a different segment size. */
  static load(logPath: string, segmentSize: number): SegmentIndex | null {
    const idx = readIndexFile(indexPath(logPath), INDEX_MAGIC, segmentSize, 8);
    const tim = readIndexFile(timeIndexPath(logPath), TIME_MAGIC, segmentSize, 12);
    if (!idx || !tim || idx.count !== tim.count) return null;
    const out = new SegmentIndex();
    let lastPos = -1;
    for (let i = 0; i < idx.count; i++) {
      const rel = idx.buf.readUInt32BE(HEADER + i * 8);
      const pos = idx.buf.readUInt32BE(HEADER + i * 8 + 4);
      if (pos <= lastPos || pos >= segmentSize || tim.buf.readUInt32BE(HEADER + i * 12 + 8) !== rel) return null;
      lastPos = pos;
      out.relOffsets.push(rel);
      out.positions.push(pos);
      out.maxTsBefore.push(tim.buf.readDoubleBE(HEADER + i * 12));
    }
    // New appends to a loaded index (only after reopening a closed segment as active) start a fresh interval.
    out.bytesSinceEntry = Infinity;
    return out;
  }
}

export function indexPath(logPath: string): string {
  return logPath.replace(/\.log$/, '.index');
}

export function timeIndexPath(logPath: string): string {
  return logPath.replace(/\.log$/, '.timeindex');
}

function writeIndexFile(path: string, buf: Buffer, magic: number, covered: number, count: number, base: number): void {
  buf.writeUInt32BE(magic, 0);
  buf.writeDoubleBE(base, 4);
  buf.writeDoubleBE(covered, 12);
  buf.writeUInt32BE(count, 20);
  buf.writeUInt32BE(checksum(buf), CRC_AT);
  const tmp = path + '.tmp';
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, buf);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // A full disk left a half-written tmp file and "ENOSPC ... write" naming nothing. The old
    // index (if any) is intact; the tmp would only take space, and be removed on the next open.
    rmSync(tmp, { force: true });
    throw fileError(e, 'write the index', path);
  }
}

function readIndexFile(path: string, magic: number, covered: number | null, entrySize: number): { buf: Buffer; count: number } | null {
  const r = inspectIndexFile(path, magic, covered, entrySize);
  return typeof r === 'string' ? null : r;
}

/** The file's contents, or why it cannot be used: 'missing', 'stale: ...' or what is wrong with it. */
function inspectIndexFile(path: string, magic: number, covered: number | null, entrySize: number): { buf: Buffer; count: number } | string {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Short of descriptors (or memory), the process cannot read a sound index: that is the
    // environment's error to report, not damage to warn about and rebuild around.
    if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') throw fileError(e, 'read the index', path);
    return code === 'ENOENT' ? 'missing' : `unreadable (${(e as Error).message})`;
  }
  if (buf.length < HEADER) return `${buf.length} bytes long, shorter than its ${HEADER}-byte header`;
  if (buf.readUInt32BE(0) !== magic) return 'not an index of this kind (bad magic)';
  if (buf.readDoubleBE(4) !== baseOf(path)) return `written for the segment at offset ${buf.readDoubleBE(4)}, not this one`;
  const count = buf.readUInt32BE(20);
  if (buf.length !== HEADER + count * entrySize) return `${buf.length} bytes long, but its header says ${HEADER + count * entrySize}`;
  if (checksum(buf) !== buf.readUInt32BE(CRC_AT)) return 'its checksum does not match';
  if (covered !== null && buf.readDoubleBE(12) !== covered) return `stale: it covers ${buf.readDoubleBE(12)} bytes of a ${covered}-byte segment`;
  return { buf, count };
}

/**
 * What a warning should say about a segment's index files that SegmentIndex.load
 * could not use (they are rebuilt from the segment). For the active segment a
 * missing or stale index is what any crash after a roll or an append leaves, so only a
 * file that is there and malformed is reported; a closed segment's index was
 * written and synced at its roll, so anything wrong with it is damage.
 */
export function indexProblems(logPath: string, segmentSize: number, active: boolean): { file: string; problem: string }[] {
  const out: { file: string; problem: string }[] = [];
  for (const [file, magic, size] of [[indexPath(logPath), INDEX_MAGIC, 8], [timeIndexPath(logPath), TIME_MAGIC, 12]] as const) {
    const r = inspectIndexFile(file, magic, segmentSize, size);
    if (typeof r !== 'string') continue;
    if (active && (r === 'missing' || r.startsWith('stale'))) continue;
    out.push({ file, problem: r });
  }
  // Called when SegmentIndex.load failed: both files whole, so they disagree with each other or the segment.
  if (!active && out.length === 0) out.push({ file: indexPath(logPath), problem: 'its entries do not match its .timeindex or its segment' });
  return out;
}

/** The warning for one unusable index file; it is derived data, so nothing is lost. */
export function warnIndexRebuilt(p: { file: string; problem: string }, logPath: string): void {
  process.emitWarning(`${p.file}: ${p.problem}; an index is derived data, so it is rebuilt from ${logPath} (nothing is lost)`, { type: 'SluiceWarning', code: 'INDEX_REBUILT' });
}

function checksum(buf: Buffer): number {
  return crc32c(buf, HEADER, buf.length, crc32c(buf, 0, CRC_AT));
}

/** The base offset in a segment's (or its index's) file name: `<20 digits>.log`. */
function baseOf(path: string): number {
  return Number(/(\d{20})\.[a-z]+$/.exec(path)?.[1] ?? NaN);
}

/**
 * The segment size the persisted offset index says it covers: the bytes known
 * to have been fdatasynced. Null when the index is missing or fails its CRC.
 */
export function indexedSize(logPath: string): number | null {
  return readIndexFile(indexPath(logPath), INDEX_MAGIC, null, 8)?.buf.readDoubleBE(12) ?? null;
}
