// The sessionization example: per user, runs of clicks without a 30-minute
// pause, reported when over — on hand-made clicks (a straggler bridging two
// sessions; clicks too late), against the batch reference on generated
// out-of-order clicks in the TestDriver, and once end to end through the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, GAP_MS, visits, type Click, type Session } from '../../examples/sessions/app.ts';
import { referenceSessions, sortSessions, tooLate } from '../../examples/sessions/reference.ts';
import { generateClicks } from '../../examples/sessions/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/sessions/app.ts', import.meta.url));

function driver() {
  return new TestDriver(build({ clicks: placeholderSource('clicks'), sessions: placeholderSink('user-sessions') }));
}

const at = (hm: string) => Date.parse(`2024-03-01T${hm}:00Z`);
const click = (hm: string, userId: string, page: string): Click => ({ ts: at(hm), userId, page });
const show = (s: Session) => `${s.userId} ${s.start.slice(11, 16)}-${s.end.slice(11, 16)} ${s.clicks} ${s.pages.join(',')}`;

test('a delayed click bridges two sessions within the allowed lateness: one session, reported once it is over', () => {
  const d = driver();
  d.send('clicks', [click('10:00', 'ada', '/'), click('10:36', 'ada', '/pricing')]); // 36 minutes apart: two sessions so far
  d.send('clicks', [click('10:20', 'ada', '/docs')]); // the watermark is 10:35: the first session waits until 10:40
  assert.deepEqual(d.output('user-sessions'), [], 'nothing is over yet');
  d.send('clicks', [click('11:15', 'bob', '/')]); // the watermark reaches 11:14: ada's session waits until 10:36 + 30 + 10
  assert.deepEqual(d.output('user-sessions'), []);
  d.send('clicks', [click('11:17', 'bob', '/blog')]);
  const out = d.outputRecords<Session>('user-sessions');
  assert.deepEqual(out.map((r) => show(r.value)), ['ada 10:00-10:36 3 /,/docs,/pricing']);
  assert.equal(out[0]!.key, 'ada', 'sessions are keyed by user');
  d.endInput();
  assert.deepEqual(d.output<Session>('user-sessions').map(show), ['bob 11:15-11:17 2 /,/blog']);
  assert.deepEqual(d.counters(), {});
});

test('after its session is over a click starts a new one, or — late for its own 30 minutes too — is dropped', () => {
  const d = driver();
  d.send('clicks', [click('10:00', 'ada', '/'), click('10:45', 'bob', '/')]); // the watermark is 10:44: ada's 10:00 session is over
  assert.deepEqual(d.output<Session>('user-sessions').map(show), ['ada 10:00-10:00 1 /']);
  d.send('clicks', [
    click('10:25', 'ada', '/docs'), // its own session [10:25, 10:55) is open until 11:05: a new session
    click('09:50', 'ada', '/blog'), // [09:50, 10:20) closed at 10:30, and it reaches no open session: dropped
  ]);
  d.endInput();
  assert.deepEqual(sortSessions(d.output<Session>('user-sessions')).map(show), ['ada 10:25-10:25 1 /docs', 'bob 10:45-10:45 1 /']);
  assert.deepEqual(d.counters(), { visits: { 'late-dropped': 1 } });
  // The batch reference has one session of all three of ada's clicks; tooLate() names the two that cost it.
  const all = [click('10:00', 'ada', '/'), click('10:45', 'bob', '/'), click('10:25', 'ada', '/docs'), click('09:50', 'ada', '/blog')];
  assert.deepEqual(referenceSessions(all).map(show), ['ada 09:50-10:25 3 /blog,/,/docs', 'bob 10:45-10:45 1 /']);
  assert.deepEqual(tooLate(all), all.slice(2));
});

test('the aggregator gives the same visit whatever the order of adds and merges', () => {
  const clicks = [click('10:05', 'u', '/b'), click('10:00', 'u', '/a'), click('10:09', 'u', '/a'), click('10:05', 'u', '/'), click('10:02', 'u', '/c')];
  const want = { start: '2024-03-01T10:00:00.000Z', end: '2024-03-01T10:09:00.000Z', clicks: 5, pages: ['/a', '/c', '/', '/b'] };
  const random = seeded(3);
  for (let trial = 0; trial < 20; trial++) {
    const shuffled = [...clicks].sort(() => random() - 0.5);
    const cut = Math.floor(random() * shuffled.length);
    const left = shuffled.slice(0, cut).reduce(visits.add, visits.init());
    const right = shuffled.slice(cut).reduce(visits.add, visits.init());
    assert.deepEqual(visits.result!(random() < 0.5 ? visits.merge!(left, right) : visits.merge!(right, left)), want);
  }
});

/** Clicks that arrived after both neighbours of their session, which were 30 minutes or more apart: without them, two sessions. */
function bridges(clicks: readonly Click[]): number {
  const arrival = new Map(clicks.map((c, i) => [c, i]));
  let n = 0;
  for (const user of new Set(clicks.map((c) => c.userId))) {
    const mine = clicks.filter((c) => c.userId === user).sort((a, b) => a.ts - b.ts);
    for (let i = 1; i + 1 < mine.length; i++) {
      const [prev, c, next] = [mine[i - 1]!, mine[i]!, mine[i + 1]!];
      const joins = c.ts - prev.ts < GAP_MS && next.ts - c.ts < GAP_MS && next.ts - prev.ts >= GAP_MS;
      if (joins && arrival.get(c)! > arrival.get(prev)! && arrival.get(c)! > arrival.get(next)!) n++;
    }
  }
  return n;
}

test('generated out-of-order clicks, several seeds and batch sizes: the sessions equal the batch reference', () => {
  let bridged = 0;
  for (const seed of [1, 2, 3, 4]) {
    const clicks = generateClicks(3000, seed, 1 + seed * 5);
    assert.deepEqual(tooLate(clicks), [], `seed ${seed}: no click beyond the allowed lateness`);
    bridged += bridges(clicks);
    const d = driver();
    const random = seeded(seed * 17);
    for (let i = 0; i < clicks.length; ) {
      const n = 1 + Math.floor(random() * 200);
      d.send('clicks', clicks.slice(i, i + n));
      i += n;
    }
    const before = d.output<Session>('user-sessions');
    assert.ok(before.length > 0, `seed ${seed}: sessions are reported before the input ends`);
    d.endInput();
    assert.deepEqual(sortSessions([...before, ...d.output<Session>('user-sessions')]), referenceSessions(clicks), `seed ${seed}`);
    assert.deepEqual(d.counters(), {}, `seed ${seed}: nothing dropped`);
    assert.equal(d.state('visits').size, 0, `seed ${seed}: no state once time has ended`);
  }
  assert.ok(bridged >= 10, `delayed clicks bridged sessions ${bridged} times`);
});

test('a bad click is dead-lettered with the reason', () => {
  const d = driver();
  d.send('clicks', [{ ts: 1, page: '/' }, { ts: null, userId: 'ada', page: '/' }]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 2);
  assert.match(dead[0]!.headers['sluice.error']!, /userId/);
  assert.match(dead[1]!.headers['sluice.error']!, /"ts"/);
});

test('end to end: `sluice run examples/sessions/app.ts --until-end`', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'clicks', '--partitions', '1']);
  await ok(['topic', 'create', 'user-sessions', '--partitions', '3']);
  const clicks = generateClicks(5000, 42);
  await ok(['produce', 'clicks'], clicks.map((c) => JSON.stringify(c) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, /sessions: 5000 records in, \d+ out, 0 dead-lettered/);
  assert.doesNotMatch(run.stderr, /visits:/, 'no click was dropped');
  const got = jsonLines((await ok(['consume', 'user-sessions'])).stdout) as Session[];
  assert.ok(bridges(clicks) > 0);
  assert.deepEqual(sortSessions(got), referenceSessions(clicks));
});
