// `npm run example:word-count` (examples/word-count/run.sh) as a newcomer runs
// it: exit 0 with the most frequent words (it exited 141 when `head` closed
// the pipe under pipefail), and one clear line, no stack, when a port it
// needs is taken — the job's (it waits for the job's readiness line, so the
// sender no longer talks to whoever holds the port) or the receiver's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';

const SCRIPT = join(process.cwd(), 'examples/word-count/run.sh');

function script(file: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, file], { env: { ...process.env, SLUICE_PROGRESS_MS: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** A server holding a free port; close it when done. */
async function holder(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('examples/word-count/run.sh: exit 0 and the top words; a taken port is one clear line, exit 1', async (t) => {
  const dir = tmpDir(t);
  const text = join(dir, 'text.txt');
  // Far more distinct words (over 8 KB of them) than the ten shown, so that the old `| head -n 10` closed the pipe early.
  fs.writeFileSync(text, Array.from({ length: 1500 }, (_, i) => `alpha beta word${i} alpha`).join('\n') + '\n');
  const a = await holder();
  const b = await holder();
  try {
    // Ports the holders have, and ports known free: the holders' close frees them for the good run.
    const jobTaken = await script(text, { WORD_COUNT_PORT: String(a.port), WORD_COUNT_SINK: `127.0.0.1:${(await freePort())}` });
    assert.equal(jobTaken.code, 1, jobTaken.out);
    assert.match(jobTaken.out, new RegExp(`^sluice: tcp source cannot listen on 127\\.0\\.0\\.1:${a.port}: EADDRINUSE$`, 'm'));
    assert.match(jobTaken.out, /WORD_COUNT_PORT=PORT/);
    assert.doesNotMatch(jobTaken.out, /^\s+at |sending/m, 'no stack, and nothing sent to the port holder');
    const sinkTaken = await script(text, { WORD_COUNT_PORT: String(await freePort()), WORD_COUNT_SINK: `127.0.0.1:${b.port}` });
    assert.equal(sinkTaken.code, 1, sinkTaken.out);
    assert.match(sinkTaken.out, new RegExp(`^receive: cannot listen on 127\\.0\\.0\\.1:${b.port} \\(EADDRINUSE\\): .*WORD_COUNT_SINK=`, 'm'));
    assert.doesNotMatch(sinkTaken.out, /^\s+at |node:events/m, 'no stack');
  } finally {
    await a.close();
    await b.close();
  }
  const ok = await script(text, { WORD_COUNT_PORT: String(await freePort()), WORD_COUNT_SINK: `127.0.0.1:${await freePort()}` });
  assert.equal(ok.code, 0, ok.out);
  const top = ok.out.slice(ok.out.indexOf('== the most frequent words')).trim().split('\n').slice(1);
  assert.equal(top.length, 10, ok.out);
  assert.deepEqual(top.slice(0, 2), ['alpha => 3000', 'beta => 1500']);
});

async function freePort(): Promise<number> {
  const h = await holder();
  await h.close();
  return h.port;
}
