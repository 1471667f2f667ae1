// The restore's fast paths (runtime/changelog-read.ts) against what they stand
// in for: a key cut at its quotes equals JSON.parse of it, a value cut at
// `{"s":` equals JSON.stringify of its parsed "s", for keys and states full of
// the characters JSON escapes; and the read of a real changelog keeps the
// newest committed value per key, in the order of the newest records, with
// aborted transactions, tombstones and a compacted start left out.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ATTR_TRANSACTIONAL } from '../../src/log/batch.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { parseChangelogKey, readLatestValues, splitKeyValue } from '../../src/runtime/changelog-read.ts';
import { prng } from '../fixtures/crash-harness.ts';

const ALPHABET = ['a', 'z', '0', '9', ' ', '"', '\\', ',', ']', '[', '{', '}', ':', '\n', '\u0001', 'é', '€', '😀', '\ud800', '"t":', '"s":', '","'];

function randomString(rnd: () => number, max: number): string {
  let s = '';
  const n = Math.floor(rnd() * max);
  for (let i = 0; i < n; i++) s += rnd() < 0.7 ? String.fromCharCode(97 + Math.floor(rnd() * 26)) : ALPHABET[Math.floor(rnd() * ALPHABET.length)]!;
  return s;
}

test('a key cut at its quotes is what JSON.parse makes of it, for every kind of operator and key', () => {
  const rnd = prng(15);
  for (let i = 0; i < 20_000; i++) {
    const key = JSON.stringify(['key', randomString(rnd, 6), Math.floor(rnd() * 3000), randomString(rnd, 12)]);
    assert.deepEqual(parseChangelogKey(key), JSON.parse(key), key);
  }
  for (const k of [['key', 'op', 0, ''], ['key', '', 10, 'x'], ['key', 'op', 1.5, 'x'], ['key', 'op', -1, 'x'], ['key', 'op', 1e21, 'x'], ['key', 'op', '7', 'x'], ['source', 'lines'], ['time'], ['state', 'op', 3, 'k'], ['key', 'op', 2, 'k', 'extra']]) {
    const key = JSON.stringify(k);
    assert.deepEqual(parseChangelogKey(key), k, key);
  }
  // Not written by JSON.stringify, but JSON all the same: still read as JSON.
  for (const key of ['["key","op",01,"k"]', '[ "key","op",1,"k"]', '["key","op",1,"k" ]', '["key","o\\u0070",1,"k"]']) {
    let expected: unknown;
    try {
      expected = JSON.parse(key);
    } catch (e) {
      expected = e;
    }
    if (expected instanceof Error) assert.throws(() => parseChangelogKey(key), SyntaxError, key);
    else assert.deepEqual(parseChangelogKey(key), expected, key);
  }
});

test("a value's state and timers cut at `{\"s\":` are JSON.stringify of its parsed parts", () => {
  const rnd = prng(16);
  const randomJson = (depth: number): unknown => {
    const r = rnd();
    if (depth > 2 || r < 0.3) return randomString(rnd, 8);
    if (r < 0.45) return Math.floor(rnd() * 1e6) / 100;
    if (r < 0.5) return null;
    if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 3) }, () => randomJson(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 3; i++) o[rnd() < 0.2 ? 't' : randomString(rnd, 4)] = randomJson(depth + 1);
    return o;
  };
  for (let i = 0; i < 10_000; i++) {
    const parts: string[] = [];
    const s = rnd() < 0.9 ? randomJson(0) : undefined;
    const t = rnd() < 0.2 ? { e: [[1, randomString(rnd, 4)]], p: [] } : undefined;
    if (s !== undefined) parts.push(`"s":${JSON.stringify(s)}`);
    if (t !== undefined) parts.push(`"t":${JSON.stringify(t)}`);
    if (parts.length === 0) continue;
    const v = `{${parts.join(',')}}`;
    const got = splitKeyValue(v);
    assert.deepEqual(got, { state: s === undefined ? '' : JSON.stringify(s), timers: t === undefined ? '' : JSON.stringify(t) }, v);
  }
});

test('the changelog read keeps the newest committed value per key, in the order of the newest records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'changelog-read-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    const topic = 'j-changelog';
    await log.createTopic(topic, { partitions: 1, compact: true, file: { segmentBytes: 4096 } });
    const p = await log.partition(topic, 0);
    const rec = (k: string, v: string | null) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v) });
    const model = new Map<string, string>();
    const rnd = prng(17);
    const producer = await log.initProducer('j');
    let seq = 0;
    for (let round = 0; round < 60; round++) {
      const records = Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => {
        const k = JSON.stringify(['key', 'op', Math.floor(rnd() * 3), `k${Math.floor(rnd() * 200)}é`]);
        return rec(k, rnd() < 0.1 ? null : `{"s":${round}}`);
      });
      if (rnd() < 0.2) {
        // A transaction left undecided by a producer that is then replaced is aborted: none of it is read.
        const stale = await log.initProducer('stale');
        const inFlight = await p.append(records, { producerId: stale.producerId, producerEpoch: stale.epoch, baseSequence: 1 }, ATTR_TRANSACTIONAL);
        await log.initProducer('stale');
        p.resolveTxn(inFlight.baseOffset);
        continue;
      }
      await log.commitTransaction(producer, ++seq, { writes: [{ topic, partition: 0, records }], offsets: [] });
      for (const r of records) {
        const k = r.key.toString();
        model.delete(k);
        model.set(k, r.value === null ? '' : r.value.toString());
      }
      if (round % 20 === 19) await log.maintain();
    }
    assert.ok(p.cleaner.runs > 0 && p.segments.length > 3, 'compacted, over several segments');
    // Tombstones are kept (deleteRetentionMs is a day): the model keeps their keys too.
    assert.deepEqual([...(await readLatestValues(log, topic))], [...model]);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
