// Exactly-once for a keyed, stateful job with several input, state and output
// partitions, proven by killing real processes: the built CLI runs a
// topic-to-topic word count (test/fixtures/word-count-topics.ts) with
// `--until-end`, SIGKILLed at seeded-random moments and restarted until it
// exits 0, with 1 and with 2 workers, and with the state on disk; committed output and saved state must
// equal a crash-free run's. The bank job's crash test, the zombie and the disk
// faults are in exactly-once.test.ts; `npm run proof` runs this file with 25
// kills per run (test/fixtures/proof-scale.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  WORD_COUNT_APP,
  checkpointsOf,
  committedOutput,
  copyDataDir,
  crashLoop,
  describeKills,
  generateLines,
  perKey,
  sameList,
  sameOutput,
  savedState,
  setupDataDir,
  sluice,
  uncovered,
} from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import { splitWords } from '../../examples/word-count/words.ts';

const WORD_COUNT_KILLS = scaled(4, 25); // per run, with 1 and with 2 workers
const LINES = 12_000; // x 8 words = 96,000 counts

const valueOf = (line: string) => (JSON.parse(line) as { value: unknown }).value;

/** Word count's own check: per output partition and word, counts 1, 2, ... n with n the word's total in the input. */
function checkCounts(output: Map<number, string[]>, lines: string[]): void {
  const totals = new Map<string, number>();
  for (const l of lines) for (const w of splitWords(l)) totals.set(w, (totals.get(w) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const list of output.values()) {
    for (const line of list) {
      const { word, count } = valueOf(line) as { word: string; count: number };
      const prev = seen.get(word) ?? 0;
      if (count !== prev + 1) assert.fail(`${word}: count ${count} after ${prev}`);
      seen.set(word, count);
    }
  }
  assert.equal(seen.size, totals.size, 'every word counted');
  for (const [w, n] of totals) if (seen.get(w) !== n) assert.fail(`${w}: final count ${seen.get(w)}, input has ${n}`);
}

test(`word count topic to topic (4 -> 27 state -> 3 partitions): SIGKILLed ${WORD_COUNT_KILLS}+ times, with 1 and with 2 workers`, async (t) => {
  const root = tmpDir(t, 'sluice-eo-wc-');
  const lines = generateLines(LINES, 77);
  const input = join(root, 'input');
  // Lines are JSON strings (what `sluice produce` would store); the app reads them as text, quotes and all.
  await setupDataDir(input, [{ topic: 'lines', partitions: 4, values: lines.map((l) => JSON.stringify(l)) }], [{ topic: 'counts', partitions: 3 }]);
  const clean = join(root, 'clean');
  copyDataDir(input, clean);
  const args = ['run', WORD_COUNT_APP, '--until-end', '--commit-interval-ms', '10'];
  const cleanRun = await sluice(args, clean);
  const want = await committedOutput(clean, 'counts');
  const wantState = await savedState(clean, 'word-count-topics');
  checkCounts(want, lines);
  assert.equal([...want.values()].reduce((s, l) => s + l.length, 0), LINES * 8);

  const crashOnce = async (name: string, extra: string[], seed: number) => {
    const dir = join(root, name);
    copyDataDir(input, dir);
    const res = await crashLoop({
      dataDir: dir,
      args: [...args, ...extra],
      kills: WORD_COUNT_KILLS,
      seed,
      checkpoints: checkpointsOf(cleanRun),
      totalInput: LINES,
      group: 'word-count-topics',
      inputTopic: 'lines',
      outputTopic: 'counts',
      untilCovered: true,
    });
    t.diagnostic(`${name}: ${describeKills(res)}`);
    assert.ok(res.kills >= WORD_COUNT_KILLS);
    assert.deepEqual(uncovered(res, { totalInput: LINES }), [], `kills spread over the run: ${res.progress.join(' ')}`);
    return { out: await committedOutput(dir, 'counts'), state: await savedState(dir, 'word-count-topics') };
  };

  await t.test('1 worker: identical output per partition, in order, and identical state', async () => {
    const got = await crashOnce('crashed-1', [], 2);
    sameOutput(got.out, want, 'crashed vs crash-free');
    checkCounts(got.out, lines);
    assert.deepEqual(got.state, wantState);
  });

  await t.test('state on disk without a cache (every clean key read back from the store): identical output per partition, in order, and identical state', async () => {
    const got = await crashOnce('crashed-disk', ['--state-backend', 'disk', '--state-cache-mb', '0'], 4);
    sameOutput(got.out, want, 'crashed on disk vs crash-free in memory');
    checkCounts(got.out, lines);
    assert.deepEqual(got.state, wantState);
  });

  await t.test('2 workers: identical output per partition and key, and identical state', async () => {
    // With workers, the keyed stage runs on two threads and their outputs reach the
    // sinks in the order the threads answer: records of different words may
    // interleave differently within an output partition than in the 1-worker run
    // (and than in another 2-worker run). Each word's own sequence — a word's
    // counts all go to one state partition and one output partition — is
    // deterministic, so that is what must match: per output partition, per key.
    const got = await crashOnce('crashed-2', ['--workers', '2'], 3);
    const g = perKey(got.out);
    const w = perKey(want);
    assert.equal(g.size, w.size, 'the same (partition, word) pairs');
    for (const [k, list] of w) sameList(g.get(k), list, `partition/word ${k.replace('\0', '/')}`);
    checkCounts(got.out, lines);
    assert.deepEqual(got.state, wantState);
  });
});
