// The file layer's few system calls, behind one object so tests can inject
// faults (a failing fsync, a full disk) exactly where real ones would strike.
// Callback fs APIs are used on hot paths: they cost less than FileHandle promises.

import fs from 'node:fs';

export interface Io {
  read(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  writev(fd: number, bufs: Buffer[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, len: number): Promise<void>;
}

export const realIo: Io = {
  read: (fd, buf, offset, length, position) =>
    new Promise((resolve, reject) => fs.read(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n)))),
  writev: (fd, bufs, position) =>
    new Promise((resolve, reject) => fs.writev(fd, bufs, position, (e, n) => (e ? reject(e) : resolve(n)))),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))),
  ftruncate: (fd, len) => new Promise((resolve, reject) => fs.ftruncate(fd, len, (e) => (e ? reject(e) : resolve()))),
};

/** The Io in use. Tests swap it (and must restore it) to simulate disk errors. */
export let io: Io = realIo;

export function setIo(next: Io): void {
  io = next;
}

/** Told how long each of a log's data syncs took, failed ones included (the broker's fsync metric). */
export type FsyncObserver = (seconds: number) => void;

/**
 * fdatasync, timed for `observe` when there is one: each FileLog passes its own
 * (FileLogOptions.onFsync), so observing one log never changes another in the process.
 */
export async function syncData(fd: number, observe: FsyncObserver | null | undefined): Promise<void> {
  if (!observe) return io.fdatasync(fd);
  const start = process.hrtime.bigint();
  try {
    await io.fdatasync(fd);
  } finally {
    observe(Number(process.hrtime.bigint() - start) / 1e9);
  }
}

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export async function readFully(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = await io.read(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** fsync a directory so that file creations, renames and deletions in it are durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
