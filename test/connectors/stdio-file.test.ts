import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { callbackSink, fileSink, fileSource, stdinSource, stdoutSink } from '../../src/connectors/index.ts';
import type { SinkRecord } from '../../src/dataflow/io.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { drain, sinkCtx, sourceCtx, tick, utf8, values } from './helpers.ts';

const rec = (v: string | null): SinkRecord => ({ key: null, value: v === null ? null : utf8(v), timestamp: 0 });

test('file source: one record per non-empty line, position = line number, CRLF and a last line without newline; ends at EOF', async (t) => {
  const path = join(tmpDir(t), 'in.jsonl');
  writeFileSync(path, '{"a":1}\n\n{"a":2}\r\n{"a":3}');
  const src = fileSource({ path });
  assert.equal(src.name, `file ${path}`);
  await src.open(sourceCtx({ untilEnd: false }));
  const batches = await drain(src);
  assert.deepEqual(values(batches), ['{"a":1}', '{"a":2}', '{"a":3}']);
  assert.ok(batches.every((b) => b.origin === `file:${path}`));
  assert.deepEqual(batches.flatMap((b) => b.records.map((_, i) => b.position + i)), [1, 3, 4]);
  assert.equal(await src.next(new AbortController().signal), null, 'stays ended');
  await src.close();
});

test('file source: a large file in batches no bigger than maxBatchRecords, every line once, in order', async (t) => {
  const path = join(tmpDir(t), 'big.txt');
  const n = 100_000;
  writeFileSync(path, Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n');
  const src = fileSource({ path });
  await src.open(sourceCtx({ maxBatchRecords: 777 }));
  const batches = await drain(src);
  assert.ok(batches.every((b) => b.records.length <= 777));
  const vals = values(batches);
  assert.equal(vals.length, n);
  for (let i = 0; i < n; i += 9973) assert.equal(vals[i], `line ${i}`);
  assert.equal(batches.at(-1)!.position + batches.at(-1)!.records.length - 1, n);
  await src.close();
});

test('file source: a missing file fails open() with a message naming the path; options are validated', async (t) => {
  const path = join(tmpDir(t), 'nope.jsonl');
  await assert.rejects(fileSource({ path }).open(sourceCtx()), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.message.includes(path) && /no such file/.test(e.message));
  assert.throws(() => fileSource({ path: '' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /path/.test(e.message));
  assert.throws(() => fileSource({ path, format: 'csv' as 'lines' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /format/.test(e.message));
  assert.throws(() => fileSink({ path, append: 'yes' as unknown as boolean }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /append/.test(e.message));
});

test('file sink: values + newline (unless present), tombstones skipped; truncates by default, appends on request; flush fsyncs', async (t) => {
  const path = join(tmpDir(t), 'out.txt');
  writeFileSync(path, 'old\n');
  const sink = fileSink({ path });
  await sink.open(sinkCtx());
  await sink.write([rec('a'), rec('b\n'), rec(null), rec('')]);
  await sink.flush();
  assert.equal(readFileSync(path, 'utf8'), 'a\nb\n\n');
  await sink.close();
  const more = fileSink({ path, append: true });
  await more.open(sinkCtx());
  await more.write([rec('c')]);
  await more.flush();
  await more.close();
  assert.equal(readFileSync(path, 'utf8'), 'a\nb\n\nc\n');
  await assert.rejects(fileSink({ path: join(path, 'sub', 'x') }).open(sinkCtx()), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.message.includes('sub'));
});

test('file source → file sink round trip keeps every line byte for byte', async (t) => {
  const dir = tmpDir(t);
  const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, s: 'ü€'.repeat(i % 7) }));
  writeFileSync(join(dir, 'in'), lines.join('\n') + '\n');
  const src = fileSource({ path: join(dir, 'in') });
  const sink = fileSink({ path: join(dir, 'out') });
  await src.open(sourceCtx({ maxBatchRecords: 100 }));
  await sink.open(sinkCtx());
  for (let b = await src.next(AbortSignal.timeout(10_000)); b !== null; b = await src.next(AbortSignal.timeout(10_000))) await sink.write(b.records);
  await sink.flush();
  await Promise.all([src.close(), sink.close()]);
  assert.equal(readFileSync(join(dir, 'out'), 'utf8'), readFileSync(join(dir, 'in'), 'utf8'));
});

test('stdin source over a stream: aborting a waiting next() loses nothing', async () => {
  const input = new PassThrough();
  const src = stdinSource({ input });
  await src.open(sourceCtx());
  const ac = new AbortController();
  const waiting = src.next(ac.signal);
  await tick(10);
  ac.abort();
  assert.equal(await waiting, null);
  input.end('one\ntwo\n');
  const batches = await drain(src);
  assert.deepEqual(values(batches), ['one', 'two']);
  assert.equal(batches[0]!.origin, 'stdin');
  assert.equal(batches[0]!.position, 1);
  await src.close();
});

test('stdout sink over a slow stream: write() waits for drain, so little is ever buffered', async () => {
  let held = 0;
  let maxHeld = 0;
  const out: Buffer[] = [];
  const slow = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      held += chunk.length;
      maxHeld = Math.max(maxHeld, held);
      setTimeout(() => {
        held -= chunk.length;
        out.push(chunk);
        cb();
      }, 1);
    },
  });
  const sink = stdoutSink({ output: slow });
  await sink.open(sinkCtx());
  const pendingMax = { v: 0 };
  for (let i = 0; i < 300; i++) {
    await sink.write([rec(`${i}`.padEnd(100, '.'))]);
    pendingMax.v = Math.max(pendingMax.v, slow.writableLength);
  }
  await sink.flush();
  assert.equal(Buffer.concat(out).toString().split('\n').length, 301);
  assert.ok(pendingMax.v <= 1024 + 101, `${pendingMax.v} bytes were waiting in the stream after write() resolved`);
  await sink.close();
});

const CHILD = fileURLToPath(new URL('./stdio-child.ts', import.meta.url));

function runChild(mode: string, input: string | null, closeStdoutEarly = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout += d;
      if (closeStdoutEarly && stdout.length > 10_000) child.stdout.destroy();
    });
    child.stderr.on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    if (input !== null) child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('stdin → stdout in a real process: every non-empty line, in order, each ending in one newline', async () => {
  const lines = Array.from({ length: 20_000 }, (_, i) => (i % 1000 === 999 ? '' : `{"n":${i}}`));
  const r = await runChild('copy', lines.join('\n') + '\n', false);
  assert.equal(r.code, 0, r.stderr);
  const want = lines.filter((l) => l !== '');
  assert.equal(r.stdout, want.join('\n') + '\n');
  assert.match(r.stderr, new RegExp(`^done ${want.length} \\d+`));
});

test('stdout sink in a real process: when the reader closes the pipe, write() rejects with CLOSED (EPIPE) instead of crashing', async () => {
  const r = await runChild('flood', null, true);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^CLOSED: stdout: the reader closed the pipe \(EPIPE\)/);
});

test('callback sink: awaits the callback with each non-empty batch; rejects on a non-function', async () => {
  const got: string[][] = [];
  let release = () => {};
  const sink = callbackSink(async (rs) => {
    got.push(rs.map((r) => Buffer.from(r.value!).toString()));
    await new Promise<void>((r) => (release = r));
  });
  await sink.open(sinkCtx());
  let done = false;
  const w = sink.write([rec('a'), rec('b')]).then(() => (done = true));
  await tick(10);
  assert.equal(done, false, 'write waits for the callback');
  release();
  await w;
  await sink.write([]);
  await sink.flush();
  assert.deepEqual(got, [['a', 'b']]);
  assert.throws(() => callbackSink('nope' as unknown as () => void), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
});
