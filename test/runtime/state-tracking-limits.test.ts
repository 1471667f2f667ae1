// Tracked state at its edges: a tracked key's timers saved beside its changed
// entries; a global state over the log's 64 MiB batch limit checkpoints and
// restores (saved in parts, in several appends of one transaction); one entry
// over a record's limit fails the checkpoint naming the operator, key and path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { changelogTopic, readChangelog } from '../../src/runtime/state-changelog.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const enc = new TextEncoder();

async function withLog(t: { after: (fn: () => unknown) => void }, body: (log: FileLog) => Promise<void>): Promise<void> {
  const log = await openFileLog({ dataDir: tmpDir(t as never, 'sluice-tracked-limits-') });
  try {
    await log.createTopic('in', { partitions: 1 });
    await log.createTopic('out', { partitions: 1 });
    await body(log);
  } finally {
    await log.close();
  }
}

const send = (log: FileLog, values: unknown[]) => log.append('in', 0, values.map((v) => ({ key: null, value: enc.encode(JSON.stringify(v)) })));

async function changelogKeys(log: FileLog, job: string): Promise<string[]> {
  const out: string[] = [];
  let offset = (await log.endOffsets(changelogTopic(job)))[0]!.startOffset;
  for (;;) {
    const r = await log.read(changelogTopic(job), 0, offset, { isolation: 'read_committed' });
    for (const rec of r.records) out.push(Buffer.from(rec.key!).toString());
    if (r.records.length === 0 && r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

interface TimerEv {
  k: string;
  set?: number;
  del?: number;
  n: number;
}

function timersApp(): Application {
  const a = new Application('tracked-timers', { partitions: 1 });
  a.pipeline('p')
    .from(topicSource({ topic: 'in' }), json<TimerEv>())
    .keyBy((e) => e.k)
    .process(
      // Big from the start: tracked from its first save on.
      () => ({ pad: 'p'.repeat(5000), n: 0 }),
      (e, s, ctx) => {
        s.n = e.n;
        if (e.set !== undefined) ctx.processingTimer(e.set);
        if (e.del !== undefined) ctx.deleteTimer(e.del, 'processing');
        ctx.emit(e.n);
      },
      { name: 'w', onTimer: () => {} },
    )
    .to(topicSink({ topic: 'out' }), json);
  return a;
}

test("a tracked key's timers are saved beside its changed entries, and their deletion too", async (t) => {
  await withLog(t, async (log) => {
    // Processing-time timers far ahead: the end of the input (which fires event-time timers) leaves them pending.
    const far = 8e12;
    await send(log, [{ k: 'a', n: 1 }]);
    await new Job(timersApp(), { log, untilEnd: true }).run();
    await send(log, [{ k: 'a', n: 2, set: far }, { k: 'a', n: 3, set: far + 1 }]);
    await new Job(timersApp(), { log, untilEnd: true }).run();
    let saved = (await readChangelog(log, 'tracked-timers')).states.find((c) => c.key === 'a')!;
    assert.equal(JSON.parse(saved.state).n, 3);
    assert.deepEqual(JSON.parse(saved.timers), { e: [], p: [far, far + 1] });
    assert.ok((await changelogKeys(log, 'tracked-timers')).includes(JSON.stringify(['path', 'w', 0, 'a', 't'])), 'the timers went as a path record: the key was tracked');
    // Restored, then both timers deleted: the timers entry is deleted, the state kept.
    await send(log, [{ k: 'a', n: 4, del: far }, { k: 'a', n: 5, del: far + 1 }]);
    await new Job(timersApp(), { log, untilEnd: true }).run();
    saved = (await readChangelog(log, 'tracked-timers')).states.find((c) => c.key === 'a')!;
    assert.equal(JSON.parse(saved.state).n, 5);
    assert.equal(saved.timers, '');
  });
});

interface BigEv {
  fill?: { entries: number; chars: number };
  set?: [string, string];
  huge?: number;
}

function bigApp(): Application {
  const a = new Application('big-global', { partitions: 1 });
  a.pipeline('p')
    .from(topicSource({ topic: 'in' }), json<BigEv>())
    .global(
      (): { big: Record<string, string> } => ({ big: {} }),
      (e, s, ctx) => {
        if (e.fill) for (let i = 0; i < e.fill.entries; i++) s.big[`e${i}`] = `${i}:`.padEnd(e.fill.chars, 'x');
        if (e.set) s.big[e.set[0]] = e.set[1];
        if (e.huge) s.big['huge'] = 'h'.repeat(e.huge);
        ctx.emit(Object.keys(s.big).length);
      },
      { name: 'ledger' },
    )
    .to(topicSink({ topic: 'out' }), json);
  return a;
}

test('a global state of 70 MB (over the 64 MiB batch limit) checkpoints, restores and goes on saving its changes', async (t) => {
  await withLog(t, async (log) => {
    const entries = 700;
    const chars = 100_000;
    await send(log, [{ fill: { entries, chars } }]);
    await new Job(bigApp(), { log, untilEnd: true }).run();
    await send(log, [{ set: ['e7', 'seven'] }, { set: ['new', 'one'] }]);
    await new Job(bigApp(), { log, untilEnd: true }).run();
    const saved = (await readChangelog(log, 'big-global')).states.find((c) => c.operator === 'ledger')!;
    const s = JSON.parse(saved.state) as { big: Record<string, string> };
    assert.equal(Object.keys(s.big).length, entries + 1);
    assert.equal(s.big['e7'], 'seven');
    assert.equal(s.big['new'], 'one');
    assert.equal(s.big['e699'], '699:'.padEnd(chars, 'x'));
    const keys = await changelogKeys(log, 'big-global');
    assert.ok(keys.filter((k) => k.startsWith('["part"')).length >= 9, 'saved whole in parts of at most 8 MiB');
    assert.ok(keys.includes(JSON.stringify(['path', 'ledger', 0, '', 's', 'big', 'e7'])), 'then its changed entries alone');
  });
});

test('one entry over the log\'s record limit fails the checkpoint naming the operator, key and path', async (t) => {
  await withLog(t, async (log) => {
    await send(log, [{ set: ['small', 'x'] }, { huge: 65 * 1024 * 1024 }]);
    await assert.rejects(
      new Job(bigApp(), { log, untilEnd: true }).run(),
      (e: unknown) => isSluiceError(e, 'TOO_LARGE') && /state of ledger for key "" cannot be saved: the entry at \$\["big"\]\["huge"\] takes \d+ bytes/.test(e.message),
    );
  });
});
