// Damage to a segment's indexes (`.index`: offset → position, `.timeindex`:
// timestamp → offset). They are derived data: a flipped, truncated or deleted
// one must never make a read at an offset or a seek by timestamp return a
// wrong record, is not data loss (no DAMAGED), and is rebuilt from the segment
// with a warning naming the file. Only its covered size is evidence, and only
// when the segment no longer holds it (segment.test.ts covers that refusal).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openFileLog, type FileLog } from '../../../src/log/file/file-log.ts';
import { SegmentIndex, indexPath, timeIndexPath } from '../../../src/log/file/segment-index.ts';
import { jsonLines, runCli } from '../../helpers/cli.ts';
import { assertRecords, batchPositions, filled, flipByte, rec, T, type Filled } from './helpers.ts';

const BATCHES = 120;
const PER = 4;
const N = BATCHES * PER;

const kinds: [string, (seg: string) => string][] = [
  ['.index', indexPath],
  ['.timeindex', timeIndexPath],
];
const damages: [string, (p: string) => void][] = [
  ['flipped', (p) => flipByte(p, Math.floor(fs.statSync(p).size / 2))],
  ['truncated', (p) => fs.truncateSync(p, Math.floor(fs.statSync(p).size / 2))],
  ['deleted', (p) => fs.rmSync(p)],
];

async function several(t: Parameters<typeof filled>[0]): Promise<Filled> {
  const f = await filled(t, BATCHES, PER, { file: { segmentBytes: 24 * 1024 } });
  assert.ok(f.segments().length >= 3, 'a few closed segments and an active one');
  for (const s of f.segments()) assert.ok(SegmentIndex.load(s, fs.statSync(s).size)!.length > 1, `${s} has a real index`);
  return f;
}

/** Warnings emitted while `fn` runs (process.emitWarning defers them a tick, so wait one). */
async function warningsDuring<R>(fn: () => Promise<R>): Promise<{ result: R; warnings: string[] }> {
  const warnings: string[] = [];
  const on = (w: Error): void => void warnings.push(w.message);
  process.on('warning', on);
  try {
    const result = await fn();
    await new Promise((r) => setImmediate(r));
    return { result, warnings };
  } finally {
    process.off('warning', on);
  }
}

/** Every offset read on its own, and seeks by timestamp, against what was written. */
async function assertReadsRight(log: FileLog, ctx: string): Promise<void> {
  for (let o = 0; o < N; o += 2) {
    const r = await log.read(T, 0, o, { maxRecords: 2 });
    assert.equal(r.records[0]?.offset, o, `${ctx}: read at ${o}`);
    // A read may stop at a segment's end: what it returns must be exactly the records from o on.
    assertRecords(r.records, o, o + r.records.length, `${ctx}: read at ${o}`);
  }
  // rec(i) has timestamp 1_000_000 + 10 i: the first record at or after ts is ceil((ts - 1e6) / 10).
  for (let ts = 1_000_000 - 25; ts <= 1_000_000 + N * 10 + 25; ts += 7) {
    const want = Math.min(N, Math.max(0, Math.ceil((ts - 1_000_000) / 10)));
    assert.equal(await log.offsetForTimestamp(T, 0, ts), want, `${ctx}: seek to timestamp ${ts}`);
  }
  assert.equal((await log.describeTopic(T)).partitions[0]!.endOffset, N, `${ctx}: the end`);
}

for (const [kind, pathOf] of kinds) {
  for (const [what, fn] of damages) {
    for (const which of ['closed', 'active'] as const) {
      test(`a ${what} ${kind} of the ${which} segment: every read and seek is right, no DAMAGED, rebuilt with a warning naming it`, async (t) => {
        const f = await several(t);
        const segs = f.segments();
        const seg = which === 'closed' ? segs[1]! : segs[segs.length - 1]!;
        const file = pathOf(seg);
        fn(file);
        // The active segment's index may be missing after any crash that followed a roll; only a
        // file that is there and wrong says something was damaged.
        const warns = which === 'closed' || what !== 'deleted';

        // Partitions open on first use, so the warnings come during the reads.
        const ro = await warningsDuring(async () => {
          const log = await openFileLog({ dataDir: f.dataDir, readOnly: true });
          try {
            await assertReadsRight(log, `${what} ${kind}, read-only`);
          } finally {
            await log.close();
          }
        });
        const rw = await warningsDuring(async () => {
          const log = await openFileLog({ dataDir: f.dataDir });
          try {
            await assertReadsRight(log, `${what} ${kind}, writer`);
            assert.equal((await log.append(T, 0, [rec(N)])).baseOffset, N, 'takes appends where it ended');
          } finally {
            await log.close();
          }
        });
        for (const w of [ro.warnings, rw.warnings]) {
          const named = w.filter((m) => m.includes(file));
          if (warns) {
            assert.equal(named.length, 1, `one warning names ${file}: ${JSON.stringify(w)}`);
            assert.match(named[0]!, /rebuilt from .*\.log.*nothing is lost/);
          } else assert.deepEqual(named, [], 'a missing active index is what a crash after a roll leaves');
        }
        assert.ok(SegmentIndex.load(seg, fs.statSync(seg).size), `the writer saved a whole index for ${seg} again`);
        const again = await warningsDuring(async () => {
          const log = await openFileLog({ dataDir: f.dataDir, readOnly: true });
          await log.read(T, 0, 0).finally(() => log.close());
        });
        assert.deepEqual(again.warnings, [], 'once rebuilt, nothing to warn about');
      });
    }
  }
}

test('an index whose coverage is the only evidence: a closed segment cut at a batch boundary, its next segment gone too, is refused', async (t) => {
  const f = await several(t);
  const segs = f.segments();
  const closed = segs[segs.length - 2]!;
  // The last closed segment loses its last batches and the active segment vanishes, hw with it:
  // only the closed segment's index says those bytes were synced.
  fs.truncateSync(closed, batchPositions(closed).at(-3)!);
  fs.rmSync(segs[segs.length - 1]!);
  fs.rmSync(`${f.dir}/hw`);
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    await assert.rejects(log.read(T, 0, 0), (e: Error) => e.message.includes(closed) && /index says/.test(e.message));
  } finally {
    await log.close();
  }
});

test('through the CLI: consume with a flipped .index and a deleted .timeindex returns every record, warns naming both, exits 0', async (t) => {
  const f = await several(t);
  const seg = f.segments()[1]!;
  flipByte(indexPath(seg), 30);
  fs.rmSync(timeIndexPath(seg));
  const r = await runCli(['consume', T], { dataDir: f.dataDir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(jsonLines(r.stdout).length, N);
  assert.ok(r.stderr.includes(indexPath(seg)) && r.stderr.includes(timeIndexPath(seg)), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
