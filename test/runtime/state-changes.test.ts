// What a checkpoint saves: a key whose call only read its state (a join's
// lookup, a dropped duplicate, ctx.unchanged()) is not saved again; a state
// created and cleared in one call leaves no tombstone; a key's state and
// timers go out as one record; and a changelog in the older form (separate
// state and timers records) is restored and rewritten in the current form.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { Engine } from '../../src/runtime/engine/engine.ts';
import { Job } from '../../src/runtime/job.ts';
import type { SourceNode } from '../../src/dataflow/graph.ts';
import { json } from '../../src/codec.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { changelogTopic, changelogWrite, readChangelog, readChangelogLatest } from '../../src/runtime/state-changelog.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface Ev {
  type: 'user' | 'req' | 'note';
  id: string;
  plan?: string;
  ts?: number;
}

const enc = new TextEncoder();

function feeder(engine: Engine, app: Application) {
  const node = app.nodes().find((n) => n.kind === 'source') as SourceNode;
  let position = 0;
  return (events: Ev[]) => {
    engine.pushSource(node, {
      origin: 'test/0',
      position,
      records: events.map((e) => ({ key: null, value: enc.encode(JSON.stringify(e)), timestamp: e.ts ?? 1000, headers: {} })),
    });
    position += events.length;
  };
}

/** Keys (operator/key) of the state changes a checkpoint would save now. */
function saved(engine: Engine): string[] {
  return engine
    .takeStateChanges()
    .map((c) => `${c.operator}/${c.key}`)
    .sort();
}

function joinApp(): Application {
  const app = new Application('state-changes', { partitions: 2 });
  const all = app.pipeline('p').from(placeholderSource('in'), json<Ev>());
  const users = all.filter((e) => e.type === 'user').keyBy((e) => e.id).toTable({ name: 'users' });
  all
    .filter((e) => e.type === 'req')
    .leftJoin(users, { key: (e) => e.id, fn: (e, u) => ({ id: e.id, plan: u?.plan ?? null }), name: 'enrich' })
    .to(placeholderSink('out'), json);
  return app;
}

test('a stream-table join saves a row when it changes, not when a request looks it up; a missing row leaves no tombstone', () => {
  const app = joinApp();
  const engine = new Engine(app);
  const send = feeder(engine, app);
  send([
    { type: 'user', id: 'a', plan: 'free' },
    { type: 'user', id: 'b', plan: 'pro' },
  ]);
  assert.deepEqual(saved(engine), ['enrich/a', 'enrich/b', 'users/a', 'users/b']);
  send([
    { type: 'req', id: 'a' },
    { type: 'req', id: 'b' },
    { type: 'req', id: 'a' },
    { type: 'req', id: 'nobody' },
  ]);
  assert.deepEqual(saved(engine), [], 'lookups, matched or not, change nothing to save');
  send([{ type: 'user', id: 'a', plan: 'team' }, { type: 'req', id: 'a' }]);
  assert.deepEqual(saved(engine), ['enrich/a', 'users/a']);
});

test('a call declared unchanged is not saved, unless it created the state; clearState is always saved', () => {
  const app = new Application('unchanged', { partitions: 1 });
  app
    .pipeline('p')
    .from(placeholderSource('in'), json<Ev>())
    .keyBy((e) => e.id)
    .process<{ n: number }, never>(
      () => ({ n: 0 }),
      (e, s, ctx) => {
        if (e.type === 'user') s.n++;
        else if (e.type === 'note') ctx.clearState();
        if (e.type !== 'user') ctx.unchanged();
      },
      { name: 'op' },
    )
    .to(placeholderSink('out'), json);
  const engine = new Engine(app);
  const send = feeder(engine, app);
  send([{ type: 'req', id: 'fresh' }]);
  assert.deepEqual(saved(engine), ['op/fresh'], 'a state created by the call is saved even if declared unchanged');
  send([{ type: 'user', id: 'a' }]);
  assert.deepEqual(saved(engine), ['op/a']);
  send([{ type: 'req', id: 'a' }, { type: 'req', id: 'fresh' }]);
  assert.deepEqual(saved(engine), []);
  send([{ type: 'note', id: 'a' }]);
  const changes = engine.takeStateChanges();
  assert.deepEqual(
    changes.map((c) => [c.key, c.state, c.timers]),
    [['a', '', '']],
    'cleared: a tombstone',
  );
});

test('dedupe: a dropped duplicate saves nothing; a first sighting saves its state and its timer in one change', () => {
  const app = new Application('dedupe-changes', { partitions: 1 });
  app
    .pipeline('p')
    .from(placeholderSource('in'), json<Ev>(), { timestamp: (e) => e.ts ?? 0 })
    .dedupe((e) => e.id, 10_000, { name: 'dd' })
    .to(placeholderSink('out'), json);
  const engine = new Engine(app);
  const send = feeder(engine, app);
  send([{ type: 'req', id: 'r1', ts: 1000 }]);
  const first = engine.takeStateChanges();
  assert.deepEqual(
    first.map((c) => [c.key, JSON.parse(c.state), JSON.parse(c.timers)]),
    [['r1', { first: 1000 }, { e: [11_000], p: [] }]],
  );
  send([{ type: 'req', id: 'r1', ts: 1500 }]);
  assert.deepEqual(saved(engine), []);
});

test('a changelog in the older form (separate state and timers records) is restored, and rewritten in the current form', async (t) => {
  const dir = tmpDir(t, 'sluice-legacy-changelog-');
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('in', { partitions: 1 });
    await log.createTopic('out', { partitions: 1 });
    const app = new Application('legacy-job', { partitions: 1 });
    app
      .pipeline('p')
      .from(topicSource({ topic: 'in' }), json<Ev>(), { timestamp: (e) => e.ts ?? 0 })
      .dedupe((e) => e.id, 10_000, { name: 'dd' })
      .to(topicSink({ topic: 'out' }), json);
    // What an earlier version saved for r1 (seen at 1000, remembered until 11000), and a timer-only key.
    await log.createTopic(changelogTopic('legacy-job'), { partitions: 1, compact: true });
    const rec = (k: unknown[], v: unknown) => ({ key: Buffer.from(JSON.stringify(k)), value: Buffer.from(JSON.stringify(v)) });
    await log.append(changelogTopic('legacy-job'), 0, [
      rec(['state', 'dd', 0, 'r1'], { first: 1000 }),
      rec(['timers', 'dd', 0, 'r1'], { e: [11_000], p: [] }),
      rec(['timers', 'dd', 0, 'gone'], { e: [12_000], p: [] }),
    ]);
    await log.append('in', 0, [{ key: null, value: Buffer.from(JSON.stringify({ type: 'req', id: 'r1', ts: 2000 })) }, { key: null, value: Buffer.from(JSON.stringify({ type: 'req', id: 'r2', ts: 3000 })) }]);
    await new Job(app, { log, untilEnd: true, guarantee: 'exactly-once' }).run();

    const out = (await readAll(log, 'out', 0)).map((r) => (JSON.parse(Buffer.from(r.value!).toString()) as Ev).id);
    assert.deepEqual(out, ['r2'], 'r1 was remembered from the restored state: its duplicate was dropped');
    const latest = await readChangelogLatest(log, 'legacy-job');
    for (const k of ['["state","dd",0,"r1"]', '["timers","dd",0,"r1"]', '["timers","dd",0,"gone"]']) assert.equal(latest.get(k), '', `${k} is a tombstone`);
    const after = await readChangelog(log, 'legacy-job');
    assert.deepEqual(after.legacy.keys, []);
    // The run ended its input, so its watermark passed every timer: every key was forgotten.
    assert.deepEqual(after.states, []);
    assert.ok([...latest.keys()].some((k) => k.startsWith('["key","dd",0,"r1"]')), 'r1 was rewritten in the current form before it was deleted');
  } finally {
    await log.close();
  }
});

test('a root record is keyed by the JSON text of ["key", operator, partition, key], byte for byte (compaction matches keys by their bytes)', () => {
  const dec = new TextDecoder();
  const changes = [
    { operator: 'counts', partition: 0, key: 'plain', state: '{"n":1}', timers: '' },
    { operator: 'counts', partition: 26, key: 'quote " back\\slash \n tab\t', state: '', timers: '{"e":[5],"p":[]}' },
    { operator: 'dédup "ops"', partition: 3, key: 'ключ 🔑 \u2028 \u0000', state: '{"s":2}', timers: '{"e":[],"p":[7]}' },
    { operator: 'dédup "ops"', partition: 1, key: '', state: '', timers: '' },
  ];
  const writes = changelogWrite('job', changes, []);
  const records = writes.flatMap((w) => w.records);
  assert.equal(records.length, changes.length);
  changes.forEach((c, i) => {
    assert.equal(dec.decode(records[i]!.key!), JSON.stringify(['key', c.operator, c.partition, c.key]));
    const value = records[i]!.value;
    const parts = [...(c.state ? [`"s":${c.state}`] : []), ...(c.timers ? [`"t":${c.timers}`] : [])];
    assert.equal(value === null ? null : dec.decode(value), parts.length === 0 ? null : `{${parts.join(',')}}`);
  });
});
