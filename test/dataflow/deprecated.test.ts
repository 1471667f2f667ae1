// The names deprecated in favour of one of each pair (docs/dataflow.md) keep
// working for one release; delete this file with them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Application, json, jsonOf, runJob, string, text, callbackSink, fileSource } from '../../src/index.ts';
import { openFileLog } from '../../src/log/index.ts';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSource } from '../helpers/placeholder-connectors.ts';
import { tmpDir } from '../helpers/tmp.ts';

test('jsonOf() is json, string is text.nullable', () => {
  assert.equal(jsonOf<{ a: number }>().decode, json.decode);
  assert.equal(string, text.nullable);
});

test('operator names passed positionally still name the operator', () => {
  const app = new Application('names');
  app
    .pipeline('p')
    .from(placeholderSource('in'), json<number>())
    .map((n) => n + 1, 'plus-one')
    .filter((n) => n > 1, 'big')
    .keyBy(String)
    .count('counted')
    .to(callbackSink(() => {}), json);
  assert.deepEqual(app.nodes().map((n) => n.name).filter((n) => ['plus-one', 'big', 'counted'].includes(n)), ['plus-one', 'big', 'counted']);
  const d = new TestDriver(app);
  d.send('in', [1, 2, 2]);
  assert.deepEqual(d.state('counted', '3'), { count: 2 });
});

test('runJob(app, options) runs the job', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'in.jsonl'), '1\n2\n');
  const log = await openFileLog({ dataDir: join(dir, 'data') });
  try {
    const seen: number[] = [];
    const app = new Application('legacy');
    app
      .pipeline('p')
      .from(fileSource({ path: join(dir, 'in.jsonl') }), json<number>())
      .to(callbackSink((rs) => void seen.push(...rs.map((r) => Number(Buffer.from(r.value!).toString())))), json);
    assert.equal((await runJob(app, { log, untilEnd: true, guarantee: 'at-least-once' })).recordsIn, 2);
    assert.deepEqual(seen, [1, 2]);
  } finally {
    await log.close();
  }
});
