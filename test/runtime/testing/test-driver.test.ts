// The TestDriver's own observables, beyond what the dataflow tests use it for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../../src/dataflow/application.ts';
import { json } from '../../../src/codec.ts';
import { isSluiceError } from '../../../src/errors.ts';
import { TestDriver } from '../../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../../helpers/placeholder-connectors.ts';

test('timers(operator): the keys holding timers and the next one due, until they fire', () => {
  const app = new Application('timers');
  app
    .pipeline('p')
    .from(placeholderSource('in'), json<{ k: string; at: number }>(), { timestamp: (v) => v.at, watermark: { maxOutOfOrderMs: 0 } })
    .keyBy((v) => v.k)
    .process(
      () => ({}),
      (v, _s, ctx) => ctx.timer(v.at + 100),
      { name: 'remind', onTimer: (_t, _s, ctx) => ctx.clearState() },
    )
    .to(placeholderSink('out'), json);
  const d = new TestDriver(app);
  assert.deepEqual(d.timers('remind'), { keys: 0, next: undefined });
  d.send('in', [{ k: 'a', at: 10 }, { k: 'b', at: 20 }]);
  assert.deepEqual(d.timers('remind'), { keys: 2, next: 110 });
  d.send('in', [{ k: 'c', at: 115 }]); // the watermark passes 110: a's timer fires
  assert.deepEqual(d.timers('remind'), { keys: 2, next: 120 });
  assert.throws(() => d.timers('nope'), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /operators: remind/.test(e.message));
});
