// The API-billing example: dedupe, then hourly and daily counts that drop late
// requests, and monthly bills that late requests correct — checked on a
// hand-made stream, against the batch reference on generated streams (shuffled,
// duplicated, late) in the TestDriver, and once end to end through the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, EARLY_EVERY_MS, type ApiRequest, type Bill, type Usage } from '../../examples/api-billing/app.ts';
import { referenceBilling, sorted, type BillCount, type Reference, type UsageCount } from '../../examples/api-billing/reference.ts';
import { generateRequests } from '../../examples/api-billing/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/api-billing/app.ts', import.meta.url));

function driver() {
  return new TestDriver(
    build({
      requests: placeholderSource('api-requests'),
      hourly: placeholderSink('usage-hourly'),
      daily: placeholderSink('usage-daily'),
      monthly: placeholderSink('billing-monthly'),
    }),
  );
}

const at = (iso: string) => Date.parse(iso);
const req = (ts: string, requestId: string, modelId = 'm1', userId = 'u1'): ApiRequest => ({ ts: at(ts), userId, modelId, requestId });
const usage = (u: Usage) => `${u.modelId} ${u.start.slice(5, 16)} ${u.requests} ${u.kind} r${u.revision}`;
const bill = (b: Bill) => `${b.month} ${b.requests} ${b.kind} r${b.revision}`;

test('duplicates are dropped; a late request is dropped by the dashboard and corrects the bill; a copy after the horizon counts again', () => {
  const d = driver();
  const events = [
    req('2024-01-31T23:10:00Z', 'r1'),
    req('2024-01-31T23:20:00Z', 'r2', 'm2'),
    req('2024-01-31T23:10:00Z', 'r1'), // a re-send: dropped
    req('2024-01-31T23:50:00Z', 'r3'),
    req('2024-02-01T00:10:00Z', 'r4'), // the watermark reaches 00:05: January's hour, day and month close
    req('2024-01-31T23:58:00Z', 'r5'), // late: dropped by hourly and daily, corrects January's bill
    req('2024-01-31T23:58:00Z', 'r5'), // its re-send: dropped
    req('2024-02-01T00:20:00Z', 'r6'), // the watermark reaches 00:15: r1 (23:10) is past the one-hour horizon
    req('2024-01-31T23:10:00Z', 'r1'), // so this copy of r1 is counted again (late, like r5)
  ];
  d.send('api-requests', events);
  assert.deepEqual(d.output<Usage>('usage-hourly').map(usage), ['m1 01-31T23:00 2 final r1', 'm2 01-31T23:00 1 final r1']);
  assert.deepEqual(d.output<Usage>('usage-daily').map(usage), ['m1 01-31T00:00 2 final r1', 'm2 01-31T00:00 1 final r1']);
  const bills = d.outputRecords<Bill>('billing-monthly');
  assert.deepEqual(bills.map((r) => bill(r.value)), ['2024-01 3 final r1', '2024-01 4 correction r2', '2024-01 5 correction r3']);
  assert.deepEqual(bills.map((r) => r.key), ['u1', 'u1', 'u1'], 'bills are keyed by user');
  assert.deepEqual(d.counters(), { dedupe: { duplicates: 2 }, hourly: { 'late-dropped': 2 }, daily: { 'late-dropped': 2 } });

  // February's windows are open: an early result a minute later (wall clock), then the final at the end.
  d.advanceTime(EARLY_EVERY_MS);
  assert.deepEqual(d.output<Usage>('usage-hourly').map(usage), ['m1 02-01T00:00 2 early r1']);
  assert.deepEqual(d.output<Usage>('usage-daily').map(usage), ['m1 02-01T00:00 2 early r1']);
  d.endInput();
  assert.deepEqual(d.output<Usage>('usage-hourly').map(usage), ['m1 02-01T00:00 2 final r2']);
  assert.deepEqual(d.output<Bill>('billing-monthly').map(bill), ['2024-02 2 final r1']);

  // The reference agrees, horizon included; but the bill it holds the job to is the truth: 4 requests in January.
  const ref = referenceBilling(events);
  assert.deepEqual([ref.duplicates, ref.lateHourly, ref.lateDaily, ref.corrections], [2, 2, 2, 2]);
  assert.deepEqual(ref.hourly.map((u) => `${u.modelId} ${u.start.slice(5, 16)} ${u.requests}`), ['m1 01-31T23:00 2', 'm1 02-01T00:00 2', 'm2 01-31T23:00 1']);
  assert.deepEqual(ref.monthly, [{ userId: 'u1', month: '2024-01', requests: 4 }, { userId: 'u1', month: '2024-02', requests: 2 }]);
  assert.equal(ref.duplicates, events.length - ref.unique - 1, 'one copy escaped the dedupe: the generator never makes such a copy');
});

test('a request without all its fields is dead-lettered with the reason', () => {
  const d = driver();
  d.send('api-requests', [{ ts: 'yesterday', userId: 'u', modelId: 'm', requestId: 'x' }, { ts: 1, userId: 'u', modelId: 'm' }]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 2);
  assert.match(dead[0]!.headers['sluice.error']!, /"ts" must be ms/);
  assert.match(dead[1]!.headers['sluice.error']!, /requestId/);
});

/** Final dashboard counts, without kind and revision. */
function finals(rows: Usage[]): UsageCount[] {
  return sorted(rows.filter((u) => u.kind === 'final').map(({ userId, modelId, start, end, requests }) => ({ userId, modelId, start, end, requests })));
}

/** Checks the bills (the last revision per user and month) and that revisions count up 1, 2, ... in order. */
function checkBills(rows: Bill[], ref: Reference, what: string): void {
  const last = new Map<string, Bill>();
  for (const b of rows) {
    const id = `${b.userId} ${b.month}`;
    assert.equal(b.revision, (last.get(id)?.revision ?? 0) + 1, `${what}: revisions of ${id} in order`);
    last.set(id, b);
  }
  const bills: BillCount[] = sorted([...last.values()].map(({ userId, month, requests }) => ({ userId, month, requests })));
  assert.deepEqual(bills, ref.monthly, `${what}: every bill equals the user's unique requests that month`);
  assert.equal(rows.filter((b) => b.kind === 'correction').length, ref.corrections, `${what}: one correction per request that came after its month closed`);
}

test('generated streams, several seeds and batch sizes: counts, late drops and bills equal the batch reference', () => {
  for (const seed of [1, 2, 3, 4]) {
    const events = generateRequests(4000, seed);
    const ref = referenceBilling(events);
    // The generator keeps duplicates inside the dedupe's horizon and late requests inside billing's.
    assert.equal(ref.duplicates, events.length - ref.unique, `seed ${seed}: every duplicate is caught`);
    assert.equal(ref.lateMonthly, 0);
    assert.ok(ref.duplicates > 50 && ref.lateHourly > 50 && ref.lateDaily > 20 && ref.corrections > 10, `seed ${seed} exercises duplicates, late requests and corrections`);

    const d = driver();
    const random = seeded(seed * 31);
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(random() * 400);
      d.send('api-requests', events.slice(i, i + n));
      i += n;
    }
    d.endInput();
    const hourly = d.output<Usage>('usage-hourly');
    assert.ok(hourly.every((u) => u.kind === 'final' && u.revision === 1), 'no wall-clock time passed: no early results');
    assert.deepEqual(finals(hourly), ref.hourly, `seed ${seed}: hourly counts`);
    assert.deepEqual(finals(d.output<Usage>('usage-daily')), ref.daily, `seed ${seed}: daily counts`);
    checkBills(d.output<Bill>('billing-monthly'), ref, `seed ${seed}`);
    const counters = d.counters();
    assert.equal(counters.dedupe?.duplicates, ref.duplicates, `seed ${seed}: duplicates`);
    assert.equal(counters.hourly?.['late-dropped'], ref.lateHourly, `seed ${seed}: late for their hour`);
    assert.equal(counters.daily?.['late-dropped'], ref.lateDaily, `seed ${seed}: late for their day`);
    assert.equal(counters.monthly?.['late-dropped'], undefined, `seed ${seed}: nothing lost to billing`);

    // State follows open windows and the dedupe horizon: once time has ended
    // and the pending early-result timers (wall clock) have fired, none is left.
    d.advanceTime(EARLY_EVERY_MS);
    for (const op of ['dedupe', 'hourly', 'daily', 'monthly']) assert.equal(d.state(op).size, 0, `seed ${seed}: ${op} state after the end`);
  }
});

test('the reference: in ts order nothing is late, and the bills do not depend on arrival order', () => {
  const events = generateRequests(3000, 9);
  const shuffled = referenceBilling(events);
  const ordered = referenceBilling([...events].sort((a, b) => a.ts - b.ts));
  assert.ok(shuffled.lateHourly > 0 && shuffled.corrections > 0);
  assert.equal(ordered.lateHourly + ordered.lateDaily + ordered.corrections, 0);
  assert.equal(ordered.duplicates, shuffled.duplicates);
  assert.deepEqual(ordered.monthly, shuffled.monthly);
});

test('end to end: `sluice run examples/api-billing/app.ts --until-end` on one input partition', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'api-requests', '--partitions', '1']);
  for (const topic of ['usage-hourly', 'usage-daily']) await ok(['topic', 'create', topic, '--partitions', '3']);
  await ok(['topic', 'create', 'billing-monthly', '--partitions', '2']);
  const events = generateRequests(6000, 42);
  await ok(['produce', 'api-requests', '--key-field', 'userId'], events.map((e) => JSON.stringify(e) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, new RegExp(`api-billing: ${events.length} records in, \\d+ out, 0 dead-lettered`));

  const ref = referenceBilling(events);
  assert.ok(ref.lateHourly > 0 && ref.corrections > 0 && ref.duplicates > 0);
  // The run's summary names what it dropped, per operator.
  assert.match(run.stderr, new RegExp(`\\n  dedupe: duplicates ${ref.duplicates}\\n`));
  assert.match(run.stderr, new RegExp(`\\n  hourly: late-dropped ${ref.lateHourly}\\n`));
  assert.match(run.stderr, new RegExp(`\\n  daily: late-dropped ${ref.lateDaily}\\n`));
  assert.doesNotMatch(run.stderr, /monthly:/, 'billing loses nothing');
  const consume = async <T>(topic: string) => jsonLines((await ok(['consume', topic])).stdout) as T[];
  assert.deepEqual(finals(await consume<Usage>('usage-hourly')), ref.hourly, 'hourly counts');
  assert.deepEqual(finals(await consume<Usage>('usage-daily')), ref.daily, 'daily counts');
  // Bills are keyed by user: a user's revisions are in order within the topic.
  checkBills(await consume<Bill>('billing-monthly'), ref, 'end to end');
});
