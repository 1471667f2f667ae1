// One segment file of a partition: `<20-digit base offset>.log`, its sparse
// indexes, and what the partition needs to know about it without reading it
// (offset range, size, timestamps for retention and rolling).

import fs from 'node:fs';
import { join } from 'node:path';
import { SegmentIndex, indexPath, indexProblems, indexedSize, timeIndexPath, warnIndexRebuilt } from './segment-index.ts';
import { findNextValidBatchSync, problemAtSync, scanBatches, type ScanProblem, type ScanResult } from './scan.ts';
import { readFully } from './io.ts';
import type { CachedFile, FdCache } from './fd-cache.ts';
import { hintSuffix } from './file-errors.ts';
import type { BatchHeader } from '../batch.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export function segmentFileName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0') + '.log';
}

export function parseSegmentFileName(name: string): number | null {
  const m = /^(\d{20})\.log$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** A segment as found on open, with what recovery needs to judge it (partition-recovery.ts). */
export interface OpenedSegment {
  segment: Segment;
  scan: ScanResult;
  /** Where the whole, valid batches end; before fileSize when the file ends in a torn batch. */
  wholeEnd: number;
  fileSize: number;
  /** The size its persisted index says was synced; null when there is no valid index. */
  indexed: number | null;
}

export class Segment {
  readonly baseOffset: number;
  readonly path: string;
  /** Open on demand through the cache: a closed segment of an idle partition costs no descriptor. */
  readonly file: CachedFile;
  readonly files: FdCache;
  /** Bytes of whole, valid batches. Appends go here. */
  size = 0;
  /** Offset after the last record in this segment (baseOffset when empty). */
  nextOffset: number;
  maxTimestamp = -Infinity;
  /** Append time of the first batch: a segment older than segmentMs rolls. */
  firstAppendTime = NaN;
  /** Append time of the newest batch: retention by age compares this. */
  lastAppendTime = NaN;
  index = new SegmentIndex();
  /** The segment size the index files on disk cover (-1: none known): persisting it again would rewrite the same. */
  private persistedSize = -1;
  /** Damaged ranges found when the segment was scanned; reads that reach them fail loudly. */
  corrupt: ScanProblem[] = [];

  private constructor(path: string, baseOffset: number, file: CachedFile, files: FdCache) {
    this.path = path;
    this.baseOffset = baseOffset;
    this.nextOffset = baseOffset;
    this.file = file;
    this.files = files;
  }

  static create(dir: string, baseOffset: number, files: FdCache): Segment {
    const path = join(dir, segmentFileName(baseOffset));
    const file = files.open(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 'r+', 0o644);
    return new Segment(path, baseOffset, file, files);
  }

  /** Runs `fn` with the segment's descriptor, which stays open until it settles. */
  withFd<T>(fn: (fd: number) => Promise<T>): Promise<T> {
    return this.files.useAsync(this.file, fn);
  }

  withFdSync<T>(fn: (fd: number) => T): T {
    return this.files.use(this.file, fn);
  }

  /**
   * Opens an existing segment. `full`: scan and verify every batch (the active
   * segment after a possible crash, or when the index is missing/stale);
   * otherwise trust the persisted index and read only the last few KiB.
   */
  static async open(
    path: string,
    baseOffset: number,
    opts: { writable: boolean; full: boolean; files: FdCache; onBatch?: (h: BatchHeader) => void },
  ): Promise<OpenedSegment> {
    const mode = opts.writable ? 'r+' : 'r';
    const seg = new Segment(path, baseOffset, opts.files.open(path, mode, mode), opts.files);
    try {
      return await seg.withFd((fd) => seg.load(fd, opts));
    } catch (e) {
      seg.close();
      throw e;
    }
  }

  private async load(fd: number, opts: { writable: boolean; full: boolean; onBatch?: (h: BatchHeader) => void }): Promise<OpenedSegment> {
    const { path, baseOffset } = this;
    // The active segment's index is read before its size: a live writer that appends and then
    // saves the index (at close) in between must not make the index cover more than is scanned.
    const indexedFirst = opts.full ? indexedSize(path) : undefined;
    const fileSize = fs.fstatSync(fd).size;
    const loaded = opts.full ? null : SegmentIndex.load(path, fileSize);
    let from = 0;
    if (loaded && loaded.length > 0) {
      this.index = loaded;
      from = loaded.positions[loaded.length - 1]!;
      this.maxTimestamp = loaded.maxTsBefore[loaded.length - 1]!;
      this.nextOffset = baseOffset + loaded.relOffsets[loaded.length - 1]!;
    }
    const rebuild = !loaded;
    if (rebuild) for (const problem of indexProblems(path, fileSize, opts.full)) warnIndexRebuilt(problem, path);
    const scan = await scanBatches(fd, from, fileSize, this.nextOffset, (h, position) => {
      if (rebuild) this.index.onBatch(h.baseOffset - baseOffset, position, this.maxTimestamp, h.size);
      this.noteBatch(h);
      opts.onBatch?.(h);
    });
    let result = scan;
    const opened = { wholeEnd: scan.validSize, fileSize, indexed: loaded ? fileSize : indexedFirst !== undefined ? indexedFirst : indexedSize(path) };
    if (!opts.full && scan.tornAt !== null) {
      // A closed segment was complete and fsynced before the next one was created: bad bytes
      // at its end are damage, not a torn append. Keep them, so reads report them instead of
      // silently skipping to the next segment (and nobody truncates them away).
      const damage = { kind: scan.tornKind ?? 'short', position: scan.tornAt, offset: scan.nextOffset, resumeAt: fileSize, resumeOffset: Infinity };
      result = { ...scan, corrupt: [...scan.corrupt, damage], tornAt: null, validSize: fileSize };
    }
    this.size = result.validSize;
    this.corrupt = result.corrupt;
    if (from > 0) {
      // noteBatch saw only the batches after the last index entry; the first batch is at 0.
      const head = await readFully(fd, 48, 0);
      if (head.length === 48) this.firstAppendTime = head.readDoubleBE(40);
    }
    // A closed segment's rebuilt index is saved at once; the active segment's only after
    // recovery has judged it, so a refused open leaves the index (evidence) as it was.
    const whole = scan.tornAt === null && (opened.indexed === null || opened.indexed <= fileSize);
    // Both files must be whole: the offset index alone covering this size says nothing of the time index.
    const current = loaded !== null || (opened.indexed === this.size && SegmentIndex.load(path, this.size) !== null);
    this.persistedSize = current ? this.size : -1;
    if (rebuild && opts.writable && !opts.full && whole) this.persistIndex();
    return { segment: this, scan: result, ...opened };
  }

  noteBatch(h: BatchHeader): void {
    this.nextOffset = h.baseOffset + h.lastOffsetDelta + 1;
    if (h.maxTimestamp > this.maxTimestamp) this.maxTimestamp = h.maxTimestamp;
    if (Number.isNaN(this.firstAppendTime)) this.firstAppendTime = h.appendTime;
    this.lastAppendTime = h.appendTime;
  }

  /** Records a batch just written at the end of the file. */
  onAppended(h: BatchHeader, position: number): void {
    this.index.onBatch(h.baseOffset - this.baseOffset, position, this.maxTimestamp, h.size);
    this.noteBatch(h);
    this.size = position + h.size;
  }

  /** The damaged range covering `position`, if the scan found one there. */
  corruptionAt(position: number): ScanProblem | undefined {
    const known = this.corrupt.find((c) => position >= c.position && position < c.resumeAt);
    if (known || this.file.closed || position >= this.size) return known;
    // Damage the open-time scan did not cover (a closed segment is opened from its index, and
    // only its tail is scanned): find where valid batches resume, once, so readers can skip it.
    const [resume, kind] = this.withFdSync((fd) => [findNextValidBatchSync(fd, position + 1, this.size, this.baseOffset), problemAtSync(fd, position, this.size)] as const);
    const c: ScanProblem = {
      kind,
      position,
      offset: NaN, // not known without scanning from the start of the segment
      resumeAt: resume?.position ?? this.size,
      resumeOffset: resume?.offset ?? Infinity,
    };
    this.corrupt.push(c);
    return c;
  }

  async read(position: number, length: number): Promise<Buffer> {
    try {
      return await this.withFd((fd) => readFully(fd, length, position));
    } catch (e) {
      throw new SluiceError(
        ErrorCodes.IO_ERROR,
        `reading ${length} bytes at byte ${position} of ${this.path} failed (${(e as Error).message}${hintSuffix(e)}); nothing was returned, the read can be retried`,
        { file: this.path, position },
        { cause: e },
      );
    }
  }

  /**
   * Skipped when the files on disk already cover this size: opening and closing an idle
   * partition rewrote (and fsynced) both files each time, most of the time a 10,000-partition
   * topic took to open.
   */
  persistIndex(): void {
    if (this.persistedSize === this.size) return;
    this.index.persist(this.path, this.size);
    this.persistedSize = this.size;
  }

  /** In-flight reads and writes finish first: the cache closes the fd when they release it. */
  close(): void {
    this.files.close(this.file);
  }

  /** Removes the files; in-flight reads finish on the still-open descriptor. */
  delete(): void {
    for (const p of [this.path, indexPath(this.path), timeIndexPath(this.path)]) fs.rmSync(p, { force: true });
    this.close();
  }
}
