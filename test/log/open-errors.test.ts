// Errors at open and creation name the file (issue 13, item 8): "ENOSPC ...
// write" alone does not say which file of which data dir failed, nor that an
// open-files limit is why a topic of many partitions cannot open.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** Makes fs.openSync fail with `code` for paths that `match`, as the kernel would. */
function failOpen(t: TestContext, match: (path: string) => boolean, code: string): void {
  const real = fs.openSync;
  t.mock.method(fs, 'openSync', (p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
    if (match(String(p))) throw Object.assign(new Error(`${code}: failed, open '${String(p)}'`), { code, path: String(p), syscall: 'open' });
    return real(p, flags ?? 'r', mode);
  });
}

function assertNames(file: RegExp, hint: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isSluiceError(e, 'IO_ERROR'), String(e));
    assert.match(e.message, file);
    assert.match(e.message, hint);
    return true;
  };
}

test('a full disk while creating the transaction log names transactions/txn.log', async (t) => {
  const dataDir = tmpDir(t, 'sluice-open-errors-');
  failOpen(t, (p) => p.includes('txn.log'), 'ENOSPC');
  await assert.rejects(openFileLog({ dataDir }), assertNames(/cannot \w+ .*transactions\/txn\.log: ENOSPC/, /disk is full/));
  t.mock.restoreAll();
  await (await openFileLog({ dataDir })).close();
});

test('a full disk while creating a topic names the segment, and leaves no topic', async (t) => {
  const dataDir = tmpDir(t, 'sluice-open-errors-');
  const log = await openFileLog({ dataDir });
  try {
    failOpen(t, (p) => p.includes('.creating-') && p.endsWith('/2/00000000000000000000.log'), 'ENOSPC');
    await assert.rejects(log.createTopic('t', { partitions: 4 }), assertNames(/cannot create .*topics\/t\/2\/00000000000000000000\.log: ENOSPC/, /nothing of it is left/));
    t.mock.restoreAll();
    assert.deepEqual(fs.readdirSync(join(dataDir, 'topics')), []);
  } finally {
    await log.close();
  }
});

test('EMFILE opening a partition at open names the file and the open-files limit', async (t) => {
  const dataDir = tmpDir(t, 'sluice-open-errors-');
  const log = await openFileLog({ dataDir });
  await log.createTopic('t', { partitions: 3 });
  await log.close();
  failOpen(t, (p) => p.endsWith('/t/1/00000000000000000000.log'), 'EMFILE');
  await assert.rejects(openFileLog({ dataDir }), assertNames(/cannot open .*topics\/t\/1\/00000000000000000000\.log: EMFILE/, /ulimit -n/));
});

test('a full disk creating a group\'s offsets names groups/<g>/offsets.log', async (t) => {
  const dataDir = tmpDir(t, 'sluice-open-errors-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('t');
    failOpen(t, (p) => p.endsWith('offsets.log'), 'ENOSPC');
    await assert.rejects(log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1 }]), assertNames(/cannot \w+ .*groups\/g\/offsets\.log: ENOSPC/, /disk is full/));
  } finally {
    t.mock.restoreAll();
    await log.close();
  }
});
