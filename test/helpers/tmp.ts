// Temporary directories that clean themselves up when the test ends.
// t.after hooks run in registration order, so close anything opened in the
// directory inside the test itself (try/finally), not in a later t.after.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh directory removed after the test (pass the test's context). */
export function tmpDir(t: TestContext, prefix = 'sluice-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
