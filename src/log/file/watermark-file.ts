// The writer's published high watermark and last stable offset, for readers
// in other processes.
//
// A reader that only scanned the segment file would see a batch between its
// write(2) and its fdatasync, i.e. before the writer acknowledged it. So after
// every acknowledged group commit the writer overwrites `<partition>/hw` (16
// bytes: the high watermark, then the last stable offset — the start of the
// first transaction still in flight; a pwrite into the page cache, no fsync: it
// is a visibility signal, not a durability record) and readers never read past
// them. The write also wakes readers' inotify watches on the partition directory.
//
// The file is rewritten on open from the recovered end of the partition, so a
// stale value never outlives a restart; readers take min(scanned end, hw).

import fs from 'node:fs';
import { join } from 'node:path';

const FILE = 'hw';

export class WatermarkWriter {
  private fd: number;
  private readonly buf = Buffer.alloc(16);

  constructor(partitionDir: string, highWatermark: number, lastStableOffset: number) {
    this.fd = fs.openSync(join(partitionDir, FILE), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    this.publish(highWatermark, lastStableOffset);
  }

  publish(highWatermark: number, lastStableOffset: number): void {
    this.buf.writeDoubleBE(highWatermark, 0);
    this.buf.writeDoubleBE(lastStableOffset, 8);
    fs.writeSync(this.fd, this.buf, 0, 16, 0);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export interface PublishedWatermarks {
  highWatermark: number;
  lastStableOffset: number;
}

/** The published watermarks, or null when no writer has published them. */
export function readPublishedWatermark(partitionDir: string): PublishedWatermarks | null {
  let fd: number;
  try {
    fd = fs.openSync(join(partitionDir, FILE), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(16);
    if (fs.readSync(fd, buf, 0, 16, 0) !== 16) return null;
    const hw = buf.readDoubleBE(0);
    const lso = buf.readDoubleBE(8);
    const ok = (v: number) => Number.isSafeInteger(v) && v >= 0;
    return ok(hw) && ok(lso) ? { highWatermark: hw, lastStableOffset: Math.min(lso, hw) } : null;
  } finally {
    fs.closeSync(fd);
  }
}
