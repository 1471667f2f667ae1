// How the real `sluice` CLI fails (issue 13, items 6 and 8): exit codes a
// retrying script can trust, one `sluice:` line per error, no stack traces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli, type CliResult } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { pathToFileURL } from 'node:url';
import { freeBytes, mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { readAll } from '../helpers/read-all.ts';
import { MAX_RECORD_BYTES } from '../../src/log/batch.ts';

const PAGE = 4096;

function noStack(r: CliResult, what: string): void {
  assert.ok(!r.stderr.split('\n').some((l) => /^\s+at /.test(l) || /^\w*Error\b/.test(l)), `${what}: no stack trace on stderr:\n${r.stderr}`);
}

// A retrying script reruns `sluice produce` when it exits non-zero, so a non-zero
// exit must mean "not acknowledged". Each attempt gets a fresh data dir on a
// tmpfs with one more free page than the last: with the fewest, the open fails;
// with a few more, the record is written but closing (persisting the index) runs
// out of space — that must be a warning and exit 0; with enough, all is clean.
test('produce: once its records are acknowledged it exits 0, and trouble closing the log is a one-line warning', { skip: tmpfsUnavailable() !== null && process.env['CI'] !== 'true' ? `skipped: ${tmpfsUnavailable()}` : false }, async (t) => {
  const mnt = mountTmpfs(t, '2m');
  if (mnt === null) return;
  const filler = join(mnt, 'filler');
  const runs: { pages: number; dataDir: string; r: CliResult }[] = [];
  for (let pages = 1; pages <= 8; pages++) {
    rmSync(filler, { force: true });
    const dataDir = join(mnt, `d${pages}`);
    const created = await runCli(['topic', 'create', 't', '--partitions', '1'], { dataDir });
    assert.equal(created.code, 0, created.stderr);
    writeFileSync(filler, Buffer.alloc(freeBytes(mnt) - pages * PAGE));
    runs.push({ pages, dataDir, r: await runCli(['produce', 't'], { dataDir, input: `{"pages":${pages}}\n` }) });
  }
  rmSync(filler, { force: true });

  let warned = 0;
  let refused = 0;
  for (const { pages, dataDir, r } of runs) {
    const what = `produce with ${pages} free pages (exit ${r.code}, stderr: ${r.stderr})`;
    noStack(r, what);
    const acked = /^produced 1 record to t /m.test(r.stderr);
    const log = await openFileLog({ dataDir, readOnly: true });
    const values = (await readAll(log, 't', 0)).map((rec) => Buffer.from(rec.value!).toString());
    await log.close();
    if (r.code === 0) {
      assert.ok(acked, `${what}: exit 0 says what it produced`);
      assert.deepEqual(values, [`{"pages":${pages}}`], `${what}: the record is there`);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('sluice: warning: '));
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('sluice: ') && !l.startsWith('sluice: warning: '));
      assert.equal(errors.length, 0, `${what}: no error line on exit 0`);
      if (warnings.length > 0) {
        warned++;
        assert.equal(warnings.length, 1, `${what}: one warning line`);
        assert.match(warnings[0]!, /ENOSPC|disk is full/, `${what}: the warning says why`);
        assert.match(warnings[0]!, new RegExp(`${dataDir}/|\\bt/0\\b`), `${what}: the warning names the partition or file`);
      }
    } else {
      refused++;
      assert.equal(r.code, 1, what);
      assert.ok(!acked, `${what}: a failed produce must not claim the record (a retry would duplicate it)`);
      assert.match(r.stderr, /^sluice: .*(ENOSPC|disk is full)/m, what);
    }
  }
  assert.ok(refused > 0, 'with one free page produce fails: the sizes still test the edge');
  assert.ok(warned > 0, 'some run acknowledged the record and then ran out of space closing: the sizes still test the edge');
});

// The last resort: an error nothing awaited (a timer's throw, a promise nobody
// handles) anywhere in a command. Triggered for real by `sluice run` of an app
// file whose default export (a factory the CLI awaits) sets one off.
const SLUICE_INDEX = pathToFileURL(join(CLI, '..', '..', 'index.js')).href;
const ESCAPES: Record<string, string> = {
  'uncaught exception': `export default () => new Promise(() => setTimeout(() => { throw new TypeError('boom in a timer'); }, 0));`,
  'unhandled rejection': `setTimeout(() => {}, 60_000);\nexport default () => { Promise.reject(new RangeError('boom in a promise')); return new Promise(() => {}); };`,
  'unhandled SluiceError': `import { SluiceError } from '${SLUICE_INDEX}';\nsetTimeout(() => {}, 60_000);\nexport default () => { Promise.reject(new SluiceError('INVALID_ARGUMENT', 'a bad option, found late')); return new Promise(() => {}); };`,
};

for (const [kind, source] of Object.entries(ESCAPES)) {
  test(`an ${kind} in a command is one sluice: line with the documented exit code; SLUICE_DEBUG=1 adds the stack`, async (t) => {
    const dir = tmpDir(t);
    const app = join(dir, 'app.mjs');
    writeFileSync(app, source + '\n');
    const dataDir = join(dir, 'data');
    const r = await runCli(['run', app], { dataDir });
    noStack(r, kind);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `${kind}: one line on stderr:\n${r.stderr}`);
    if (kind === 'unhandled SluiceError') {
      assert.equal(r.code, 2, `${kind}: INVALID_ARGUMENT is a usage error (exit 2)`);
      assert.equal(lines[0], 'sluice: a bad option, found late');
    } else {
      assert.equal(r.code, 1, `${kind}: exit 1 (${r.stderr})`);
      assert.match(lines[0]!, /^sluice: internal error: boom in a (timer|promise) \(please report; run with SLUICE_DEBUG=1 for the stack\)$/);
    }
    const debug = await runCli(['run', app], { dataDir, env: { SLUICE_DEBUG: '1' } });
    assert.equal(debug.code, r.code, `${kind} with SLUICE_DEBUG=1: same exit code`);
    assert.match(debug.stderr, /^sluice: /, `${kind} with SLUICE_DEBUG=1: the line first`);
    assert.match(debug.stderr, /\n\s+at .*app\.mjs/, `${kind} with SLUICE_DEBUG=1: then the stack, down to the app`);
  });
}

test('produce --timestamp-field: event times outside 0..8.64e15 ms are refused naming the line; those kept print as valid JSON', async (t) => {
  const dataDir = tmpDir(t);
  assert.equal((await runCli(['topic', 'create', 'ev', '--partitions', '1'], { dataDir })).code, 0);
  const good = '{"t":0}\n{"t":8640000000000000}\n{"t":"2024-05-01T12:00:00.123Z"}\n';
  for (const [bad, shown] of [
    ['{"t":8640000000000001}', '8640000000000001'],
    ['{"t":1e400}', 'Infinity'],
    ['{"t":-1}', '-1'],
    ['{"t":"1969-12-31T23:59:59Z"}', '"1969-12-31T23:59:59Z"'],
  ] as const) {
    const r = await runCli(['produce', 'ev', '--timestamp-field', 't'], { dataDir, input: `${good}${bad}\n{"t":5}\n` });
    noStack(r, bad);
    assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
    const expected = `sluice: line 4: timestamp field "t" is ${shown}: expected epoch milliseconds (a number from 0 to 8640000000000000) or an ISO-8601 string from 1970 on`;
    assert.equal(r.stderr.split('\n')[0], expected, bad);
    assert.match(r.stderr, /produced 3 records to ev .*; nothing from line 4 on was written/, bad);
  }
  const meta = await runCli(['consume', 'ev', '--with-meta'], { dataDir });
  assert.equal(meta.code, 0, meta.stderr);
  const times = meta.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { timestamp: number }).timestamp);
  const run = [0, 8640000000000000, Date.parse('2024-05-01T12:00:00.123Z')];
  assert.deepEqual(times, [...run, ...run, ...run, ...run], 'each of the four runs kept its three good lines, and every line printed is JSON');
});

// One record may hold MAX_RECORD_BYTES (a batch of just it fills MAX_BATCH_BYTES).
// A line of that size after small ones went into one batch with them and all were
// refused ("append fewer records at a time"), after minutes of quadratic copying.
test('produce: a line of exactly the record limit is appended, one byte more is refused naming the line, its size and the limit', async (t) => {
  const dataDir = tmpDir(t);
  assert.equal((await runCli(['topic', 'create', 'big', '--partitions', '1'], { dataDir })).code, 0);
  const jsonString = (bytes: number) => {
    const b = Buffer.alloc(bytes, 0x61);
    b[0] = 0x22;
    b[bytes - 1] = 0x22;
    return b;
  };
  const nl = Buffer.from('\n');
  const exact = await runCli(['produce', 'big'], { dataDir, input: Buffer.concat([Buffer.from('{"n":1}\n'), jsonString(MAX_RECORD_BYTES), nl, Buffer.from('{"n":3}\n')]) });
  assert.equal(exact.code, 0, exact.stderr);
  assert.match(exact.stderr, /^produced 3 records to big \(partition 0 offsets 0-2\)$/m);

  const over = await runCli(['produce', 'big'], { dataDir, input: Buffer.concat([Buffer.from('{"n":4}\n'), jsonString(MAX_RECORD_BYTES + 1), nl, Buffer.from('{"n":6}\n')]) });
  noStack(over, 'one byte over');
  assert.equal(over.code, 1, over.stderr);
  const [error, summary] = over.stderr.split('\n');
  assert.equal(
    error,
    `sluice: line 2: the record is ${MAX_RECORD_BYTES + 1} bytes, over the limit of ${MAX_RECORD_BYTES} bytes for one record (key and value); ` +
      'the limit is fixed (no option raises it): store a payload this large elsewhere and produce a reference to it',
  );
  assert.equal(summary, 'produced 1 record to big (partition 0 offset 3); nothing from line 2 on was written');

  // A line far longer is refused once the limit is passed, before the rest of it is read.
  const endless = await runCli(['produce', 'big'], { dataDir, input: Buffer.concat([jsonString(MAX_RECORD_BYTES + 1024 * 1024), nl]) });
  assert.equal(endless.code, 1, endless.stderr);
  assert.match(endless.stderr, new RegExp(`^sluice: line 1: the line is longer than ${MAX_RECORD_BYTES + 4} bytes \\(\\d+ read so far\\), over the limit of ${MAX_RECORD_BYTES} bytes`));
  assert.match(endless.stderr, /^produced 0 records to big; nothing from line 1 on was written$/m);

  const log = await openFileLog({ dataDir, readOnly: true });
  try {
    const sizes = (await readAll(log, 'big', 0)).map((r) => r.value!.length);
    assert.deepEqual(sizes, [7, MAX_RECORD_BYTES, 7, 7]);
  } finally {
    await log.close();
  }
});
