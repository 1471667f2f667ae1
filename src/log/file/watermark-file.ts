// The writer's published watermarks, for readers in other processes, and the
// partition's durable-end evidence, for recovery.
//
// A reader that only scanned the segment file would see a batch between its
// write(2) and its fdatasync, i.e. before the writer acknowledged it. So after
// every acknowledged group commit the writer overwrites `<partition>/hw`, and
// readers never read past it while the writer lives:
//
//   magic u32 "SLHW" | high watermark f64 | last stable offset f64 | synced end f64 | crc u32
//
// The write is a pwrite into the page cache, no fsync: it is a visibility
// signal. It also wakes readers' inotify watches on the partition directory.
// The CRC makes a torn or damaged file recognisable: such a file is no
// evidence of anything, and a reader then falls back to what it can verify.
//
// The synced end is what recovery may trust (see partition-recovery.ts): it is
// only ever published after the data below it was fdatasynced (with fsync
// `always` it equals the high watermark; with `interval` it trails it by up to
// one interval; with `never` it moves at rolls and close). Durable data stays
// durable, so whatever value the file holds after any crash — even an older
// one, since the file itself is not fsynced — is a lower bound of the data that
// must be on disk. The high watermark is not such a bound: with `interval` or
// `never` it covers data a power loss may legitimately take.
//
// The file is rewritten on open from the recovered end of the partition, so a
// stale value never outlives a restart; a reader takes min(scanned end, hw)
// only while a writer is alive (a dead writer's last acknowledgements may not
// have reached this file, and its transactions in flight died with it).

import fs from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../../util/crc32c.ts';
import type { CachedFile, FdCache } from './fd-cache.ts';
import { fileError } from './file-errors.ts';

const FILE = 'hw';
const MAGIC = 0x534c4857; // "SLHW"
const SIZE = 32;

export function watermarkPath(partitionDir: string): string {
  return join(partitionDir, FILE);
}

export interface PublishedWatermarks {
  highWatermark: number;
  lastStableOffset: number;
  /** Every offset below this was fdatasynced before it was published. */
  syncedEnd: number;
}

function encode(w: PublishedWatermarks, buf: Buffer): void {
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeDoubleBE(w.highWatermark, 4);
  buf.writeDoubleBE(w.lastStableOffset, 12);
  buf.writeDoubleBE(w.syncedEnd, 20);
  buf.writeUInt32BE(crc32c(buf, 0, 28), 28);
}

/** Keeps the file's descriptor in the log's cache: one per partition would not be bounded. */
export class WatermarkWriter {
  private readonly file: CachedFile;
  private readonly files: FdCache;
  private readonly buf = Buffer.alloc(SIZE);
  private warned = false;

  constructor(partitionDir: string, w: PublishedWatermarks, files: FdCache) {
    this.files = files;
    // Rewritten whole each time, so a file recreated since (deleted by hand) is as good as the first.
    const flags = fs.constants.O_RDWR | fs.constants.O_CREAT;
    this.file = files.open(watermarkPath(partitionDir), flags, flags, 0o644, { sameFile: false });
    files.use(this.file, (fd) => fs.ftruncateSync(fd, SIZE));
    encode(w, this.buf);
    files.use(this.file, (fd) => fs.writeSync(fd, this.buf, 0, SIZE, 0));
  }

  /**
   * Never throws: it runs between an append's write and its acknowledgement. If reopening
   * the file fails (EMFILE), readers in other processes stay behind (never ahead) until the
   * next publish gets through; the writer's own view is not affected.
   */
  publish(w: PublishedWatermarks): void {
    encode(w, this.buf);
    try {
      this.files.use(this.file, (fd) => fs.writeSync(fd, this.buf, 0, SIZE, 0));
      this.warned = false;
    } catch (e) {
      if (!this.warned) process.emitWarning(fileError(e, 'publish the watermarks to', this.file.path).message);
      this.warned = true;
    }
  }

  close(): void {
    this.files.close(this.file);
  }
}

/** Writes the file whole (repairs, with no writer running). */
export function writeWatermarkFile(partitionDir: string, w: PublishedWatermarks): void {
  const buf = Buffer.alloc(SIZE);
  encode(w, buf);
  fs.writeFileSync(watermarkPath(partitionDir), buf);
}

/** The published watermarks; null when the file is missing, torn or fails its CRC. */
export function readPublishedWatermark(partitionDir: string): PublishedWatermarks | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(watermarkPath(partitionDir));
  } catch {
    return null;
  }
  if (buf.length !== SIZE || buf.readUInt32BE(0) !== MAGIC || crc32c(buf, 0, 28) !== buf.readUInt32BE(28)) return null;
  const hw = buf.readDoubleBE(4);
  const lso = buf.readDoubleBE(12);
  const synced = buf.readDoubleBE(20);
  const ok = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!ok(hw) || !ok(lso) || !ok(synced)) return null;
  return { highWatermark: hw, lastStableOffset: Math.min(lso, hw), syncedEnd: synced };
}
