// The broker SIGKILLed twice in the middle of a produce load and restarted on
// the same data dir and port, while two producer processes keep appending
// through RemoteLog. The clients reconnect by themselves and resend what was
// in flight; the idempotence stamps make a resend of an append that had
// reached the disk return its first offsets instead of a second copy. So:
// every acknowledged record is in the log exactly once, at the offsets its
// acknowledgement named, no record is there twice, and the producers carried
// on after each restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import type { LogRecord } from '../../src/record.ts';
import { readAll } from '../helpers/read-all.ts';
import { sameRecord } from '../helpers/crash-records.ts';
import { ChildLines, producedRecord, scope, sleep, startBroker, waitUntil } from './helpers.ts';

const PRODUCER = new URL('./broker-child-producer.ts', import.meta.url);
const T = 'load';
const PARTITIONS = 2;
const COUNT = 3000;
const NAMES = ['a', 'b'];
/** Acknowledgements each producer must get between two kills: the kills land mid-load. */
const ACKS_PER_ROUND = 150;

interface Ack {
  p: number;
  base: number;
  last: number;
  ids: number[];
}

const acksOf = (c: ChildLines): Ack[] => c.lines.filter((l) => typeof l['base'] === 'number') as unknown as Ack[];
const ackedCount = (c: ChildLines) => acksOf(c).reduce((n, a) => n + a.ids.length, 0);

test('a broker SIGKILLed under produce load and restarted: every acknowledged record exactly once, where its ack said', async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  let broker = await startBroker(dataDir);
  s.defer(() => broker.stop());
  const admin = await openRemoteLog({ url: broker.url });
  await admin.createTopic(T, { partitions: PARTITIONS });
  assert.equal((await admin.getTopic(T)).config.file?.fsync, 'always');
  await admin.close();

  const producers = NAMES.map(
    (name) => new ChildLines(PRODUCER, [JSON.stringify({ url: broker.url, topic: T, name, count: COUNT, partitions: PARTITIONS, delayMs: 2, batchMax: 3 })], `producer ${name}`),
  );
  s.defer(() => Promise.all(producers.map((c) => c.stop())));

  const endsAtKill: number[][] = [];
  const started = Date.now();
  for (let round = 0; round < 2; round++) {
    const before = producers.map(ackedCount);
    await waitUntil(`${ACKS_PER_ROUND} more acks from each producer`, 30_000, () => producers.every((c, i) => ackedCount(c) >= before[i]! + ACKS_PER_ROUND));
    const killed = await broker.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    for (const c of producers) assert.ok(ackedCount(c) < COUNT && c.alive, `${c.name} was still producing when the broker died`);
    // With no broker running nothing can be appended: what the data dir holds now
    // is the dividing line between appends before the kill and after the restart.
    const ro = await openFileLog({ dataDir, readOnly: true });
    endsAtKill.push((await ro.describeTopic(T)).partitions.map((p) => p.endOffset));
    await ro.close();
    await sleep(300 + round * 400); // the producers retry against a closed port meanwhile
    broker = await startBroker(dataDir, { port: broker.port });
  }

  const exits = await Promise.all(producers.map((c) => c.exited));
  for (const [i, c] of producers.entries()) {
    assert.deepEqual(exits[i], { code: 0, signal: null }, `${c.name}: ${c.stderr}`);
    assert.deepEqual(c.lines.filter((l) => l['failed'] !== undefined && l['done'] === undefined), [], `${c.name}: no append failed`);
    assert.deepEqual(c.lines.at(-1), { done: true, acked: COUNT, failed: 0 });
  }
  const elapsed = Date.now() - started;

  const log = await openRemoteLog({ url: broker.url });
  try {
    const partitions: LogRecord[][] = [];
    for (let p = 0; p < PARTITIONS; p++) partitions.push(await readAll(log, T, p, { from: 0, maxRecords: 500 }));
    // Every record in the log is one a producer made, byte for byte, and none is there twice.
    const where = new Map<string, string>();
    for (const [p, records] of partitions.entries()) {
      for (const r of records) {
        const id = Buffer.from(r.key!).toString();
        const m = /^([ab])-(\d+)$/.exec(id);
        assert.ok(m, `unexpected record ${id} at ${p}@${r.offset}`);
        assert.ok(!where.has(id), `record ${id} is in the log twice: ${where.get(id)} and ${p}@${r.offset}`);
        where.set(id, `${p}@${r.offset}`);
        assert.ok(sameRecord(r, { ...producedRecord(m[1]!, Number(m[2])), timestamp: r.timestamp }), `record ${id} at ${p}@${r.offset} has other bytes than produced`);
        assert.equal(Number(m[2]) % PARTITIONS, p, `record ${id} is in the partition it was appended to`);
      }
    }
    assert.equal(where.size, NAMES.length * COUNT, 'every record produced is in the log');

    // Every acknowledgement names where its records are.
    let afterLastRestart = 0;
    for (const c of producers) {
      const name = c.name.slice('producer '.length);
      const seen = new Set<number>();
      let mineAfter = 0;
      for (const a of acksOf(c)) {
        assert.equal(a.last - a.base + 1, a.ids.length, `${c.name}: an ack spans its records`);
        a.ids.forEach((i, k) => {
          assert.ok(!seen.has(i), `${c.name}: record ${i} acknowledged twice`);
          seen.add(i);
          assert.equal(where.get(`${name}-${i}`), `${a.p}@${a.base + k}`, `${c.name}: record ${i} is where its ack said`);
        });
        if (a.base >= endsAtKill[1]![a.p]!) mineAfter++;
      }
      assert.equal(seen.size, COUNT);
      assert.ok(mineAfter > 0, `${c.name} appended after the last restart`);
      afterLastRestart += mineAfter;
    }
    const ends = partitions.map((r) => r.length);
    for (const round of endsAtKill) for (let p = 0; p < PARTITIONS; p++) assert.ok(round[p]! > 0 && round[p]! < ends[p]!, 'each kill landed mid-load');
    t.diagnostic(`ends at the kills ${JSON.stringify(endsAtKill)}, final ${JSON.stringify(ends)}; ${afterLastRestart} appends acknowledged after the last restart; producers took ${elapsed} ms`);
  } finally {
    await log.close();
  }
  assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, broker.stderr);
});
