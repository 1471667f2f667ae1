// Requests pipelined before a broken frame: the broker carries them out and
// answers every one, then sends the error for the broken frame, then closes
// the connection; nothing after the broken frame runs. Raw sockets, so the
// bytes arrive exactly as written: all in one write, or the broken frame in a
// later write while the earlier requests may still be running.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/server/broker.ts';
import { HEADER_BYTES, KIND_REQUEST, REQUEST_TYPES, encodeFrame, encodeRecords } from '../../src/protocol/frames.ts';
import { RawConn, scope } from './helpers.ts';

const frame = (name: keyof typeof REQUEST_TYPES, id: number, json: unknown, blob?: Buffer) => Buffer.concat(encodeFrame(KIND_REQUEST, REQUEST_TYPES[name], id, json, blob));
const records = (...values: string[]) => encodeRecords(values.map((v) => ({ key: null, value: Buffer.from(v) })), false);

/** A frame whose JSON part does not parse. */
function badJson(id: number): Buffer {
  const f = frame('listTopics', id, {});
  f[HEADER_BYTES] = 0x78; // 'x' where '{' was
  return f;
}

/** The length field of a frame larger than any broker accepts, and a few bytes of it. */
const tooLarge = () => Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(8)]);

const BROKEN: [string, () => Buffer, string][] = [
  ['JSON that does not parse', () => badJson(90), 'PROTOCOL_ERROR'],
  ['a frame over --max-frame-bytes', tooLarge, 'TOO_LARGE'],
  ['a frame of kind 5', () => Buffer.concat(encodeFrame(5, REQUEST_TYPES.hello, 91, {})), 'PROTOCOL_ERROR'],
];

for (const [what, broken, code] of BROKEN) {
  for (const split of [false, true]) {
    test(`requests before ${what} are answered before the error and the close (${split ? 'broken frame in a later write' : 'one write'})`, async (t) => {
      const s = scope(t);
      const broker = await Broker.start({ dataDir: s.dir(), listen: '127.0.0.1:0', http: null });
      s.defer(() => broker.close());
      await broker.log.createTopic('t', { partitions: 1 });
      const conn = await RawConn.open(broker.address.port);
      s.defer(() => conn.destroy());

      const before = Buffer.concat([
        frame('hello', 1, {}),
        frame('append', 2, { topic: 't', partition: 0, count: 2 }, records('a', 'b')),
        frame('waitFor', 3, { topic: 't', partition: 0, offset: 1000, timeoutMs: 30_000 }), // parked until the close
        frame('append', 4, { topic: 't', partition: 0, count: 1 }, records('c')),
        frame('getTopic', 5, { name: 'nope' }), // an error for this request only
      ]);
      const after = frame('append', 6, { topic: 't', partition: 0, count: 1 }, records('never'));
      if (split) {
        conn.write(before);
        conn.write(Buffer.concat([broken(), after]));
      } else {
        conn.write(Buffer.concat([before, broken(), after]));
      }
      await conn.closedByBroker(15_000);

      const byId = new Map(conn.frames.map((f) => [f.id, f]));
      assert.deepEqual(byId.get(1)?.json, { ok: true });
      assert.deepEqual(byId.get(2)?.json, { baseOffset: 0, lastOffset: 1 });
      assert.deepEqual(byId.get(3)?.json, { ready: false }, 'the parked wait is answered, not dropped');
      assert.deepEqual(byId.get(4)?.json, { baseOffset: 2, lastOffset: 2 });
      assert.equal((byId.get(5)?.json as { code?: string } | undefined)?.code, 'UNKNOWN_TOPIC');
      assert.equal(byId.has(6), false, 'the request after the broken frame is not answered');
      const last = conn.frames.at(-1)!;
      assert.equal(last.kind, 3, 'the error for the broken frame comes last');
      assert.equal((last.json as { code: string }).code, code);
      assert.equal(conn.frames.length, 6, `five answers and one error: ${JSON.stringify(conn.frames.map((f) => [f.id, f.json]))}`);
      assert.equal(conn.badReply, null);

      const stored = (await broker.log.read('t', 0, 0)).records.map((r) => Buffer.from(r.value!).toString());
      assert.deepEqual(stored, ['a', 'b', 'c'], 'what was answered was written; nothing after the broken frame was');
    });
  }
}
