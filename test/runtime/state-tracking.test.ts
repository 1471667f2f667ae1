// Tracked state (big keyed states and global state save their changed entries,
// not the whole object) against a model: random nested sets and deletes, array
// edits, bulk growth past the tracking threshold, resets of every entry, key
// deletion and re-creation, calls declared unchanged; the job stopped at random
// points and run again, with compaction of the changelog between runs. After
// every run the saved state (as a restore reads it) deep-equals the model fed
// with exactly the inputs whose outputs were committed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { readChangelog, changelogTopic } from '../../src/runtime/state-changelog.ts';
import { stateLimits } from '../../src/runtime/engine/keyed-state.ts';
import type { ProcessContext } from '../../src/dataflow/context.ts';
import { prng } from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';

type Obj = Record<string, unknown>;
type Op =
  | { t: 'set'; path: string[]; v: unknown }
  | { t: 'del'; path: string[] }
  | { t: 'push'; path: string[]; v: unknown }
  | { t: 'arr'; path: string[]; i: number; v: unknown }
  | { t: 'splice'; path: string[]; i: number }
  | { t: 'bulk'; at: string; n: number; len: number }
  | { t: 'reset'; v: Obj }
  | { t: 'clear' }
  | { t: 'read' };
interface Ev {
  i: number;
  k: string;
  op: Op;
}

const NAMES = ['a', 'b', 'c', 'd', 'e'];
const KEYS = ['x', 'y', 'z'];
const EVENTS = 1_500;

function gen(rnd: () => number): Ev[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const path = (): string[] => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(NAMES));
  const value = (depth = 0): unknown => {
    const r = rnd();
    if (r < 0.35 || depth > 1) return Math.round(rnd() * 1000);
    if (r < 0.55) return 'v'.repeat(1 + Math.floor(rnd() * 30));
    if (r < 0.65) return null;
    if (r < 0.85) return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 3) }, () => [pick(NAMES), value(depth + 1)]));
    return Array.from({ length: Math.floor(rnd() * 3) }, () => value(depth + 1));
  };
  const op = (): Op => {
    const r = rnd();
    if (r < 0.3) return { t: 'set', path: path(), v: value() };
    if (r < 0.45) return { t: 'del', path: path() };
    if (r < 0.55) return { t: 'push', path: path(), v: value() };
    if (r < 0.63) return { t: 'arr', path: path(), i: Math.floor(rnd() * 3), v: value() };
    if (r < 0.68) return { t: 'splice', path: path(), i: Math.floor(rnd() * 3) };
    if (r < 0.8) return { t: 'bulk', at: pick(NAMES), n: 20 + Math.floor(rnd() * 40), len: 20 + Math.floor(rnd() * 60) };
    if (r < 0.82) return { t: 'reset', v: { [pick(NAMES)]: value() } };
    if (r < 0.84) return { t: 'clear' };
    return { t: 'read' };
  };
  return Array.from({ length: EVENTS }, (_, i) => ({ i, k: pick(KEYS), op: op() }));
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The parent object of `path`'s last step, created on the way (a non-object on the way is replaced). */
function parentOf(s: Obj, path: string[]): Obj {
  let cur = s;
  for (const k of path.slice(0, -1)) {
    if (!isObj(cur[k])) cur[k] = {};
    cur = cur[k] as Obj;
  }
  return cur;
}

/** Applies `op` to `s` (the model's plain object, or the job's state): false when it deletes the key's state. */
function apply(s: Obj, op: Op, ev: Ev): boolean {
  const last = (p: string[]) => p[p.length - 1]!;
  switch (op.t) {
    case 'set':
      parentOf(s, op.path)[last(op.path)] = structuredClone(op.v);
      return true;
    case 'del':
      delete parentOf(s, op.path)[last(op.path)];
      return true;
    case 'push': {
      const p = parentOf(s, op.path);
      const a = p[last(op.path)];
      if (Array.isArray(a)) a.push(structuredClone(op.v));
      else p[last(op.path)] = [structuredClone(op.v)];
      return true;
    }
    case 'arr': {
      const a = parentOf(s, op.path)[last(op.path)];
      if (!Array.isArray(a) || a.length === 0) return true;
      const el = a[op.i % a.length];
      // Inside an object that is an element: the array is the unit that changed.
      if (isObj(el)) el['m'] = structuredClone(op.v);
      else a[op.i % a.length] = structuredClone(op.v);
      return true;
    }
    case 'splice': {
      const a = parentOf(s, op.path)[last(op.path)];
      if (Array.isArray(a)) a.splice(op.i, 1);
      return true;
    }
    case 'bulk': {
      if (!isObj(s[op.at])) s[op.at] = {};
      const o = s[op.at] as Obj;
      for (let j = 0; j < op.n; j++) o[`e${(ev.i * 7 + j) % 97}`] = `${ev.i}:`.padEnd(op.len, 'w');
      return true;
    }
    case 'reset':
      for (const k of Object.keys(s)) delete s[k];
      Object.assign(s, structuredClone(op.v));
      return true;
    case 'clear':
      return false;
    case 'read':
      return true;
  }
}

function app(onEvent: () => void): Application {
  const a = new Application('tracked', { partitions: 2 });
  const fn = (e: Ev, s: Obj, ctx: ProcessContext<Ev>) => {
    if (e.op.t === 'read') {
      void JSON.stringify(s);
      ctx.unchanged();
    } else if (!apply(s, e.op, e)) ctx.clearState();
    ctx.emit(e);
  };
  a.pipeline('p')
    .from(topicSource({ topic: 'in' }), json<Ev>())
    .map((e) => (onEvent(), e))
    .global((): Obj => ({}), fn, { name: 'g' })
    .keyBy((e) => e.k)
    .process((): Obj => ({}), fn, { name: 'k' })
    .to(topicSink({ topic: 'out' }), json);
  return a;
}

/** The model after the first `n` inputs: the global state and each key's, as JSON would carry them. */
function model(events: Ev[], n: number): { g: Obj | undefined; k: Map<string, Obj> } {
  let g: Obj | undefined;
  const k = new Map<string, Obj>();
  for (const e of events.slice(0, n)) {
    g ??= {};
    if (!apply(g, e.op, e)) g = undefined;
    const s = k.get(e.k) ?? {};
    k.set(e.k, s);
    if (!apply(s, e.op, e)) k.delete(e.k);
  }
  const plain = (o: Obj) => JSON.parse(JSON.stringify(o)) as Obj;
  return { g: g && plain(g), k: new Map([...k].map(([key, s]) => [key, plain(s)])) };
}

async function committed(log: FileLog, topic: string): Promise<number> {
  let n = 0;
  let offset = 0;
  for (;;) {
    const r = await log.read(topic, 0, offset, { isolation: 'read_committed' });
    n += r.records.length;
    if (r.records.length === 0 && r.nextOffset >= r.highWatermark) return n;
    offset = r.nextOffset;
  }
}

async function changelogKinds(log: FileLog): Promise<{ paths: number; deleted: number; parts: number }> {
  const out = { paths: 0, deleted: 0, parts: 0 };
  let offset = (await log.endOffsets(changelogTopic('tracked')))[0]!.startOffset;
  for (;;) {
    const r = await log.read(changelogTopic('tracked'), 0, offset, { isolation: 'read_committed' });
    for (const rec of r.records) {
      if (Buffer.from(rec.key!).toString().startsWith('["part"')) out.parts++;
      if (!Buffer.from(rec.key!).toString().startsWith('["path"')) continue;
      out.paths++;
      if (rec.value && Buffer.from(rec.value).toString() === '-') out.deleted++;
    }
    if (r.records.length === 0 && r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

// Seeds 2 and 3 with tiny limits: most states tracked, and saved whole in many parts.
for (const [seed, limits] of [[1, null], [2, { trackAboveBytes: 200, splitAboveChars: 300 }], [3, { trackAboveBytes: 50, splitAboveChars: 120 }]] as const) {
  test(`tracked state restored after random stops and compactions deep-equals the model (seed ${seed}${limits ? `, limits ${JSON.stringify(limits)}` : ''})`, async (t) => {
    const dir = tmpDir(t, 'sluice-tracked-');
    const log = await openFileLog({ dataDir: dir });
    const defaults = { ...stateLimits };
    if (limits) Object.assign(stateLimits, limits);
    try {
      const rnd = prng(seed * 7919);
      const events = gen(rnd);
      await log.createTopic('in', { partitions: 1 });
      await log.createTopic('out', { partitions: 1 });
      // Small segments and no tombstone retention: compaction really runs between the runs.
      await log.createTopic(changelogTopic('tracked'), { partitions: 1, compact: true, deleteRetentionMs: 0, file: { segmentBytes: 8192, minCleanableDirtyRatio: 0.01 } });
      const enc = new TextEncoder();
      await log.append('in', 0, events.map((e) => ({ key: null, value: enc.encode(JSON.stringify(e)) })));
      // The most of each kind of record seen after a run (compaction, also during the runs, removes superseded ones).
      const saw = { paths: 0, deleted: 0, parts: 0 };
      for (let run = 0; run < 10; run++) {
        const ac = new AbortController();
        const stopAt = 1 + Math.floor(rnd() * 400);
        let seen = 0;
        const last = run === 9;
        await new Job(app(() => { if (++seen === stopAt && !last) ac.abort(); }), { log, signal: ac.signal, untilEnd: true, commitRecords: 1 + Math.floor(rnd() * 40), commitIntervalMs: 60_000, maxBatchRecords: 1 + Math.floor(rnd() * 30) }).run();
        const kinds = await changelogKinds(log);
        for (const k of ['paths', 'deleted', 'parts'] as const) saw[k] = Math.max(saw[k], kinds[k]);
        await log.maintain(Date.now() + 1000);
        const n = await committed(log, 'out');
        const want = model(events, n);
        const saved = await readChangelog(log, 'tracked');
        const states = (op: string) => new Map(saved.states.filter((c) => c.operator === op && c.state !== '').map((c) => [c.key, JSON.parse(c.state) as Obj]));
        assert.deepEqual(states('g').get(''), want.g, `global state after run ${run} (${n} inputs committed)`);
        assert.deepEqual(states('k'), want.k, `keyed states after run ${run} (${n} inputs committed)`);
        if (last) assert.equal(n, EVENTS);
      }
      assert.ok(saw.paths > 50 && saw.deleted > 0, `the changelog held path records and deletion markers (${JSON.stringify(saw)}): tracking was exercised`);
      if (limits) assert.ok(saw.parts > 0, `states were saved whole in parts (${JSON.stringify(saw)})`);
    } finally {
      Object.assign(stateLimits, defaults);
      await log.close();
    }
  });
}
