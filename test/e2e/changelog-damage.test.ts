// Damage to a keyed job's changelog topic (`<job>-changelog`, issue 13): the
// changelog *is* the job's state, so a damaged one must never be restored as an
// older state. `sluice run` refuses to start with one line naming the topic,
// partition, file and offset; `sluice state` refuses likewise; `sluice repair`
// lists the damage, changes nothing, and with --yes repairs it so the job runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { batchPositions, flipByte, segmentFiles, snapshot } from '../log/damage/helpers.ts';

const INDEX = pathToFileURL(join(process.cwd(), 'src/index.ts')).href;
const USERS = 12;
const RUNS = 2;
const PER_RUN = 60;

interface Job {
  dataDir: string;
  app: string;
  input: string;
  /** The changelog's partition dir. */
  dir: string;
}

function line(i: number, users = USERS): string {
  return JSON.stringify({ user: `u${i % users}`, total: i }) + '\n';
}

/** The totals after `n` input lines. */
function totals(n: number, users = USERS): Record<string, { total: number }> {
  const out: Record<string, { total: number }> = {};
  for (let i = 0; i < n; i++) (out[`u${i % users}`] ??= { total: 0 }).total += i;
  return out;
}

/**
 * A keyed job run `runs` times over a growing input topic: its changelog holds a few committed
 * checkpoints. With `changelogSegmentBytes`, the changelog is created first with segments that
 * small (the job takes it as it finds it), so it spans several; with as many `users` as lines,
 * each run's checkpoint keeps its records through compaction.
 */
async function ranJob(t: Parameters<typeof tmpDir>[0], o: { changelogSegmentBytes?: number; runs?: number; users?: number } = {}): Promise<Job> {
  const { changelogSegmentBytes, runs = RUNS, users = USERS } = o;
  const root = tmpDir(t, 'sluice-changelog-');
  const input = 'orders';
  const app = join(root, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, topicSource, fileSink, json } from ${JSON.stringify(INDEX)};
const app = new Application('spend', { partitions: 2 });
app.pipeline('p')
  .from(topicSource({ topic: 'orders' }), json<{ user: string; total: number }>())
  .keyBy((o) => o.user)
  .process(() => ({ total: 0 }), (o, s, ctx) => { s.total += o.total; ctx.emit({ user: ctx.key, total: s.total }); }, { name: 'totals' })
  .to(fileSink({ path: ${JSON.stringify(join(root, 'out.jsonl'))} }), json);
export default app;
`,
  );
  const job = { dataDir: join(root, 'data'), app, input, dir: join(root, 'data', 'topics', 'spend-changelog', '0') };
  assert.equal((await runCli(['topic', 'create', input, '--partitions', '2'], { dataDir: job.dataDir })).code, 0);
  if (changelogSegmentBytes !== undefined) {
    const args = ['topic', 'create', 'spend-changelog', '--partitions', '1', '--compact', '--segment-bytes', String(changelogSegmentBytes)];
    assert.equal((await runCli(args, { dataDir: job.dataDir })).code, 0);
  }
  for (let r = 0; r < runs; r++) {
    const lines = Array.from({ length: PER_RUN }, (_, k) => line(r * PER_RUN + k, users)).join('');
    const p = await runCli(['produce', input], { dataDir: job.dataDir, input: lines });
    assert.equal(p.code, 0, p.stderr);
    const res = await run(job);
    assert.equal(res.code, 0, res.stderr);
  }
  assert.deepEqual(await state(job), totals(runs * PER_RUN, users));
  return job;
}

function run(job: Job): Promise<CliResult> {
  return runCli(['run', job.app, '--until-end', '--quiet'], { dataDir: job.dataDir });
}

async function state(job: Job): Promise<unknown> {
  const r = await runCli(['state', 'spend'], { dataDir: job.dataDir });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { totals: unknown }).totals;
}

/** One `sluice:` line naming the changelog's topic/partition, the file and an offset; nothing on stdout. */
function assertNamed(r: CliResult, file: string, what: string): void {
  assert.equal(r.code, 1, `${what}: exit 1 (${r.stderr})`);
  assert.equal(r.stdout, '', `${what}: no state printed`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, no stack trace: ${r.stderr}`);
  assert.match(lines[0]!, /^sluice: /, what);
  assert.ok(lines[0]!.includes(file), `${what}: names ${file}: ${lines[0]}`);
  assert.match(lines[0]!, /spend-changelog\/0/, `${what}: names the topic and partition`);
  assert.match(lines[0]!, /spend-changelog\/0@\d+|offsets? \d+/, `${what}: names an offset`);
  assert.match(lines[0]!, /sluice repair/, `${what}: says what to do`);
}

async function assertRefusedThenRepaired(job: Job, file: string): Promise<void> {
  const before = snapshot(job.dataDir);
  assertNamed(await run(job), file, 'sluice run');
  assertNamed(await runCli(['state', 'spend'], { dataDir: job.dataDir }), file, 'sluice state');

  const dry = await runCli(['repair', '--data-dir', job.dataDir], { dataDir: '/nonexistent' });
  assert.equal(dry.code, 1, dry.stdout + dry.stderr);
  assert.ok(dry.stdout.includes(`damaged: ${file}`), dry.stdout);
  assert.match(dry.stdout, /loses: .*offsets \d+-\d+ of spend-changelog\/0/);
  const after = snapshot(job.dataDir);
  // The changelog's segments are as they were (a refused job may still have fenced its producer in
  // txn.log, and a writer saves derived indexes).
  for (const [p, b] of before) if (p.startsWith(job.dir) && p.endsWith('.log')) assert.ok(after.get(p)?.equals(b), `${p} unchanged by the refusals and the dry run`);

  const yes = await runCli(['repair', '--data-dir', job.dataDir, '--yes'], { dataDir: '/nonexistent' });
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /lost: .*spend-changelog\/0/);
  // What is lost is lost (the user accepted it above); the job starts again.
  const again = await run(job);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await runCli(['repair'], { dataDir: job.dataDir })).code, 0);
}

test('a flipped byte in the middle of the changelog: run, state and repair name it; --yes repairs it', async (t) => {
  const job = await ranJob(t);
  const [seg] = segmentFiles(job.dir);
  const positions = batchPositions(seg!);
  assert.ok(positions.length >= 2, `several batches in ${seg}: ${positions} of ${fs.statSync(seg!).size} in ${segmentFiles(job.dir)}`);
  flipByte(seg!, positions[0]! + 40);
  await assertRefusedThenRepaired(job, seg!);
});

test('the active changelog segment truncated: run, state and repair name it; --yes repairs it', async (t) => {
  const job = await ranJob(t);
  const [seg] = segmentFiles(job.dir);
  fs.truncateSync(seg!, batchPositions(seg!).at(-2)! + 10);
  await assertRefusedThenRepaired(job, seg!);
});

test('a deleted middle segment of the (compacted) changelog: run, state and repair name it; --yes repairs it', async (t) => {
  const job = await ranJob(t, { changelogSegmentBytes: 256, runs: 3, users: 3 * PER_RUN });
  const segs = segmentFiles(job.dir);
  assert.ok(segs.length >= 3, `several changelog segments: ${segs.join(', ')}`);
  for (const f of [segs[1]!, `${segs[1]!.slice(0, -4)}.index`, `${segs[1]!.slice(0, -4)}.timeindex`]) fs.rmSync(f, { force: true });
  await assertRefusedThenRepaired(job, segs[0]!);
});
