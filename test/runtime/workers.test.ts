import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { loadApplication } from '../../src/dataflow/load-app.ts';
import { Job } from '../../src/runtime/job.ts';
import { readAll } from '../helpers/read-all.ts';

const APP = 'test/fixtures/two-stage-app.ts';
const dec = new TextDecoder();

async function runWith(workers: number, words: string[]): Promise<{ counts: Map<string, number[]>; histogram: Map<number, number[]>; recordsOut: number }> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-workers-'));
  const log: FileLog = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('words', { partitions: 3 });
    await log.createTopic('counts', { partitions: 2 });
    await log.createTopic('histogram', { partitions: 2 });
    for (let i = 0; i < words.length; i += 700) {
      const chunk = words.slice(i, i + 700);
      await log.append('words', (i / 700) % 3, chunk.map((w) => ({ key: null, value: Buffer.from(w) })));
    }
    const app = await loadApplication(APP);
    const result = await new Job(app, { log, untilEnd: true, workers, appFile: APP, maxBatchRecords: 250 }).run();
    // Per key, the sequence of emitted values: the order within a key is what must not change.
    const counts = new Map<string, number[]>();
    const histogram = new Map<number, number[]>();
    for (const p of [0, 1]) {
      for (const r of await readAll(log, 'counts', p)) {
        const v = JSON.parse(dec.decode(r.value!)) as { key: string; count: number };
        counts.set(v.key, [...(counts.get(v.key) ?? []), v.count]);
      }
      for (const r of await readAll(log, 'histogram', p)) {
        const v = JSON.parse(dec.decode(r.value!)) as { count: number; words: number };
        histogram.set(v.count, [...(histogram.get(v.count) ?? []), v.words]);
      }
    }
    return { counts, histogram, recordsOut: result.recordsOut };
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('--workers 2 gives the same per-key results as one thread, across two keyed stages', async () => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const vocab = Array.from({ length: 300 }, (_, i) => `w${i}`);
  const words = Array.from({ length: 21_000 }, () => vocab[Math.floor(vocab.length * rnd() ** 2)]!);
  const one = await runWith(1, words);
  const two = await runWith(2, words);
  assert.equal(one.recordsOut, 2 * words.length);
  assert.equal(two.recordsOut, one.recordsOut);
  assert.deepEqual(new Map([...two.counts].sort()), new Map([...one.counts].sort()));
  // Per word the counts are exactly 1..n.
  for (const [w, seq] of one.counts) assert.deepEqual(seq, Array.from({ length: seq.length }, (_, i) => i + 1), w);
  // The histogram stage sees, per count, one event per word that reached it (order between words may differ).
  for (const [c, seq] of one.histogram) assert.deepEqual(two.histogram.get(c)?.length, seq.length, `count ${c}`);
});

test('a worker that cannot load the application fails the job with a clear error', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-workers-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    const app = await loadApplication(APP);
    await assert.rejects(new Job(app, { log, untilEnd: true, workers: 2, appFile: 'test/fixtures/no-such-app.ts' }).run(), /could not load|no application file/);
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
