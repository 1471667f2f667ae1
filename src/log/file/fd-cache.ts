// A bounded set of open file descriptors for the files a data dir keeps per
// partition (segments, `hw`). Holding one fd per file made a 10,000-partition
// topic need 20,000+ descriptors: past `ulimit -n` every open failed with
// EMFILE, and a restarted writer could not open the dir at all. Here at most
// `maxOpenFiles` stay open; the least recently used one is closed to make room
// and reopened (by path) on its next use.
//
// A descriptor in use is pinned (acquire/release, or use/useAsync around one
// call) and is never closed under its user: an in-flight read, write or fsync
// always finishes on the descriptor it started with. When every open file is
// pinned the cache goes over its bound rather than fail; the bound is a target,
// the kernel's limit is the hard one.
//
// Reopening finds the same file only while its path still names it. A file
// replaced by rename (compaction) while its descriptor was closed would hand
// out the new file's bytes under the old view, so a reopen that finds another
// inode refuses (ESTALE) and the owner looks again (partition-refresh.ts).

import fs from 'node:fs';
import { noteMaxOpenFiles, openFilesLimit } from './file-errors.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';

const DEFAULT_MIN = 256;

/**
 * 256 or a quarter of the soft open-files limit, whichever is larger, but never
 * more than half the limit: the rest is for sockets, index and metadata files,
 * Node itself and the libraries a job loads.
 */
export function defaultMaxOpenFiles(limit: number | null = openFilesLimit()): number {
  if (limit === null) return DEFAULT_MIN;
  return Math.max(8, Math.min(Math.max(DEFAULT_MIN, Math.floor(limit / 4)), Math.floor(limit / 2)));
}

/** `$SLUICE_MAX_OPEN_FILES` when set, else the default for this process's limit. */
export function maxOpenFilesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SLUICE_MAX_OPEN_FILES;
  if (raw === undefined || raw === '') return defaultMaxOpenFiles();
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `SLUICE_MAX_OPEN_FILES must be a positive integer, got ${JSON.stringify(raw)}; unset it to use the default (${defaultMaxOpenFiles()})`);
  }
  return n;
}

/** One file the cache may keep open. Only the cache touches `fd`. */
export class CachedFile {
  readonly path: string;
  fd = -1;
  /** Identity of the file first opened; a reopen must find the same one. */
  ino = -1;
  pins = 0;
  /** Closed for good (the owner is done with it); the fd goes once the last pin is released. */
  closed = false;
  readonly reopenFlags: string | number;
  /** Whether a reopen must find the inode first opened (false: any file at the path will do). */
  readonly sameFile: boolean;
  /**
   * Runs just before the cache closes the descriptor to make room (not on close()): an owner
   * with unsynced writes fsyncs here, since a later descriptor might not report their error.
   */
  beforeEvict: ((fd: number) => void) | null = null;

  constructor(path: string, reopenFlags: string | number, sameFile: boolean) {
    this.path = path;
    this.reopenFlags = reopenFlags;
    this.sameFile = sameFile;
  }
}

function errno(code: string, message: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, ${path}`), { code, path });
}

export class FdCache {
  readonly maxOpenFiles: number;
  /** Open files, least recently used first (a Map keeps insertion order; use re-inserts). */
  private readonly lru = new Map<CachedFile, true>();
  /** How many descriptors were closed to make room (tests and diagnostics). */
  evictions = 0;

  constructor(maxOpenFiles = defaultMaxOpenFiles()) {
    if (!Number.isSafeInteger(maxOpenFiles) || maxOpenFiles < 1) throw new RangeError(`maxOpenFiles must be a positive integer, got ${maxOpenFiles}`);
    this.maxOpenFiles = maxOpenFiles;
    noteMaxOpenFiles(maxOpenFiles);
    openFilesLimit(); // read now, while a descriptor is free: an EMFILE message names it
  }

  get openCount(): number {
    return this.lru.size;
  }

  /**
   * Opens `path` now with `flags` (which may create or truncate it) and keeps it
   * open until it is evicted; later reopens use `reopenFlags` (never O_TRUNC).
   */
  open(path: string, flags: string | number, reopenFlags: string | number, mode?: number, o: { sameFile?: boolean } = {}): CachedFile {
    const f = new CachedFile(path, reopenFlags, o.sameFile ?? true);
    this.openFd(f, flags, mode);
    return f;
  }

  /** The file's descriptor, pinned until release(): open (again) if it was evicted. */
  acquire(f: CachedFile): number {
    if (f.closed) throw errno('EBADF', 'file was closed', f.path);
    if (f.fd < 0) this.openFd(f, f.reopenFlags, 0o644);
    else {
      this.lru.delete(f);
      this.lru.set(f, true);
    }
    f.pins++;
    return f.fd;
  }

  release(f: CachedFile): void {
    f.pins--;
    if (f.pins === 0 && f.closed) this.closeFd(f);
  }

  use<T>(f: CachedFile, fn: (fd: number) => T): T {
    const fd = this.acquire(f);
    try {
      return fn(fd);
    } finally {
      this.release(f);
    }
  }

  async useAsync<T>(f: CachedFile, fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = this.acquire(f);
    try {
      return await fn(fd);
    } finally {
      this.release(f);
    }
  }

  /** The owner is done with `f`: its fd closes now, or when its last user releases it. */
  close(f: CachedFile): void {
    f.closed = true;
    if (f.pins === 0) this.closeFd(f);
  }

  /** Closes every descriptor (closing the log: nothing is in flight any more). */
  closeAll(): void {
    for (const f of [...this.lru.keys()]) {
      f.closed = true;
      this.closeFd(f);
    }
  }

  private openFd(f: CachedFile, flags: string | number, mode?: number): void {
    this.makeRoom(this.maxOpenFiles - 1);
    let fd: number;
    try {
      fd = fs.openSync(f.path, flags, mode);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'EMFILE' && code !== 'ENFILE') || !this.makeRoom(Math.floor(this.maxOpenFiles / 2))) throw e;
      // Other descriptors (sockets, a library's files) took the room: give back half and retry once.
      fd = fs.openSync(f.path, flags, mode);
    }
    const ino = fs.fstatSync(fd).ino;
    if (f.sameFile && f.ino >= 0 && ino !== f.ino) {
      fs.closeSync(fd);
      throw errno('ESTALE', 'file was replaced since it was first opened', f.path);
    }
    f.ino = ino;
    f.fd = fd;
    this.lru.set(f, true);
  }

  /** Closes least recently used unpinned files until at most `target` are open; false if none could be closed. */
  private makeRoom(target: number): boolean {
    let closed = false;
    if (this.lru.size <= target) return false;
    for (const f of this.lru.keys()) {
      if (this.lru.size <= target) break;
      if (f.pins > 0) continue;
      f.beforeEvict?.(f.fd);
      f.beforeEvict = null;
      this.closeFd(f);
      this.evictions++;
      closed = true;
    }
    return closed;
  }

  private closeFd(f: CachedFile): void {
    if (f.fd < 0) return;
    this.lru.delete(f);
    const fd = f.fd;
    f.fd = -1;
    fs.closeSync(fd);
  }
}

/** The cache of Partitions opened without one (tests, tools); a FileLog brings its own. */
let shared: FdCache | null = null;
export function sharedFdCache(): FdCache {
  shared ??= new FdCache();
  return shared;
}
