// The HTTP API against a real server on a loopback port and a real FileLog:
// every request goes through fetch, every effect is checked in the log itself.
// Long-polls, event streams and shutdown are in http-stream.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { BrokerMetrics } from '../../src/server/metrics.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { partitionForKey } from '../../src/partitioner.ts';
import { arrayElements, rawValueAt } from '../../src/server/http-json.ts';
import { call, ends, post, sample, text, withBroker } from './http-helpers.ts';

test('topics: create, list, describe, delete, and the errors around them', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    const created = await post(`${url}/topics`, { name: 'orders', partitions: 3, compact: true, file: { fsync: 'interval:50', segmentBytes: 4096 } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/topics/orders');
    assert.deepEqual([created.body.name, created.body.partitions, created.body.compact, created.body.file.fsync, created.body.file.segmentBytes], ['orders', 3, true, 'interval:50', 4096]);
    // The file settings flat, as before they moved under `file`: still accepted on create (deprecated).
    const flat = await post(`${url}/topics`, { name: 'flat', segmentBytes: 8192, fsync: 'never' });
    assert.equal(flat.status, 201);
    assert.deepEqual([flat.body.file.segmentBytes, flat.body.file.fsync, 'segmentBytes' in flat.body], [8192, 'never', false]);
    const badFsync = await post(`${url}/topics`, { name: 'z', file: { fsync: 5 } });
    assert.deepEqual([badFsync.status, badFsync.body.error.code, badFsync.body.error.details.field], [400, 'INVALID_ARGUMENT', 'file.fsync']);
    const badFile = await post(`${url}/topics`, { name: 'z', file: { segmentByte: 5 } });
    assert.deepEqual([badFile.status, badFile.body.error.code, badFile.body.error.details.field], [400, 'INVALID_ARGUMENT', 'file.segmentByte']);
    const badSegment = await post(`${url}/topics`, { name: 'z', file: { segmentBytes: 0 } });
    assert.deepEqual([badSegment.status, badSegment.body.error.details.field], [400, 'file.segmentBytes']);
    assert.equal((await log.getTopic('orders')).config.partitions, 3);

    const again = await post(`${url}/topics`, { name: 'orders' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'TOPIC_EXISTS');
    const zero = await post(`${url}/topics`, { name: 'z', partitions: 0 });
    assert.equal(zero.status, 400);
    assert.equal(zero.body.error.code, 'INVALID_ARGUMENT');
    assert.match(zero.body.error.message, /partitions/);
    const typo = await post(`${url}/topics`, { name: 'z', partition: 2 });
    assert.equal(typo.status, 400);
    assert.match(typo.body.error.message, /unknown field "partition"/);
    const notJson = await post(`${url}/topics`, '{"name":');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'BAD_INPUT');
    await assert.rejects(log.getTopic('z'));

    await post(`${url}/topics`, { name: 'alpha' });
    const list = await call(`${url}/topics`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.map((x: { name: string }) => x.name), ['alpha', 'flat', 'orders']);

    const described = await call(`${url}/topics/orders`);
    assert.equal(described.status, 200);
    assert.deepEqual(described.body.partitions.map((p: { partition: number; endOffset: number }) => [p.partition, p.endOffset]), [[0, 0], [1, 0], [2, 0]]);
    assert.equal(described.body.config.file.fsync, 'interval:50');

    const del = await call(`${url}/topics/alpha`, { method: 'DELETE' });
    assert.deepEqual([del.status, del.body], [200, { deleted: 'alpha' }]);
    await assert.rejects(log.getTopic('alpha'));
    const gone = await call(`${url}/topics/alpha`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'UNKNOWN_TOPIC');
    assert.match(gone.body.error.message, /POST \/topics/);
    assert.equal((await call(`${url}/topics/alpha`, { method: 'DELETE' })).status, 404);

    // Names from the URL are validated before they reach the file system.
    for (const bad of ['a%2F..%2Fb', '.hidden']) {
      const r = await call(`${url}/topics/${bad}`);
      assert.deepEqual([r.status, r.body.error.code], [400, 'INVALID_ARGUMENT'], bad);
    }
    const noRoute = await call(`${url}/nope`);
    assert.deepEqual([noRoute.status, noRoute.body.error.code], [404, 'NOT_FOUND']);
    const wrongMethod = await call(`${url}/topics`, { method: 'PUT' });
    assert.deepEqual([wrongMethod.status, wrongMethod.headers.get('allow')], [405, 'GET, POST']);
    assert.deepEqual((await call(`${url}/health`)).body, { ok: true });
  });
});

test('produce: one record, an array, JSON lines; keys land where the partitioner says', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('one');
    const single = await post(`${url}/topics/one/records`, { value: { n: 1 }, headers: { src: 'test' }, timestamp: 1700000000000 });
    assert.equal(single.status, 200);
    assert.deepEqual(single.body, { offsets: [{ partition: 0, offset: 0 }] });
    const [r] = (await log.read('one', 0, 0)).records;
    assert.deepEqual([text(r!.value), r!.key, r!.headers, r!.timestamp], ['{"n":1}', null, { src: 'test' }, 1700000000000]);

    await log.createTopic('keyed', { partitions: 4 });
    const keys = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
    const arr = await post(`${url}/topics/keyed/records`, keys.map((k, i) => ({ key: k, value: i })));
    assert.equal(arr.status, 200);
    const want = keys.map((k) => partitionForKey(Buffer.from(k), 4));
    assert.ok(new Set(want).size > 1, 'the keys must spread, or the test proves little');
    assert.deepEqual(arr.body.offsets.map((o: { partition: number }) => o.partition), want);
    for (let i = 0; i < keys.length; i++) {
      const { partition, offset } = arr.body.offsets[i];
      const [rec] = (await log.read('keyed', partition, offset, { maxRecords: 1 })).records;
      assert.deepEqual([text(rec!.key), text(rec!.value)], [keys[i], String(i)]);
    }

    // JSON lines: blank lines skipped, CRLF accepted, explicit partition obeyed, null value = tombstone.
    const lines = '{"value":"a","partition":3}\r\n\n{"value":[1,2],"key":"alice"}\n{"value":null,"key":"bob"}\n';
    const nd = await post(`${url}/topics/keyed/records`, lines, 'application/x-ndjson');
    assert.equal(nd.status, 200);
    assert.deepEqual(nd.body.offsets.map((o: { partition: number }) => o.partition), [3, want[0], want[1]]);
    const tomb = (await log.read('keyed', want[1]!, nd.body.offsets[2].offset)).records[0]!;
    assert.deepEqual([text(tomb.key), tomb.value], ['bob', null]);
    assert.equal(text((await log.read('keyed', 3, nd.body.offsets[0].offset)).records[0]!.value), '"a"');

    // Without keys: round-robin over every partition.
    const rr = await post(`${url}/topics/keyed/records`, [0, 1, 2, 3].map((v) => ({ value: v })));
    assert.deepEqual(rr.body.offsets.map((o: { partition: number }) => o.partition).sort(), [0, 1, 2, 3]);

    const media = await post(`${url}/topics/keyed/records`, 'x', 'text/plain');
    assert.equal(media.status, 415);
    const unknown = await post(`${url}/topics/nope/records`, { value: 1 });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'UNKNOWN_TOPIC']);
  });
});

test('produce: a value is stored as the exact JSON text sent, so big integers keep their digits', async (t) => {
  // The scanner behind it, on the awkward cases: brackets and quotes inside strings,
  // escaped keys, duplicate keys (the last wins, as in JSON.parse), whitespace.
  const tricky = '{"a":"}\\"]","value" : [1, {"x":"]"}] , "b":2}';
  assert.equal(rawValueAt(tricky, 0), '[1, {"x":"]"}]');
  assert.equal(rawValueAt('{"\\u0076alue":7}', 0), '7');
  assert.equal(rawValueAt('{"value":1,"value":"two"}', 0), '"two"');
  assert.equal(rawValueAt('{"key":"k"}', 0), undefined);
  const arr = ' [ {"value":1} ,{"value":{"v":"[,]"}},3 ]';
  assert.deepEqual(arrayElements(arr, 0).map((i) => arr.slice(i, i + 3)), ['{"v', '{"v', '3 ]']);
  assert.equal(rawValueAt(arr, arrayElements(arr, 0)[1]!), '{"v":"[,]"}');

  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('big');
    const big = '{"id":12345678901234567890,"f":1.10}';
    await post(`${url}/topics/big/records`, `{"value":${big}}`);
    await post(`${url}/topics/big/records`, `[{"value":${big}},{"key":"k","value":-0.5e3}]`);
    await post(`${url}/topics/big/records`, `{"value":${big}}\n{"value":123456789012345678901234567890}\n`, 'application/x-ndjson');
    const values = (await log.read('big', 0, 0)).records.map((r) => text(r.value));
    assert.deepEqual(values, [big, big, '-0.5e3', big, '123456789012345678901234567890']);
    const out = await fetch(`${url}/topics/big/partitions/0/records`).then((r) => r.text());
    assert.ok(out.includes('"value":{"id":12345678901234567890,"f":1.10}'), out);
  });
});

test('produce: one bad line or element rejects the whole body and appends nothing', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('t', { partitions: 2 });
    const cases: [string, string, RegExp, Record<string, number>][] = [
      ['{"value":1}\n{"value":2}\n{"value":3,}\n{"value":4}', 'application/x-ndjson', /^line 3: not valid JSON/, { line: 3 }],
      ['{"value":1}\n\n{"value":2,"partition":2}', 'application/x-ndjson', /^line 3: "partition" 2 does not exist/, { line: 3 }],
      ['{"value":1}\n42', 'application/x-ndjson', /^line 2: expected a record object/, { line: 2 }],
      ['[{"value":1},{"value":2,"key":7}]', 'application/json', /^records\[1\]: "key" must be a string/, { index: 1 }],
      ['[{"value":1},{"vaule":2}]', 'application/json', /^records\[1\]: unknown field "vaule"/, { index: 1 }],
      ['{"key":"k"}', 'application/json', /missing "value"/, {}],
      ['[{"value":1}', 'application/json', /not valid JSON/, {}],
      // Timestamps: integer epoch ms in the log's range (0 .. 8.64e15), or an ISO-8601 string in it.
      ['{"value":1}\n{"value":2,"timestamp":8640000000000001}', 'application/x-ndjson', /^line 2: "timestamp" must be epoch milliseconds/, { line: 2 }],
      ['[{"value":1},{"value":2,"timestamp":1.5}]', 'application/json', /^records\[1\]: "timestamp" must be/, { index: 1 }],
      ['[{"value":1},{"value":2,"timestamp":"1969-12-31T23:59:59Z"}]', 'application/json', /^records\[1\]: "timestamp" must be/, { index: 1 }],
      ['{"value":1,"timestamp":1e400}', 'application/json', /"timestamp" must be .* got Infinity/, {}],
    ];
    for (const [body, type, message, details] of cases) {
      const r = await post(`${url}/topics/t/records`, body, type);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error.code, 'BAD_INPUT', body);
      assert.match(r.body.error.message, message);
      for (const [k, v] of Object.entries(details)) assert.equal(r.body.error.details[k], v, body);
    }
    assert.deepEqual(await ends(log, 't'), [0, 0]);
    // The same lines without the bad one are accepted: it was the bad line that stopped them.
    const ok = await post(`${url}/topics/t/records`, '{"value":1}\n{"value":2}\n{"value":4}', 'application/x-ndjson');
    assert.equal(ok.status, 200);
    assert.equal((await ends(log, 't')).reduce((a, b) => a + b, 0), 3);
  });
});

test('consume: offsets, limits, rendering of JSON, text and binary values', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('c', { partitions: 2 });
    await log.append('c', 1, [
      { key: Buffer.from('k0'), value: Buffer.from('{"big":12345678901234567890}'), timestamp: 1000, headers: { h: 'v' } },
      { key: null, value: Buffer.from('plain text') },
      { key: Buffer.from([0xff, 0xfe]), value: Buffer.from([0x00, 0xff, 0x10]) },
      { key: null, value: null },
      { key: null, value: Buffer.from('5') },
    ]);
    const raw = await fetch(`${url}/topics/c/partitions/1/records?offset=0&max=1`).then((r) => r.text());
    // Rendered from the stored bytes, not re-serialised: a big integer keeps its digits.
    assert.match(raw, /"value":\{"big":12345678901234567890\}/);

    const all = await call(`${url}/topics/c/partitions/1/records`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.records.map((r: { offset: number }) => r.offset), [0, 1, 2, 3, 4]);
    assert.deepEqual([all.body.nextOffset, all.body.highWatermark], [5, 5]);
    const [r0, r1, r2, r3] = all.body.records;
    assert.deepEqual([r0.key, r0.timestamp, r0.headers], ['k0', 1000, { h: 'v' }]);
    assert.equal(r1.value, 'plain text');
    assert.deepEqual([r2.key, r2.keyEncoding, r2.value, r2.valueEncoding], ['//4=', 'base64', 'AP8Q', 'base64']);
    assert.equal(r3.value, null);
    assert.equal(r1.valueEncoding, undefined);

    const page = await call(`${url}/topics/c/partitions/1/records?offset=2&max=2`);
    assert.deepEqual(page.body.records.map((r: { offset: number }) => r.offset), [2, 3]);
    assert.equal(page.body.nextOffset, 4);
    const latest = await call(`${url}/topics/c/partitions/1/records?offset=latest`);
    assert.deepEqual([latest.body.records.length, latest.body.nextOffset], [0, 5]);
    assert.deepEqual((await call(`${url}/topics/c/partitions/0/records`)).body.records, []);

    const range = await call(`${url}/topics/c/partitions/1/records?offset=9`);
    assert.deepEqual([range.status, range.body.error.code], [400, 'OFFSET_OUT_OF_RANGE']);
    const part = await call(`${url}/topics/c/partitions/2/records`);
    assert.deepEqual([part.status, part.body.error.code], [404, 'UNKNOWN_PARTITION']);
    const typo = await call(`${url}/topics/c/partitions/1/records?max_records=3`);
    assert.equal(typo.status, 400);
    assert.match(typo.body.error.message, /max_records/);
    assert.equal((await call(`${url}/topics/c/partitions/1/records?wait_ms=30001`)).status, 400);
    assert.equal((await call(`${url}/topics/c/partitions/x/records`)).status, 400);
  });
});

test('metrics: traffic counters, end offsets, group lag, process metrics; several registries in one process', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('m', { partitions: 2 });
    // A second BrokerMetrics in the same process: each has its own registry, so no name clash.
    const other = new BrokerMetrics(log);
    assert.doesNotMatch((await other.render()).body, /sluice_records_in_total\{/);

    const produced = await post(`${url}/topics/m/records`, [{ value: 'ab', partition: 0 }, { value: 1, key: 'xyz', partition: 0 }, { value: true, partition: 1 }]);
    assert.equal(produced.status, 200);
    // Value bytes are the JSON text: "ab" is 4, 1 is 1, true is 4; key xyz is 3.
    await call(`${url}/topics/m/partitions/0/records?max=1`);
    await log.commitOffsets('g', [{ topic: 'm', partition: 0, offset: 1 }]);

    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.equal(sample(body, 'sluice_records_in_total', 'topic="m"'), 3);
    assert.equal(sample(body, 'sluice_bytes_in_total', 'topic="m"'), 12);
    assert.equal(sample(body, 'sluice_records_out_total', 'topic="m"'), 1);
    assert.equal(sample(body, 'sluice_bytes_out_total', 'topic="m"'), 4);
    assert.equal(sample(body, 'sluice_partition_end_offset', 'topic="m",partition="0"'), 2);
    assert.equal(sample(body, 'sluice_partition_end_offset', 'topic="m",partition="1"'), 1);
    assert.equal(sample(body, 'sluice_group_lag', 'group="g",topic="m",partition="0"'), 1);
    assert.equal(sample(body, 'sluice_group_lag', 'group="g",topic="m",partition="1"'), 1);
    assert.ok(sample(body, 'process_cpu_user_seconds_total', '') !== undefined, 'default process metrics are exposed');

    // Lag follows commits; a deleted topic's gauges disappear.
    await log.commitOffsets('g', [{ topic: 'm', partition: 0, offset: 2 }]);
    let again = await fetch(`${url}/metrics`).then((r) => r.text());
    assert.equal(sample(again, 'sluice_group_lag', 'group="g",topic="m",partition="0"'), 0);
    await log.deleteTopic('m');
    again = await fetch(`${url}/metrics`).then((r) => r.text());
    assert.equal(sample(again, 'sluice_partition_end_offset', 'topic="m",partition="0"'), undefined);
  });
});

test("metrics: sluice_fsync_seconds counts the fsyncs of the broker's own log, not of another FileLog in the process", async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('f'); // fsync: always
    const count = async () => sample(await (await fetch(`${url}/metrics`)).text(), 'sluice_fsync_seconds_count', '') ?? -1;
    const before = await count();
    for (let i = 0; i < 3; i++) await post(`${url}/topics/f/records`, { value: i });
    const seen = await count();
    assert.ok(seen >= before + 3, `3 acknowledged appends with fsync=always, ${seen - before} fsyncs observed`);
    // Observing used to swap the process-wide Io: every FileLog in the process was timed.
    const other = await openFileLog({ dataDir: tmpDir(t) });
    try {
      await other.createTopic('o');
      for (let i = 0; i < 3; i++) await other.append('o', 0, [{ key: null, value: Buffer.from(String(i)) }]);
    } finally {
      await other.close();
    }
    assert.equal(await count(), seen, "another log's fsyncs are not this broker's");
  });
});

test('groups: list and describe committed offsets with lag', async (t) => {
  await withBroker(t, {}, async ({ url, log }) => {
    await log.createTopic('g1', { partitions: 2 });
    await log.append('g1', 0, [1, 2, 3].map((i) => ({ key: null, value: Buffer.from(String(i)) })));
    await log.commitOffsets('billing', [{ topic: 'g1', partition: 0, offset: 1 }]);
    assert.deepEqual((await call(`${url}/groups`)).body, [{ group: 'billing' }]);
    const g = await call(`${url}/groups/billing`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.offsets, [{ topic: 'g1', partition: 0, offset: 1 }]);
    assert.deepEqual(g.body.lag, [
      { topic: 'g1', partition: 0, committed: 1, endOffset: 3, lag: 2 },
      { topic: 'g1', partition: 1, committed: null, endOffset: 0, lag: 0 },
    ]);
    const d = await call(`${url}/topics/g1`);
    assert.deepEqual(d.body.groups.map((x: { group: string; lag: number }) => [x.group, x.lag]), [['billing', 2]]);
    const none = await call(`${url}/groups/nobody`);
    assert.deepEqual([none.status, none.body.error.code], [404, 'NOT_FOUND']);
  });
});

test('auth: a bearer token guards everything but /health', async (t) => {
  await withBroker(t, { token: 's3cret' }, async ({ url, log }) => {
    await log.createTopic('a');
    const ok = { Authorization: 'Bearer s3cret' };
    assert.equal((await call(`${url}/health`)).status, 200);
    const refused: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong' }, { Authorization: 's3cret' }, { Authorization: 'Basic czNjcmV0' }];
    for (const headers of refused) {
      for (const path of ['/topics', '/metrics', '/groups', '/no/such/route']) {
        const r = await call(url + path, { headers });
        assert.equal(r.status, 401, `${path} with ${JSON.stringify(headers)}`);
        assert.equal(r.body.error.code, 'UNAUTHORIZED');
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="sluice"');
      }
      const w = await post(`${url}/topics/a/records`, { value: 1 }, 'application/json', headers);
      assert.equal(w.status, 401);
    }
    assert.deepEqual(await ends(log, 'a'), [0]);
    assert.equal((await call(`${url}/topics`, { headers: ok })).status, 200);
    assert.equal((await fetch(`${url}/metrics`, { headers: ok })).status, 200);
    assert.equal((await post(`${url}/topics/a/records`, { value: 1 }, 'application/json', ok)).status, 200);
    assert.deepEqual(await ends(log, 'a'), [1]);
  });
});

test('a body over maxBodyBytes gets 413 and appends nothing, declared or streamed', async (t) => {
  await withBroker(t, { maxBodyBytes: 1024 }, async ({ url, log }) => {
    await log.createTopic('big');
    const records = Array.from({ length: 60 }, (_, i) => ({ value: `record number ${i}` }));
    assert.ok(JSON.stringify(records).length > 1024);
    const declared = await post(`${url}/topics/big/records`, records);
    assert.deepEqual([declared.status, declared.body.error.code], [413, 'TOO_LARGE']);
    // No Content-Length: the limit must hold while reading, too.
    const lines = records.map((r) => JSON.stringify(r) + '\n');
    const streamed = await call(`${url}/topics/big/records`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-ndjson' },
      body: new ReadableStream({
        start(c) {
          for (const l of lines) c.enqueue(new TextEncoder().encode(l));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.deepEqual([streamed.status, streamed.body.error.code], [413, 'TOO_LARGE']);
    assert.deepEqual(await ends(log, 'big'), [0]);
    // Just under the limit is fine.
    const small = await post(`${url}/topics/big/records`, records.slice(0, 10));
    assert.equal(small.status, 200);
    assert.deepEqual(await ends(log, 'big'), [10]);
  });
});
