// The damage suite through the real CLI (issue 13, item 4): per file kind not
// covered by a CLI test elsewhere, one damage and one read (`consume`, `topic
// describe`): exit 1, nothing on stdout, one `sluice:` line naming the file.
// Elsewhere: txn.log and group offsets (repair.test.ts), indexes
// (log/damage/index.test.ts), the changelog (changelog-damage.test.ts), hw
// (log/damage/hw.test.ts). Segments: a read-only open judges them as a
// writer does (log/damage/read-only.test.ts), so `consume`, `topic describe`
// and `state` (a job's changelog) refuse damage instead of printing what came
// before it and exiting 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { filled, flipByte, segmentDamages, segmented, segmentFiles, T } from '../log/damage/helpers.ts';
import { tmpDir } from '../helpers/tmp.ts';

function assertNames(r: CliResult, file: string, what: string): void {
  assert.equal(r.code, 1, `${what}: exit 1 (${r.stderr})`);
  assert.equal(r.stdout, '', `${what}: nothing returned`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, no stack trace: ${r.stderr}`);
  assert.ok(lines[0]!.startsWith('sluice: ') && lines[0]!.includes(file), `${what}: names ${file}: ${lines[0]}`);
}

/** A refused segment: also the topic/partition, the offsets lost and what to run. */
function assertDamaged(r: CliResult, file: string, loss: RegExp, dataDir: string, what: string): void {
  assertNames(r, file, what);
  assert.match(r.stderr, loss, `${what}: names the offsets lost`);
  assert.ok(r.stderr.includes(`sluice repair --data-dir ${dataDir}\``), `${what}: says what to run: ${r.stderr}`);
}

for (const [what, damage] of [
  ['flipped', (p: string) => flipByte(p, 1)],
  ['truncated', (p: string) => fs.truncateSync(p, 20)],
  ['deleted', (p: string) => fs.rmSync(p)],
] as const) {
  test(`a ${what} topic.json: consume and topic describe exit 1 naming it`, async (t) => {
    const f = await filled(t, 4, 5);
    const file = join(f.dataDir, 'topics', T, 'topic.json');
    damage(file);
    assertNames(await runCli(['consume', T], { dataDir: f.dataDir }), file, 'consume');
    assertNames(await runCli(['topic', 'describe', T], { dataDir: f.dataDir }), file, 'topic describe');
  });
}

for (const d of segmentDamages) {
  test(`${d.what}: consume and topic describe exit 1 naming the file and the offsets lost`, async (t) => {
    const f = await segmented(t);
    const { file, loss } = d.apply(f.dir);
    assertDamaged(await runCli(['consume', T], { dataDir: f.dataDir }), file, loss, f.dataDir, 'consume');
    assertDamaged(await runCli(['topic', 'describe', T], { dataDir: f.dataDir }), file, loss, f.dataDir, 'topic describe');
  });
}

const JOB = 'spend';
const CHANGELOG = `${JOB}-changelog`;

/** A job's changelog as a keyed job writes it (compacted, one record per key), in several segments. */
async function changelog(t: Parameters<typeof tmpDir>[0]): Promise<{ dataDir: string; dir: string }> {
  const dataDir = tmpDir(t, 'sluice-state-damage-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic(CHANGELOG, { partitions: 1, compact: true, file: { segmentBytes: 8 * 1024 } });
    for (let b = 0; b < 40; b++) {
      const records = Array.from({ length: 4 }, (_, k) => {
        const i = b * 4 + k;
        return { key: Buffer.from(JSON.stringify(['key', 'totals', 0, `u${i}`])), value: Buffer.from(JSON.stringify({ s: { total: i, pad: 'x'.repeat(60) } })) };
      });
      await log.append(CHANGELOG, 0, records);
    }
  } finally {
    await log.close();
  }
  const dir = join(dataDir, 'topics', CHANGELOG, '0');
  assert.ok(segmentFiles(dir).length >= 3, `several segments: ${segmentFiles(dir).join(', ')}`);
  const ok = await runCli(['state', JOB], { dataDir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(Object.keys((JSON.parse(ok.stdout) as { totals: object }).totals).length, 160);
  return { dataDir, dir };
}

// The deleted middle segment too: a changelog is compacted, and compaction keeps its segments
// contiguous, so a missing one is damage there as anywhere (docs/log.md, Segments).
for (const d of segmentDamages) {
  test(`${d.what} of a job's changelog: sluice state exits 1 naming the file`, async (t) => {
    const c = await changelog(t);
    const { file } = d.apply(c.dir);
    assertDamaged(await runCli(['state', JOB], { dataDir: c.dataDir }), file, new RegExp(`offsets \\d+-\\d+ of ${CHANGELOG}/0`), c.dataDir, 'state');
  });
}
