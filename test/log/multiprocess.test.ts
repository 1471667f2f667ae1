// Several processes on one data dir: a second writer fails fast with LOCKED,
// naming the holder and suggesting the broker; a read-only reader in another
// process tails what the writer appends, sees only whole batches, and follows
// the writer across segment rolls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { realIo, setIo } from '../../src/log/file/io.ts';
import type { LogRecord } from '../../src/record.ts';
import { prng } from '../helpers/crash-records.ts';
import { readAll as readPartition } from '../helpers/read-all.ts';

const CHILD = fileURLToPath(new URL('../helpers/log-child.ts', import.meta.url));
const T = 'mp';

/** A temp dir, removed after the test once `close` (logs opened in it) ran. */
function tmpDir(t: { after(fn: () => Promise<void>): void }, close: (() => Promise<void>)[] = []): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), 'sluice-mp-'));
  t.after(async () => {
    setIo(realIo);
    for (const c of close) await c();
    fs.rmSync(d, { recursive: true, force: true });
  });
  return d;
}

interface Child {
  lines: AsyncIterator<unknown>;
  exited: Promise<number | null>;
  kill(): void;
}

function startChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  const queue: unknown[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      queue.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      ended = true;
      wake?.();
      resolve(code);
    }),
  );
  const lines: AsyncIterator<unknown> = {
    next: async () => {
      while (queue.length === 0) {
        if (ended) throw new Error(`child ended without more output: ${stderr}`);
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      return { value: queue.shift(), done: false };
    },
  };
  return { lines, exited, kill: () => child.kill('SIGKILL') };
}

test('a second writer process fails fast with LOCKED, naming the holder and suggesting the broker', async (t) => {
  const dataDir = tmpDir(t);
  const log = await openFileLog({ dataDir });
  try {
    const child = startChild(['write', dataDir]);
    const res = (await child.lines.next()).value as { code: string; message: string; details: { owner?: { pid: number } } };
    assert.equal(await child.exited, 0);
    assert.equal(res.code, 'LOCKED');
    assert.equal(res.details.owner?.pid, process.pid);
    assert.match(res.message, new RegExp(`\\bpid ${process.pid}\\b`));
    assert.match(res.message, /sluice serve/);
  } finally {
    await log.close();
  }
  // Once the holder closes, a writer in another process gets in.
  const child = startChild(['write', dataDir]);
  assert.deepEqual((await child.lines.next()).value, { ok: true });
  assert.equal(await child.exited, 0);
});

test('a read-only reader in another process tails appends across segment rolls and sees only whole batches', async (t) => {
  const cleanup: (() => Promise<void>)[] = [];
  const dataDir = tmpDir(t, cleanup);
  const log = await openFileLog({ dataDir });
  cleanup.push(() => log.close());
  await log.createTopic(T, { partitions: 2, file: { segmentBytes: 8 * 1024 } });

  // Every record names its batch and its place in it, so a reader can tell a whole batch from part of one.
  const rand = prng(7);
  const plan: { p: number; n: number }[] = [];
  let total = 0;
  while (total < 1500) {
    const n = 1 + Math.floor(rand() * 25);
    plan.push({ p: rand() < 0.5 ? 0 : 1, n });
    total += n;
  }
  const value = (p: number, b: number, k: number, n: number) => JSON.stringify({ p, b, k, n, pad: 'z'.repeat((b * 31 + k * 7) % 150) });

  const reader = startChild(['tail', dataDir, T, '2', String(total)]);
  cleanup.unshift(async () => reader.kill());
  assert.deepEqual((await reader.lines.next()).value, { ready: true });

  // Slow, split writes: each write call lands in two halves with a pause between, so the
  // reader has every chance to see half a batch in the file.
  setIo({
    ...realIo,
    writev: async (fd, bufs, position) => {
      const all = Buffer.concat(bufs);
      const cut = 1 + Math.floor(rand() * (all.length - 1));
      await realIo.writev(fd, [all.subarray(0, cut)], position);
      await new Promise((r) => setTimeout(r, 3));
      await realIo.writev(fd, [all.subarray(cut)], position + cut);
      return all.length;
    },
  });
  const batchEnds: Set<number>[] = [new Set([0]), new Set([0])];
  const expected: string[][] = [[], []];
  const inFlight: Promise<unknown>[] = [];
  for (const [b, { p, n }] of plan.entries()) {
    const records = Array.from({ length: n }, (_, k) => ({ key: null, value: Buffer.from(value(p, b, k, n)) }));
    expected[p]!.push(...records.map((r) => r.value.toString()));
    batchEnds[p]!.add(expected[p]!.length);
    inFlight.push(log.append(T, p, records));
    // A few appends in flight at a time, so some writes carry several batches.
    if (inFlight.length >= 3) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  setIo(realIo);
  const segments = (await log.describeTopic(T)).partitions.map((x) => x.segments ?? 0);
  assert.ok(Math.min(...segments) > 3, `segments rolled (${segments})`);

  const got: string[][] = [[], []];
  let reads = 0;
  for (;;) {
    const line = (await reader.lines.next()).value as { done?: true; p: number; from: number; hw: number; records: { offset: number; value: string }[] };
    if (line.done) break;
    reads++;
    const { p, from, hw, records } = line;
    assert.ok(batchEnds[p]!.has(hw), `partition ${p}: high watermark ${hw} seen by the reader is not at a batch boundary`);
    assert.equal(from, got[p]!.length, `partition ${p}: reads continue where the last one stopped`);
    records.forEach((r, i) => assert.equal(r.offset, from + i, `partition ${p}: dense offsets`));
    const last = JSON.parse(records[records.length - 1]!.value) as { k: number; n: number };
    assert.equal(last.k, last.n - 1, `partition ${p}: a read ending at ${from + records.length} ends inside a batch`);
    got[p]!.push(...records.map((r) => r.value));
  }
  assert.equal(await reader.exited, 0);
  for (const p of [0, 1]) assert.deepEqual(got[p], expected[p], `partition ${p}: the reader saw every record, in order`);
  t.diagnostic(`${reads} reads by the tailing process for ${total} records`);
});

function readAll(log: FileLog, p: number): Promise<LogRecord[]> {
  return readPartition(log, T, p, { from: 0, maxRecords: 1000 });
}

test('a reader that last looked mid-segment still reads the rest of it after the writer rolled', async (t) => {
  const cleanup: (() => Promise<void>)[] = [];
  const dataDir = tmpDir(t, cleanup);
  const log = await openFileLog({ dataDir });
  cleanup.push(() => log.close());
  await log.createTopic(T, { partitions: 1, file: { segmentBytes: 4096 } });
  const rec = (i: number) => ({ key: null, value: Buffer.from(JSON.stringify({ i, pad: 'q'.repeat(600) })) });
  await log.append(T, 0, [rec(0)]);
  const reader = await openFileLog({ dataDir, readOnly: true });
  cleanup.push(() => reader.close());
  assert.equal((await readAll(reader, 0)).length, 1, 'the reader has scanned the active segment up to offset 1');
  // The writer fills the segment further and rolls: the new segment is not named after offset 1.
  for (let i = 1; i < 12; i++) await log.append(T, 0, [rec(i)]);
  assert.ok((await log.describeTopic(T)).partitions[0]!.segments! >= 2);
  // Let the reader's periodic full directory listing (not the roll check) discover the new segment.
  await new Promise((r) => setTimeout(r, 1100));
  const got = await readAll(reader, 0);
  assert.deepEqual(got.map((r) => r.offset), Array.from({ length: 12 }, (_, i) => i), 'no records skipped');
  got.forEach((r, i) => assert.equal(Buffer.from(r.value!).toString(), rec(i).value.toString()));
});

test('a reader polling a group while a writer in another process creates it never takes the new group for damage', async (t) => {
  // Creating a group makes its directory, then its offsets file: a reader that found no file and
  // then looked at the directory once judged "the offsets file is missing, but the group
  // directory exists" — a false DAMAGED seen under load in test/e2e/exactly-once.test.ts.
  const dataDir = tmpDir(t);
  const log = await openFileLog({ dataDir });
  await log.createTopic('t', { partitions: 1 });
  await log.close();
  const reader = await openFileLog({ dataDir, readOnly: true });
  t.after(() => reader.close());
  const groups = 300;
  const child = startChild(['create-groups', dataDir, String(groups)]);
  assert.deepEqual((await child.lines.next()).value, { ok: true });
  for (let i = 0; i < groups; i++) {
    // Spin on the group until its commit shows: every call in the window between mkdir and the file's creation.
    while ((await reader.committedOffsets(`g${i}`)).length === 0);
  }
  assert.deepEqual((await child.lines.next()).value, { done: true });
  assert.equal(await child.exited, 0);
});
