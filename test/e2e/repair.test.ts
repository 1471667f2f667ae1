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
import { pathToFileURL } from 'node:url';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { HEADER_BYTES } from '../../src/log/file/json-frames.ts';
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

test('a flipped byte in a job\'s txn.log: sluice state and sluice run refuse (naming the file) instead of an older state; after repair --yes the state is whole', async (t) => {
  const dir = tmpDir(t, 'sluice-repair-job-');
  const dataDir = join(dir, 'data');
  const input = join(dir, 'orders.jsonl');
  const output = join(dir, 'totals.jsonl');
  fs.writeFileSync(input, Array.from({ length: 40 }, (_, i) => JSON.stringify({ user: `u${i % 4}`, total: i }) + '\n').join(''));
  const app = join(dir, 'app.ts');
  const index = pathToFileURL(join(process.cwd(), 'src/index.ts')).href;
  fs.writeFileSync(
    app,
    `import { Application, fileSource, fileSink, json } from ${JSON.stringify(index)};
const app = new Application('spend', { partitions: 2 });
app.pipeline('p').from(fileSource({ path: ${JSON.stringify(input)} }), json<{ user: string; total: number }>())
  .keyBy((o) => o.user)
  .process(() => ({ total: 0 }), (o, s, ctx) => { s.total += o.total; ctx.emit({ user: ctx.key, total: s.total }); }, { name: 'totals' })
  .to(fileSink({ path: ${JSON.stringify(output)} }), json);
export default app;
`,
  );
  const run = await runCli(['run', app, '--until-end'], { dataDir });
  assert.equal(run.code, 0, run.stderr);
  const state = await runCli(['state', 'spend'], { dataDir });
  assert.equal(state.code, 0, state.stderr);
  assert.deepEqual(JSON.parse(state.stdout), { totals: { u0: { total: 180 }, u1: { total: 190 }, u2: { total: 200 }, u3: { total: 210 } } });
  const outputBefore = fs.readFileSync(output, 'utf8');

  // Inside the first record (the job's producer registration): commits after it decide every transaction.
  const txn = join(dataDir, 'transactions', 'txn.log');
  flipByte(txn, HEADER_BYTES + 12);
  const refused = await runCli(['state', 'spend'], { dataDir });
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '', 'no older state is printed');
  assert.ok(refused.stderr.startsWith(`sluice: ${txn}: `), refused.stderr);
  const rerun = await runCli(['run', app, '--until-end'], { dataDir });
  assert.equal(rerun.code, 1);
  assert.ok(rerun.stderr.includes(txn), rerun.stderr);
  assert.equal(fs.readFileSync(output, 'utf8'), outputBefore, 'a refused job writes nothing');

  const yes = await runCli(['repair', '--yes'], { dataDir });
  assert.equal(yes.code, 0, yes.stderr);
  const after = await runCli(['state', 'spend'], { dataDir });
  assert.equal(after.code, 0, after.stderr);
  assert.deepEqual(JSON.parse(after.stdout), JSON.parse(state.stdout));
});
