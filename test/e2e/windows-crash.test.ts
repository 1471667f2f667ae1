// Event time survives crashes exactly once: the built CLI runs a windowed job
// (test/fixtures/windowed-topics.ts: dedupe, tumbling windows with early
// results and dropped late events, sessions with corrections) with
// `--until-end`, is SIGKILLed at seeded-random moments — often mid-window —
// and restarted until it exits 0. Its committed output, saved state and saved
// event time (watermarks, late and duplicate counters) must equal a crash-free
// run's. The watermark is stamped per event and saved with the state, so the
// replay after each restart decides lateness exactly as the first run did.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkpointsOf, committedOutput, copyDataDir, crashLoop, perKey, prng, sameList, sameOutput, savedState, setupDataDir, sluice, uncovered } from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import type { Click } from '../fixtures/windowed-topics.ts';

const APP = fileURLToPath(new URL('../fixtures/windowed-topics.ts', import.meta.url));
const CLICKS = scaled(15_000, 30_000);
const KILLS = scaled(3, 10); // npm test; npm run proof (test/fixtures/proof-scale.ts)

/**
 * Clicks about 2 ms apart in bursts: 4 users at a time for 8 s of event time,
 * then the next 4 (so sessions end). Jittered by up to ±1.5 s; 1% delayed by
 * up to 15 s (late: dropped by the 10 s windows, correcting closed sessions);
 * 3% sent twice.
 */
function generateClicks(n: number, seed: number): string[] {
  const rnd = prng(seed);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const t = i * 2;
    const delay = rnd() < 0.01 ? -rnd() * 15_000 : (rnd() - 0.5) * 3000;
    const c: Click = { ts: 1_000_000 + t + Math.round(delay), user: `u${(Math.floor(t / 8000) % 10) * 4 + Math.floor(rnd() * 4)}`, id: i };
    out.push(JSON.stringify(c));
    if (rnd() < 0.03) out.push(JSON.stringify(c));
  }
  return out.slice(0, n);
}

const time = async (dir: string) => JSON.parse((await sluice(['time', 'windowed-topics', '--json'], dir)).stdout) as { watermark: unknown; counters: Record<string, Record<string, number>> };

/** Read with the CLI, several at once: each `sluice` start costs about a second. */
async function results(dir: string) {
  const [counts, sessions, state, when] = await Promise.all([committedOutput(dir, 'click-counts'), committedOutput(dir, 'click-sessions'), savedState(dir, 'windowed-topics'), time(dir)]);
  return { counts, sessions, state, time: when };
}

test(`windows: ${CLICKS.toLocaleString('en-US')} clicks, SIGKILLed ${KILLS}+ times, give the crash-free run's results, state and counters`, async (t) => {
  const root = tmpDir(t, 'sluice-windows-crash-');
  const input = join(root, 'input');
  await setupDataDir(input, [{ topic: 'clicks', partitions: 3, values: generateClicks(CLICKS, 5) }], [
    { topic: 'click-counts', partitions: 2 },
    { topic: 'click-sessions', partitions: 2 },
  ]);
  const clean = join(root, 'clean');
  copyDataDir(input, clean);
  const args = ['run', APP, '--until-end', '--commit-interval-ms', '10'];
  const cleanRun = await sluice(args, clean);
  const want = await results(clean);

  // The crash-free run did what the test is about: late events and duplicates were met, windows closed.
  assert.ok((want.time.counters['per-10s']?.['late-dropped'] ?? 0) > 0, 'some clicks were late for their 10 s window');
  assert.ok((want.time.counters['unique-clicks']?.['duplicates'] ?? 0) > 0, 'some clicks were duplicates');
  assert.equal(want.time.watermark, 'end', 'bounded input ends event time');
  const sessions = [...want.sessions.values()].flat().map((l) => (JSON.parse(l) as { value: { kind: string } }).value.kind);
  assert.ok(sessions.includes('final') && sessions.includes('correction'), 'sessions closed, and some were corrected by late clicks');
  assert.deepEqual(want.state, {}, 'every window closed and was purged at the end of input');

  const crashed = async (name: string, extra: string[], seed: number) => {
    const dir = join(root, name);
    copyDataDir(input, dir);
    const res = await crashLoop({
      dataDir: dir,
      args: [...args, ...extra],
      kills: KILLS,
      seed,
      checkpoints: checkpointsOf(cleanRun),
      totalInput: CLICKS,
      group: 'windowed-topics',
      inputTopic: 'clicks',
      outputTopic: 'click-counts',
      untilCovered: true,
    });
    t.diagnostic(`${name}: ${res.kills} kills, committed input after each: ${res.progress.join(' ')}`);
    assert.ok(res.kills >= KILLS);
    assert.deepEqual(uncovered(res, { totalInput: CLICKS }), [], `kills spread over the run: ${res.progress.join(' ')}`);
    return results(dir);
  };

  await t.test('1 worker: identical output per partition, in order; identical state, watermarks and counters', async () => {
    const got = await crashed('crashed-1', [], 11);
    sameOutput(got.counts, want.counts, 'click-counts: crashed vs crash-free');
    sameOutput(got.sessions, want.sessions, 'click-sessions: crashed vs crash-free');
    assert.deepEqual(got.state, want.state);
    assert.deepEqual(got.time, want.time);
  });

  await t.test('state on disk without a cache (windows and their timers read back from the store): identical output, state, watermarks and counters', async () => {
    const got = await crashed('crashed-disk', ['--state-backend', 'disk', '--state-cache-mb', '0'], 12);
    sameOutput(got.counts, want.counts, 'click-counts: crashed on disk vs crash-free in memory');
    sameOutput(got.sessions, want.sessions, 'click-sessions: crashed on disk vs crash-free in memory');
    assert.deepEqual(got.state, want.state);
    assert.deepEqual(got.time, want.time);
  });

  await t.test('2 workers (watermarks forwarded across the re-partitioning): same results per key, same resolved sessions, same counters', async () => {
    const got = await crashed('crashed-2', ['--workers', '2'], 12);
    // click-counts follows the first keyBy: each user's results arrive in source order, exactly as in one thread.
    const gk = perKey(got.counts);
    const wk = perKey(want.counts);
    assert.equal(gk.size, wk.size, 'click-counts: the same (partition, user) pairs');
    for (const [k, list] of wk) sameList(gk.get(k), list, `click-counts, partition/user ${k.replace('\0', '/')}`);
    // Sessions follow a second keyBy: two threads feed each user's session operator, so a user's clicks
    // interleave in an order that depends on timing, and so do early merges. What may not differ is the
    // outcome: after corrections and merges, the same sessions with the same counts.
    assert.deepEqual(resolvedSessions(got.sessions), resolvedSessions(want.sessions));
    assert.deepEqual(got.time, want.time);
  });
});

interface SessionResult {
  key: string;
  start: number;
  end: number;
  value: number;
  revision: number;
  replaces?: { start: number; end: number }[];
}

/** Each user's sessions as the results say in the end: the newest revision of each, minus those a merge replaced. */
function resolvedSessions(output: Map<number, string[]>): string[] {
  const latest = new Map<string, SessionResult>();
  const replaced = new Set<string>();
  for (const line of [...output.values()].flat()) {
    const r = (JSON.parse(line) as { value: SessionResult }).value;
    const id = `${r.key}@${r.start}-${r.end}`;
    if ((latest.get(id)?.revision ?? 0) < r.revision) latest.set(id, r);
    for (const x of r.replaces ?? []) replaced.add(`${r.key}@${x.start}-${x.end}`);
  }
  return [...latest].filter(([id]) => !replaced.has(id)).map(([id, r]) => `${id}: ${r.value}`).sort();
}
