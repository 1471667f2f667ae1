// The broker's front door: an empty token is refused on every path (flag, env,
// file, the API), the banner says whether a token is required, and a client
// that has not said hello with the token cannot make the broker hold much
// memory for it (a small first-frame limit, a deadline for hello; HTTP bodies
// are not read before the token is checked).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { Broker } from '../../src/broker/broker.ts';
import { createHttpApi } from '../../src/broker/http-api.ts';
import { BrokerMetrics } from '../../src/broker/metrics.ts';
import { KIND_ERROR } from '../../src/broker/protocol.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { RawConn, scope, startBroker } from './helpers.ts';

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
