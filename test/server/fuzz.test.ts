// Protocol fuzz against a real broker process (`sluice serve`): thousands of
// seeded cases of random bytes, broken frames (lengths, kinds, types,
// versions, JSON), requests with wrong field types, mutated records parts and
// transactions, pipelined and split across TCP writes. Every reply is checked
// against what the protocol says it must be; the broker must stay up, close
// only connections whose framing broke, keep serving a well-behaved client,
// and never let a bad request change the data: the golden topic reads back
// byte for byte, and the scratch and transaction topics hold exactly what
// the broker acknowledged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openRemoteLog, type RemoteLog } from '../../src/log/remote/remote-log.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { KIND_REQUEST, REQUEST_TYPES, encodeFrame } from '../../src/protocol/frames.ts';
import type { Log } from '../../src/log/log.ts';
import type { LogRecord, ProducerRecord } from '../../src/record.ts';
import { prng } from '../helpers/crash-records.ts';
import { readAll } from '../helpers/read-all.ts';
import { RawConn, scope, sleep, startBroker, type BrokerProcess } from './helpers.ts';
import {
  GOLDEN, MAX_FRAME, OPEN_PARTS, SCRATCH, bigAppend, checkReply, fatalPart, garbage, int, neverPart, randomRecords, sameRecords, weighted,
  type Accepted, type Ctx, type Expect, type Part,
} from './fuzz-cases.ts';
import { TxnFuzzer, TXN } from './fuzz-txn.ts';

const ITERATIONS = 3000;
const BATCH = 100;
const SEED = 20240811;
const PROBE_ID = 0xfffffff0;

const hello = (id: number) => Buffer.concat(encodeFrame(KIND_REQUEST, REQUEST_TYPES.hello, id, {}));

async function probe(conn: RawConn, what: string): Promise<void> {
  conn.write(hello(PROBE_ID));
  const f = await conn.reply(PROBE_ID);
  assert.deepEqual([f.kind, f.json], [2, { ok: true }], `${what}: the connection still answers`);
  conn.frames.splice(conn.frames.indexOf(f), 1);
}

/** Writes `bytes` in 1-4 pieces, sometimes pausing between them, so frames arrive split at any byte. */
async function deliver(conn: RawConn, r: () => number, bytes: Buffer): Promise<void> {
  const cuts = Array.from({ length: int(r, 0, 3) }, () => int(r, 1, Math.max(1, bytes.length - 1))).sort((a, b) => a - b);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= at) continue;
    conn.write(bytes.subarray(at, cut));
    at = cut;
    if (at < bytes.length && r() < 0.5) await sleep(int(r, 0, 2));
  }
}

type Stats = Record<string, number>;

async function runCase(port: number, c: Ctx, stats: Stats): Promise<void> {
  const r = c.r;
  const kind = weighted(r, [[50, 'open'], [18, 'fatal'], [16, 'pipeline'], [8, 'truncated'], [8, 'garbage']] as [number, string][]);
  stats[kind] = (stats[kind] ?? 0) + 1;
  const conn = await RawConn.open(port);
  try {
    if (kind === 'garbage') {
      const g = garbage(c);
      await deliver(conn, r, g.bytes);
      if (g.fatal) await expectFatal(conn, g.fatal);
      else await sleep(2);
      for (const f of conn.frames) assert.ok(f.kind === 3 && ['PROTOCOL_ERROR', 'TOO_LARGE', 'INVALID_ARGUMENT'].includes((f.json as { code: string }).code), `garbage answered with ${JSON.stringify(f.json)}`);
      return;
    }
    if (kind === 'fatal') {
      // The broken connection is closed alone: one opened before it keeps working.
      const bystander = await RawConn.open(port);
      try {
        const part = fatalPart(c);
        await deliver(conn, r, part.bytes);
        await expectFatal(conn, part.fatal!);
        await probe(bystander, 'a connection beside a broken one');
      } finally {
        bystander.destroy();
      }
      return;
    }
    if (kind === 'truncated') {
      const part = gen(c);
      const cut = int(r, 1, part.bytes.length - 1);
      conn.write(part.bytes.subarray(0, cut));
      await sleep(int(r, 0, 3));
      if (r() < 0.5) {
        // The rest comes later: the frame is whole again and answered as usual.
        conn.write(part.bytes.subarray(cut));
        await expectAll(conn, part.expects);
        await probe(conn, 'after a frame sent in two halves');
      } else {
        // Never whole, so never executed (an append among them included).
        assert.equal(conn.frames.length, 0, 'half a frame gets no answer');
      }
      return;
    }
    const parts: Part[] = [];
    const n = kind === 'open' ? 1 : int(r, 2, 8);
    for (let i = 0; i < n; i++) parts.push(gen(c));
    if (kind === 'open' && r() < 0.01) {
      stats['big'] = (stats['big'] ?? 0) + 1;
      parts.push(bigAppend(c));
    }
    let fatal: Part | null = null;
    const never: Part[] = [];
    if (kind === 'pipeline' && r() < 0.4) {
      // Requests before a broken frame run and are answered before the close, appends included.
      fatal = fatalPart(c);
      for (let i = int(r, 1, 3); i > 0; i--) never.push(r() < 0.5 ? neverPart(c) : gen(c));
    }
    await deliver(conn, r, Buffer.concat([...parts, ...(fatal ? [fatal] : []), ...never].map((p) => p.bytes)));
    if (fatal) {
      await expectFatal(conn, fatal.fatal!);
      const answered = new Set(conn.frames.map((f) => f.id));
      for (const p of never) for (const e of p.expects) assert.ok(!answered.has(e.id), `request ${e.id} after the broken frame was answered`);
      for (const p of parts) {
        for (const e of p.expects) {
          const f = conn.frames.find((x) => x.id === e.id);
          assert.ok(f, `request ${e.id} before the broken frame is answered before the close`);
          checkReply(e, f);
        }
      }
      const last = conn.frames.at(-1)!;
      assert.deepEqual([last.kind, last.id, (last.json as { code: string }).code], [3, fatal.fatal!.id, fatal.fatal!.code], 'the error for the broken frame comes last');
    } else {
      await expectAll(conn, parts.flatMap((p) => p.expects));
      await probe(conn, 'after pipelined requests');
      assert.equal(conn.frames.length, parts.reduce((k, p) => k + p.expects.length, 0), 'one reply per request, nothing more');
    }
  } finally {
    conn.destroy();
  }
}

function gen(c: Ctx): Part {
  return weighted(c.r, OPEN_PARTS)(c);
}

async function expectAll(conn: RawConn, expects: Expect[]): Promise<void> {
  for (const e of expects) checkReply(e, await conn.reply(e.id));
  assert.equal(conn.badReply, null);
}

async function expectFatal(conn: RawConn, fatal: { id: number; code: string }): Promise<void> {
  await conn.closedByBroker();
  const errors = conn.frames.filter((f) => f.kind === 3 && f.id === fatal.id && (f.json as { code: string }).code === fatal.code);
  assert.equal(errors.length, 1, `one ${fatal.code} error frame for request ${fatal.id} before the close; got ${JSON.stringify(conn.frames.map((f) => [f.kind, f.id, f.json]))}`);
  assert.equal(conn.badReply, null);
}

async function topicRecords(log: Log, topic: string, partitions: number, isolation?: 'read_committed'): Promise<LogRecord[][]> {
  const out: LogRecord[][] = [];
  for (let p = 0; p < partitions; p++) {
    const records: LogRecord[] = [];
    for (let offset = 0; ; ) {
      const res = await log.read(topic, p, offset, { maxRecords: 500, isolation });
      records.push(...res.records);
      if (res.nextOffset >= res.highWatermark) break;
      offset = res.nextOffset;
    }
    out.push(records);
  }
  return out;
}

/** The scratch topic holds exactly the acknowledged appends, each where its acknowledgement said. */
function checkScratch(scratch: LogRecord[][], accepted: Accepted[], never: Set<string>): void {
  for (const [p, records] of scratch.entries()) {
    const mine = accepted.filter((a) => a.p === p).sort((a, b) => a.base - b.base);
    let next = 0;
    for (const a of mine) {
      assert.equal(a.base, next, `scratch ${p}: acknowledged appends are contiguous from 0 (at ${next})`);
      assert.equal(a.last, a.base + a.records.length - 1);
      sameRecords(records.slice(a.base, a.last + 1), a.records, `scratch ${p}@${a.base}`);
      next = a.last + 1;
    }
    assert.equal(records.length, next, `scratch ${p}: nothing beyond the acknowledged appends`);
    for (const rec of records) {
      const v = rec.value === null ? '' : Buffer.from(rec.value).toString('latin1');
      assert.ok(![...never].some((tag) => v.startsWith(`${tag}:`)), 'a request after a broken frame was executed');
    }
  }
}

test('protocol fuzz: the broker survives, answers per the protocol, and no bad request changes the data', async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  let broker: BrokerProcess = await startBroker(dataDir, { args: ['--max-frame-bytes', String(MAX_FRAME)] });
  s.defer(() => broker.stop());
  let client: RemoteLog = await openRemoteLog({ url: broker.url, retryForMs: 5000 });
  s.defer(() => client.close());
  const r = prng(SEED);

  // The golden topic: varied records (null and empty keys and values, binary, headers, given timestamps).
  await client.createTopic(GOLDEN, { partitions: 2 });
  // No fsync where the fuzzer writes: this test is about what gets in, not about crashes, and it appends a lot.
  await client.createTopic(SCRATCH, { partitions: 2, file: { fsync: 'never' } });
  await client.createTopic(TXN, { partitions: 1, file: { fsync: 'never' } });
  const written: ProducerRecord[][] = [[], []];
  for (const [p, n] of [[0, 80], [1, 50]] as const) {
    for (let i = 0; i < n; ) {
      const batch = randomRecords(r, Math.min(n - i, int(r, 1, 7)));
      batch.push(...(r() < 0.2 ? [{ key: Buffer.alloc(0), value: Buffer.alloc(int(r, 0, 3000), 7) }] : []));
      await client.append(GOLDEN, p, batch);
      written[p]!.push(...batch);
      i += batch.length;
    }
  }
  const golden = await topicRecords(client, GOLDEN, 2);
  golden.forEach((g, p) => sameRecords(g, written[p]!, `golden ${p} as written`));
  const shared = { golden, accepted: [] as Accepted[], never: new Set<string>() };
  const txn = new TxnFuzzer(client);
  await txn.init();
  const bystander = await RawConn.open(broker.port);
  s.defer(() => bystander.destroy());

  const stats: Stats = {};
  const started = Date.now();
  for (let done = 0; done < ITERATIONS; ) {
    const batch: Promise<void>[] = [];
    for (let k = 0; k < BATCH; k++, done++) {
      // Each case draws from its own generator, seeded from the run's: cases in flight together do not change each other's bytes.
      const seed = int(r, 0, 2 ** 32 - 1);
      if (r() < 0.05) {
        stats['txn'] = (stats['txn'] ?? 0) + 1;
        batch.push(txn.step(broker.port, seed));
        continue;
      }
      batch.push(runCase(broker.port, { ...shared, r: prng(seed), id: int(r, 0, 2 ** 32 - 200) }, stats));
      if (batch.length >= 8) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.ok(broker.alive, `the broker is up after ${done} cases: ${broker.stderr}`);
    await probe(bystander, `the connection opened before the fuzzing, after ${done} cases`);
    const p = int(r, 0, 1);
    const from = int(r, 0, golden[p]!.length - 1);
    sameRecords((await client.read(GOLDEN, p, from, { maxRecords: 10 })).records, golden[p]!.slice(from, from + 10), 'the client reads golden');
    const rec = randomRecords(r, 1);
    const a = await client.append(SCRATCH, 1, rec);
    shared.accepted.push({ p: 1, base: a.baseOffset, last: a.lastOffset, records: rec });
  }
  const fuzzMs = Date.now() - started;

  const verify = async (what: string) => {
    sameRecords((await topicRecords(client, GOLDEN, 2)).flat(), golden.flat(), `${what}: golden`);
    assert.deepEqual((await client.describeTopic(GOLDEN)).partitions.map((x) => x.endOffset), golden.map((g) => g.length), `${what}: golden's end offsets`);
    checkScratch(await topicRecords(client, SCRATCH, 2), shared.accepted, shared.never);
    await txn.verify(client, what);
    const names = (await client.listTopics()).map((x) => x.name).sort();
    assert.deepEqual(names, [GOLDEN, SCRATCH, TXN].sort(), `${what}: no other topic was created or deleted`);
  };
  await verify('after the fuzzing');
  assert.doesNotMatch(broker.stderr, /Warning|INTERNAL|Error/, 'no request failed inside the broker');

  // And it all survives a graceful restart, and a reopen of the data dir.
  await client.close();
  assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr);
  broker = await startBroker(dataDir, { port: broker.port });
  client = await openRemoteLog({ url: broker.url });
  await verify('after a restart');
  await client.close();
  assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null });
  const reopened = await openFileLog({ dataDir, readOnly: true });
  try {
    for (const [p, want] of golden.entries()) sameRecords(await readAll(reopened, GOLDEN, p, { from: 0 }), want, `golden ${p} on disk`);
  } finally {
    await reopened.close();
  }
  t.diagnostic(`${ITERATIONS} cases in ${fuzzMs} ms: ${JSON.stringify(stats)}; ${shared.accepted.length} scratch appends and ${txn.committed} transactions acknowledged`);
});
