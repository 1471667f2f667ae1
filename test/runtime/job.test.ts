import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import type { Sink, SinkRecord, Source, SourceBatch } from '../../src/dataflow/io.ts';
import { isSluiceError } from '../../src/errors.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A bounded in-memory source that records what the runtime asked of it. */
class ListSource implements Source {
  readonly name = 'list';
  readonly events: string[] = [];
  delivered = 0;
  committed = 0;
  private readonly batches: number[][];
  private readonly infinite: boolean;
  constructor(batches: number[][], infinite = false) {
    this.batches = batches;
    this.infinite = infinite;
  }
  async open() {
    this.events.push('open');
  }
  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    const b = this.batches.shift();
    if (!b) {
      if (!this.infinite || signal.aborted) return null;
      // Wait for the stop signal like an idle socket would.
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      return null;
    }
    const position = this.delivered;
    this.delivered += b.length;
    this.events.push(`next ${b.length}`);
    return { origin: 'list', position, records: b.map((n) => ({ key: null, value: enc.encode(JSON.stringify(n)), timestamp: 0, headers: {} })) };
  }
  async commit() {
    this.committed = this.delivered;
    this.events.push(`commit ${this.delivered}`);
  }
  async close() {
    this.events.push('close');
  }
}

/** A sink whose writes take `delayMs` and which tracks how many records the runtime had outstanding. */
class SlowSink implements Sink {
  readonly name = 'slow';
  readonly received: unknown[] = [];
  flushedCount = 0;
  inWrite = 0;
  maxConcurrentWrites = 0;
  private readonly delayMs: number;
  constructor(delayMs: number) {
    this.delayMs = delayMs;
  }
  async open() {}
  async write(records: SinkRecord[]) {
    this.inWrite++;
    this.maxConcurrentWrites = Math.max(this.maxConcurrentWrites, this.inWrite);
    await new Promise((r) => setTimeout(r, this.delayMs));
    for (const r of records) this.received.push(JSON.parse(dec.decode(r.value!)));
    this.inWrite--;
  }
  async flush() {
    this.flushedCount = this.received.length;
  }
  async close() {}
}

async function withLog<T>(fn: (log: Awaited<ReturnType<typeof openFileLog>>) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-job-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    return await fn(log);
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a job drains bounded sources, checkpoints (flush before commit), and closes everything', async () => {
  await withLog(async (log) => {
    const source = new ListSource([[1, 2, 3], [4, 5], [6]]);
    const sink = new SlowSink(1);
    const app = new Application('double');
    app.pipeline('p').from(source, json<number>()).map((n) => n * 2).to(sink, json);
    const result = await new Job(app, { log, untilEnd: true }).run();
    assert.deepEqual(sink.received, [2, 4, 6, 8, 10, 12]);
    assert.equal(sink.flushedCount, 6, 'the final checkpoint flushed every output');
    assert.equal(source.committed, 6, 'and then committed every input');
    assert.equal(source.events[0], 'open');
    assert.equal(source.events.at(-1), 'close');
    assert.deepEqual([result.recordsIn, result.recordsOut, result.deadLetters], [6, 6, 0]);
    assert.ok(result.checkpoints >= 1);
  });
});

test('backpressure: the runtime never pulls while a sink write is pending, so buffered input stays bounded', async () => {
  await withLog(async (log) => {
    const batches = Array.from({ length: 40 }, (_, i) => Array.from({ length: 50 }, (_, j) => i * 50 + j));
    const source = new ListSource(batches);
    const sink = new SlowSink(3);
    const app = new Application('slow');
    app.pipeline('p').from(source, json<number>()).to(sink, json);
    const job = new Job(app, { log, untilEnd: true });
    let maxAhead = 0;
    const probe = setInterval(() => (maxAhead = Math.max(maxAhead, source.delivered - sink.received.length)), 1);
    await job.run();
    clearInterval(probe);
    assert.equal(sink.received.length, 2000);
    assert.equal(sink.maxConcurrentWrites, 1, 'one write at a time');
    // At most the batch being written plus the one prefetched batch per source are ahead of the sink.
    assert.ok(maxAhead <= 100, `input ran ${maxAhead} records ahead of a slow sink`);
  });
});

test('stopping via the signal finishes the in-flight batch, checkpoints, and returns', async () => {
  await withLog(async (log) => {
    const source = new ListSource([[1], [2], [3]], true);
    const sink = new SlowSink(0);
    const app = new Application('stoppable');
    app.pipeline('p').from(source, json<number>()).to(sink, json);
    const ac = new AbortController();
    const done = new Job(app, { log, signal: ac.signal, commitIntervalMs: 10_000 }).run();
    while (sink.received.length < 3) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    const result = await done;
    assert.equal(result.recordsIn, 3);
    assert.equal(source.committed, 3, 'the stop checkpoint committed everything processed');
  });
});

test('checkpoints happen on the interval even when no new input arrives', async () => {
  await withLog(async (log) => {
    const source = new ListSource([[1, 2]], true);
    const sink = new SlowSink(0);
    const app = new Application('idle');
    app.pipeline('p').from(source, json<number>()).to(sink, json);
    const ac = new AbortController();
    const done = new Job(app, { log, signal: ac.signal, commitIntervalMs: 20 }).run();
    while (source.committed < 2) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await done;
  });
});

test('failed records land in the dead-letter topic with the reason in headers', async () => {
  await withLog(async (log) => {
    const source = new ListSource([[1, 2, 3]]);
    const sink = new SlowSink(0);
    const app = new Application('dlq-job');
    app
      .pipeline('p')
      .from(source, json<number>())
      .map((n) => {
        if (n === 2) throw new Error('even numbers are bad luck');
        return n;
      }, { name: 'picky' })
      .to(sink, json);
    const result = await new Job(app, { log, untilEnd: true }).run();
    assert.deepEqual(sink.received, [1, 3]);
    assert.equal(result.deadLetters, 1);
    const dead = await log.read('dlq-job-dead-letters', 0, 0);
    assert.equal(dead.records.length, 1);
    assert.equal(dec.decode(dead.records[0]!.value!), '2');
    assert.equal(dead.records[0]!.headers['sluice.error'], 'even numbers are bad luck');
    assert.equal(dead.records[0]!.headers['sluice.operator'], 'picky');
    assert.equal(dead.records[0]!.headers['sluice.origin'], 'list');
    assert.equal(dead.records[0]!.headers['sluice.position'], '1');
  });
});

test("onError 'stop' fails the job and does not commit the failing batch", async () => {
  await withLog(async (log) => {
    const source = new ListSource([[1], [2, 666, 3]]);
    const sink = new SlowSink(0);
    const app = new Application('strict-job', { onError: 'stop' });
    app
      .pipeline('p')
      .from(source, json<number>())
      .map((n) => {
        if (n === 666) throw new Error('cursed');
        return n;
      })
      .to(sink, json);
    await assert.rejects(new Job(app, { log, untilEnd: true, commitIntervalMs: 10_000 }).run(), (e) => isSluiceError(e, 'USER_FUNCTION_FAILED') && /list at 2/.test(e.message));
    assert.ok(source.committed < 2, 'the batch holding the failure was not committed');
    assert.equal(source.events.at(-1), 'close');
  });
});
