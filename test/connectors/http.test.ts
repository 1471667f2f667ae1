import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { httpSource, type HttpSource } from '../../src/connectors/index.ts';
import { splitBody } from '../../src/connectors/http-source.ts';
import { isSluiceError } from '../../src/errors.ts';
import { sourceCtx, take, tick, until, utf8, values } from './helpers.ts';

async function open(t: TestContext, o: Partial<Parameters<typeof httpSource>[0]> = {}, maxBatchRecords = 1000): Promise<HttpSource> {
  const src = httpSource({ port: 0, log: () => {}, ...o });
  await src.open(sourceCtx({ maxBatchRecords }));
  t.after(() => src.close());
  return src;
}

interface Res {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A request whose response is tracked: `res` settles when it arrives. */
function post(src: HttpSource, body: string | Buffer, o: { method?: string; path?: string; type?: string } = {}): { res: Promise<Res>; answered: () => boolean } {
  const { host, port } = src.address();
  let answered = false;
  const res = new Promise<Res>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (o.type !== undefined) headers['content-type'] = o.type;
    const req = request({ host, port, method: o.method ?? 'POST', path: o.path ?? '/', headers }, (r) => {
      let data = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (data += d));
      r.on('end', () => {
        answered = true;
        resolve({ status: r.statusCode!, body: data, headers: r.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  return { res, answered: () => answered };
}

test('http source: JSON lines in, one record per non-empty line; the response comes only after commit()', async (t) => {
  const src = await open(t);
  const p = post(src, '{"a":1}\n\n{"a":2}\r\n{"a":3}');
  await until(() => src.buffered.records === 3, 'records queued');
  const batches = await take(src, 3);
  assert.deepEqual(values(batches), ['{"a":1}', '{"a":2}', '{"a":3}']);
  assert.match(batches[0]!.origin, /^http:127\.0\.0\.1:\d+#1$/);
  // Line numbers: the blank line 2 is not a record.
  assert.deepEqual(batches.flatMap((b) => b.records.map((_, i) => b.position + i)), [1, 3, 4]);
  await tick();
  assert.equal(p.answered(), false, 'no response before commit');
  await src.commit();
  const r = await p.res;
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { accepted: 3 });
});

test('http source: a commit covers only requests whose records were all delivered before it', async (t) => {
  const src = await open(t, {}, 2);
  const a = post(src, 'a1\na2\na3\n', { type: 'text/plain' });
  await until(() => src.buffered.records === 3, 'a queued');
  const b = post(src, 'b1\n', { type: 'text/plain' });
  await until(() => src.buffered.records === 4, 'b queued');
  const ac = new AbortController();
  assert.deepEqual(values([(await src.next(ac.signal))!]), ['a1', 'a2']);
  await src.commit();
  await tick();
  assert.equal(a.answered(), false, 'a is only partly delivered');
  assert.deepEqual(values([(await src.next(ac.signal))!]), ['a3']);
  await src.commit();
  assert.deepEqual(JSON.parse((await a.res).body), { accepted: 3 });
  assert.equal(b.answered(), false);
  await take(src, 1);
  await src.commit();
  assert.deepEqual(JSON.parse((await b.res).body), { accepted: 1 });
  assert.equal(src.pendingRequests, 0);
});

test('http source: a single (pretty-printed) JSON value is one record; an empty body is accepted at once', async (t) => {
  const src = await open(t);
  const doc = JSON.stringify({ order: 7, items: [1, 2] }, null, 2);
  const p = post(src, doc, { type: 'application/json' });
  const [batch] = await take(src, 1);
  assert.deepEqual(JSON.parse(values([batch!])[0]!), { order: 7, items: [1, 2] });
  await src.commit();
  assert.deepEqual(JSON.parse((await p.res).body), { accepted: 1 });
  const empty = await post(src, '').res;
  assert.deepEqual([empty.status, JSON.parse(empty.body)], [200, { accepted: 0 }]);
  // JSON lines sent as text/plain or ndjson are always split, even when one line.
  assert.equal(splitBody(utf8('{"a":\n1}'), 'application/x-ndjson').length, 2);
  assert.equal(splitBody(utf8('{"a":\n1}'), undefined).length, 1);
});

test('http source: 405 for other methods, 404 for other paths, 413 for bodies over the limit', async (t) => {
  const src = await open(t, { maxBodyBytes: 1000, path: '/ingest' });
  const get = await post(src, '', { method: 'GET', path: '/ingest' }).res;
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.equal((await post(src, 'x', { path: '/' }).res).status, 404);
  const big = await post(src, Buffer.alloc(5000, 0x61), { path: '/ingest' }).res;
  assert.equal(big.status, 413);
  assert.match(big.body, /limit is 1000 bytes/);
  assert.equal(src.buffered.records, 0);
  // A body just under the limit is fine.
  const ok = post(src, Buffer.alloc(1000, 0x62), { path: '/ingest', type: 'text/plain' });
  await take(src, 1);
  await src.commit();
  assert.equal((await ok.res).status, 200);
});

test('http source backpressure: with the buffer full a request waits, gets 503 after the timeout, and is admitted once next() drains', async (t) => {
  const src = await open(t, { maxBufferedRecords: 10, admitTimeoutMs: 300 });
  const lines = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}`).join('\n');
  const first = post(src, lines(10, 'f'), { type: 'text/plain' });
  await until(() => src.buffered.records === 10, 'buffer full');
  const rejected = await post(src, lines(5, 'r'), { type: 'text/plain' }).res;
  assert.equal(rejected.status, 503);
  assert.equal(rejected.headers['retry-after'], '1');
  assert.equal(src.buffered.records, 10, 'the rejected request added nothing');

  const waiting = post(src, lines(5, 'w'), { type: 'text/plain' });
  await until(() => src.waitingRequests === 1, 'a request waiting for room');
  assert.equal(src.buffered.records, 10);
  const all = await take(src, 15);
  assert.deepEqual(values(all), [...lines(10, 'f').split('\n'), ...lines(5, 'w').split('\n')]);
  await src.commit();
  assert.deepEqual(JSON.parse((await first.res).body), { accepted: 10 });
  assert.deepEqual(JSON.parse((await waiting.res).body), { accepted: 5 });
});

test('http source: close() answers uncommitted requests with 503; option validation', async () => {
  const src = httpSource({ port: 0, log: () => {} });
  await src.open(sourceCtx());
  const p = post(src, 'x\n', { type: 'text/plain' });
  await until(() => src.buffered.records === 1, 'queued');
  await src.close();
  assert.equal((await p.res).status, 503);
  assert.throws(() => httpSource({ port: 0, path: 'ingest' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /path/.test(e.message));
  assert.throws(() => httpSource({ port: -1 }), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
});
