// The damage suite through the real CLI (issue 13, item 4): per file kind not
// covered by a CLI test elsewhere, one damage and one read (`consume`, `topic
// describe`): exit 1, nothing on stdout, one `sluice:` line naming the file.
// Elsewhere: txn.log and group offsets (repair.test.ts), indexes
// (log/damage/index.test.ts), the changelog (changelog-damage.test.ts), hw
// (log/damage/hw.test.ts). Not here yet: segments, because a read-only
// `consume` with no live writer does not judge segments against the index or
// the transaction log (see the matrix in log/damage/helpers.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { filled, flipByte, T } from '../log/damage/helpers.ts';

function assertNames(r: CliResult, file: string, what: string): void {
  assert.equal(r.code, 1, `${what}: exit 1 (${r.stderr})`);
  assert.equal(r.stdout, '', `${what}: nothing returned`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, no stack trace: ${r.stderr}`);
  assert.ok(lines[0]!.startsWith('sluice: ') && lines[0]!.includes(file), `${what}: names ${file}: ${lines[0]}`);
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
