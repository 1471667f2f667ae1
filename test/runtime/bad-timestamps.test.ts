// Event times a job cannot store (outside 0..MAX_TIMESTAMP, not a number)
// are the application's input problem, not the log's: the event they belong
// to is dead-lettered naming the time, and the job goes on. Before, a
// timestamp extractor returning -5 or an emit at 1e300 passed the engine and
// failed the whole job at the sink's append. Fractions of a millisecond
// (seconds * 1000 in floating point) are truncated, not refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface Ev {
  id: string;
  ts: number;
  emitAt?: number;
}

const events: Ev[] = [
  { id: 'ok', ts: 1000 },
  { id: 'negative', ts: -5 },
  { id: 'fraction', ts: 2000.75 },
  { id: 'huge', ts: 9e15 },
  { id: 'emit-huge', ts: 3000, emitAt: 1e300 },
  { id: 'emit-negative', ts: 4000, emitAt: -1 },
  { id: 'last', ts: 5000 },
];

test('events whose times the log cannot store are dead-lettered naming the time; the job goes on', async (t) => {
  const dir = tmpDir(t, 'sluice-bad-ts-');
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('in');
    await log.createTopic('out');
    await log.append('in', 0, events.map((e) => ({ key: null, value: Buffer.from(JSON.stringify(e)), timestamp: 1, headers: {} })));
    const app = new Application('bad-ts');
    app
      .pipeline('p')
      .from(topicSource({ topic: 'in' }), json<Ev>(), { timestamp: (e) => e.ts })
      .keyBy((e) => e.id)
      .process(
        () => ({}),
        (e, _s, ctx) => ctx.emit(e.id, e.emitAt === undefined ? undefined : { timestamp: e.emitAt }),
        { name: 'echo' },
      )
      .to(topicSink({ topic: 'out' }), json);
    const result = await new Job(app, { log, untilEnd: true }).run();
    const out = await readAll(log, 'out', 0, { from: 0 });
    assert.deepEqual(out.map((r) => [JSON.parse(Buffer.from(r.value!).toString()), r.timestamp]), [['ok', 1000], ['fraction', 2000], ['last', 5000]]);
    assert.equal(result.deadLetters, 4);
    const dead = await readAll(log, 'bad-ts-dead-letters', 0, { from: 0 });
    const reasons = dead.map((r) => `${JSON.parse(Buffer.from(r.value!).toString()).id}: ${r.headers['sluice.error']}`);
    assert.equal(reasons.length, 4);
    assert.match(reasons[0]!, /^negative: .*-5 is outside the range/);
    assert.match(reasons[1]!, /^huge: .*9000000000000000 is outside the range/);
    assert.match(reasons[2]!, /^emit-huge: .*1e\+300 is outside the range/);
    assert.match(reasons[3]!, /^emit-negative: .*-1 is outside the range/);
  } finally {
    await log.close();
  }
});
