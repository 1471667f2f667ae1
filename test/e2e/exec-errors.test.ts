// `sluice exec` failures that are not the program's (issue 13, item 8): a
// second instance of the job taking over, and a damaged journal, each end
// with one `sluice:` line and exit code 1 (docs/cli.md), never a stack trace
// or a replay of wrong inputs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sluice, spawnSluice } from '../fixtures/crash-harness.ts';
import { IN, PROGRAMS, execArgs, execState, followArgs, missingTools, setup, waitUntil } from '../exec/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;
const echo = ['python3', PROGRAMS.echoCount];
const values = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => JSON.stringify({ i: from + i }));

/** The one `sluice:` line of a failed run, asserting there is no stack trace. */
function oneLine(stderr: string): string {
  assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace: ${stderr}`);
  const lines = stderr.split('\n').filter((l) => l.startsWith('sluice:'));
  assert.equal(lines.length, 1, stderr);
  return lines[0]!;
}

test('a fenced exec (another instance of the job took over) stops with one line, exit 1', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-fenced-');
  await setup(dir, values(0, 100));
  const first = spawnSluice(followArgs('twice', echo), dir);
  await waitUntil('the first instance to commit', async () => (await execState(dir, 'twice'))?.outputs === 100);
  // The second instance registers the job's producer anew, fencing the first one's commits.
  const second = spawnSluice(followArgs('twice', echo), dir);
  let firstExited = false;
  void first.done.then(() => (firstExited = true));
  await waitUntil('the first instance to be fenced', async () => {
    if (firstExited) return true;
    // New input, until the first instance's commit of it is refused (once the second registered the job's producer).
    assert.equal((await runCli(['produce', IN], { dataDir: dir, input: values(100, 1).join('\n') + '\n' })).code, 0);
    return false;
  });
  const r = await first.done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(oneLine(r.stderr), /^sluice: another instance of job twice took over/);
  second.child.kill('SIGTERM');
  await second.done;
});

test('a damaged journal (a flipped byte in its segment) is refused naming the file, not replayed', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-journal-damage-');
  await setup(dir, values(0, 2_000));
  await sluice(execArgs('dmg', echo), dir);
  const pdir = join(dir, 'topics', 'dmg-journal', '0');
  const segment = readdirSync(pdir).filter((f) => f.endsWith('.log')).map((f) => join(pdir, f))[0]!;
  const bytes = readFileSync(segment);
  const at = Math.floor(statSync(segment).size / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(segment, bytes);
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: values(2_000, 1).join('\n') + '\n' })).code, 0);
  const r = await spawnSluice(execArgs('dmg', echo), dir).done;
  assert.equal(r.code, 1, r.stderr);
  const line = oneLine(r.stderr);
  assert.match(line, /dmg-journal/, 'names the journal');
  assert.ok(line.includes(segment) || line.includes('dmg-journal/0'), `names the file or its partition: ${line}`);
  assert.doesNotMatch(r.stderr, /replayed/);
});
