// How the real `sluice` CLI fails (issue 13, items 6 and 8): exit codes a
// retrying script can trust, one `sluice:` line per error, no stack traces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { freeBytes, mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { readAll } from '../helpers/read-all.ts';

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
