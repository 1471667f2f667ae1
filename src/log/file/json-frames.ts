// Small append-only files of JSON records (group offsets, the transaction log):
// each record is framed as length u32 | CRC-32C u32 | JSON. Reading stops at
// the first frame that is short or fails its CRC: a torn final frame is a
// write that was never acknowledged.

import fs from 'node:fs';
import { dirname } from 'node:path';
import { crc32c } from '../../util/crc32c.ts';
import { fsyncDir } from './io.ts';

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  const buf = Buffer.allocUnsafe(8 + body.length);
  buf.writeUInt32BE(body.length, 0);
  buf.writeUInt32BE(crc32c(body), 4);
  body.copy(buf, 8);
  return buf;
}

/** The whole, valid frames at the start of `buf`, and where they end. */
export function decodeFrames<T>(buf: Buffer): { values: T[]; end: number } {
  const values: T[] = [];
  let p = 0;
  while (p + 8 <= buf.length) {
    const len = buf.readUInt32BE(p);
    if (p + 8 + len > buf.length || crc32c(buf, p + 8, p + 8 + len) !== buf.readUInt32BE(p + 4)) break;
    values.push(JSON.parse(buf.toString('utf8', p + 8, p + 8 + len)) as T);
    p += 8 + len;
  }
  return { values, end: p };
}

/** Replaces `path` with `buf` so that a crash leaves the old file or the new one, never half of either. */
export function replaceFile(path: string, buf: Buffer): void {
  const tmp = path + '.tmp';
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  fsyncDir(dirname(path));
}
