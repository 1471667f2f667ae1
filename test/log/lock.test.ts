// The data dir's lock is held by a live process and by nothing else: a lock
// file naming a reused pid, another host or a zombie does not keep a writer
// out; concurrent takers never both hold it; nothing is left behind but LOCK.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { acquireLock, isLockHeld } from '../../src/log/file/lock.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const CHILD = fileURLToPath(new URL('../helpers/log-child.ts', import.meta.url));

function writeLockFile(dir: string, owner: { pid: number; host: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, 'LOCK'), JSON.stringify({ ...owner, command: 'sluice run job.ts', since: '2026-01-01T00:00:00.000Z' }));
}

for (const [name, owner] of [
  ['its own pid (sluice as PID 1 in a container, restarted)', () => ({ pid: process.pid, host: os.hostname() })],
  ['pid 1, alive on this host', () => ({ pid: 1, host: os.hostname() })],
  ['another host (a rescheduled pod)', () => ({ pid: process.ppid, host: 'pod-before-rescheduling' })],
] as const) {
  test(`a lock file left by a dead writer that names ${name} does not keep the next writer out`, async (t) => {
    const dir = tmpDir(t);
    writeLockFile(dir, owner());
    assert.equal(isLockHeld(join(dir, 'LOCK')), false);
    const log = await openFileLog({ dataDir: dir });
    try {
      assert.equal(isLockHeld(join(dir, 'LOCK')), true);
      assert.equal((JSON.parse(fs.readFileSync(join(dir, 'LOCK'), 'utf8')) as { pid: number }).pid, process.pid);
    } finally {
      await log.close();
    }
    assert.equal(isLockHeld(join(dir, 'LOCK')), false);
  });
}

test('a writer that died and is an unreaped zombie does not hold the lock', { skip: process.platform !== 'linux' && 'needs /proc to see the zombie' }, async (t) => {
  const dir = tmpDir(t);
  // The shell starts the writer in the background, then becomes `sleep`, which never waits for
  // its children: the writer, once it SIGKILLs itself, stays a zombie until `sleep` is killed.
  const sh = spawn('sh', ['-c', `"${process.execPath}" --import tsx "${CHILD}" die-holding "${dir}" & exec sleep 120`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => sh.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    sh.stdout.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    sh.on('exit', () => reject(new Error(`the shell exited early: ${buf}`)));
  });
  const { pid } = JSON.parse(line) as { pid: number };
  const state = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
  // A zombie's leader shows Z while its other threads may still be exiting (they share its
  // descriptors): it is a zombie proper once it is its only thread.
  const zombie = () => state() === 'Z' && fs.readdirSync(`/proc/${pid}/task`).length === 1;
  while (!zombie()) await new Promise((r) => setTimeout(r, 10));
  assert.equal((JSON.parse(fs.readFileSync(join(dir, 'LOCK'), 'utf8')) as { pid: number }).pid, pid, 'the lock file names the zombie');
  assert.doesNotThrow(() => process.kill(pid, 0), 'the zombie still answers kill(pid, 0)');
  assert.equal(isLockHeld(join(dir, 'LOCK')), false);
  const log = await openFileLog({ dataDir: dir });
  await log.close();
});

test('a live holder keeps a second writer out with a message that names it and does not tell it to stop itself', async (t) => {
  const dir = tmpDir(t);
  const lock = acquireLock(join(dir, 'LOCK'), `data dir ${dir}`, '');
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, 'write', dir], { encoding: 'utf8' });
    const res = JSON.parse(r.stdout.split('\n')[0]!) as { code: string; message: string };
    assert.equal(res.code, 'LOCKED');
    assert.match(res.message, new RegExp(`pid ${process.pid} on ${os.hostname()}`));
    assert.match(res.message, /which is running: the lock is released when it exits/);
  } finally {
    lock.release();
  }
});

test('many concurrent takers: never two holders at once, and nothing but LOCK is left behind', async (t) => {
  const dir = tmpDir(t);
  const children = Array.from({ length: 4 }, () => spawn(process.execPath, ['--import', 'tsx', CHILD, 'take-turns', dir, '10'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const results = await Promise.all(
    children.map(
      (c) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          let out = '';
          let err = '';
          c.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
          c.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
          c.on('close', (code) => resolve({ code, out, err }));
        }),
    ),
  );
  for (const r of results) {
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { done: true });
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'every holder released its lock, and no LOCK.<pid> or other file is left');
});

test('a lock taken over after SIGKILL leaves no LOCK.<pid> files', async (t) => {
  const dir = tmpDir(t);
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, 'die-holding', dir], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
  }
  const log = await openFileLog({ dataDir: dir });
  await log.close();
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('LOCK')), []);
});

test('on a full disk the lock is still taken and no zero-byte LOCK.<pid> is left', async (t: TestContext) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-full-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
  t.after(() => {
    if (m.status === 0) spawnSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  if (m.status !== 0) return t.skip(`cannot mount a tmpfs here: ${m.stderr.trim()}`);
  const fill = fs.openSync(join(dir, 'fill'), 'w');
  try {
    for (;;) fs.writeSync(fill, Buffer.alloc(4096));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fill);
  }
  let lock;
  try {
    lock = acquireLock(join(dir, 'LOCK'), 'a full dir', '');
  } catch (e) {
    assert.fail(`the lock is not taken on a full disk: ${isSluiceError(e) ? e.message : String(e)}`);
  } finally {
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('LOCK.')), [], 'no LOCK.<pid> left behind');
  }
  assert.equal(isLockHeld(join(dir, 'LOCK')), true);
  lock.release();
});
