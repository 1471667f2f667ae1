// Both sides of a join cut from ONE source (a topic with a type field, split
// with filter): each side must see the other's events in the order the source
// delivered them, so results do not depend on how the input is batched. The
// engine holds events where branches meet again and sends them on in source
// order (Event.seq); without that, the first branch of a batch would run
// ahead and the second be judged against a watermark from later in the batch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { mulberry32 } from '../helpers/join-reference.ts';

interface In {
  type: 'search' | 'click' | 'user' | 'request';
  id: string;
  ts: number;
  plan?: string;
}

function app(): Application {
  const a = new Application('one-source', { partitions: 3 });
  const all = a.pipeline('p').from(placeholderSource('in'), json<In>(), { timestamp: (e) => e.ts, watermark: { maxOutOfOrderMs: 20 } });
  const searches = all.filter((e) => e.type === 'search');
  const clicks = all.filter((e) => e.type === 'click');
  searches
    .leftJoin(clicks, { key: (s) => s.id, otherKey: (c) => c.id, within: { before: 0, after: 50 }, fn: (s, c) => `${s.id}@${s.ts}:${c?.ts ?? '-'}`, name: 'ctr' })
    .to(placeholderSink('ctr'), json);
  const users = all.filter((e) => e.type === 'user').toTable((u) => u.id, { name: 'users' });
  all
    .filter((e) => e.type === 'request')
    .leftJoin(users, { key: (r) => r.id, fn: (r, u) => `${r.id}@${r.ts}:${u?.plan ?? '-'}`, name: 'enrich' })
    .to(placeholderSink('enriched'), json);
  return a;
}

function input(seed: number): In[] {
  const rnd = mulberry32(seed);
  const out: In[] = [];
  for (let i = 0; i < 600; i++) {
    const ts = i * 3 + Math.floor(rnd() * 40);
    const id = `k${Math.floor(rnd() * 12)}`;
    const r = rnd();
    if (r < 0.3) out.push({ type: 'search', id, ts });
    else if (r < 0.6) out.push({ type: 'click', id, ts });
    else if (r < 0.75) out.push({ type: 'user', id, ts, plan: `p${Math.floor(rnd() * 3)}` });
    else out.push({ type: 'request', id, ts });
  }
  return out;
}

function run(events: In[], batch: number): { ctr: string[]; enriched: string[]; late: number } {
  const d = new TestDriver(app());
  for (let i = 0; i < events.length; i += batch) d.send('in', events.slice(i, i + batch));
  d.endInput();
  return { ctr: d.output<string>('ctr'), enriched: d.output<string>('enriched'), late: d.counters()['ctr']?.['late-dropped'] ?? 0 };
}

test('a join of two branches of one source gives the same results whatever the batch size', () => {
  for (const seed of [1, 2, 3]) {
    const events = input(seed);
    const one = run(events, 1);
    assert.ok(one.late > 0 && one.late < 60, `some searches or clicks are late, most are not (${one.late})`);
    assert.ok(one.enriched.some((e) => !e.endsWith(':-')) && one.enriched.some((e) => e.endsWith(':-')), 'some requests found their user, some did not');
    for (const batch of [7, 100, 600]) {
      const b = run(events, batch);
      assert.deepEqual(b.ctr, one.ctr, `seed ${seed}: click-throughs with batches of ${batch} vs 1`);
      assert.deepEqual(b.enriched, one.enriched, `seed ${seed}: enrichment with batches of ${batch} vs 1`);
      assert.equal(b.late, one.late, `seed ${seed}: late events with batches of ${batch} vs 1`);
    }
  }
});
