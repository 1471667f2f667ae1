// Small append-only files of JSON records (group offsets, the transaction log).
//
//   header  magic "SLJF" u32 | synced length u64 | CRC-32C of the 12 bytes before u32
//   frames  length u32 | CRC-32C of the JSON u32 | JSON
//
// Why frames plus a header rather than write-new-then-rename for every record:
// these files take one record per commit, on the commit path, and appending one
// frame costs one fdatasync where a rename costs two fsyncs and a copy of the
// file. The header is what lets a reader tell a torn tail from damage: each
// append rewrites it with the length the file had at the previous fsync point
// (so it never claims bytes a crash could still tear), in the same fdatasync as
// the frame. Writes are one at a time, so only the frames past that length can
// be unsynced, and a torn tail is only ever a *prefix* of the last frame there
// (a killed write stops part-way; it does not scramble what it wrote) or a
// zero-filled end (a filesystem that grew the file before the data landed).
// Anything else — a whole frame with a bad CRC, a valid frame after a bad one,
// a file shorter than its synced length — is damage, and is reported, never cut.
//
// Files written before the header existed ("legacy": they start with a frame)
// are read with the same rules minus the synced length, and get a header the
// next time a writer opens them.

import fs from 'node:fs';
import { dirname } from 'node:path';
import { crc32c } from '../../util/crc32c.ts';
import { io, fsyncDir, syncData, type FsyncObserver } from './io.ts';
import { fileError } from './file-errors.ts';

const MAGIC = 0x534c4a46; // "SLJF"
export const HEADER_BYTES = 16;
const FRAME_HEADER = 8;

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  const buf = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  buf.writeUInt32BE(body.length, 0);
  buf.writeUInt32BE(crc32c(body), 4);
  body.copy(buf, FRAME_HEADER);
  return buf;
}

export function encodeHeader(synced: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(MAGIC, 0);
  h.writeBigUInt64BE(BigInt(synced), 4);
  h.writeUInt32BE(crc32c(h, 0, 12), 12);
  return h;
}

/** A byte range of the file that is damage, not a torn tail. */
export interface FrameDamage {
  at: number;
  to: number;
  problem: string;
  /** The file ends before its synced length: what was in this range is gone, not just unreadable. */
  truncated?: boolean;
}

export interface FrameScan<T> {
  /** The records of every whole, valid frame, in file order (damaged ones skipped). */
  values: T[];
  /** Where the next frame goes: after the last valid frame, before a torn tail. */
  end: number;
  /** The synced length the header records (0 for a legacy file or a damaged header). */
  synced: number;
  legacy: boolean;
  damage: FrameDamage[];
}

type FrameAt = { ok: true; len: number } | { ok: false; pastEnd: boolean; problem: string };

function frameAt(buf: Buffer, p: number): FrameAt {
  if (p + FRAME_HEADER > buf.length) return { ok: false, pastEnd: true, problem: `a frame header cut short at byte ${p}` };
  const len = buf.readUInt32BE(p);
  if (p + FRAME_HEADER + len > buf.length) return { ok: false, pastEnd: true, problem: `the frame at byte ${p} claims ${len} bytes, past the end of the file` };
  if (len === 0 || crc32c(buf, p + FRAME_HEADER, p + FRAME_HEADER + len) !== buf.readUInt32BE(p + 4)) return { ok: false, pastEnd: false, problem: `CRC mismatch in the frame at byte ${p}` };
  return { ok: true, len };
}

/**
 * A frame running past the end of the file is torn if it is a prefix of what
 * was written: its length field is right and its CRC covers bytes that are not
 * all there. If the bytes that are there match the CRC, the frame is whole and
 * its length field is what is damaged.
 */
function tornPrefix(buf: Buffer, p: number): boolean {
  return p + FRAME_HEADER >= buf.length || crc32c(buf, p + FRAME_HEADER, buf.length) !== buf.readUInt32BE(p + 4);
}

function parse<T>(buf: Buffer, p: number, len: number): T | undefined {
  try {
    return JSON.parse(buf.toString('utf8', p + FRAME_HEADER, p + FRAME_HEADER + len)) as T;
  } catch {
    return undefined;
  }
}

function nextValidFrame(buf: Buffer, from: number): number {
  for (let q = from; q + FRAME_HEADER <= buf.length; q++) {
    const f = frameAt(buf, q);
    if (f.ok && parse(buf, q, f.len) !== undefined) return q;
  }
  return -1;
}

function zeroFrom(buf: Buffer, p: number): boolean {
  for (let i = p; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Reads a whole file (`base` 0) or, for a reader catching up, the bytes from
 * `base` on (`synced` then comes from the reader's last look at the header).
 */
export function scanFrames<T>(buf: Buffer, base = 0, knownSynced = 0): FrameScan<T> {
  const out: FrameScan<T> = { values: [], end: base, synced: knownSynced, legacy: false, damage: [] };
  let p = 0;
  if (base === 0 && buf.length > 0) {
    if (buf.length >= 4 && buf.readUInt32BE(0) === MAGIC) {
      p = HEADER_BYTES;
      if (buf.length < HEADER_BYTES || crc32c(buf, 0, 12) !== buf.readUInt32BE(12)) {
        out.damage.push({ at: 0, to: HEADER_BYTES, problem: 'the header (its synced length) fails its CRC, so a truncation cannot be ruled out' });
      } else out.synced = Number(buf.readBigUInt64BE(4));
    } else out.legacy = true;
  }
  out.end = base + p;
  while (p < buf.length) {
    const f = frameAt(buf, p);
    const value = f.ok ? parse<T>(buf, p, f.len) : undefined;
    if (f.ok && value !== undefined) {
      out.values.push(value);
      p += FRAME_HEADER + f.len;
      out.end = base + p;
      continue;
    }
    const unsynced = base + p >= out.synced;
    const next = nextValidFrame(buf, p + 1);
    const torn = !f.ok && f.pastEnd && tornPrefix(buf, p);
    if (unsynced && next < 0 && (torn || zeroFrom(buf, p))) break; // a torn tail
    let problem = f.ok ? `the frame at byte ${base + p} is not JSON` : f.problem.replace(/byte (\d+)/, (_, n: string) => `byte ${base + Number(n)}`);
    if (!f.ok && f.pastEnd && !torn) problem += ' (its length field is damaged)';
    out.damage.push({ at: base + p, to: base + (next < 0 ? buf.length : next), problem: next < 0 ? problem : `${problem}, with valid frames after it` });
    if (next < 0) break;
    p = next;
  }
  const size = base + buf.length;
  if (out.synced > size) {
    const truncated = `the file is ${size} bytes but ${out.synced} were synced: it was truncated`;
    const last = out.damage[out.damage.length - 1];
    // The frame cut in half by the truncation is the same damage, not a second one.
    if (last && last.to === size) Object.assign(last, { to: out.synced, problem: `${last.problem}; ${truncated}`, truncated: true });
    else out.damage.push({ at: size, to: out.synced, problem: truncated, truncated: true });
  }
  return out;
}

/**
 * How often a read that finds damage is repeated before it is believed. A reader
 * beside a writer process can catch an append half-way: readFileSync takes the
 * size, the writer appends a frame and rewrites the header, and the read gets the
 * new header with the old length ("truncated"), or a header mid-rewrite. Each
 * re-read is a fresh look, wrong only if another append lands inside its own
 * microseconds, so five wrong in a row do not happen; damage on disk is found
 * every time.
 */
const READS_BEFORE_DAMAGE = 5;

/** Reads `file` whole; a missing file reads as null. */
export function readFrameFile<T>(file: string): FrameScan<T> | null {
  let scan: FrameScan<T> | null = null;
  for (let attempt = 0; attempt < READS_BEFORE_DAMAGE && (scan === null || scan.damage.length > 0); attempt++) {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fileError(e, 'read', file);
    }
    scan = scanFrames<T>(buf);
  }
  return scan;
}

/** Replaces `path` with `buf` so that a crash leaves the old file or the new one, never half of either. */
export function replaceFile(path: string, buf: Buffer): void {
  const tmp = path + '.tmp';
  let fd = -1;
  try {
    fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, path);
    fsyncDir(dirname(path));
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw fileError(e, 'write', path);
  }
}

/** A frame file with a header holding its whole length, from `values`. */
export function frameFileBytes(values: unknown[]): Buffer {
  const frames = values.map(encodeFrame);
  const len = HEADER_BYTES + frames.reduce((n, f) => n + f.length, 0);
  return Buffer.concat([encodeHeader(len), ...frames]);
}

/** The writing side of one frame file: appends, each durable when it resolves, and snapshot rewrites. */
export class FrameWriter {
  readonly file: string;
  private fd = -1;
  /** Bytes durably written: where the next frame goes. */
  size = 0;
  frames = 0;
  private failure: Error | null = null;
  private readonly onFsync: FsyncObserver | undefined;

  constructor(file: string, onFsync?: FsyncObserver) {
    this.file = file;
    this.onFsync = onFsync;
  }

  /**
   * Opens for appending after `scan` of the file found no damage (null: there is
   * no file): a missing, empty or legacy file is written anew with a header, a
   * torn tail is cut off.
   */
  open(scan: FrameScan<unknown> | null): void {
    if (!scan || scan.legacy || scan.end === 0) {
      this.replace(scan ? scan.values : []);
      return;
    }
    try {
      this.fd = fs.openSync(this.file, 'r+');
      if (fs.fstatSync(this.fd).size > scan.end) {
        fs.ftruncateSync(this.fd, scan.end);
        fs.fdatasyncSync(this.fd);
      }
    } catch (e) {
      this.close();
      throw fileError(e, 'open', this.file);
    }
    this.size = scan.end;
    this.frames = scan.values.length;
  }

  async append(value: unknown): Promise<void> {
    if (this.fd < 0) throw new Error(`internal: ${this.file} is not open for writing`);
    if (this.failure) throw this.failure;
    const buf = encodeFrame(value);
    try {
      await io.writev(this.fd, [buf], this.size);
      await io.writev(this.fd, [encodeHeader(this.size)], 0);
      await syncData(this.fd, this.onFsync);
    } catch (e) {
      // The caller is told this record failed, so it must not turn up after a restart: cut it
      // off. If even that fails, nothing more may be written until the file is reopened.
      try {
        fs.ftruncateSync(this.fd, this.size);
        fs.fdatasyncSync(this.fd);
      } catch {
        this.failure = fileError(e, 'write', this.file);
      }
      throw fileError(e, 'write', this.file);
    }
    this.size += buf.length;
    this.frames++;
  }

  /** Replaces the file with `values` (temp file, fsync, rename: a crash leaves one or the other). */
  replace(values: unknown[]): void {
    const buf = frameFileBytes(values);
    replaceFile(this.file, buf);
    this.close();
    try {
      this.fd = fs.openSync(this.file, 'r+');
    } catch (e) {
      throw fileError(e, 'open', this.file);
    }
    this.size = buf.length;
    this.frames = values.length;
    this.failure = null;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
