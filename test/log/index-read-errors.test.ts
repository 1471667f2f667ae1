// Reading a segment's index when the process has no file descriptor left (EMFILE) is not
// damage: the index is fine, the process is short of descriptors. It was reported as an
// "unreadable" index to rebuild (a false damage warning) before the real EMFILE surfaced
// elsewhere, so a user saw three lines about three different files. The load must fail with
// the EMFILE error that names the limit, and warn about nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ErrorCodes } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const CHILD = new URL('./index-read-emfile-child.ts', import.meta.url).pathname;

test('an index read that fails with EMFILE is an I/O error naming the limit, not a damaged index to rebuild', (t) => {
  const log = join(tmpDir(t), '00000000000000000000.log');
  const r = spawnSync('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" --import tsx "${CHILD}" "${log}"`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { threw?: string; message?: string; loaded?: boolean; warnings: string[] };
  assert.deepEqual(out.warnings, [], 'no warning about a damaged index');
  assert.equal(out.threw, ErrorCodes.IO_ERROR, `an IO_ERROR, got ${JSON.stringify(out)}`);
  assert.match(out.message!, /EMFILE/);
  assert.match(out.message!, /ulimit -n/);
  assert.ok(out.message!.includes(`${log.slice(0, -4)}.index`), `names the index file: ${out.message}`);
});
