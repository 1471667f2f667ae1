// The bounded cache of open files (src/log/file/fd-cache.ts), alone and under
// a FileLog: which descriptor goes first, that one in use never goes, that a
// reopened file is the same file, and that closing the log leaves none open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { FdCache, defaultMaxOpenFiles } from '../../src/log/file/fd-cache.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { realIo, setIo } from '../../src/log/file/io.ts';
import { tmpDir } from '../helpers/tmp.ts';

function files(dir: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = join(dir, `f${i}`);
    fs.writeFileSync(p, `contents of file ${i}`);
    out.push(p);
  }
  return out;
}

/** Descriptors this process has open on files under `dir` (from /proc/self/fd). */
function fdsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + '/')) out.push(target);
    } catch {
      // closed while we looked (readdir's own fd)
    }
  }
  return out;
}

test('the default bound: 256, or a quarter of the limit when larger, never more than half of it', () => {
  assert.equal(defaultMaxOpenFiles(null), 256);
  assert.equal(defaultMaxOpenFiles(1024), 256);
  assert.equal(defaultMaxOpenFiles(65536), 16384);
  assert.equal(defaultMaxOpenFiles(300), 150);
});

test('the least recently used file is closed first, and only to make room', (t) => {
  const [a, b, c, d] = files(tmpDir(t), 4) as [string, string, string, string];
  const cache = new FdCache(3);
  const fa = cache.open(a, 'r', 'r');
  const fb = cache.open(b, 'r', 'r');
  const fc = cache.open(c, 'r', 'r');
  assert.equal(cache.evictions, 0);
  cache.use(fa, () => {}); // a is now the most recently used: b is the oldest
  const fdd = cache.open(d, 'r', 'r');
  assert.equal(fb.fd, -1, 'b was the least recently used');
  assert.ok(fa.fd >= 0 && fc.fd >= 0 && fdd.fd >= 0);
  assert.equal(cache.openCount, 3);
  cache.use(fb, () => {}); // reopening b closes the next oldest, c
  assert.equal(fc.fd, -1);
  assert.ok(fa.fd >= 0 && fb.fd >= 0 && fdd.fd >= 0);
  assert.equal(cache.evictions, 2);
  cache.closeAll();
  assert.equal(cache.openCount, 0);
});

test('a pinned file is never closed to make room: the cache goes over its bound instead', (t) => {
  const [a, b, c] = files(tmpDir(t), 3) as [string, string, string];
  const cache = new FdCache(2);
  const fa = cache.open(a, 'r', 'r');
  const fb = cache.open(b, 'r', 'r');
  const pa = cache.acquire(fa);
  const pb = cache.acquire(fb);
  const fc = cache.open(c, 'r', 'r');
  assert.equal(fa.fd, pa);
  assert.equal(fb.fd, pb);
  assert.equal(cache.openCount, 3, 'over the bound while everything is pinned');
  assert.equal(fs.readFileSync(pa, 'utf8'), 'contents of file 0'); // still the same open file
  cache.release(fa);
  cache.release(fb);
  cache.use(fc, () => {});
  cache.open(a, 'r', 'r'); // room is made again once pins are gone
  assert.equal(cache.openCount, 2);
  cache.closeAll();
});

test('a file closed to make room reads the same bytes when reopened; a replaced one is refused', (t) => {
  const [a, b] = files(tmpDir(t), 2) as [string, string];
  const cache = new FdCache(1);
  const fa = cache.open(a, 'r', 'r');
  cache.open(b, 'r', 'r');
  assert.equal(fa.fd, -1);
  const buf = Buffer.alloc(64);
  const n = cache.use(fa, (fd) => fs.readSync(fd, buf, 0, 64, 0));
  assert.equal(buf.subarray(0, n).toString(), 'contents of file 0');
  cache.open(b, 'r', 'r');
  // Replaced by rename (as compaction does) while closed: reopening would read another file.
  fs.writeFileSync(a + '.new', 'other bytes');
  fs.renameSync(a + '.new', a);
  assert.throws(() => cache.use(fa, () => {}), (e: NodeJS.ErrnoException) => e.code === 'ESTALE');
  cache.closeAll();
});

test('closing a file in use closes its descriptor when the use ends', (t) => {
  const [a] = files(tmpDir(t), 1) as [string];
  const cache = new FdCache(4);
  const fa = cache.open(a, 'r', 'r');
  const fd = cache.acquire(fa);
  cache.close(fa);
  assert.equal(fs.readFileSync(fd, 'utf8'), 'contents of file 0', 'still open while pinned');
  cache.release(fa);
  assert.equal(cache.openCount, 0);
  assert.throws(() => cache.acquire(fa), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
});

test('a log with more partitions than maxOpenFiles: every partition written and read, before and after a restart, within the bound', async (t) => {
  const dir = tmpDir(t);
  const MAX = 16;
  const PARTITIONS = 60;
  for (let round = 0; round < 2; round++) {
    const log = await openFileLog({ dataDir: dir, maxOpenFiles: MAX });
    try {
      if (round === 0) await log.createTopic('t', { partitions: PARTITIONS });
      for (let p = 0; p < PARTITIONS; p++) await log.append('t', p, [{ key: null, value: Buffer.from(`r${round} p${p}`) }]);
      assert.ok(fdsUnder(dir).filter((f) => f.includes('/topics/')).length <= MAX, 'partition files open within the bound');
      for (let p = 0; p < PARTITIONS; p++) {
        const got = (await log.read('t', p, 0)).records.map((r) => Buffer.from(r.value!).toString());
        assert.deepEqual(got, round === 0 ? [`r0 p${p}`] : [`r0 p${p}`, `r1 p${p}`]);
      }
      assert.ok(log.files.evictions > 0, 'the test must make the cache evict');
      assert.ok(log.files.openCount <= MAX);
    } finally {
      await log.close();
    }
    assert.deepEqual(fdsUnder(dir), [], 'closing the log closes every file');
  }
});

test('a read in flight keeps its segment open while other partitions push it out of the cache', async (t) => {
  const dir = tmpDir(t);
  const log = await openFileLog({ dataDir: dir, maxOpenFiles: 4 });
  let release!: () => void;
  let reached!: () => void;
  const atRead = new Promise<void>((r) => (reached = r));
  const gate = new Promise<void>((r) => (release = r));
  try {
    await log.createTopic('t', { partitions: 8 });
    const value = Buffer.alloc(5000, 'v');
    await log.append('t', 0, [{ key: null, value }]);
    let held = false;
    setIo({
      ...realIo,
      read: async (fd, buf, off, len, pos) => {
        if (!held) {
          held = true;
          reached();
          await gate;
        }
        return realIo.read(fd, buf, off, len, pos);
      },
    });
    const pending = log.read('t', 0, 0);
    await atRead;
    setIo(realIo);
    const before = log.files.evictions;
    for (let p = 1; p < 8; p++) await log.append('t', p, [{ key: null, value: Buffer.from('x') }]);
    assert.ok(log.files.evictions > before, 'other partitions made the cache evict');
    release();
    const got = await pending;
    assert.equal(got.records.length, 1);
    assert.deepEqual(Buffer.from(got.records[0]!.value!), value);
  } finally {
    setIo(realIo);
    release?.();
    await log.close();
  }
});

test('fsync interval: partitions written between two syncs stay within the bound, and read back whole', async (t) => {
  const dir = tmpDir(t);
  const MAX = 8;
  const PARTITIONS = 40;
  const log = await openFileLog({ dataDir: dir, maxOpenFiles: MAX });
  try {
    // An hour: no interval sync runs during the test, every written segment stays unsynced.
    await log.createTopic('t', { partitions: PARTITIONS, file: { fsync: { intervalMs: 3_600_000 } } });
    for (let p = 0; p < PARTITIONS; p++) await log.append('t', p, [{ key: null, value: Buffer.from(`p${p}`) }]);
    assert.ok(log.files.openCount <= MAX, `open files ${log.files.openCount} within ${MAX}`);
    assert.ok(fdsUnder(dir).filter((f) => f.includes('/topics/')).length <= MAX);
    for (let p = 0; p < PARTITIONS; p++) {
      const got = (await log.read('t', p, 0)).records.map((r) => Buffer.from(r.value!).toString());
      assert.deepEqual(got, [`p${p}`]);
    }
  } finally {
    await log.close();
  }
  const again = await openFileLog({ dataDir: dir, maxOpenFiles: MAX });
  try {
    for (let p = 0; p < PARTITIONS; p++) assert.equal((await again.read('t', p, 0)).records.length, 1);
  } finally {
    await again.close();
  }
});
