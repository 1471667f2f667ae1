// Log.readBatches: the batches as stored, for readers that build no record
// objects (exec's replay). What they hold must be what read returns, record
// for record, from any offset, across segment rolls, transaction markers and
// tombstones; and a wrong offset is refused the same way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import { forEachValue } from '../../../src/log/batch.ts';
import type { Log } from '../../../src/log/log.ts';
import { readAll } from '../../helpers/read-all.ts';
import type { LogFactory } from './factory.ts';
import { b, withLog } from './helpers.ts';

/** Every record from `from` on through readBatches, as [offset, value], in reads of `maxRecords`. */
async function viaBatches(log: Log, topic: string, from: number, maxRecords: number): Promise<[number, string | null][]> {
  const out: [number, string | null][] = [];
  for (let offset = from; ; ) {
    const r = await log.readBatches(topic, 0, offset, { maxRecords });
    const buf = Buffer.from(r.batches.buffer, r.batches.byteOffset, r.batches.byteLength);
    const seen = forEachValue(r.batches, offset, Infinity, (off, start, length) => out.push([off, length < 0 ? null : buf.toString('utf8', start, start + length)]));
    assert.equal(seen, r.records, 'records counts what is at or after the offset read from');
    if (r.nextOffset >= r.highWatermark) return out;
    assert.ok(r.nextOffset > offset, `readBatches made no progress at ${offset}`);
    offset = r.nextOffset;
  }
}

export function batchSuite(f: LogFactory): void {
  test(`${f.name}: readBatches holds what read returns, from any offset, across rolls, transaction markers and tombstones`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('j', { file: { segmentBytes: 600 } });
      const producer = await log.initProducer('batches-test');
      let n = 0;
      for (let i = 1; i <= 20; i++) {
        const records = Array.from({ length: 1 + (i % 4) }, (_, k) => ({ key: k === 0 ? null : b(`k${k}`), value: i % 5 === 0 && k === 1 ? null : b(`{"v":${n++}}`) }));
        // Plain appends and transactions (whose commit markers take offsets) mixed, as in a journal.
        if (i % 2 === 0) await log.commitTransaction(producer, i / 2, { writes: [{ topic: 'j', partition: 0, records }], offsets: [] });
        else await log.append('j', 0, records);
      }
      const want = (await readAll(log, 'j', 0)).map((r): [number, string | null] => [r.offset, r.value === null ? null : Buffer.from(r.value).toString()]);
      assert.ok(want.some(([, v]) => v === null), 'a tombstone is among them');
      assert.ok((await log.describeTopic('j')).partitions[0]!.segments! > 2, 'the records span segments');
      for (const from of [0, 1, 5, 17]) {
        for (const maxRecords of [1, 3, 1000]) {
          const start = want.findIndex(([off]) => off >= from);
          assert.deepEqual(await viaBatches(log, 'j', from, maxRecords), want.slice(start), `from ${from}, ${maxRecords} at a time`);
        }
      }
      const end = (await log.endOffsets('j'))[0]!.endOffset;
      const atEnd = await log.readBatches('j', 0, end);
      assert.deepEqual([atEnd.batches.length, atEnd.records, atEnd.nextOffset], [0, 0, end]);
      await assert.rejects(log.readBatches('j', 0, end + 1), (e) => isSluiceError(e, 'OFFSET_OUT_OF_RANGE'));
      await assert.rejects(log.readBatches('nope', 0, 0), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
    });
  });
}
