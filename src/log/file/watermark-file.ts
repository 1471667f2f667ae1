// The writer's published high watermark, for readers in other processes.
//
// A reader that only scanned the segment file would see a batch between its
// write(2) and its fdatasync, i.e. before the writer acknowledged it. So after
// every acknowledged group commit the writer overwrites `<partition>/hw` (8
// bytes, a pwrite into the page cache, no fsync: it is a visibility signal, not
// a durability record) and readers never read past it. The write also wakes
// readers' inotify watches on the partition directory.
//
// The file is rewritten on open from the recovered end of the partition, so a
// stale value never outlives a restart; readers take min(scanned end, hw).

import fs from 'node:fs';
import { join } from 'node:path';

const FILE = 'hw';

export class WatermarkWriter {
  private fd: number;
  private readonly buf = Buffer.alloc(8);

  constructor(partitionDir: string, initial: number) {
    this.fd = fs.openSync(join(partitionDir, FILE), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    this.publish(initial);
  }

  publish(highWatermark: number): void {
    this.buf.writeDoubleBE(highWatermark, 0);
    fs.writeSync(this.fd, this.buf, 0, 8, 0);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** The published high watermark, or null when no writer has published one. */
export function readPublishedWatermark(partitionDir: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(join(partitionDir, FILE), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(8);
    if (fs.readSync(fd, buf, 0, 8, 0) !== 8) return null;
    const v = buf.readDoubleBE(0);
    return Number.isSafeInteger(v) && v >= 0 ? v : null;
  } finally {
    fs.closeSync(fd);
  }
}
