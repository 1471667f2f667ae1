// The broker's front door: an empty token is refused on every path (flag, env,
// file, the API), the banner says whether a token is required, and a client
// that has not said hello with the token cannot make the broker hold much
// memory for it (a small first-frame limit, a deadline for hello; HTTP bodies
// are not read before the token is checked).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { Broker } from '../../src/server/broker.ts';
import { createHttpApi } from '../../src/server/http-api.ts';
import { BrokerMetrics } from '../../src/server/metrics.ts';
import { KIND_ERROR, KIND_REQUEST, KIND_RESPONSE, REQUEST_TYPES } from '../../src/protocol/frames.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { RawConn, scope, startBroker, waitUntil } from './helpers.ts';

const TOKEN = 'front-door-token';

/** No line of a stack trace (`    at fn (file:1:2)`) in what a CLI user sees. */
export function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at .+[:(]/m, `a stack trace reached the user: ${stderr}`);
}

test('an empty token is refused from the flag, $SLUICE_TOKEN and a file, on loopback and beyond', async (t) => {
  const s = scope(t);
  const empty = join(s.dir(), 'token');
  writeFileSync(empty, '\n');
  const cases: { args: string[]; env: Record<string, string>; says: RegExp }[] = [
    { args: ['--auth-token', ''], env: {}, says: /--auth-token is empty/ },
    { args: ['--auth-token', '', '--listen', '0.0.0.0:0'], env: {}, says: /--auth-token is empty/ },
    { args: ['--auth-token', '   '], env: {}, says: /--auth-token is empty/ },
    { args: [], env: { SLUICE_TOKEN: '' }, says: /SLUICE_TOKEN is set but empty/ },
    { args: ['--listen', '0.0.0.0:0'], env: { SLUICE_TOKEN: '' }, says: /SLUICE_TOKEN is set but empty/ },
    { args: ['--auth-token-file', empty, '--listen', '0.0.0.0:0'], env: {}, says: /token file .* is empty/ },
    { args: ['--auth-token', 'two words'], env: {}, says: /whitespace/ },
  ];
  for (const c of cases) {
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--no-http', ...c.args], { dataDir: s.dir(), env: c.env, timeoutMs: 30_000 });
    assert.equal(r.code, 2, `serve ${JSON.stringify(c)} must refuse to start: ${r.stderr}`);
    assert.match(r.stderr, c.says);
    assert.match(r.stderr, /^sluice: /);
    assertNoStack(r.stderr);
  }
  // The API refuses it too: an empty string is not "no token".
  const dataDir = s.dir();
  await assert.rejects(Broker.start({ dataDir, listen: '127.0.0.1:0', http: null, token: '' }), { code: 'INVALID_ARGUMENT', message: /empty/ });
  const log = await openFileLog({ dataDir });
  s.defer(() => log.close());
  assert.throws(() => createHttpApi({ log, metrics: new BrokerMetrics(log), token: '' }), { code: 'INVALID_ARGUMENT' });
});

test('the banner says whether a token is required; an empty presented token is refused over TCP and HTTP', async (t) => {
  const s = scope(t);
  const open = await startBroker(s.dir());
  s.defer(() => open.stop());
  assert.match(open.stderr, /no token required: loopback only/);

  const guarded = await startBroker(s.dir(), { args: ['--auth-token', TOKEN, '--http', '127.0.0.1:0'] });
  s.defer(() => guarded.stop());
  assert.match(guarded.stderr, /token required/);
  assert.doesNotMatch(guarded.stderr, /no token/);

  const c = await RawConn.open(guarded.port);
  s.defer(() => c.destroy());
  const id = c.request('hello', { token: '' });
  const f = await c.reply(id);
  assert.deepEqual([f.kind, (f.json as { code: string }).code], [KIND_ERROR, 'UNAUTHORIZED']);
  await c.closedByBroker();

  const http = /HTTP http:\/\/([^\s,]+)/.exec(guarded.stderr)![1]!;
  for (const auth of ['Bearer ', 'Bearer', '']) {
    const res = await fetch(`http://${http}/topics`, { headers: auth === '' ? {} : { Authorization: auth } });
    assert.equal(res.status, 401, `Authorization: ${JSON.stringify(auth)}`);
    await res.body?.cancel();
  }
});

const MiB = 1024 * 1024;

/** A frame header that announces a `length`-byte hello: what an unauthenticated client can claim. */
function helloHeader(length: number): Buffer {
  const h = Buffer.alloc(15);
  h.writeUInt32BE(length, 0);
  h.writeUInt8(KIND_REQUEST, 4);
  h.writeUInt8(REQUEST_TYPES.hello, 5);
  h.writeUInt8(1, 6);
  h.writeUInt32BE(1, 7);
  h.writeUInt32BE(length - 11, 11);
  return h;
}

/** Peak resident memory of process `pid` in MB (VmHWM), or null where /proc is not there. */
function peakRssMb(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

test('before hello a frame may be 64 KiB: 8 connections announcing 60 MiB first frames are refused at their length field and cost no memory', async (t) => {
  const s = scope(t);
  const broker = await startBroker(s.dir(), { args: ['--auth-token', TOKEN] });
  s.defer(() => broker.stop());
  const body = Buffer.alloc(60 * MiB, 0x20);
  const conns = await Promise.all(Array.from({ length: 8 }, () => RawConn.open(broker.port)));
  s.defer(() => conns.forEach((c) => c.destroy()));
  // The header alone: the broker must not wait for the 60 MiB it announces before refusing it.
  for (const c of conns) c.write(helloHeader(60 * MiB));
  for (const c of conns) {
    const f = await c.reply(0, 20_000);
    assert.equal(f.kind, KIND_ERROR);
    assert.equal((f.json as { code: string }).code, 'TOO_LARGE');
    assert.match((f.json as { message: string }).message, /65536.*hello/);
    await c.closedByBroker(20_000);
  }
  // And what arrives anyway is not kept: the bodies go to closed connections.
  const before = peakRssMb(broker.child.pid!);
  const more = await Promise.all(Array.from({ length: 8 }, () => RawConn.open(broker.port)));
  s.defer(() => more.forEach((c) => c.destroy()));
  for (const c of more) c.write(Buffer.concat([helloHeader(60 * MiB), body]));
  await Promise.all(more.map((c) => c.closedByBroker(20_000)));
  const after = peakRssMb(broker.child.pid!);
  if (before !== null && after !== null) assert.ok(after - before < 100, `the broker's peak RSS grew from ${before} to ${after} MB`);

  // A client that says hello gets the full limit afterwards, on the same connection, even pipelined.
  const ok = await RawConn.open(broker.port);
  s.defer(() => ok.destroy());
  const hello = ok.request('hello', { token: TOKEN });
  const big = ok.request('createTopic', { name: 'big', pad: 'x'.repeat(MiB) });
  assert.equal((await ok.reply(hello)).kind, KIND_RESPONSE);
  assert.equal((await ok.reply(big)).kind, KIND_RESPONSE, 'a 1 MiB request after hello');
});

test('a connection that does not complete hello in time is closed; without a token there is no deadline', async (t) => {
  const s = scope(t);
  const guarded = await Broker.start({ dataDir: s.dir(), listen: '127.0.0.1:0', http: null, token: TOKEN, helloTimeoutMs: 200 });
  s.defer(() => guarded.close());
  const silent = await RawConn.open(guarded.address.port);
  s.defer(() => silent.destroy());
  const half = await RawConn.open(guarded.address.port);
  s.defer(() => half.destroy());
  half.write(helloHeader(100).subarray(0, 10)); // a slow trickle never finishes its frame
  for (const c of [silent, half]) {
    const f = await c.reply(0, 20_000);
    assert.equal((f.json as { code: string }).code, 'UNAUTHORIZED');
    assert.match((f.json as { message: string }).message, /hello.*200 ms/);
    await c.closedByBroker(20_000);
  }
  await waitUntil('the broker to drop both connections', 20_000, () => guarded.connectionCount === 0);

  const open = await Broker.start({ dataDir: s.dir(), listen: '127.0.0.1:0', http: null, helloTimeoutMs: 200 });
  s.defer(() => open.close());
  const idle = await RawConn.open(open.address.port);
  s.defer(() => idle.destroy());
  // Long past the deadline, the connection still answers.
  const id = idle.request('listTopics', {});
  await new Promise((r) => setTimeout(r, 600));
  const id2 = idle.request('listTopics', {});
  assert.equal((await idle.reply(id)).kind, KIND_RESPONSE);
  assert.equal((await idle.reply(id2)).kind, KIND_RESPONSE);
});

test('HTTP: a request without the token is answered 401 before its body and the connection is closed', async (t) => {
  const s = scope(t);
  const broker = await startBroker(s.dir(), { args: ['--auth-token', TOKEN, '--http', '127.0.0.1:0'] });
  s.defer(() => broker.stop());
  const [host, port] = /HTTP http:\/\/([^\s,]+)/.exec(broker.stderr)![1]!.split(':');
  const sock = net.connect(Number(port), host);
  s.defer(() => sock.destroy());
  let got = '';
  sock.setEncoding('utf8').on('data', (d: string) => (got += d));
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('error', () => {});
  sock.write(`POST /topics/t/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${60 * MiB}\r\n\r\n`);
  await closed; // only the headers were sent: the broker answered and closed without the body
  assert.match(got, /^HTTP\/1\.1 401 /);
  assert.match(got, /connection: close/i);
});
