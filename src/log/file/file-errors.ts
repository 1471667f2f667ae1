// System-call failures on a data dir's files, as SluiceErrors that name the file
// and say what to do: "ENOSPC ... write" alone does not tell a user which disk
// filled up, nor that an open-files limit is why 10,000 partitions cannot open.

import fs from 'node:fs';
import { ErrorCodes, SluiceError, isSluiceError } from '../../errors.ts';

const HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space, then retry (what was acknowledged before is safe)',
  EDQUOT: 'the disk quota is exhausted: free space or raise the quota, then retry',
  EACCES: 'check the permissions of the data dir',
  EPERM: 'check the permissions of the data dir',
  EROFS: 'the file system is read-only',
  EIO: 'the disk reported an I/O error: check it (dmesg) before retrying',
};

let limitRead: { value: number | null } | null = null;

/**
 * The soft limit on open files of this process (`ulimit -n`), or null where it cannot be read.
 * Read once: when EMFILE strikes, reading /proc/self/limits fails too, and the message
 * lost the very number it is for. A process cannot raise its own limit without native code.
 */
export function openFilesLimit(): number | null {
  if (limitRead) return limitRead.value;
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    limitRead = { value: m && m[1] !== 'unlimited' ? Number(m[1]) : null };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return null; // try again later, when a descriptor is free
    limitRead = { value: null };
  }
  return limitRead.value;
}

/** The bound of the last file cache made (fd-cache.ts), for the EMFILE hint. */
let maxOpenFilesInUse: number | null = null;
export function noteMaxOpenFiles(n: number): void {
  maxOpenFilesInUse = n;
}

export function hintFor(code: string | undefined): string | undefined {
  if (code === 'EMFILE' || code === 'ENFILE') {
    const limit = openFilesLimit();
    // Sluice keeps at most $SLUICE_MAX_OPEN_FILES segment files open (fd-cache.ts), so this is
    // the rest of the process (sockets, a job's own files) or a cache bound set too high.
    return `too many open files${limit === null ? '' : ` (this process may open ${limit}: \`ulimit -n\`)`}; raise the limit (e.g. \`ulimit -n 65536\`), or lower $SLUICE_MAX_OPEN_FILES (the segment files Sluice keeps open, now ${maxOpenFilesInUse ?? 'the default'}), then retry`;
  }
  return code === undefined ? undefined : HINTS[code];
}

/** The hint for a failed system call, as ` — hint` to append to a message ('' when there is none). */
export function hintSuffix(e: unknown): string {
  const h = hintFor((e as NodeJS.ErrnoException | null)?.code);
  return h ? ` — ${h}` : '';
}

/** `e` (a failed fs call on `file`) as an IO_ERROR naming the file; SluiceErrors pass through. */
export function fileError(e: unknown, what: string, file: string): SluiceError {
  if (isSluiceError(e)) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err.code;
  const hint = hintFor(code);
  const reason = code ?? err.message;
  return new SluiceError(ErrorCodes.IO_ERROR, `cannot ${what} ${file}: ${reason}${hint ? ` — ${hint}` : ''}`, { file, errno: code }, { cause: e });
}
