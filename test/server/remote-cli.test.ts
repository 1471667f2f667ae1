// The CLI against a broker (`--broker` / $SLUICE_BROKER), as users run it:
// `sluice serve` in one process; topic admin, produce, `sluice run` of the
// bank-transfer job, `sluice exec` of the Node transfer program, consume and
// state in others — each giving what it gives on the embedded log. Plus the
// server's promises: a token, TLS with a private CA, refusing a public bind
// without a token, and a graceful SIGTERM that keeps every record.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli, jsonLines } from '../helpers/cli.ts';
import { generateTransfers, BANK_APP } from '../fixtures/crash-harness.ts';
import { referenceOutcomes, type Transfer } from '../../examples/bank-transfers/reference.ts';
import { EXAMPLES } from '../exec/harness.ts';
import { scope, startBroker } from './helpers.ts';

const TOKEN = 'remote-cli-token';

test('every command works through the broker: topics, produce, run, exec, consume, state; SIGTERM stops it gracefully', async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  const broker = await startBroker(dataDir, { args: ['--auth-token', TOKEN] });
  s.defer(() => broker.stop());
  // No data dir for the clients at all: a directory that does not exist proves nothing is read locally.
  const cli = (args: string[], input?: string) => runCli(args, { dataDir: join(dataDir, 'not-used'), input, env: { SLUICE_BROKER: broker.url, SLUICE_TOKEN: TOKEN }, timeoutMs: 120_000 });
  const ok = async (args: string[], input?: string) => {
    const r = await cli(args, input);
    assert.equal(r.code, 0, `sluice ${args.join(' ')}: ${r.stderr}`);
    return r;
  };

  const wrong = await runCli(['topic', 'list'], { dataDir, env: { SLUICE_BROKER: broker.url, SLUICE_TOKEN: 'nope' } });
  assert.notEqual(wrong.code, 0, 'a wrong token is refused');
  assert.match(wrong.stderr, /token/);

  for (const topic of ['transfers', 'transfer-outcomes', 'exec-outcomes']) await ok(['topic', 'create', topic, '--partitions', '1']);
  const lines = await generateTransfers(3000, 17);
  await ok(['produce', 'transfers', '--key-field', 'source'], lines.join('\n') + '\n');
  const want = referenceOutcomes(lines.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));

  await ok(['run', BANK_APP, '--until-end']);
  const outcomes = jsonLines((await ok(['consume', 'transfer-outcomes'])).stdout).map((v) => JSON.stringify(v));
  assert.deepEqual(outcomes, want, 'sluice run through the broker: the sequential program\'s outcomes');
  const state = JSON.parse((await ok(['state', 'bank-transfers'])).stdout) as Record<string, unknown>;
  assert.ok(Object.keys(state).length > 0, 'the job saved its state in the broker');

  await ok(['exec', '--input', 'transfers', '--output', 'exec-outcomes', '--job', 'exec-bank', '--until-end', '--', process.execPath, EXAMPLES.mjs]);
  const execOut = jsonLines((await ok(['consume', 'exec-outcomes'])).stdout).map((v) => JSON.stringify(v));
  assert.deepEqual(execOut, want, 'sluice exec through the broker: the same outcomes');

  const described = JSON.parse((await ok(['topic', 'describe', 'transfers'])).stdout) as { partitions: { endOffset: number }[] };
  assert.equal(described.partitions[0]!.endOffset, 3000);

  // Graceful stop: exit 0, and everything is there after a restart.
  assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null });
  assert.match(broker.stderr, /shutting down/);
  const again = await startBroker(dataDir, { args: ['--auth-token', TOKEN] });
  s.defer(() => again.stop());
  const after = await runCli(['consume', 'transfer-outcomes'], { dataDir, env: { SLUICE_BROKER: again.url, SLUICE_TOKEN: TOKEN } });
  assert.equal(jsonLines(after.stdout).length, 3000);
});

test('TLS with a private CA; a public bind without a token is refused', async (t) => {
  const s = scope(t);
  const dir = s.dir('sluice-tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const dataDir = s.dir();
  const broker = await startBroker(dataDir, { args: ['--tls-cert', cert, '--tls-key', key, '--auth-token', TOKEN] });
  s.defer(() => broker.stop());
  const url = broker.url;
  assert.match(url, /^sluices:\/\//, 'the broker announces its TLS address');

  const trusted = await runCli(['topic', 'create', 'secure', '--partitions', '2'], { dataDir, env: { SLUICE_BROKER: url, SLUICE_TOKEN: TOKEN, SLUICE_TLS_CA: cert } });
  assert.equal(trusted.code, 0, trusted.stderr);
  const untrusted = await runCli(['topic', 'list'], { dataDir, env: { SLUICE_BROKER: url, SLUICE_TOKEN: TOKEN, SLUICE_TLS_CA: '' }, timeoutMs: 60_000 });
  assert.notEqual(untrusted.code, 0, 'a certificate the client does not trust is refused');
  assert.match(untrusted.stderr, /SLUICE_TLS_CA/, 'at once, saying what to do');
  const plain = await runCli(['topic', 'list'], { dataDir, env: { SLUICE_BROKER: url.replace(/^sluices:/, 'sluice:'), SLUICE_TOKEN: TOKEN }, timeoutMs: 60_000 });
  assert.notEqual(plain.code, 0, 'plain TCP to a TLS port does not get through');

  const open = await runCli(['serve', '--listen', '0.0.0.0:0', '--no-http'], { dataDir: s.dir() });
  assert.equal(open.code, 2, open.stderr);
  assert.match(open.stderr, /--auth-token/);
});
