// `sluice repair` through the real CLI (issue 13): a damaged data dir is
// refused by every command with one `sluice:` line naming the file; `repair`
// lists the damage and changes nothing (exit 1), `repair --yes` applies it,
// says what was lost, and leaves a dir that opens clean (exit 0).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { flipByte, snapshot } from '../log/damage/metadata-helpers.ts';

const TXNS = 30;

test('sluice repair lists a damaged txn.log and a damaged group, changes nothing, and --yes repairs both', async (t) => {
  const dataDir = tmpDir(t, 'sluice-repair-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('out');
    const p = await log.initProducer('job');
    for (let i = 1; i <= TXNS; i++) {
      await log.commitTransaction(p, i, {
        writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from(JSON.stringify({ i })) }] }],
        offsets: [{ group: 'billing', offsets: [{ topic: 'out', partition: 0, offset: i }] }],
      });
    }
  } finally {
    await log.close();
  }
  const clean = await runCli(['repair'], { dataDir });
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stderr, /no damage found/);

  const txn = join(dataDir, 'transactions', 'txn.log');
  const offsets = join(dataDir, 'groups', 'billing', 'offsets.log');
  flipByte(txn, Math.floor(fs.statSync(txn).size / 2));
  flipByte(offsets, Math.floor(fs.statSync(offsets).size / 2));
  const before = [snapshot(txn), snapshot(offsets)];

  const consume = await runCli(['consume', 'out'], { dataDir });
  assert.equal(consume.code, 1);
  assert.equal(consume.stdout, '', 'nothing is returned from a dir whose transaction log is damaged');
  assert.match(consume.stderr, new RegExp(`^sluice: ${txn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*sluice repair`));
  assert.equal(consume.stderr.trim().split('\n').length, 1, 'one line, no stack trace');

  const dry = await runCli(['repair', '--data-dir', dataDir], { dataDir: '/nonexistent' });
  assert.equal(dry.code, 1, dry.stderr);
  assert.ok(dry.stdout.includes(`damaged: ${txn}`), dry.stdout);
  assert.ok(dry.stdout.includes(`damaged: ${offsets}`), dry.stdout);
  assert.match(dry.stdout, /problem: CRC mismatch|claims \d+ bytes/);
  assert.match(dry.stderr, /2 damaged files .*nothing was changed.*--yes/);
  assert.deepEqual([snapshot(txn), snapshot(offsets)], before, 'a dry run changes nothing');

  const yes = await runCli(['repair', '--yes'], { dataDir });
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /repaired: rewrite .*txn\.log/);
  assert.match(yes.stdout, /lost: {5}the commits of group "billing"/);
  assert.match(yes.stderr, /repaired 2 damaged files; .* opens clean/);

  const after = await runCli(['repair'], { dataDir });
  assert.equal(after.code, 0, after.stdout + after.stderr);
  const read = await runCli(['consume', 'out'], { dataDir });
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual(jsonLines(read.stdout), Array.from({ length: TXNS }, (_, i) => ({ i: i + 1 })));
});

test('sluice repair on a dir that does not exist, or through a broker, is a usage error', async (t) => {
  const dataDir = join(tmpDir(t, 'sluice-repair-'), 'absent');
  const r = await runCli(['repair'], { dataDir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^sluice: no Sluice data dir at/);
  const b = await runCli(['repair', '--broker', 'sluice://127.0.0.1:1'], { dataDir });
  assert.equal(b.code, 2, b.stderr);
  assert.match(b.stderr, /not through a broker/);
});
