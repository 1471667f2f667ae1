// Replay reads the journal's batches as stored and copies the values out
// (src/exec/journal.ts): across many reads, from a snapshot's offset, with
// skipped (poison) inputs at batch edges, transaction markers between
// batches, and a journal shorter than the committed count.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../src/errors.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { replayJournal } from '../../src/exec/journal.ts';
import { originKey } from '../../src/exec/input-lines.ts';
import { tmpDir } from '../helpers/tmp.ts';

const TOPIC = 'job-journal';

test('replay feeds the journal exactly, across many reads, skipping what was passed over', async (t) => {
  const log = await openFileLog({ dataDir: tmpDir(t) });
  try {
    await log.createTopic(TOPIC, { file: { segmentBytes: 64 * 1024 } });
    const producer = await log.initProducer('journal-test');
    // Journal records as exec writes them: one transaction per checkpoint, of varying size.
    const journal: { offset: number; line: string }[] = [];
    let n = 0;
    for (let c = 1; c <= 60; c++) {
      const records = Array.from({ length: (c * 37) % 101 }, () => {
        const line = JSON.stringify({ i: n, pad: 'x'.repeat(n % 23) });
        n++;
        return { key: originKey('in', 0, n), value: Buffer.from(line) };
      });
      if (records.length === 0) continue;
      const r = await log.commitTransaction(producer, c, { writes: [{ topic: TOPIC, partition: 0, records }], offsets: [] });
      const base = r.appended[0]!.baseOffset;
      records.forEach((rec, k) => journal.push({ offset: base + k, line: rec.value.toString() }));
    }
    assert.ok(journal.length > 2500);
    const skipped = new Set([journal[0]!.offset, journal[99]!.offset, journal[100]!.offset, journal.at(-1)!.offset]);
    const replay = async (fromIndex: number, count: number, readBytes: number) => {
      const chunks: Buffer[] = [];
      const fed: number[] = [];
      const n = await replayJournal(log, {
        topic: TOPIC,
        partition: 0,
        fromOffset: journal[fromIndex]!.offset,
        count,
        skipped,
        label: 'job',
        readBytes,
        write: async (lines) => void chunks.push(lines),
        onRecord: (off) => fed.push(off),
      });
      return { n, text: Buffer.concat(chunks).toString(), fed, writes: chunks.length };
    };
    for (const [fromIndex, count, readBytes] of [[0, journal.length, 4096], [0, journal.length, 1 << 20], [137, 1500, 1000], [journal.length - 1, 1, 64]] as const) {
      const want = journal.slice(fromIndex, fromIndex + count).filter((j) => !skipped.has(j.offset));
      const got = await replay(fromIndex, count, readBytes);
      assert.equal(got.n, want.length, `from #${fromIndex}, ${count} records, reads of ${readBytes} bytes`);
      assert.equal(got.text, want.map((j) => j.line + '\n').join(''));
      assert.deepEqual(got.fed, want.map((j) => j.offset));
      if (readBytes === 4096) assert.ok(got.writes > 20, `reads of 4 KiB make many writes (${got.writes})`);
    }
    // Fewer records than the committed count: refused, never a state rebuilt from part of the journal.
    await assert.rejects(replay(0, journal.length + 1, 4096), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /holds \d+ of the \d+ committed inputs; it was truncated or deleted/.test(e.message));
  } finally {
    await log.close();
  }
});
