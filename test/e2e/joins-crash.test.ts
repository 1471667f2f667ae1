// Tables and joins survive crashes exactly once: the built CLI runs
// test/fixtures/joins-topics.ts (a table with deletes, a table from a stream,
// a table-table, a stream-table and a stream-stream left join) with
// `--until-end`, is SIGKILLed at seeded-random moments and restarted until it
// exits 0. Its committed output, saved state (table rows, waiting events,
// join buffers) and saved event time (watermarks, late counters) must equal a
// crash-free run's: the replay after each restart must see the same rows,
// the same buffered partners and the same watermarks as the first run did.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkpointsOf, committedOutput, copyDataDir, crashLoop, prng, sameOutput, savedState, setupDataDir, sluice, uncovered } from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import type { Input } from '../fixtures/joins-topics.ts';

const APP = fileURLToPath(new URL('../fixtures/joins-topics.ts', import.meta.url));
const RECORDS = 15_000;
const KILLS = scaled(3, 10); // npm test; npm run proof (test/fixtures/proof-scale.ts)
const OUTPUTS = ['user-prices', 'enriched', 'click-through'];

/**
 * About 2 ms of event time per record, jittered by ±300 ms (within the
 * watermark's 500 ms); 1% delayed by up to 5 s (late for the click join).
 * Users are created, change plan and are deleted; requests come for users
 * that exist, do not yet (they wait) or never will; clicks follow searches by
 * 0-4 s, so some fall outside the 3 s interval.
 */
function generate(n: number, seed: number): string[] {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const searches: { id: number; ts: number }[] = [];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const front = 1_000_000 + i * 2;
    const ts = front + Math.round(rnd() < 0.01 ? -rnd() * 5000 : (rnd() - 0.5) * 600);
    const user = `u${Math.floor(rnd() * 150)}`;
    const x = rnd();
    let r: Input;
    if (x < 0.12) r = { type: 'user', ts, user, plan: rnd() < 0.2 ? null : pick(['free', 'pro', 'team', 'gold']) };
    else if (x < 0.13) r = { type: 'plan', ts, plan: pick(['free', 'pro', 'team']), price: Math.floor(rnd() * 100) };
    else if (x < 0.5) r = { type: 'request', ts, id: i, user: rnd() < 0.05 ? `ghost${i}` : user };
    else if (x < 0.75) {
      r = { type: 'search', ts, id: i, query: `q${Math.floor(rnd() * 1000)}` };
      searches.push({ id: i, ts });
    } else {
      const recent = searches.filter((s) => s.ts > front - 4000);
      if (recent.length === 0) continue;
      r = { type: 'click', ts, search: pick(recent).id };
    }
    out.push(JSON.stringify(r));
  }
  return out;
}

const time = async (dir: string) => JSON.parse((await sluice(['time', 'joins-topics', '--json'], dir)).stdout) as { watermark: unknown; counters: Record<string, Record<string, number>> };

/** Read with the CLI, several at once: each `sluice` start costs about a second. */
async function results(dir: string) {
  const [state, when, ...outputs] = await Promise.all([savedState(dir, 'joins-topics'), time(dir), ...OUTPUTS.map((topic) => committedOutput(dir, topic))]);
  return { outputs: new Map(OUTPUTS.map((topic, i) => [topic, outputs[i]!])), state: state as Record<string, Record<string, unknown>>, time: when };
}

const values = (output: Map<number, string[]>) => [...output.values()].flat().map((l) => (JSON.parse(l) as { value: unknown }).value);

test(`tables and joins: ${RECORDS.toLocaleString('en-US')} records, SIGKILLed ${KILLS}+ times, give the crash-free run's output, state and counters`, async (t) => {
  const root = tmpDir(t, 'sluice-joins-crash-');
  const input = join(root, 'input');
  const records = generate(RECORDS, 9);
  await setupDataDir(
    input,
    [{ topic: 'join-input', partitions: 3, values: records }],
    OUTPUTS.map((topic) => ({ topic, partitions: 2 })),
  );
  const clean = join(root, 'clean');
  copyDataDir(input, clean);
  const args = ['run', APP, '--until-end', '--commit-interval-ms', '10'];
  const cleanRun = await sluice(args, clean);
  const want = await results(clean);

  // The crash-free run did what the test is about.
  assert.equal(want.time.watermark, 'end', 'bounded input ends event time');
  assert.ok((want.time.counters['click-through']?.['late-dropped'] ?? 0) > 0, 'some clicks or searches were late');
  const clicks = values(want.outputs.get('click-through')!) as { clickedAt: number | null }[];
  assert.ok(clicks.some((c) => c.clickedAt === null) && clicks.some((c) => c.clickedAt !== null), 'searches with and without clicks');
  const enriched = values(want.outputs.get('enriched')!) as { user: string; plan: string | null }[];
  assert.ok(enriched.some((e) => e.plan !== null) && enriched.some((e) => e.plan === null && !e.user.startsWith('ghost')), 'requests with a user, and for deleted users');
  const prices = values(want.outputs.get('user-prices')!);
  assert.ok(prices.includes(null), 'deleted users leave the table-table join as tombstones');
  assert.ok(Object.keys(want.state['users'] ?? {}).length > 50, 'the users table has rows at the end');
  assert.equal(Object.keys(want.state['click-through'] ?? {}).length, 0, 'the interval join let go of everything at the end');
  for (const [key, row] of Object.entries(want.state['enrich'] ?? {})) assert.deepEqual(Object.keys(row as object), ['t'], `enrich ${key}: a row, nothing left waiting`);

  const dir = join(root, 'crashed');
  copyDataDir(input, dir);
  const res = await crashLoop({
    dataDir: dir,
    args,
    kills: KILLS,
    seed: 21,
    checkpoints: checkpointsOf(cleanRun),
    totalInput: records.length,
    group: 'joins-topics',
    inputTopic: 'join-input',
    outputTopic: 'enriched',
    untilCovered: true,
  });
  t.diagnostic(`${res.kills} kills, committed input after each: ${res.progress.join(' ')}`);
  assert.ok(res.kills >= KILLS);
  assert.deepEqual(uncovered(res, { totalInput: records.length }), [], `kills spread over the run: ${res.progress.join(' ')}`);
  const got = await results(dir);
  for (const topic of OUTPUTS) sameOutput(got.outputs.get(topic)!, want.outputs.get(topic)!, `${topic}: crashed vs crash-free`);
  assert.deepEqual(got.state, want.state, 'saved state');
  assert.deepEqual(got.time, want.time, 'saved event time and counters');
});
