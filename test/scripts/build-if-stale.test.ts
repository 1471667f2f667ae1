// scripts/build-if-stale.ts decides whether `npm run demo`, the examples and
// `npm test` compile first: a wrong "up to date" runs an old dist/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { staleReason } from '../../scripts/build-if-stale.ts';
import { tmpDir } from '../helpers/tmp.ts';

function file(root: string, path: string, secondsAgo: number): void {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, '');
  const t = Date.now() / 1000 - secondsAgo;
  utimesSync(p, t, t);
}

test('dist/ is stale when an output is missing or older than its source or than a tsconfig, and only then', (t) => {
  const root = tmpDir(t, 'sluice-stale-');
  file(root, 'tsconfig.json', 100);
  file(root, 'src/a.ts', 90);
  file(root, 'src/sub/b.ts', 90);
  file(root, 'src/types.d.ts', 10); // declarations have no output
  file(root, 'dist/a.js', 50);
  file(root, 'dist/sub/b.js', 50);
  assert.equal(staleReason(root), null);

  file(root, 'src/sub/b.ts', 20);
  assert.equal(staleReason(root), 'src/sub/b.ts is newer than dist/sub/b.js');
  file(root, 'dist/sub/b.js', 10);
  assert.equal(staleReason(root), null);

  file(root, 'src/c.ts', 30);
  assert.equal(staleReason(root), 'dist/c.js does not exist');
  file(root, 'dist/c.js', 5);

  file(root, 'tsconfig.json', 30); // newer than dist/a.js, the oldest output
  assert.equal(staleReason(root), 'tsconfig.json is newer than dist/');
  file(root, 'tsconfig.json', 100);
  assert.equal(staleReason(root), null);

  rmSync(join(root, 'dist'), { recursive: true });
  assert.equal(staleReason(root), 'dist/a.js does not exist');
});
