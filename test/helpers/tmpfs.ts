// A small tmpfs a test mounts to run the real CLI out of disk space (needs Linux
// and root). Returns null (and skips the test, saying why) where it cannot mount,
// except under CI=true, where a skip would hide that the test never ran.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Why a tmpfs cannot be mounted here, or null. */
export function tmpfsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'it needs Linux to mount a tmpfs';
  if (process.getuid?.() !== 0) return 'it needs root to mount a tmpfs (run it as root, as CI does)';
  return null;
}

/** A tmpfs of `size` (e.g. '2m') on a fresh directory, unmounted and removed when the test ends. */
export function mountTmpfs(t: TestContext, size: string): string | null {
  const why = tmpfsUnavailable();
  const mustRun = process.env['CI'] === 'true';
  if (why !== null) {
    if (mustRun) throw new Error(`CI=true, so this test must run, but ${why}`);
    t.skip(`skipped: ${why}`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmdirSync(dir);
    const msg = `could not mount a tmpfs on ${dir}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || String(e)}`;
    if (mustRun) throw new Error(`CI=true, so this test must run, but ${msg}`);
    t.skip(`skipped: ${msg}`);
    return null;
  }
  t.after(() => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      // Busy (a process left behind by a failure): detach now, freed when it exits.
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    }
    rmdirSync(dir);
  });
  return dir;
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}
