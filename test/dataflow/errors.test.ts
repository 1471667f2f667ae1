// Every mistake in building an application fails with a SluiceError coded
// INVALID_ARGUMENT (`sluice run` exits 2 on it, a caller can branch on the
// code), never a plain Error, RangeError or TypeError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import type { Stream } from '../../src/dataflow/stream.ts';
import { hopping, session, tumbling, type Aggregator } from '../../src/dataflow/windows.ts';
import { json } from '../../src/codec.ts';
import { isSluiceError } from '../../src/errors.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';

function stream(app = new Application('errors'), name = 'p'): Stream<{ k: string; t: number }> {
  return app.pipeline(name).from(placeholderSource(`in-${name}`), json<{ k: string; t: number }>());
}

const noMerge: Aggregator<unknown, number, number> = { init: () => 0, add: (a) => a + 1 };

const mistakes: Record<string, () => unknown> = {
  'an application name with a space': () => new Application('my app'),
  'two pipelines of one name': () => {
    const app = new Application('a');
    app.pipeline('p');
    app.pipeline('p');
  },
  'an application without pipelines': () => new Application('a').validate(),
  'a pipeline without a source': () => {
    const app = new Application('a');
    app.pipeline('p');
    app.validate();
  },
  'a pipeline without a sink': () => {
    const app = new Application('a');
    stream(app);
    app.validate();
  },
  'two stateful operators of one name': () => {
    const app = new Application('a');
    const s = stream(app);
    s.keyBy((v) => v.k).count({ name: 'c' }).to(placeholderSink('x'), json);
    s.keyBy((v) => v.k).count({ name: 'c' }).to(placeholderSink('y'), json);
    app.validate();
  },
  'a negative maxOutOfOrderMs': () => new Application('a').pipeline('p').from(placeholderSource('in'), json, { watermark: { maxOutOfOrderMs: -1 } }),
  'a negative idleTimeoutMs': () => new Application('a').pipeline('p').from(placeholderSource('in'), json, { watermark: { idleTimeoutMs: -1 } }),
  'a tumbling window of 0 ms': () => tumbling(0),
  'a hop longer than its window': () => hopping(10, 20),
  'merging streams of two pipelines': () => {
    const app = new Application('a');
    stream(app, 'p').merge(stream(app, 'q'));
  },
  'keyBy into 0 partitions': () => stream().keyBy((v) => v.k, { partitions: 0 }),
  'a side output of a stateless operator': () => stream().map((v) => v).sideOutput('x'),
  'dedupe within 0 ms': () => stream().dedupe((v) => v.k, 0),
  'a negative join waitMs': () => {
    const s = stream();
    s.join(s.keyBy((v) => v.k).toTable(), { key: (v) => v.k, fn: (v) => v, waitMs: -1 });
  },
  'a negative join interval': () => {
    const s = stream();
    s.join(s, { key: (v) => v.k, otherKey: (v) => v.k, within: -1, fn: (v) => v });
  },
  'a negative allowed lateness of a window': () => stream().keyBy((v) => v.k).window(tumbling(10), { allowedLatenessMs: -1 }).count(),
  'early results every 0 ms': () => stream().keyBy((v) => v.k).window(tumbling(10), { emit: { early: { everyMs: 0 } } }).count(),
  'a session aggregator without merge': () => stream().keyBy((v) => v.k).window(session(10)).aggregate(noMerge),
};

for (const [what, build] of Object.entries(mistakes)) {
  test(`${what}: INVALID_ARGUMENT`, () => {
    assert.throws(build, (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.message.length > 10);
  });
}

test('withTimestamps returning a non-number fails that event with INVALID_ARGUMENT, naming the operator', () => {
  const app = new Application('a', { onError: 'stop' });
  stream(app)
    .withTimestamps((v) => (v.t > 0 ? v.t : (Number.NaN as number)), { name: 'stamp' })
    .to(placeholderSink('out'), json);
  const d = new TestDriver(app);
  assert.throws(
    () => d.send('in-p', [{ k: 'a', t: 0 }]),
    (e) => isSluiceError(e, 'USER_FUNCTION_FAILED') && /stamp/.test(e.message) && isSluiceError((e as Error).cause, 'INVALID_ARGUMENT'),
  );
});
