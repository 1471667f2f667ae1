// End to end through a running job: a sink that does not keep up must slow the
// sources — a TCP source stops reading its sockets (the sender's writes stall
// in TCP flow control) and a topic source stops fetching — with memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { text } from '../../src/codec.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import type { Log, ReadOptions, ReadResult } from '../../src/log/log.ts';
import { callbackSink, tcpSource, topicSource } from '../../src/connectors/index.ts';
import type { SinkRecord } from '../../src/dataflow/io.ts';

const dec = new TextDecoder();

/** A sink that blocks every write until released. */
function gate() {
  let open = false;
  let release: () => void = () => {};
  let opened = new Promise<void>((r) => (release = r));
  const got: string[] = [];
  let writes = 0;
  const sink = callbackSink(async (records: SinkRecord[]) => {
    writes++;
    if (!open) await opened;
    for (const r of records) got.push(dec.decode(r.value!));
  });
  return {
    sink,
    got,
    writes: () => writes,
    open() {
      open = true;
      release();
      opened = Promise.resolve();
    },
  };
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

function frame(s: string): Buffer {
  const body = Buffer.from(s);
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32BE(body.length, 0);
  body.copy(b, 4);
  return b;
}

test('a blocked sink stalls a TCP sender; nothing is lost once it drains', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-bp-'));
  const log = await openFileLog({ dataDir: dir });
  const source = tcpSource({ port: 0, framing: 'length-prefixed', maxBufferedRecords: 500 });
  const g = gate();
  const app = new Application('bp-tcp');
  app.pipeline('p').from(source, text).map((s) => s.toUpperCase()).to(g.sink, text);
  const job = new Job(app, { log });
  const running = job.run();
  try {
    await until(() => {
      try {
        return source.address().port > 0;
      } catch {
        return false;
      }
    }, 'the source to listen');
    const client = net.connect(source.address().port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', () => r()));
    const total = 200_000;
    const payload = 'x'.repeat(100);
    let sent = 0;
    let stalled = false;
    // Write until TCP pushes back (write() returns false and the kernel buffers are full).
    while (sent < total) {
      const ok = client.write(frame(`${sent} ${payload}`));
      sent++;
      if (!ok) {
        const drained = await Promise.race([new Promise((r) => client.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 300))]);
        if (!drained) {
          stalled = true;
          break;
        }
      }
    }
    assert.ok(stalled, `the sender never stalled (sent all ${sent} frames) although the sink accepted nothing`);
    assert.ok(source.buffered.records <= 1000, `the source buffered ${source.buffered.records} records`);
    assert.ok(g.got.length === 0 && g.writes() <= 1, 'the sink is blocked in its first write');
    const stalledAt = sent;
    g.open();
    while (sent < total) {
      if (!client.write(frame(`${sent} ${payload}`))) await new Promise((r) => client.once('drain', r));
      sent++;
    }
    await until(() => g.got.length === total, `all ${total} frames (stalled after ${stalledAt})`);
    for (let i = 0; i < total; i += 9973) assert.equal(g.got[i], `${i} ${payload.toUpperCase()}`);
    client.destroy();
  } finally {
    job.requestStop();
    await running;
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a blocked sink stops a topic source from fetching', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-bp-'));
  const real = await openFileLog({ dataDir: dir });
  await real.createTopic('in');
  for (let i = 0; i < 100; i++) {
    await real.append('in', 0, Array.from({ length: 1000 }, (_, j) => ({ key: null, value: Buffer.from(`r${i * 1000 + j}`) })));
  }
  let reads = 0;
  let readRecords = 0;
  // Count what the job fetches from the log.
  const log: Log = Object.create(real, {
    read: {
      value: async (topic: string, partition: number, offset: number, opts?: ReadOptions): Promise<ReadResult> => {
        const r = await real.read(topic, partition, offset, opts);
        reads++;
        readRecords += r.records.length;
        return r;
      },
    },
  }) as Log;
  const g = gate();
  const app = new Application('bp-topic');
  app.pipeline('p').from(topicSource({ topic: 'in' }), text).to(g.sink, text);
  const job = new Job(app, { log, untilEnd: true, maxBatchRecords: 500 });
  const running = job.run();
  try {
    await until(() => g.writes() === 1, 'the first sink write');
    await new Promise((r) => setTimeout(r, 200));
    const fetched = readRecords;
    assert.ok(fetched < 10_000, `the source fetched ${fetched} of 100,000 records while the sink accepted none`);
    assert.ok(reads > 0);
    g.open();
    await running;
    assert.equal(g.got.length, 100_000);
    assert.equal(g.got[99_999], 'r99999');
  } finally {
    job.requestStop();
    await running.catch(() => {});
    await real.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
