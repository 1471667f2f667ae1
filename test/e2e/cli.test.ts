// End-to-end: the built `sluice` binary against a real data dir, in real processes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finished, jsonLines, runCli, spawnCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { partitionForKey } from '../../src/partitioner.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

interface Meta {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  timestamp: number;
  headers: Record<string, string>;
  value: unknown;
}

async function ok(args: string[], dataDir: string, input?: string): Promise<string> {
  const r = await runCli(args, input === undefined ? { dataDir } : { dataDir, input });
  assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function lines(n: number, f: (i: number) => object): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify(f(i)) + '\n').join('');
}

test('produce → consume round trip: values, keys, partitions by key hash, --with-meta', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'orders', '--partitions', '3'], dir);
  const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
  const input = lines(50, (i) => ({ user: users[i % 5], n: i, at: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString() }));
  const produced = await runCli(['produce', 'orders', '--key-field', 'user', '--timestamp-field', 'at'], { dataDir: dir, input });
  assert.equal(produced.code, 0, produced.stderr);
  assert.match(produced.stderr, /produced 50 records to orders/);

  const values = jsonLines(await ok(['consume', 'orders'], dir)) as { user: string; n: number }[];
  assert.equal(values.length, 50);
  assert.deepEqual(values.map((v) => v.n).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));

  const metas = jsonLines(await ok(['consume', 'orders', '--with-meta'], dir)) as Meta[];
  assert.equal(metas.length, 50);
  for (const m of metas) {
    const v = m.value as { user: string; n: number; at: string };
    assert.equal(m.topic, 'orders');
    assert.equal(m.key, v.user);
    assert.equal(m.partition, partitionForKey(utf8(v.user), 3), `key ${v.user}`);
    assert.equal(m.timestamp, Date.parse(v.at));
    assert.deepEqual(m.headers, {});
  }
  // Per partition: offsets dense from 0 and in produce order.
  for (let p = 0; p < 3; p++) {
    const mine = metas.filter((m) => m.partition === p);
    assert.deepEqual(mine.map((m) => m.offset), mine.map((_, i) => i));
    const ns = mine.map((m) => (m.value as { n: number }).n);
    assert.deepEqual(ns, [...ns].sort((a, b) => a - b));
  }
});

test('consumer groups resume where they stopped; describe shows groups and lag', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'events', '--partitions', '2'], dir);
  await ok(['produce', 'events'], dir, lines(10, (i) => ({ i })));

  const first = jsonLines(await ok(['consume', 'events', '--group', 'g', '--max', '4'], dir));
  assert.equal(first.length, 4);
  const rest = jsonLines(await ok(['consume', 'events', '--group', 'g'], dir));
  assert.equal(rest.length, 6);
  const all = [...first, ...rest].map((v) => (v as { i: number }).i).sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => i));
  assert.equal(jsonLines(await ok(['consume', 'events', '--group', 'g'], dir)).length, 0);
  // Another group sees everything (fan-out).
  assert.equal(jsonLines(await ok(['consume', 'events', '--group', 'other', '--max', '3'], dir)).length, 3);

  await ok(['produce', 'events'], dir, lines(5, (i) => ({ i: 100 + i })));
  const d = JSON.parse(await ok(['topic', 'describe', 'events'], dir)) as {
    partitions: { partition: number; endOffset: number }[];
    groups: { group: string; lag: number; partitions: { partition: number; committed: number | null; lag: number }[] }[];
  };
  assert.equal(d.partitions.reduce((n, p) => n + p.endOffset, 0), 15);
  const g = d.groups.find((x) => x.group === 'g')!;
  const other = d.groups.find((x) => x.group === 'other')!;
  assert.equal(g.lag, 5);
  assert.equal(other.lag, 12);
  assert.equal(g.partitions.length, 2);
});

test('--from-offset, --from-time, --from-end and --max', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'ts', '--partitions', '2'], dir);
  const input = lines(10, (i) => ({ i, t: 1_700_000_000_000 + i * 1000 }));
  await ok(['produce', 'ts', '--partition', '1', '--timestamp-field', 't'], dir, input);

  const fromOffset = jsonLines(await ok(['consume', 'ts', '--from-offset', '1:7', '--with-meta'], dir)) as Meta[];
  assert.deepEqual(fromOffset.map((m) => [m.partition, m.offset]), [[1, 7], [1, 8], [1, 9]]);

  const fromTime = jsonLines(await ok(['consume', 'ts', '--from-time', new Date(1_700_000_000_000 + 6500).toISOString()], dir));
  assert.deepEqual(fromTime.map((v) => (v as { i: number }).i), [7, 8, 9]);
  const fromMs = jsonLines(await ok(['consume', 'ts', '--from-time', String(1_700_000_000_000 + 8000)], dir));
  assert.deepEqual(fromMs.map((v) => (v as { i: number }).i), [8, 9]);

  assert.deepEqual(jsonLines(await ok(['consume', 'ts', '--max', '3'], dir)).map((v) => (v as { i: number }).i), [0, 1, 2]);
  assert.equal(jsonLines(await ok(['consume', 'ts', '--from-end'], dir)).length, 0);
});

test('a bad line stops produce: earlier lines kept, that line and later ones absent, exit 1', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'bad', '--partitions', '1'], dir);
  const input = '{"a":1}\n\n{"a":2}\n{"a":\n{"a":4}\n';
  const r = await runCli(['produce', 'bad'], { dataDir: dir, input });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sluice: line 4: not valid JSON/m);
  assert.match(r.stderr, /produced 2 records to bad .*nothing from line 4 on was written/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(jsonLines(await ok(['consume', 'bad'], dir)), [{ a: 1 }, { a: 2 }]);

  const missingKey = await runCli(['produce', 'bad', '--key-field', 'id'], { dataDir: dir, input: '{"id":"x"}\n{"a":1}\n{"id":"y"}\n' });
  assert.equal(missingKey.code, 1);
  assert.match(missingKey.stderr, /line 2: key field "id" is missing/);
  const badTime = await runCli(['produce', 'bad', '--timestamp-field', 'ts'], { dataDir: dir, input: '{"ts":"yesterday"}\n' });
  assert.equal(badTime.code, 1);
  assert.match(badTime.stderr, /line 1: timestamp field "ts" is "yesterday"/);
  assert.match(badTime.stderr, /produced 0 records/);
  assert.deepEqual(jsonLines(await ok(['consume', 'bad'], dir)), [{ a: 1 }, { a: 2 }, { id: 'x' }]);
});

test('produce --tombstone-field: a line marked true is a tombstone (null value) for its key, in order with the upserts', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'users', '--partitions', '2', '--compact'], dir);
  const input = [
    { userId: 'u1', plan: 'pro' },
    { userId: 'u2', plan: 'free' },
    { userId: 'u1', deleted: true, at: '2024-05-01T00:00:00Z' },
    { userId: 'u3', plan: 'pro', deleted: false },
    { userId: 'u2', plan: 'ignored', deleted: true },
    { userId: 'u1', plan: 'back' },
  ].map((l) => JSON.stringify(l) + '\n').join('');
  const r = await runCli(['produce', 'users', '--key-field', 'userId', '--tombstone-field', 'deleted', '--timestamp-field', 'at'], { dataDir: dir, input: input.replace(/,"at":"[^"]*"/, '') });
  assert.equal(r.code, 1, 'every line needs --timestamp-field when given, tombstones too');
  assert.match(r.stderr, /line 1: timestamp field "at" is missing/);
  await ok(['produce', 'users', '--key-field', 'userId', '--tombstone-field', 'deleted'], dir, input);

  // Per key, in produce order: a tombstone is a null value, not the text "null".
  const log = await openFileLog({ dataDir: dir, readOnly: true });
  t.after(() => log.close());
  const byKey = new Map<string, (string | null)[]>();
  for (let p = 0; p < 2; p++) {
    for (const rec of (await log.read('users', p, 0)).records) {
      const key = Buffer.from(rec.key!).toString();
      assert.equal(p, partitionForKey(rec.key!, 2), `${key} is on its key's partition`);
      byKey.set(key, [...(byKey.get(key) ?? []), rec.value === null ? null : JSON.parse(Buffer.from(rec.value).toString()).plan]);
    }
  }
  assert.deepEqual(Object.fromEntries(byKey), { u1: ['pro', null, 'back'], u2: ['free', null], u3: ['pro'] });
  const metas = jsonLines(await ok(['consume', 'users', '--with-meta'], dir)) as Meta[];
  assert.deepEqual(metas.filter((m) => m.value === null).map((m) => m.key).sort(), ['u1', 'u2']);

  const noKey = await runCli(['produce', 'users', '--tombstone-field', 'deleted'], { dataDir: dir, input: '{"deleted":true}\n' });
  assert.equal(noKey.code, 2, noKey.stderr);
  assert.match(noKey.stderr, /--tombstone-field needs --key-field/);
  const notBool = await runCli(['produce', 'users', '-k', 'userId', '--tombstone-field', 'deleted'], { dataDir: dir, input: '{"userId":"u4"}\n{"userId":"u3","deleted":"true"}\n' });
  assert.equal(notBool.code, 1);
  assert.match(notBool.stderr, /line 2: tombstone field "deleted" is "true": expected true/);
  assert.match(notBool.stderr, /produced 1 record to users/);
});

test('unknown topic and bad flags exit 2 with a clear message', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'real', '--partitions', '1'], dir);
  for (const args of [['produce', 'nope'], ['consume', 'nope'], ['topic', 'describe', 'nope'], ['topic', 'delete', 'nope']]) {
    const r = await runCli(args, { dataDir: dir, input: '{"a":1}\n' });
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^sluice: unknown topic nope.*sluice topic create nope/m);
  }
  const bad: string[][] = [
    ['consume', 'real', '--bogus'],
    ['consume', 'real', '--max', 'ten'],
    ['consume', 'real', '--from-offset', 'x'],
    ['consume', 'real', '--from-beginning', '--from-end'],
    ['consume', 'real', '--group', 'g', '--from-offset', '0:1'],
    ['consume', 'real', '--from-time', 'tomorrow'],
    ['topic', 'create', 'x'],
    ['topic', 'create', 'x', '--partitions', '0'],
    ['topic', 'create', 'x', '--partitions', '1', '--fsync', 'sometimes'],
    ['topic', 'create', 'bad/name', '--partitions', '1'],
    ['produce', 'real', '--partition', '5'],
    ['frobnicate'],
  ];
  for (const args of bad) {
    const r = await runCli(args, { dataDir: dir });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^sluice: /m, args.join(' '));
  }
  const exists = await runCli(['topic', 'create', 'real', '--partitions', '1'], { dataDir: dir });
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /already exists/);
  await ok(['topic', 'create', 'real', '--partitions', '1', '--if-not-exists'], dir);
});

test('topic create/list/describe/delete', async (t) => {
  const dir = tmpDir(t);
  assert.equal(await ok(['topic', 'list'], dir), '');
  await ok(['topic', 'create', 'a', '--partitions', '2', '--retention-ms', '60000', '--fsync', 'interval:50'], dir);
  await ok(['topic', 'create', 'b', '--partitions', '1', '--compact', '--segment-bytes', '1048576'], dir);
  const list = jsonLines(await ok(['topic', 'list'], dir)) as (Record<string, unknown> & { file: Record<string, unknown> })[];
  // The flags that set file-log settings land under `file`.
  assert.deepEqual(list.map((x) => [x['name'], x['partitions'], x['retentionMs'], x['compact'], x.file['fsync'], x.file['segmentBytes']]), [
    ['a', 2, 60000, false, 'interval:50', 64 * 1024 * 1024],
    ['b', 1, null, true, 'always', 1048576],
  ]);
  const d = JSON.parse(await ok(['topic', 'describe', 'b'], dir)) as { partitions: { segments: number }[]; config: { file: { segmentBytes: number } } };
  assert.equal(d.config.file.segmentBytes, 1048576);
  assert.deepEqual(d.partitions.map((p) => p.segments), [1], 'the file log shows its segments per partition');
  await ok(['topic', 'delete', 'a'], dir);
  assert.deepEqual((jsonLines(await ok(['topic', 'list'], dir)) as { name: string }[]).map((x) => x.name), ['b']);
});

test('values that are not JSON still come out as valid JSON lines', async (t) => {
  const dir = tmpDir(t);
  const log = await openFileLog({ dataDir: dir });
  await log.createTopic('raw', { partitions: 1 });
  await log.append('raw', 0, [
    { key: utf8('k'), value: utf8('plain text') },
    { key: null, value: utf8('{\n  "pretty": true\n}') },
    { key: new Uint8Array([0xff]), value: new Uint8Array([0xff, 0x00]) },
    { key: null, value: null, headers: { h: 'v' } },
  ]);
  await log.close();
  assert.deepEqual(jsonLines(await ok(['consume', 'raw'], dir)), ['plain text', { pretty: true }, '/wA=', null]);
  const metas = jsonLines(await ok(['consume', 'raw', '--with-meta'], dir)) as (Meta & { keyEncoding?: string; valueEncoding?: string })[];
  assert.equal(metas[2]!.keyEncoding, 'base64');
  assert.equal(metas[2]!.valueEncoding, 'base64');
  assert.deepEqual(metas[3]!.headers, { h: 'v' });
  assert.equal(metas[0]!.key, 'k');
});

test('consume --follow picks up records produced by another process, commits and exits 0 on SIGTERM', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'live', '--partitions', '2'], dir);
  await ok(['produce', 'live'], dir, lines(3, (i) => ({ i })));

  const follower = spawnCli(['consume', 'live', '--follow', '--group', 'tail'], { dataDir: dir });
  const done = finished(follower);
  // One listener for the whole run, so lines written while the test awaits something else are kept.
  let seen = '';
  let notify = () => {};
  follower.stdout.on('data', (d: Buffer | string) => {
    seen += d.toString();
    notify();
  });
  const count = () => seen.split('\n').filter((l) => l !== '').length;
  const waitForLines = (n: number) =>
    new Promise<void>((resolve, reject) => {
      notify = () => {
        if (count() >= n) resolve();
      };
      follower.once('exit', () => reject(new Error(`follower exited early: ${seen}`)));
      notify();
    });

  await waitForLines(3);
  // The follower holds no writer lock: this produce (a writer) runs beside it.
  await ok(['produce', 'live'], dir, lines(4, (i) => ({ i: 10 + i })));
  await waitForLines(7);
  await ok(['produce', 'live', '--key-field', 'k'], dir, '{"k":"x","i":20}\n');
  await waitForLines(8);

  follower.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const got = jsonLines(seen).map((v) => (v as { i: number }).i).sort((a, b) => a - b);
  assert.deepEqual(got, [0, 1, 2, 10, 11, 12, 13, 20]);

  const d = JSON.parse(await ok(['topic', 'describe', 'live'], dir)) as { groups: { group: string; lag: number }[] };
  assert.deepEqual(d.groups.map((g) => [g.group, g.lag]), [['tail', 0]]);
  assert.equal(jsonLines(await ok(['consume', 'live', '--group', 'tail'], dir)).length, 0);
});

test('a reader that goes away (EPIPE) ends consume quietly', async (t) => {
  const dir = tmpDir(t);
  await ok(['topic', 'create', 'big', '--partitions', '1'], dir);
  await ok(['produce', 'big'], dir, lines(20_000, (i) => ({ i, pad: 'x'.repeat(50) })));
  const child = spawnCli(['consume', 'big'], { dataDir: dir });
  const done = finished(child);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('while a program that does not serve the dir holds its lock: writers fail after a bounded wait (exit 1), readers work', async (t) => {
  const dir = tmpDir(t);
  const holder = await openFileLog({ dataDir: dir });
  try {
    await holder.createTopic('held', { partitions: 1 });
    await holder.append('held', 0, [{ key: null, value: utf8('{"x":1}') }]);
    const w = await runCli(['produce', 'held'], { dataDir: dir, input: '{"x":2}\n', env: { SLUICE_HOLDER_WAIT_MS: '200' } });
    assert.equal(w.code, 1);
    assert.match(w.stderr, /^sluice: .*/);
    assert.match(w.stderr, new RegExp(String(process.pid)), 'names the holder');
    assert.deepEqual(jsonLines(await ok(['consume', 'held'], dir)), [{ x: 1 }]);
    const d = JSON.parse(await ok(['topic', 'describe', 'held'], dir)) as { partitions: { endOffset: number }[] };
    assert.equal(d.partitions[0]!.endOffset, 1);
    assert.equal(jsonLines(await ok(['topic', 'list'], dir)).length, 1);
  } finally {
    await holder.close();
  }
});
