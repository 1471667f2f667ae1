// A lock file that says who holds it. Node has no flock(2), so the lock is a
// file created with O_EXCL holding the owner's pid, host and command line. A
// lock whose owner is dead (same host, pid gone) is stale and taken over, so a
// SIGKILLed writer never leaves the data dir locked.

import fs from 'node:fs';
import os from 'node:os';
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

const held = new Map<string, number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLockOwner(path: string): LockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Takes the lock at `path` or fails with LOCKED. `what` and `hint` shape the
 * message: what is locked, and what the user can do instead.
 */
export function acquireLock(path: string, what: string, hint: string): Lock {
  if (held.has(path)) {
    throw new SluiceError(ErrorCodes.LOCKED, `${what} is already open for writing in this process; share one Log instead of opening it twice`, { file: path });
  }
  const me: LockOwner = { pid: process.pid, host: os.hostname(), command: process.argv.slice(1).join(' '), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 10; attempt++) {
    // Written in full to a private file, then hard-linked into place (link fails if the lock
    // exists): the lock file is never seen empty or half-written, even if we are killed here.
    const mine = `${path}.${process.pid}`;
    fs.writeFileSync(mine, JSON.stringify(me));
    try {
      fs.linkSync(mine, path);
      held.set(path, process.pid);
      return { path, release: () => release(path) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(mine, { force: true });
    }
    const owner = readLockOwner(path);
    if (owner === null) {
      // Gone meanwhile, or unreadable (a lock written by an older version that was killed
      // while writing it): an unreadable lock that has not changed for 2 s is abandoned.
      const st = fs.statSync(path, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 2000) fs.rmSync(path, { force: true });
      else if (st) sleepSync(50);
      continue;
    }
    if (owner.host === me.host && !alive(owner.pid)) {
      // Stale: its owner died without releasing it. Rename first so two takers cannot both win.
      const grave = `${path}.stale-${process.pid}`;
      try {
        fs.renameSync(path, grave);
        fs.rmSync(grave, { force: true });
      } catch {
        /* someone else took it over first; retry */
      }
      continue;
    }
    throw new SluiceError(
      ErrorCodes.LOCKED,
      `${what} is locked by pid ${owner.pid} on ${owner.host} (${owner.command || 'unknown command'}, since ${owner.since}). ${hint}`,
      { file: path, owner },
    );
  }
  throw new SluiceError(ErrorCodes.LOCKED, `could not take the lock ${path}: it keeps changing hands. ${hint}`, { file: path });
}

function release(path: string): void {
  if (held.get(path) !== process.pid) return;
  held.delete(path);
  const owner = readLockOwner(path);
  if (owner && owner.pid === process.pid) fs.rmSync(path, { force: true });
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// A process that exits without closing its Log still frees its locks.
process.on('exit', () => {
  for (const path of [...held.keys()]) release(path);
});
