// A consumer group across processes, all through one broker: two producer
// processes feed a 6-partition topic, three member processes of one group
// split it (2 partitions each) and process every record exactly once by
// committing an output record per input together with the group's offsets in
// one transaction. One member is SIGKILLed: once its session times out its
// partitions go to the other two, which resume from its last commit; in the
// end the output (read_committed) holds every input record exactly once.
// The members do not coordinate beyond heartbeats: each transaction names its
// member and generation, and the broker refuses one whose partitions moved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import type { Log } from '../../src/log/log.ts';
import type { LogRecord } from '../../src/record.ts';
import { ChildLines, scope, sleep, startBroker, waitUntil } from './helpers.ts';

const CONSUMER = new URL('./broker-child-consumer.ts', import.meta.url);
const PRODUCER = new URL('./broker-child-producer.ts', import.meta.url);
const IN = 'in';
const OUT = 'out';
const GROUP = 'workers';
const PARTITIONS = 6;
const SESSION_MS = 1500;
const HEARTBEAT_MS = 300;
const COUNT = 900;

type Line = Record<string, unknown>;

/** A consumer's newest assignment, as it last reported it. */
function latest(c: ChildLines): { gen: number; partitions: number[] } | undefined {
  const l = c.lines.findLast((x) => typeof x['gen'] === 'number');
  return l as { gen: number; partitions: number[] } | undefined;
}

/** The consumers' partitions once they all report the same generation and between them own each partition once. */
function settled(cs: ChildLines[], each: number): Map<string, number[]> | undefined {
  const a = cs.map(latest);
  if (a.some((x) => x === undefined || x.gen !== a[0]!.gen || x.partitions.length !== each)) return undefined;
  const all = a.flatMap((x) => x!.partitions).sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: PARTITIONS }, (_, p) => p), `settled assignments ${JSON.stringify(a)} cover each partition once`);
  return new Map(cs.map((c, i) => [c.name, a[i]!.partitions]));
}

async function readTopic(log: Log, topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<LogRecord[][]> {
  const out: LogRecord[][] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const records: LogRecord[] = [];
    for (let offset = 0; ; ) {
      const r = await log.read(topic, p, offset, { maxRecords: 1000, isolation });
      records.push(...r.records);
      if (r.nextOffset >= r.highWatermark) break;
      offset = r.nextOffset;
    }
    out.push(records);
  }
  return out;
}

test('a consumer group across processes: balanced, a killed member\'s partitions move within its session timeout, every record output exactly once', async (t) => {
  const s = scope(t);
  const broker = await startBroker(s.dir());
  s.defer(() => broker.stop());
  const log = await openRemoteLog({ url: broker.url });
  s.defer(() => log.close());
  await log.createTopic(IN, { partitions: PARTITIONS });
  await log.createTopic(OUT, { partitions: PARTITIONS });

  const args = (name: string) => JSON.stringify({ url: broker.url, group: GROUP, name, input: IN, output: OUT, sessionTimeoutMs: SESSION_MS, heartbeatMs: HEARTBEAT_MS });
  const consumers = ['c1', 'c2', 'c3'].map((name) => new ChildLines(CONSUMER, [args(name)], name));
  s.defer(() => Promise.all(consumers.map((c) => c.stop())));
  const balanced = await waitUntil('three members with 2 partitions each', 20_000, () => settled(consumers, 2));
  const balancedGen = latest(consumers[0]!)!.gen;

  const producers = ['a', 'b'].map(
    (name) => new ChildLines(PRODUCER, [JSON.stringify({ url: broker.url, topic: IN, name, count: COUNT, partitions: PARTITIONS, delayMs: 80, batchMax: 4 })], `producer ${name}`),
  );
  s.defer(() => Promise.all(producers.map((c) => c.stop())));
  const processed = (c: ChildLines, from = 0) => c.lines.slice(from).reduce((n, l: Line) => n + (typeof l['txn'] === 'number' ? (l['n'] as number) : 0), 0);
  await waitUntil('every member to process records', 20_000, () => consumers.every((c) => processed(c) > 0));

  const [c1, c2, victim] = consumers as [ChildLines, ChildLines, ChildLines];
  const survivors = [c1, c2];
  const victimPartitions = balanced.get(victim.name)!;
  const linesAtKill = survivors.map((c) => c.lines.length);
  const killedAt = Date.now();
  assert.equal((await victim.stop('SIGKILL')).signal, 'SIGKILL');
  const moved = await waitUntil('the survivors to take over the killed member\'s partitions', SESSION_MS + 8000, () => settled(survivors, 3), 10);
  const tookMs = Date.now() - killedAt;
  assert.ok(latest(c1)!.gen > balancedGen);
  for (const p of victimPartitions) assert.ok([...moved.values()].some((ps) => ps.includes(p)), `partition ${p} has a new owner`);
  // The survivors heartbeat every 300 ms: one of them finds the session expired, then each learns the new assignment.
  assert.ok(tookMs <= SESSION_MS + 2500, `partitions moved after ${tookMs} ms: within the session timeout and a margin`);
  for (const c of producers) assert.ok(c.alive, `${c.name} is still producing after the rebalance`);

  for (const c of producers) {
    assert.deepEqual(await c.exited, { code: 0, signal: null }, `${c.name}: ${c.stderr}`);
    assert.deepEqual(c.lines.at(-1), { done: true, acked: COUNT, failed: 0 });
  }
  const total = 2 * COUNT;
  const input = await readTopic(log, IN, 'read_uncommitted');
  assert.equal(input.flat().length, total);
  const inputAt = new Map<string, string>();
  input.forEach((records, p) => records.forEach((r) => inputAt.set(Buffer.from(r.key!).toString(), `${p}@${r.offset}`)));

  await waitUntil('the output to hold a record per input record', 30_000, async () => (await readTopic(log, OUT, 'read_committed')).flat().length >= total, 200);
  await sleep(1000); // a duplicate committed late would show up now
  const output = await readTopic(log, OUT, 'read_committed');
  const seen = new Map<string, { p: number; offset: number; by: string }>();
  for (const [p, records] of output.entries()) {
    for (const r of records) {
      const o = JSON.parse(Buffer.from(r.value!).toString()) as { id: string; p: number; offset: number; by: string };
      assert.ok(!seen.has(o.id), `input ${o.id} was output twice: by ${seen.get(o.id)?.by} and by ${o.by}`);
      seen.set(o.id, o);
      assert.equal(o.p, p, 'an output record goes to its input\'s partition');
      assert.equal(`${o.p}@${o.offset}`, inputAt.get(o.id), `output for ${o.id} names its input record`);
    }
  }
  assert.equal(seen.size, total, 'every input record was output');
  // A transaction refused because its partitions moved (a survivor that read a partition just
  // before it went to the other) leaves its records behind, aborted; any other leaves none.
  const refused = consumers.flatMap((c) => c.lines.filter((l) => l['refused'] === true));
  const aborted = refused.reduce((n, l) => n + (l['n'] as number), 0);
  assert.equal((await readTopic(log, OUT, 'read_uncommitted')).flat().length, total + aborted, 'only refused transactions left records behind, aborted');

  // The killed member's partitions were carried on by the survivors, from where it had committed.
  const takenOver = [...seen.values()].filter((o) => victimPartitions.includes(o.p) && o.by !== victim.name);
  assert.ok(takenOver.length > 0, 'the survivors processed records of the killed member\'s partitions');
  assert.ok([...seen.values()].some((o) => o.by === victim.name), 'the killed member had processed records');
  assert.ok(survivors.every((c, i) => processed(c, linesAtKill[i]) > 0), 'both survivors kept processing');

  const committed = await log.committedOffsets(GROUP);
  assert.deepEqual(
    committed.filter((o) => o.topic === IN).sort((x, y) => x.partition - y.partition).map((o) => o.offset),
    input.map((records) => records.length),
    'the group has committed everything',
  );

  for (const c of survivors) {
    assert.deepEqual(await c.stop('SIGTERM'), { code: 0, signal: null }, `${c.name}: ${c.stderr}`);
    assert.deepEqual(c.lines.at(-1), { left: true });
    assert.deepEqual(c.lines.filter((l) => l['error'] !== undefined || l['expired'] !== undefined), [], `${c.name} never failed nor expired`);
  }
  t.diagnostic(`partitions moved ${tookMs} ms after the kill; ${takenOver.length} records of the killed member's partitions processed by the survivors; ${refused.length} transactions (${aborted} records) refused as REBALANCED`);
  await log.close();
  assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr);
});
