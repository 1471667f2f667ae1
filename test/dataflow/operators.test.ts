import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json, text } from '../../src/codec.ts';
import { isSluiceError } from '../../src/errors.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';

const src = placeholderSource;
const sink = placeholderSink;

test('map, filter and flatMap transform values in order', () => {
  const app = new Application('ops');
  app
    .pipeline('p')
    .from(src('in'), json<number>())
    .filter((n) => n % 2 === 1)
    .map((n) => n * 10)
    .flatMap((n) => [n, n + 1])
    .to(sink('out'), json);
  const d = new TestDriver(app);
  d.send('in', [1, 2, 3, 4, 5]);
  assert.deepEqual(d.output('out'), [10, 11, 30, 31, 50, 51]);
  assert.deepEqual(d.output('out'), [], 'output() drains');
});

test('branch sends each event to the first matching branch; merge joins streams', () => {
  const app = new Application('branches');
  const p = app.pipeline('p');
  const [small, medium, rest] = p.from(src('in'), json<number>()).branch((n) => n < 10, (n) => n < 100);
  small!.map((n) => `small ${n}`).to(sink('small'), text);
  medium!.merge(rest!).map((n) => `big ${n}`).to(sink('big'), text);
  const d = new TestDriver(app);
  d.send('in', [5, 50, 500, 7]);
  assert.deepEqual(d.output('small'), ['small 5', 'small 7']);
  assert.deepEqual(d.output('big'), ['big 50', 'big 500']);
});

test('fan-out: two consumers of one stream do not see each other\'s changes', () => {
  const app = new Application('fanout');
  const s = app.pipeline('p').from(src('in'), json<{ n: number }>());
  s.map((v) => ({ n: v.n + 1 })).to(sink('a'), json);
  s.map((v) => ({ n: v.n * 100 })).to(sink('b'), json);
  const d = new TestDriver(app);
  d.send('in', [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(d.output('a'), [{ n: 2 }, { n: 3 }]);
  assert.deepEqual(d.output('b'), [{ n: 100 }, { n: 200 }]);
});

test('keyed process: state per key is a plain object, mutated in place; ctx has key and timestamp', () => {
  const app = new Application('keyed');
  app
    .pipeline('p')
    .from(src('in'), json<{ user: string; amount: number }>())
    .keyBy((e) => e.user, { partitions: 4 })
    .process(
      () => ({ total: 0, n: 0 }),
      (e, state, ctx) => {
        state.total += e.amount;
        state.n++;
        ctx.emit({ user: ctx.key, total: state.total, at: ctx.timestamp });
      },
      { name: 'totals' },
    )
    .to(sink('out'), json);
  const d = new TestDriver(app, { startTime: 1000 });
  d.send('in', [{ user: 'ann', amount: 5 }, { user: 'bob', amount: 1 }]);
  d.advanceTime(500).send('in', [{ user: 'ann', amount: 2 }]);
  assert.deepEqual(d.output('out'), [
    { user: 'ann', total: 5, at: 1000 },
    { user: 'bob', total: 1, at: 1000 },
    { user: 'ann', total: 7, at: 1500 },
  ]);
  assert.deepEqual(d.state('totals', 'ann'), { total: 7, n: 2 });
  assert.deepEqual([...d.state('totals').keys()].sort(), ['ann', 'bob']);
  const recs = d.outputRecords('out');
  assert.equal(recs.length, 0);
});

test('output records carry the key from keyBy, or the one given to to()', () => {
  const app = new Application('keys');
  const s = app.pipeline('p').from(src('in'), text).keyBy((w) => w.toUpperCase()).count();
  s.to(sink('by-word'), json);
  s.to(sink('custom'), json, { key: (v) => `k-${v.count}`, name: 'custom' });
  const d = new TestDriver(app);
  d.send('in', ['a', 'b', 'a']);
  assert.deepEqual(d.outputRecords('by-word').map((r) => [r.key, r.value]), [
    ['A', { key: 'A', count: 1 }],
    ['B', { key: 'B', count: 1 }],
    ['A', { key: 'A', count: 2 }],
  ]);
  assert.deepEqual(d.outputRecords('custom').map((r) => r.key), ['k-1', 'k-1', 'k-2']);
});

test('aggregation helpers: count, sum, reduce, aggregate', () => {
  const app = new Application('aggs');
  const p = app.pipeline('p');
  const s = p.from(src('in'), json<{ k: string; v: number }>());
  s.keyBy((e) => e.k).count({ name: 'c' }).to(sink('count'), json);
  s.keyBy((e) => e.k).sum((e) => e.v, { name: 's' }).to(sink('sum'), json);
  s.keyBy((e) => e.k)
    .reduce((a, b) => ({ k: a.k, v: Math.max(a.v, b.v) }), { name: 'r' })
    .to(sink('max'), json);
  s.keyBy((e) => e.k)
    .aggregate(() => [] as number[], (acc, e) => [...acc, e.v], { name: 'a' })
    .to(sink('list'), json);
  const d = new TestDriver(app);
  d.send('in', [{ k: 'x', v: 3 }, { k: 'y', v: 1 }, { k: 'x', v: 9 }, { k: 'x', v: 4 }]);
  assert.deepEqual(d.output('count'), [{ key: 'x', count: 1 }, { key: 'y', count: 1 }, { key: 'x', count: 2 }, { key: 'x', count: 3 }]);
  assert.deepEqual(d.output('sum').at(-1), { key: 'x', sum: 16 });
  assert.deepEqual(d.output('max').at(-1), { key: 'x', value: { k: 'x', v: 9 } });
  assert.deepEqual(d.output('list').at(-1), { key: 'x', value: [3, 9, 4] });
});

test('a custom partition function routes keys to fixed partitions (26 letters + "!")', () => {
  const letter = (key: string) => {
    const c = key.charCodeAt(0) - 97;
    return c >= 0 && c < 26 ? c : 26;
  };
  const app = new Application('letters');
  app
    .pipeline('p')
    .from(src('in'), text)
    .keyBy((w) => w, { partitions: 27, partitioner: letter })
    .process(() => ({}), (_w, _s, ctx) => ctx.emit(`${ctx.key}:${ctx.partition}`))
    .to(sink('out'), text);
  const d = new TestDriver(app);
  d.send('in', ['apple', 'zebra', '42', 'monkey']);
  assert.deepEqual(d.output('out'), ['apple:0', 'zebra:25', '42:26', 'monkey:12']);
});

test('global state sees every event in order, across keys', () => {
  const app = new Application('global');
  app
    .pipeline('p')
    .from(src('in'), json<{ from: string; to: string; amount: number }>())
    .global(
      () => ({ balances: {} as Record<string, number> }),
      (t, s, ctx) => {
        const b = s.balances;
        const ok = t.from === 'bank' || (b[t.from] ?? 0) >= t.amount;
        if (ok) {
          b[t.from] = (b[t.from] ?? 0) - t.amount;
          b[t.to] = (b[t.to] ?? 0) + t.amount;
        }
        ctx.emit(ok);
      },
      { name: 'ledger' },
    )
    .to(sink('out'), json);
  const d = new TestDriver(app);
  d.send('in', [
    { from: 'ann', to: 'bob', amount: 5 },
    { from: 'bank', to: 'ann', amount: 10 },
    { from: 'ann', to: 'bob', amount: 5 },
  ]);
  assert.deepEqual(
    d.outputRecords('out').map((r) => [r.value, r.key]),
    [[false, null], [true, null], [true, null]],
    'global outputs carry no key unless emit gives one',
  );
  assert.deepEqual(d.state('ledger', ''), { balances: { bank: -10, ann: 5, bob: 5 } });
});

test('side outputs: ctx.emit(v, { to }) feeds .sideOutput(name)', () => {
  const app = new Application('side');
  const main = app
    .pipeline('p')
    .from(src('in'), json<number>())
    .keyBy(() => 'k')
    .process(() => ({}), (n, _s, ctx) => (n < 0 ? ctx.emit(`negative ${n}`, { to: 'alerts' }) : ctx.emit(n * 2)));
  main.to(sink('main'), json);
  main.sideOutput<string>('alerts').to(sink('alerts'), text);
  const d = new TestDriver(app);
  d.send('in', [1, -2, 3]);
  assert.deepEqual(d.output('main'), [2, 6]);
  assert.deepEqual(d.output('alerts'), ['negative -2']);
});

test('errors go to dead letters with the reason; the job keeps going', () => {
  const app = new Application('dlq');
  app
    .pipeline('p')
    .from(src('in'), json<{ n: number }>())
    .map((v) => {
      if (v.n === 2) throw new Error('two is not allowed');
      return v.n;
    })
    .to(sink('out'), json);
  const d = new TestDriver(app);
  d.send('in', [{ n: 1 }, { n: 2 }, { n: 3 }]);
  assert.deepEqual(d.output('out'), [1, 3]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.value, '{"n":2}');
  assert.equal(dead[0]!.headers['sluice.error'], 'two is not allowed');
  assert.equal(dead[0]!.headers['sluice.stage'], 'process');
  assert.equal(dead[0]!.headers['sluice.position'], '1');
  assert.equal(dead[0]!.headers['sluice.origin'], 'test:in/0');
});

test('undecodable input goes to dead letters with its original bytes', () => {
  const app = new Application('decode');
  app.pipeline('p').from(src('in'), json).to(sink('out'), json);
  const d = new TestDriver(app);
  d.sendRaw('in', ['1', '{not json', '2']);
  assert.deepEqual(d.output('out'), [1, 2]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.value, '{not json');
  assert.equal(dead[0]!.headers['sluice.stage'], 'decode');
  assert.equal(dead[0]!.headers['sluice.position'], '1');
  assert.match(dead[0]!.headers['sluice.error']!, /not valid JSON/);
});

test("onError 'stop' fails with USER_FUNCTION_FAILED naming the operator and the input position", () => {
  const app = new Application('strict', { onError: 'stop' });
  app
    .pipeline('p')
    .from(src('in'), json<number>())
    .map((n) => {
      if (n === 3) throw new Error('boom');
      return n;
    }, { name: 'explode' })
    .to(sink('out'), json);
  const d = new TestDriver(app);
  assert.throws(
    () => d.send('in', [1, 2, 3]),
    (e) => isSluiceError(e, 'USER_FUNCTION_FAILED') && /explode/.test(e.message) && /test:in\/0 at 2/.test(e.message),
  );
});

test('state that is not JSON-compatible is refused with the path; a stateCodec allows it', () => {
  const app = new Application('badstate', { onError: 'stop' });
  app
    .pipeline('p')
    .from(src('in'), text)
    .keyBy((w) => w)
    .process(() => ({ seen: new Set<string>() }), () => {}, { name: 'sets' })
    .to(sink('out'), json);
  assert.throws(() => new TestDriver(app).send('in', ['x']), (e) => isSluiceError(e) && /\$\.seen/.test(e.message) && /Set/.test(e.message));

  const ok = new Application('codec');
  ok.pipeline('p')
    .from(src('in'), text)
    .keyBy((w) => w)
    .process(
      () => ({ seen: new Set<string>() }),
      (w, s, ctx) => {
        s.seen.add(w);
        ctx.emit(s.seen.size);
      },
      { name: 'sets', stateCodec: { toJSON: (s) => [...s.seen], fromJSON: (j) => ({ seen: new Set(j as string[]) }) } },
    )
    .to(sink('out'), json);
  const d = new TestDriver(ok);
  d.send('in', ['x', 'x']);
  assert.deepEqual(d.output('out'), [1, 1]);
});

test('state mutated into something JSON would not round-trip fails in the TestDriver, as at a checkpoint', () => {
  const app = new Application('latebadstate');
  app
    .pipeline('p')
    .from(src('in'), text)
    .keyBy((w) => w)
    .process<{ when: unknown }, never>(
      () => ({ when: null }),
      (_w, s) => {
        s.when = new Date(0);
      },
      { name: 'dates' },
    )
    .to(sink('out'), json);
  assert.throws(() => new TestDriver(app).send('in', ['x']), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /\$\.when/.test(e.message) && /Date/.test(e.message));
});

test('an application without a sink, or with duplicate operator names, is rejected', () => {
  const app = new Application('nosink');
  app.pipeline('p').from(src('in'), text).map((s) => s);
  assert.throws(() => new TestDriver(app), /has no sink/);
  const dup = new Application('dup');
  const s = dup.pipeline('p').from(src('in'), text);
  s.keyBy((x) => x).count({ name: 'n' }).to(sink('a'), json);
  s.keyBy((x) => x).count({ name: 'n' }).to(sink('b'), json);
  assert.throws(() => new TestDriver(dup), /named n/);
});

test('flatMap: lazy generators, a throw after some values (those go on, the input is dead-lettered as it came), and two readers of its output', () => {
  const app = new Application('flat');
  const words = app
    .pipeline('p')
    .from(src('in'), json<string>())
    .flatMap(function* (line) {
      for (const w of line.split(' ')) {
        if (w === 'boom') throw new Error('boom');
        yield w;
      }
    });
  words.map((w) => w.toUpperCase()).to(sink('upper'), text);
  words.to(sink('plain'), text);
  const d = new TestDriver(app);
  d.send('in', ['a b', 'c boom d', 'e']);
  assert.deepEqual(d.output('upper'), ['A', 'B', 'C', 'E']);
  assert.deepEqual(d.output('plain'), ['a', 'b', 'c', 'e']);
  const dead = d.deadLettered();
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.value, JSON.stringify('c boom d'));
});
