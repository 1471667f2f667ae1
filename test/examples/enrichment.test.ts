// The enrichment example: requests joined with a users table from a compacted
// topic — a left join that decides at once, an inner join that waits for late
// sign-ups — checked on hand-made inputs, against the reference replay on
// generated and randomly interleaved inputs in the TestDriver, and end to end
// through the CLI in run.sh's four steps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, MINUTE, WAIT_MS, type ApiRequest, type BilledRequest, type RequestWithPlan, type User } from '../../examples/enrichment/app.ts';
import { byRequestId, replay, type Entry, type Reference } from '../../examples/enrichment/reference.ts';
import { generateHistory, generateSteps, stepEntries, START } from '../../examples/enrichment/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/enrichment/app.ts', import.meta.url));

function driver() {
  return new TestDriver(
    build({
      requests: placeholderSource('api-requests'),
      users: placeholderSource('users'),
      withPlan: placeholderSink('requests-with-plan'),
      billed: placeholderSink('billed-requests'),
    }),
  );
}

const at = (minutes: number) => START + minutes * MINUTE;
const req = (minutes: number, requestId: string, userId: string): ApiRequest => ({ ts: at(minutes), userId, modelId: 'm', requestId });
const user = (userId: string, plan: User['plan'], minutes: number) => ({ key: userId, value: { userId, plan } as User | null, timestamp: at(minutes) });
const gone = (userId: string, minutes: number) => ({ key: userId, value: null, timestamp: at(minutes) });
const plans = (rows: RequestWithPlan[]) => rows.map((r) => `${r.requestId} ${r.plan}`);
const bills = (rows: BilledRequest[]) => rows.map((r) => `${r.requestId} ${r.plan} ${r.priceMicros}`);

test('a request sees its user row as it is then; billing waits for a late sign-up, and gives up on a deleted user', () => {
  const d = driver();
  d.sendRecords('users', [user('ann', 'pro', 0)]);
  d.send('api-requests', [req(1, 'r1', 'ann'), req(2, 'r2', 'bob')]);
  // bob is not in the table yet: the left join says so at once, billing waits.
  assert.deepEqual(plans(d.output('requests-with-plan')), ['r1 pro', 'r2 null']);
  assert.deepEqual(bills(d.output('billed-requests')), ['r1 pro 400']);

  // bob's row arrives 3 minutes later: r2 is billed at his plan, with its own timestamp.
  d.sendRecords('users', [user('bob', 'enterprise', 5), user('ann', 'enterprise', 5)]);
  const late = d.outputRecords<BilledRequest>('billed-requests');
  assert.deepEqual(late.map((r) => [bills([r.value])[0], r.key, r.timestamp]), [['r2 enterprise 250', 'bob', at(2)]]);

  // ann upgraded: later requests are priced at the new plan; r1 is not re-priced.
  d.send('api-requests', [req(6, 'r3', 'ann')]);
  assert.deepEqual(bills(d.output('billed-requests')), ['r3 enterprise 250']);

  // ann is deleted (a tombstone); her in-flight request r4 has no row any more.
  d.sendRecords('users', [gone('ann', 7)]);
  d.send('api-requests', [req(7, 'r4', 'ann')]);
  assert.deepEqual(plans(d.output('requests-with-plan')), ['r3 enterprise', 'r4 null']);
  // The users partition is quiet: once idle (5 s of wall clock) it stops holding the watermark back.
  d.advanceTime(5_000);
  d.send('api-requests', [req(7 + 15, 'r5', 'bob')]); // the watermark reaches 7 + 15 - 5 minutes: r4's wait is over
  assert.equal(d.watermark, at(17));
  assert.deepEqual(bills(d.output('billed-requests')), ['r5 enterprise 250']);
  assert.deepEqual(d.counters(), { 'billing-join': { unmatched: 1 } });
  assert.deepEqual(d.table('users'), new Map([['bob', { userId: 'bob', plan: 'enterprise' }]]));
  assert.deepEqual([...d.state('billing-join').keys()], ['bob'], 'nothing waits; a deleted user leaves no state');
});

test('a request waits WAIT_MS of event time, measured by the slower of the two inputs', () => {
  const d = driver();
  d.sendRecords('users', [user('ann', 'free', 0)]);
  d.send('api-requests', [req(1, 'r1', 'bob'), req(30, 'r2', 'ann')]);
  // The requests' watermark is at 25 minutes, the users' at 0: r1 still waits.
  assert.equal(d.watermark, at(0));
  d.sendRecords('users', [user('carl', 'pro', 10)]); // the watermark reaches 10 minutes: r1 + WAIT_MS is not passed
  assert.equal(WAIT_MS, 10 * MINUTE);
  assert.deepEqual(d.counters(), {});
  d.sendRecords('users', [user('dora', 'pro', 11)]); // 11 minutes: r1 gives up
  d.sendRecords('users', [user('bob', 'pro', 12)]); // too late for r1
  assert.deepEqual(d.counters(), { 'billing-join': { unmatched: 1 } });
  assert.deepEqual(bills(d.output('billed-requests')), ['r2 free 0']);
});

test('a request without a ts, and a user row with a plan that has no price, are dead-lettered with the reason', () => {
  const d = driver();
  d.sendRecords('users', [{ key: 'eve', value: { userId: 'eve', plan: 'gold' }, timestamp: at(0) }]);
  d.send('api-requests', [{ userId: 'eve', modelId: 'm', requestId: 'x' }, req(1, 'r1', 'eve')]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 2);
  assert.match(dead[0]!.headers['sluice.error']!, /numeric "ts"/);
  assert.match(dead[1]!.headers['sluice.error']!, /no price for plan "gold"/);
  assert.deepEqual(plans(d.output('requests-with-plan')), ['r1 gold'], 'the left join does not price: it passes the plan on');
});

/** Sends the entries in order, consecutive ones of the same input in batches of random sizes. */
function sendAll(d: TestDriver, entries: readonly Entry[], random: () => number): void {
  for (let i = 0; i < entries.length; ) {
    const users = 'user' in entries[i]!;
    let j = i + 1;
    const max = 1 + Math.floor(random() * 50);
    while (j < entries.length && j - i < max && 'user' in entries[j]! === users) j++;
    const batch = entries.slice(i, j);
    if (users) d.sendRecords('users', batch.map((e) => ('user' in e ? { key: e.user, value: e.row, timestamp: e.ts } : assert.fail('a user change'))));
    else d.send('api-requests', batch.map((e) => ('request' in e ? e.request : assert.fail('a request'))));
    i = j;
  }
}

interface Outputs {
  withPlan: RequestWithPlan[];
  billed: BilledRequest[];
}

/** Adds what the driver's outputs received since the last call to `into`. */
function collect(d: TestDriver, into: Outputs): Outputs {
  into.withPlan.push(...d.output<RequestWithPlan>('requests-with-plan'));
  into.billed.push(...d.output<BilledRequest>('billed-requests'));
  return into;
}

function check(d: TestDriver, got: Outputs, ref: Reference, what: string): void {
  assert.deepEqual(byRequestId(got.withPlan), byRequestId(ref.withPlan), `${what}: requests-with-plan`);
  assert.deepEqual(byRequestId(got.billed), byRequestId(ref.billed), `${what}: billed-requests`);
  assert.equal(d.counters()['billing-join']?.['unmatched'] ?? 0, ref.unmatched, `${what}: unmatched`);
  assert.deepEqual(d.table('users'), ref.users, `${what}: the users table`);
  const waiting = [...d.state<{ w?: unknown[] }>('billing-join').values()].reduce((n, s) => n + (s.w?.length ?? 0), 0);
  assert.equal(waiting, ref.waiting, `${what}: requests waiting for their user`);
}

test('generated mornings, in arrival order and in random interleavings: equal to the reference replay of the same order', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const history = generateHistory(2000, seed);
    const random = seeded(seed * 7);
    const changes = history.filter((e) => 'user' in e);
    const requests = history.filter((e) => 'request' in e);
    // A random merge of the two inputs, each in its own order: what a job may see when both topics are full.
    const shuffled: Entry[] = [];
    for (let u = 0, r = 0; u < changes.length || r < requests.length; ) {
      if (r === requests.length || (u < changes.length && random() < 0.01)) shuffled.push(changes[u++]!);
      else shuffled.push(requests[r++]!);
    }
    for (const [what, entries] of [['arrival order', history], ['random interleaving', shuffled]] as const) {
      const d = driver();
      sendAll(d, entries, random);
      const got = collect(d, { withPlan: [], billed: [] });
      const before = replay(entries);
      check(d, got, before, `seed ${seed}, ${what}`);
      d.endInput();
      const after = replay([...entries, { end: true }]);
      assert.equal(after.waiting, 0, 'the end of input releases every waiting request');
      check(d, collect(d, got), after, `seed ${seed}, ${what}, after the end`);
    }
    // The generator exercises what the joins are for.
    const ref = replay([...history, { end: true }]);
    const early = new Set(ref.withPlan.filter((r) => r.plan === null).map((r) => r.requestId));
    assert.ok(ref.billed.some((r) => early.has(r.requestId)), `seed ${seed}: a request billed after waiting for its user`);
    assert.ok(ref.unmatched > 0, `seed ${seed}: requests never billed`);
    const planOf = new Map<string, Set<string>>();
    for (const r of ref.billed) planOf.set(r.userId, (planOf.get(r.userId) ?? new Set()).add(r.plan));
    assert.ok([...planOf.values()].some((s) => s.size > 1), `seed ${seed}: a user billed at two plans`);
  }
});

test("end to end: run.sh's four steps through the CLI, each followed by `sluice run --until-end`", async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], { dataDir: dir, ...(input === undefined ? {} : { input }) });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'users', '--partitions', '2', '--compact']);
  for (const topic of ['api-requests', 'requests-with-plan', 'billed-requests']) await ok(['topic', 'create', topic, '--partitions', '2']);
  const steps = generateSteps(2000, 11);
  const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');
  const run = () => ok(['run', APP, '--until-end']);

  await ok(['produce', 'users', '--key-field', 'userId'], lines(steps.users1));
  await run();
  await ok(['produce', 'api-requests', '--key-field', 'userId'], lines(steps.requests2));
  const second = await run();
  const afterTwo = replay(stepEntries({ ...steps, users3: [], deleted3: [], requests4: [] }));
  assert.ok(afterTwo.unmatched > 0);
  assert.match(second.stderr, new RegExp(`\\n  billing-join: unmatched ${afterTwo.unmatched}\\n`), 'requests of unknown users are counted');

  await ok(['produce', 'users', '--key-field', 'userId'], lines(steps.users3));
  // Deletes as run.sh makes them: a tombstone for each line's userId.
  const del = await ok(['produce', 'users', '--key-field', 'userId', '--tombstone-field', 'deleted'], lines(steps.deleted3.map((userId) => ({ userId, deleted: true }))));
  assert.match(del.stderr, /produced 2 records to users/);
  await run();
  await ok(['produce', 'api-requests', '--key-field', 'userId'], lines(steps.requests4));
  await run();

  const ref = replay(stepEntries(steps));
  assert.ok(ref.withPlan.some((r) => steps.deleted3.includes(r.userId) && r.plan === null), 'requests of deleted users meet no row');
  const consume = async <T>(topic: string) => jsonLines((await ok(['consume', topic])).stdout) as T[];
  assert.deepEqual(byRequestId(await consume<RequestWithPlan>('requests-with-plan')), byRequestId(ref.withPlan));
  assert.deepEqual(byRequestId(await consume<BilledRequest>('billed-requests')), byRequestId(ref.billed));
  const time = JSON.parse((await ok(['time', 'enrichment', '--json'])).stdout) as { counters: Record<string, Record<string, number>> };
  assert.equal(time.counters['billing-join']?.['unmatched'], ref.unmatched);
  const state = JSON.parse((await ok(['state', 'enrichment'])).stdout) as Record<string, Record<string, { v: User }>>;
  assert.deepEqual(new Map(Object.entries(state['users']!).map(([k, s]) => [k, s.v])), ref.users);
  // The compacted topic: the newest record per user is its row, or a tombstone.
  const newest = new Map<string, User | null>();
  for (const r of jsonLines((await ok(['consume', 'users', '--with-meta'])).stdout) as { key: string; value: User | null }[]) newest.set(r.key, r.value);
  assert.deepEqual(new Map([...newest].filter(([, v]) => v !== null)), ref.users);
  assert.deepEqual([...newest].filter(([, v]) => v === null).map(([k]) => k).sort(), [...steps.deleted3].sort());
});
