// --protocol trims the journal at each committed snapshot (src/exec/journal-trim.ts):
// records before the snapshot's journal offset are deleted (whole segments),
// and restarts stay exact: after runtime SIGKILLs before and after trims, and
// after child SIGKILLs, whose restart replays the records after the snapshot
// from a trimmed journal (which then holds fewer records than the committed
// count: that is no truncation). A journal trimmed past what a restart needs
// is still refused, naming it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { crashLoop, probe, sluice } from '../fixtures/crash-harness.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { EXAMPLES, IN, OUT, childKillLoop, committedValues, execArgs, execState, expected, missingTools, sameList, setup, transfers } from '../exec/harness.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;
const PROGRAM = ['python3', EXAMPLES.pyProtocol];

/** The input topic, and the job's journal made with small segments so that trims happen every few checkpoints. */
async function setupSmallJournal(dir: string, input: string[]): Promise<void> {
  await setup(dir, input);
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('bank-journal', { file: { segmentBytes: 8 * 1024 } });
  } finally {
    await log.close();
  }
}

async function journalRange(dir: string): Promise<{ startOffset: number; endOffset: number }> {
  const log = await openFileLog({ dataDir: dir, readOnly: true });
  try {
    return (await log.endOffsets('bank-journal'))[0]!;
  } finally {
    await log.close();
  }
}

test('--protocol: the journal is trimmed at snapshots; runtime SIGKILLs before and after trims leave the output exact', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-trim-');
  const input = await transfers(6_000, 21);
  await setupSmallJournal(dir, input);
  const args = execArgs('bank', PROGRAM, '--protocol', '--commit-interval-ms', '10');
  const res = await crashLoop({ dataDir: dir, args, kills: 3, seed: 83, checkpoints: 30, totalInput: input.length, group: 'bank', inputTopic: IN, outputTopic: OUT, oneToOne: true });
  assert.ok(res.kills >= 3);
  sameList(await committedValues(dir, OUT), expected(input), 'after runtime kills with trims');
  const st = await execState(dir, 'bank');
  const j = await journalRange(dir);
  assert.ok(st?.snapshot, 'a snapshot is committed');
  assert.equal(st.journal, input.length);
  assert.ok(j.startOffset > 0, `the journal was trimmed (it starts at ${j.startOffset} of ${j.endOffset})`);
  assert.ok(j.startOffset <= st.snapshot.journalOffset, `never past the snapshot (${j.startOffset} > ${st.snapshot.journalOffset})`);
  // One more run with nothing new, and one with new input: both from the trimmed journal.
  await sluice(args, dir);
  sameList(await committedValues(dir, OUT), expected(input), 'a rerun with nothing new');
});

test('--protocol: child SIGKILLs replay the records after the snapshot from a trimmed journal, exactly', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-trim-child-');
  const input = await transfers(20_000, 22);
  await setupSmallJournal(dir, input);
  const res = await childKillLoop({
    dataDir: dir,
    args: execArgs('bank', PROGRAM, '--protocol', '--commit-interval-ms', '10', '--max-restarts', '10'),
    kills: 3,
    seed: 84,
    done: async () => (await probe(dir, 'bank', IN, OUT)).committed === input.length,
  });
  assert.ok(res.kills >= 3);
  assert.match(res.stderr, /replayed [1-9][\d,]* inputs/, 'a restart replayed records after the snapshot');
  assert.doesNotMatch(res.stderr, /truncated or deleted|cannot be rebuilt/);
  sameList(await committedValues(dir, OUT), expected(input), 'after child kills with trims');
  assert.ok((await journalRange(dir)).startOffset > 0, 'the journal was trimmed');
});

test('a journal deleted past what a restart needs is refused, naming it; nothing is committed', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-trim-damage-');
  const dir = join(root, 'd');
  const input = await transfers(3_000, 23);
  await setupSmallJournal(dir, input);
  // Replay mode: a restart needs the whole journal.
  await sluice(execArgs('bank', ['python3', EXAMPLES.py], '--commit-interval-ms', '10'), dir);
  const before = await committedValues(dir, OUT);
  const log = await openFileLog({ dataDir: dir });
  try {
    assert.ok((await log.deleteRecords('bank-journal', 0, 1000)) > 0);
  } finally {
    await log.close();
  }
  // More input, so the restart has something to do and must rebuild the state.
  const more = await openFileLog({ dataDir: dir });
  try {
    await more.append(IN, 0, [{ key: null, value: Buffer.from(input[0]!) }]);
  } finally {
    await more.close();
  }
  await assert.rejects(sluice(execArgs('bank', ['python3', EXAMPLES.py]), dir), (e: Error) => /the journal bank-journal\/0 starts at offset \d+, but a restart needs its records from offset 0 on; they were deleted, so the program's state cannot be rebuilt/.test(e.message));
  assert.deepEqual(await committedValues(dir, OUT), before, 'nothing more committed');
});
