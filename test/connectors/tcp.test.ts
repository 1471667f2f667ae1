import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tcpSource, tcpSink, type TcpSource } from '../../src/connectors/index.ts';
import { LengthPrefixedDecoder } from '../../src/connectors/framing.ts';
import { isSluiceError } from '../../src/errors.ts';
import { frame, sinkCtx, sourceCtx, take, text, tick, until, utf8, values } from './helpers.ts';

async function openSource(t: { after: (fn: () => Promise<void>) => void }, o: Partial<Parameters<typeof tcpSource>[0]> = {}, maxBatchRecords = 1000) {
  const logs: string[] = [];
  const src = tcpSource({ port: 0, log: (m) => logs.push(m), ...o });
  await src.open(sourceCtx({ maxBatchRecords }));
  t.after(() => src.close());
  return { src, logs };
}

function client(src: TcpSource): Promise<Socket> {
  const { host, port } = src.address();
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.on('error', reject);
  });
}

test('tcp source: frames split byte by byte and many per chunk; zero-length frames; origin and positions per connection', async (t) => {
  const { src } = await openSource(t);
  const c = await client(src);
  c.setNoDelay(true);
  const payloads = ['alpha', '', 'beta', 'x'.repeat(100_000), 'gamma'];
  const stream = Buffer.concat(payloads.map((p) => frame(p)));
  // The first two frames one byte per write (with a round trip between, so they arrive as separate segments)...
  const cut = frame('alpha').length + frame('').length;
  for (let i = 0; i < cut; i++) {
    c.write(stream.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  // ...the rest in one write.
  c.write(stream.subarray(cut));
  const batches = await take(src, payloads.length);
  assert.deepEqual(values(batches), payloads);
  const { port } = src.address();
  assert.ok(batches.every((b) => b.origin === `tcp:127.0.0.1:${port}#1`));
  // position + i is frame number i (1-based) within the connection.
  assert.deepEqual(
    batches.flatMap((b) => b.records.map((_, i) => b.position + i)),
    [1, 2, 3, 4, 5],
  );
  assert.equal(batches[0]!.records[0]!.key, null);
  c.destroy();
});

test('tcp source: many clients, each in order, each its own origin', async (t) => {
  const { src } = await openSource(t);
  const clients = await Promise.all(Array.from({ length: 8 }, () => client(src)));
  const per = 500;
  clients.forEach((c, k) => c.end(Buffer.concat(Array.from({ length: per }, (_, i) => frame(`${k}:${i}`)))));
  const batches = await take(src, clients.length * per);
  const byOrigin = new Map<string, string[]>();
  for (const b of batches) byOrigin.set(b.origin, [...(byOrigin.get(b.origin) ?? []), ...b.records.map((r) => text(r.value)!)]);
  assert.equal(byOrigin.size, clients.length);
  for (const vals of byOrigin.values()) {
    const k = vals[0]!.split(':')[0];
    assert.deepEqual(vals, Array.from({ length: per }, (_, i) => `${k}:${i}`));
  }
});

test('tcp source: an oversized frame closes only that connection, with a message; the job and other clients go on', async (t) => {
  const { src, logs } = await openSource(t, { maxFrameBytes: 1000 });
  const good = await client(src);
  const bad = await client(src);
  const closed = new Promise<void>((resolve) => bad.on('close', () => resolve()));
  bad.on('error', () => {});
  bad.write(Buffer.concat([frame('ok-before'), frame('y'.repeat(1001))]));
  await closed;
  good.write(frame('still-here'));
  const got = values(await take(src, 2)).sort();
  assert.deepEqual(got, ['ok-before', 'still-here']);
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /closing connection #2 .*1001 bytes, over the limit of 1000/);
  good.destroy();
});

test('tcp source: lines framing (CRLF, blank lines skipped, last line without newline at close)', async (t) => {
  const { src } = await openSource(t, { framing: 'lines' });
  const c = await client(src);
  c.end('one\r\n\ntwo\nlast');
  const batches = await take(src, 3);
  assert.deepEqual(values(batches), ['one', 'two', 'last']);
  // Blank line 2 is not a record, so 'two' starts a new run at its own line number.
  assert.deepEqual(
    batches.flatMap((b) => b.records.map((_, i) => b.position + i)),
    [1, 3, 4],
  );
});

test('tcp source: next() resolves null when its signal aborts; the port is in use → IO_ERROR', async (t) => {
  const { src } = await openSource(t);
  const ac = new AbortController();
  const p = src.next(ac.signal);
  ac.abort();
  assert.equal(await p, null);
  const again = tcpSource({ port: src.address().port });
  await assert.rejects(again.open(sourceCtx()), (e) => isSluiceError(e, 'IO_ERROR') && /EADDRINUSE/.test(e.message));
});

test('tcp source backpressure: with nobody calling next(), reading stops, the client stalls and the buffer stays bounded; then everything arrives in order', async (t) => {
  const bound = 200;
  const { src } = await openSource(t, { maxBufferedRecords: bound }, 50);
  const c = await client(src);
  const payload = Buffer.alloc(1024, 0x61);
  const cap = 64 * 1024; // 64 MiB of frames: far more than loopback socket buffers hold
  let sent = 0;
  let ended = false;
  const pump = () => {
    while (sent < cap) {
      const f = frame(payload);
      f.writeUInt32BE(sent, 4); // the frame's sequence number in its first payload bytes
      sent++;
      if (!c.write(f)) {
        c.once('drain', pump);
        return;
      }
    }
    if (!ended) c.end();
    ended = true;
  };
  pump();
  // A 64 KiB read can add up to ~64 of these frames after the bound is reached.
  const slack = 70;
  let maxSeen = 0;
  const sample = () => (maxSeen = Math.max(maxSeen, src.buffered.records));
  // Wait until the client has made no progress for a while: the stall.
  let last = -1;
  let still = 0;
  while (still < 10) {
    await tick(50);
    sample();
    if (sent === last) still++;
    else still = 0;
    last = sent;
  }
  assert.ok(sent < cap, `the client was never stalled: it wrote all ${sent} frames`);
  assert.ok(c.writableLength > 0, 'the client has unsent bytes waiting');
  assert.ok(src.buffered.records >= bound, 'the source filled its buffer before pausing');
  assert.ok(maxSeen <= bound + slack, `buffered ${maxSeen} records, bound ${bound}`);
  // Stop producing; drain as the runtime would.
  const total = sent;
  const stop = () => {
    ended = true;
    c.end();
  };
  c.removeAllListeners('drain');
  c.once('drain', stop);
  if (c.writableLength === 0) stop();
  let next = 0;
  const signal = AbortSignal.timeout(60_000);
  while (next < total) {
    const b = await src.next(signal);
    assert.ok(b !== null, `timed out at frame ${next} of ${total}`);
    for (const r of b.records) {
      assert.equal(Buffer.from(r.value!).readUInt32BE(0), next, 'frames arrive in order');
      next++;
    }
    sample();
  }
  assert.ok(maxSeen <= bound + slack, `buffered ${maxSeen} records while draining, bound ${bound}`);
  assert.equal(next, total);
});

async function receiver(t: { after: (fn: () => Promise<void>) => void }) {
  const conns: Socket[] = [];
  const received: Buffer[] = [];
  const server: Server = createServer((s) => {
    conns.push(s);
    s.on('data', (d: Buffer) => received.push(d));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const c of conns) c.destroy();
        server.close(() => r());
      }),
  );
  return { server, port, conns, bytes: () => Buffer.concat(received) };
}

const recs = (...vs: string[]) => vs.map((v) => ({ key: null, value: utf8(v), timestamp: 0 }));

test('tcp sink: length-prefixed and raw framing reach a real server; flush waits for the kernel', async (t) => {
  const r = await receiver(t);
  const framed = tcpSink({ port: r.port });
  await framed.open(sinkCtx());
  await framed.write(recs('hello', '', 'world'));
  await framed.flush();
  await framed.close();
  await until(() => r.bytes().length === frame('hello').length + 4 + frame('world').length, 'framed bytes');
  const out: string[] = [];
  new LengthPrefixedDecoder().push(r.bytes(), (b) => out.push(b.toString()));
  assert.deepEqual(out, ['hello', '', 'world']);

  const r2 = await receiver(t);
  const raw = tcpSink({ port: r2.port, framing: 'raw' });
  await raw.open(sinkCtx());
  await raw.write(recs('apple => 3\n', 'pear => 1\n'));
  await raw.flush();
  await raw.close();
  await until(() => r2.bytes().toString() === 'apple => 3\npear => 1\n', 'raw bytes');
});

test('tcp sink: reconnects after the connection drops and keeps writing', async (t) => {
  const r = await receiver(t);
  const logs: string[] = [];
  const sink = tcpSink({ port: r.port, framing: 'raw', backoffMs: 10, log: (m) => logs.push(m) });
  await sink.open(sinkCtx());
  await sink.write(recs('a\n'));
  await sink.flush();
  await until(() => r.bytes().toString() === 'a\n', 'first line');
  r.conns[0]!.destroy();
  await until(() => !sink.connected, 'the sink noticing the drop');
  // This write waits for the new connection.
  await sink.write(recs('b\n'));
  await sink.flush();
  await until(() => r.bytes().toString() === 'a\nb\n', 'line after reconnect');
  assert.equal(r.conns.length, 2);
  assert.match(logs.join('\n'), /connection lost.*reconnecting/);
  await sink.close();
});

test('tcp sink backpressure: a receiver that stops reading makes write() wait', async (t) => {
  const r = await receiver(t);
  const sink = tcpSink({ port: r.port, framing: 'raw' });
  await sink.open(sinkCtx());
  await until(() => r.conns.length === 1, 'connection');
  r.conns[0]!.pause();
  const chunk = recs('z'.repeat(64 * 1024));
  let written = 0;
  let blocked = false;
  // Write until one write() stays pending: that is the backpressure.
  while (written < 4096) {
    const w = sink.write(chunk);
    const done = await Promise.race([w.then(() => true), tick(200).then(() => false)]);
    if (!done) {
      blocked = true;
      r.conns[0]!.resume();
      await w;
      break;
    }
    written++;
  }
  assert.ok(blocked, `write() never waited after ${written} × 64 KiB to a receiver that does not read`);
  await sink.flush();
  await sink.close();
});

test('tcp sink: open() fails clearly when nobody listens; option validation', async () => {
  const free = createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
  const port = (free.address() as { port: number }).port;
  await new Promise<void>((r) => free.close(() => r()));
  const sink = tcpSink({ port, connectTimeoutMs: 200, backoffMs: 20 });
  await assert.rejects(sink.open(sinkCtx()), (e) => isSluiceError(e, 'IO_ERROR') && /cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED/.test(e.message));
  assert.throws(() => tcpSink({ port: 0 }), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => tcpSink({ port: 1, framing: 'lines' as 'raw' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /framing/.test(e.message));
  assert.throws(() => tcpSource({} as { port: number }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /port/.test(e.message));
  assert.throws(() => tcpSource({ port: 70000 }), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
});
