// Reading that waits: long-polls, Server-Sent Events (order, resume with
// Last-Event-ID, heartbeats, errors mid-stream) and ending them for a shutdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseReader, call, withBroker } from './http-helpers.ts';

test('long-poll: returns as soon as a record is appended, or empty when wait_ms runs out', async (t) => {
  await withBroker(t, {}, async ({ url, log, api }) => {
    await log.createTopic('lp');
    const started = Date.now();
    const pending = call(`${url}/topics/lp/partitions/0/records?offset=0&wait_ms=20000`);
    setTimeout(() => void log.append('lp', 0, [{ key: null, value: Buffer.from('{"late":true}') }]), 300);
    const r = await pending;
    const took = Date.now() - started;
    assert.deepEqual(r.body.records.map((x: { value: unknown }) => x.value), [{ late: true }]);
    assert.ok(took >= 250, `answered after ${took} ms, before the append`);
    assert.ok(took < 10_000, `answered after ${took} ms: the append did not wake it`);

    const t0 = Date.now();
    const empty = await call(`${url}/topics/lp/partitions/0/records?offset=1&wait_ms=400`);
    assert.deepEqual([empty.body.records.length, empty.body.nextOffset], [0, 1]);
    assert.ok(Date.now() - t0 >= 380, 'it must wait wait_ms before answering empty');

    // A shutdown ends a long-poll at once, with an empty answer.
    const t1 = Date.now();
    const parked = call(`${url}/topics/lp/partitions/0/records?offset=1&wait_ms=30000`);
    setTimeout(() => api.closeStreams(), 200);
    const ended = await parked;
    assert.deepEqual([ended.status, ended.body.records.length], [200, 0]);
    assert.ok(Date.now() - t1 < 10_000);
  });
});

test('graceful shutdown: after closeStreams, server.close() finishes without waiting on streams or keep-alive', async (t) => {
  await withBroker(t, {}, async ({ url, log, api, server }) => {
    await log.createTopic('sd');
    // Kept-alive connections, an open event stream and a parked long-poll.
    assert.equal((await call(`${url}/topics`)).status, 200);
    const sse = await fetch(`${url}/topics/sd/partitions/0/stream?offset=latest`);
    const poll = call(`${url}/topics/sd/partitions/0/records?wait_ms=30000`);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    api.closeStreams();
    await new Promise<void>((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeIdleConnections();
    });
    const took = Date.now() - t0;
    // Node's keep-alive timeout is 5 s: a connection left idle would show as >= 5000.
    assert.ok(took < 3000, `server.close() took ${took} ms`);
    assert.deepEqual((await poll).body.records, []);
    assert.equal(await new SseReader(sse.body!).nextEvent(), null);
  });
});

test('SSE: appended records arrive in order; Last-Event-ID resumes after the last one seen', async (t) => {
  await withBroker(t, { sseHeartbeatMs: 100 }, async ({ url, log, api }) => {
    await log.createTopic('s');
    await log.append('s', 0, [{ key: null, value: Buffer.from('{"i":0}') }]);
    const ac = new AbortController();
    const res = await fetch(`${url}/topics/s/partitions/0/stream?offset=0`, { signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const sse = new SseReader(res.body!);
    const first = await sse.nextEvent();
    assert.deepEqual([first?.event, first?.id, JSON.parse(first!.data!).value], ['record', '0', { i: 0 }]);
    // Appended while the stream waits, in several appends.
    for (let i = 1; i <= 4; i++) await log.append('s', 0, [{ key: Buffer.from(`k${i}`), value: Buffer.from(`{"i":${i}}`) }]);
    for (let i = 1; i <= 4; i++) {
      const e = await sse.nextEvent();
      const rec = JSON.parse(e!.data!);
      assert.deepEqual([e!.id, rec.offset, rec.key, rec.value], [String(i), i, `k${i}`, { i }]);
    }
    // Idle: heartbeats (comments) keep coming.
    let beat = await sse.next();
    while (beat !== null && beat.comment === undefined) beat = await sse.next();
    assert.equal(beat?.comment, 'heartbeat');
    ac.abort();

    await log.append('s', 0, [5, 6].map((i) => ({ key: null, value: Buffer.from(`{"i":${i}}`) })));
    const resumed = await fetch(`${url}/topics/s/partitions/0/stream`, { headers: { 'Last-Event-ID': '4' } });
    const sse2 = new SseReader(resumed.body!);
    assert.deepEqual([(await sse2.nextEvent())?.id, (await sse2.nextEvent())?.id], ['5', '6']);
    const missing = await call(`${url}/topics/nope/partitions/0/stream`);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'UNKNOWN_TOPIC']);

    // closeStreams ends the stream cleanly: the reader sees its end, not an error.
    api.closeStreams();
    assert.equal(await sse2.nextEvent(), null);
    const refused = await call(`${url}/topics/s/partitions/0/stream`);
    assert.deepEqual([refused.status, refused.body.error.code], [503, 'CLOSED']);
  });
});

test('SSE: deleting the topic ends the stream with a stream-error event', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('d');
    const res = await fetch(`${url}/topics/d/partitions/0/stream?offset=latest`);
    const sse = new SseReader(res.body!);
    await new Promise((r) => setTimeout(r, 100));
    await log.deleteTopic('d');
    const e = await sse.nextEvent();
    assert.equal(e?.event, 'stream-error');
    assert.equal(JSON.parse(e!.data!).error.code, 'UNKNOWN_TOPIC');
    assert.equal(await sse.nextEvent(), null);
  });
});
