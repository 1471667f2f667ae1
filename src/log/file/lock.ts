// A lock the kernel releases when its holder dies. The lock is an OFD
// (open-file-description) record lock on the lock file, held by an open file
// descriptor for as long as the process keeps it; when the process exits or is
// killed, the kernel closes the descriptor and the lock is gone. Nothing is
// judged by pid or host name, so a reused pid (sluice as PID 1 in a
// container), a renamed host or an unreaped zombie cannot hold it.
//
// Node has no flock/fcntl locks in core; fs-native-extensions provides them
// (F_OFD_SETLK on Linux, flock on macOS, LockFileEx on Windows) with prebuilt
// binaries inside the package. The file's content, the holder's pid, host and
// command, is only there to name the holder in messages.

import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface Lock {
  readonly path: string;
  release(): void;
}

interface NativeLocks {
  tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
}

let native: NativeLocks | null = null;

function locks(): NativeLocks {
  if (native) return native;
  try {
    native = createRequire(import.meta.url)('fs-native-extensions') as NativeLocks;
  } catch (e) {
    throw new SluiceError(
      ErrorCodes.IO_ERROR,
      `cannot load file locking (fs-native-extensions) on ${process.platform}-${process.arch}: ${(e as Error).message}; reinstall sluice (npm ci) on this platform`,
      {},
      { cause: e },
    );
  }
  return native;
}

/** Locks this process holds, by path, with the descriptor that holds each. */
const held = new Map<string, number>();

/**
 * A lock probe elsewhere (isLockHeld) holds a shared lock for a moment; a taker that meets one
 * tries again for this long before it concludes that the lock is held.
 */
const PROBE_GRACE_MS = 200;

export function readLockOwner(path: string): LockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

/** Opens `path` and tries to lock it; the descriptor if locked (the caller owns it), else null. */
function tryLockFile(path: string, shared: boolean): number | null {
  const fd = fs.openSync(path, shared ? fs.constants.O_RDONLY : fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  let locked = false;
  try {
    locked = locks().tryLock(fd, 0, 0, { shared });
  } finally {
    if (!locked) fs.closeSync(fd);
  }
  return locked ? fd : null;
}

/** True when `fd` is still the file at `path` (a releaser unlinks the file before unlocking it). */
function stillAt(fd: number, path: string): boolean {
  const a = fs.fstatSync(fd);
  const b = fs.statSync(path, { throwIfNoEntry: false });
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/**
 * Takes the lock at `path` or fails with LOCKED. `what` and `hint` shape the
 * message: what is locked, and what the user can do instead.
 */
export function acquireLock(path: string, what: string, hint: string): Lock {
  if (held.has(path)) {
    throw new SluiceError(ErrorCodes.LOCKED, `${what} is already open for writing in this process; share one Log instead of opening it twice`, { file: path });
  }
  const deadline = Date.now() + PROBE_GRACE_MS;
  for (;;) {
    const fd = tryLockFile(path, false);
    if (fd === null) {
      if (Date.now() < deadline) {
        sleepSync(10);
        continue;
      }
      throw lockedError(path, what, hint);
    }
    if (!stillAt(fd, path)) {
      // We locked a file its holder unlinked on release just before: take the new one.
      fs.closeSync(fd);
      continue;
    }
    const me: LockOwner = { pid: process.pid, host: os.hostname(), command: process.argv.slice(1).join(' '), since: new Date().toISOString() };
    try {
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, JSON.stringify(me), 0);
    } catch {
      // The name is only for messages; a full disk must not keep out the writer that frees space.
    }
    held.set(path, fd);
    return { path, release: () => release(path, fd) };
  }
}

/** The holder as the lock file names it, for messages: `pid 12 on host (command, since ...)`. */
export function lockHolderName(path: string): string {
  const owner = readLockOwner(path);
  return owner ? `pid ${owner.pid} on ${owner.host} (${owner.command || 'unknown command'}, since ${owner.since})` : 'another process';
}

function lockedError(path: string, what: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.LOCKED, `${what} is locked by ${lockHolderName(path)}, which is running: the lock is released when it exits. ${hint}`, {
    file: path,
    owner: readLockOwner(path) ?? undefined,
  });
}

/** True while a live process (this one included) holds the lock at `path`. */
export function isLockHeld(path: string): boolean {
  if (held.has(path)) return true;
  let fd: number | null;
  try {
    fd = tryLockFile(path, true);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (fd === null) return true;
  fs.closeSync(fd);
  return false;
}

function release(path: string, fd: number): void {
  if (held.get(path) !== fd) return;
  held.delete(path);
  // Unlinked while still locked, so a taker that opened this file meanwhile sees it is gone.
  fs.rmSync(path, { force: true });
  fs.closeSync(fd);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
