// SIGKILL at each step of a compaction run and of a segment roll of a
// compacted topic (issue 13): the partition's segments stay contiguous at every
// step (segment-continuity.ts), so the reopened partition is never reported as
// damaged, readers and the writer read the same records (each as appended, each
// key's newest one there), and a middle segment deleted afterwards is still
// caught. Also for an older compacted dir killed during the run that upgrades it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { continuityMarkerPath } from '../../src/log/file/segment-continuity.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { baseOf, segmentFiles } from './damage/helpers.ts';
import {
  assertBothRefuse,
  assertCompactedView,
  assertContiguous,
  C,
  compactedTopic,
  contents,
  deleteSegment,
  logOptions,
  recordAt,
  segmentEnds,
  toOlderFormat,
  type Compacted,
} from './damage/compacted-helpers.ts';

const CHILD = fileURLToPath(new URL('./compaction-crash-child.ts', import.meta.url));
const N = 600;

/** Runs the child at `step`; resolves with what it printed once SIGKILL ended it. */
function killedAt(dataDir: string, step: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, step, String(N)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const lines = out.trim().split('\n');
      if (signal === 'SIGKILL' && lines.at(-1) === `at ${step}`) resolve(lines);
      else reject(new Error(`the child was to die at ${step}, but exited with ${code ?? signal}: ${out} ${err}`));
    });
  });
}

/** A copy of the prepared dir for one step: the setup (appends, compaction) is paid once. */
function copyOf(t: Parameters<typeof tmpDir>[0], c: Compacted): Compacted {
  const dataDir = tmpDir(t, 'sluice-compaction-crash-');
  fs.cpSync(c.dataDir, dataDir, { recursive: true });
  return { dataDir, dir: join(dataDir, 'topics', C, '0'), appended: new Map(c.appended) };
}

/** Segments whose base lies inside the one before: what a merge leaves until its deletes are done. */
function leftovers(dir: string): number {
  const ends = segmentEnds(dir);
  return ends.filter((s, i) => i > 0 && s.base < ends[i - 1]!.end).length;
}

async function assertRecovered(c: Compacted, step: string): Promise<void> {
  // A reader first (it changes nothing, so it meets the dir exactly as the kill left it), then the writer.
  const reader = await contents(c.dataDir, true);
  assertCompactedView(reader, c.appended, `${step}: reader`);
  const writer = await contents(c.dataDir, false);
  assertCompactedView(writer, c.appended, `${step}: writer`);
  assert.deepEqual(writer, reader, `${step}: the writer reads what the reader read`);
  assert.deepEqual(await contents(c.dataDir, true), writer, `${step}: and so does a reader after it`);
  // The run completes, and a real deletion is then caught.
  const log = await openFileLog(logOptions(c.dataDir));
  try {
    await log.maintain();
  } finally {
    await log.close();
  }
  assertContiguous(c.dir, `${step}: after the next run`);
  assertCompactedView(await contents(c.dataDir, false), c.appended, `${step}: after the next run`);
  const [first, middle, third] = segmentFiles(c.dir);
  deleteSegment(middle!);
  await assertBothRefuse(c.dataDir, first!, new RegExp(`offsets ${baseOf(middle!)}-${baseOf(third!) - 1} of ${C}/0`));
}

test('SIGKILL at each step of compaction and of a roll: the reopened compacted partition is not flagged and reads the same records', async (t) => {
  const fresh = await compactedTopic(t, N, false);
  for (const step of ['cleaned-opened', 'cleaned-written', 'renamed', 'deleting', 'roll-before', 'roll-created']) {
    const c = copyOf(t, fresh);
    const printed = await killedAt(c.dataDir, step);
    for (const l of printed) if (l.startsWith('acked ')) for (let o = N; o <= Number(l.slice(6)); o++) c.appended.set(o, recordAt(o));
    if (step.startsWith('roll')) assert.ok(c.appended.size > N, `${step}: appends were acknowledged before the roll`);
    if (step === 'cleaned-opened') assert.ok(fs.readdirSync(c.dir).some((f) => f.endsWith('.cleaned')), `${step}: a .cleaned file was left`);
    if (step === 'renamed' || step === 'deleting') assert.ok(leftovers(c.dir) > 0, `${step}: segments the merge took in are still there`);
    await assertRecovered(c, step);
  }
});

test('SIGKILL during the compaction that upgrades an older compacted dir: no false alarm, the same records, upgraded by the next run', async (t) => {
  const older = await compactedTopic(t, N, true);
  toOlderFormat(older);
  for (const step of ['renamed', 'marker']) {
    const c = copyOf(t, older);
    await killedAt(c.dataDir, step);
    if (step === 'marker') {
      assert.ok(!fs.existsSync(continuityMarkerPath(c.dir)), `${step}: killed before the marker was in place`);
      for (let i = 0; i + 1 < segmentEnds(c.dir).length; i++) assert.equal(segmentEnds(c.dir)[i]!.end, segmentEnds(c.dir)[i + 1]!.base, `${step}: contiguous already`);
    }
    await assertRecovered(c, step);
  }
});
