// Compaction on the embedded log: when it runs (the dirty ratio, expired
// tombstones, a restart) and that its result is right (the newest value per
// key, offsets and bytes kept, transactions respected), also across kill -9.
// The shared suite (suite/retention.ts) checks the reader's view through any Log.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import type { Partition } from '../../src/log/file/partition.ts';
import { ATTR_TRANSACTIONAL } from '../../src/log/batch.ts';
import { isSluiceError } from '../../src/errors.ts';
import type { Isolation, TopicConfigInput } from '../../src/log/log.ts';
import type { LogRecord } from '../../src/record.ts';
import { prng } from '../helpers/crash-records.ts';
import { tmpDir } from '../helpers/tmp.ts';

const T = 'cmp';
const CHILD = fileURLToPath(new URL('./compaction-child.ts', import.meta.url));
const b = (s: string) => Buffer.from(s);
const str = (u: Uint8Array | null) => (u === null ? null : Buffer.from(u).toString());

function partitionOf(log: FileLog): Promise<Partition> {
  return log.partition(T, 0);
}

async function openLog(dataDir: string, create?: TopicConfigInput): Promise<{ log: FileLog; p: Partition }> {
  const log = await openFileLog({ dataDir, maintenanceIntervalMs: 1e9 });
  if (create) await log.createTopic(T, { compact: true, ...create });
  else await log.getTopic(T);
  return { log, p: await partitionOf(log) };
}

async function readAll(log: FileLog, isolation: Isolation = 'read_committed'): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (let offset = (await log.describeTopic(T)).partitions[0]!.startOffset; ; ) {
    const r = await log.read(T, 0, offset, { maxRecords: 1000, isolation });
    out.push(...r.records);
    if (r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

/** Inode, size and mtime of every segment file: unchanged means not rewritten. */
function fileStats(p: Partition): string[] {
  return p.segments.map((s) => {
    const st = fs.statSync(s.path);
    return `${s.path} ${st.ino} ${st.size} ${st.mtimeMs}`;
  });
}

function assertCleanKeysDistinct(p: Partition, records: LogRecord[]): void {
  const clean = records.filter((r) => r.offset < p.cleaner.cleanEnd).map((r) => str(r.key));
  assert.equal(new Set(clean).size, clean.length, `no key twice below the clean end ${p.cleaner.cleanEnd}`);
}

test('compaction runs only once the dirty bytes reach minCleanableDirtyRatio of the compactable log; otherwise it reads and rewrites nothing', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  const ratio = 0.75;
  let { log, p } = await openLog(dataDir, { file: { segmentBytes: 1000, minCleanableDirtyRatio: ratio } });
  p.onRoll = null; // this test decides when maintenance runs
  let i = 0;
  const put = () => log.append(T, 0, [{ key: b(`k${i % 10}`), value: b(`v${i++}-${'x'.repeat(20)}`) }]);
  try {
    while (p.segments.length < 5) await put();
    await log.maintain();
    assert.equal(p.cleaner.runs, 1, 'the first run after open finds everything dirty');
    assert.equal(p.cleaner.cleanEnd, p.active.baseOffset, 'every closed segment is clean after it');
    let skipped = 0;
    let ran = 0;
    while (skipped < 3 || ran < 3) {
      const count = p.segments.length;
      await put();
      if (p.segments.length === count) continue;
      assert.ok(i < 5000, `in ${i} appends: ${skipped} rolls without a run, ${ran} with one`);
      const closed = p.segments.slice(0, -1);
      const total = closed.reduce((n, s) => n + s.size, 0);
      const dirty = closed.filter((s) => s.nextOffset > p.cleaner.cleanEnd).reduce((n, s) => n + s.size, 0);
      const due = dirty >= ratio * total;
      const runs: number = p.cleaner.runs;
      const before = fileStats(p);
      const records = await readAll(log);
      await log.maintain();
      assert.equal(p.cleaner.runs, runs + (due ? 1 : 0), `dirty ${dirty} of ${total} bytes: ${due ? 'a run' : 'no run'}`);
      if (due) {
        ran++;
        assert.equal(p.cleaner.cleanEnd, p.active.baseOffset);
        assert.ok((await readAll(log)).length < records.length, 'the run removed superseded records');
      } else {
        skipped++;
        assert.deepEqual(fileStats(p), before, 'no segment file was touched');
        assert.deepEqual(await readAll(log), records);
      }
      assertCleanKeysDistinct(p, await readAll(log));
    }
    await log.close();
    ({ log, p } = await openLog(dataDir));
    p.onRoll = null;
    assert.deepEqual([p.cleaner.runs, p.cleaner.cleanEnd], [0, 0], 'a restart forgets what was clean');
    await log.maintain();
    assert.equal(p.cleaner.runs, 1, 'so the first maintenance after it compacts');
    const table = new Map((await readAll(log)).map((r) => [str(r.key), str(r.value)]));
    for (let k = 0; k < 10; k++) assert.match(table.get(`k${k}`)!, new RegExp(`^v${i - 10 + ((k - i % 10 + 10) % 10)}-`), `k${k} has its newest value`);
  } finally {
    await log.close();
  }
});

test('over many runs, rolls and restarts, each key keeps its newest value and every survivor is byte for byte what was appended at its offset', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  const rand = prng(Number(process.env.SLUICE_COMPACTION_SEED ?? 7));
  let { log, p } = await openLog(dataDir, { deleteRetentionMs: 60_000, file: { segmentBytes: 700, minCleanableDirtyRatio: 0.5 } });
  const appended = new Map<number, [string, string | null]>();
  const newest = new Map<string, { offset: number; value: string | null }>();
  let runs = 0;
  try {
    for (let step = 0; step < 800; step++) {
      const key = `k${Math.floor(rand() * 25)}`;
      const value = rand() < 0.15 ? null : `v${step}-${'y'.repeat(Math.floor(rand() * 40))}`;
      const { baseOffset } = await log.append(T, 0, [{ key: b(key), value: value === null ? null : b(value) }]);
      appended.set(baseOffset, [key, value]);
      newest.set(key, { offset: baseOffset, value });
      if (rand() < 0.04) await log.maintain();
      if (rand() < 0.01) {
        runs += p.cleaner.runs;
        await log.maintain();
        await log.close();
        ({ log, p } = await openLog(dataDir));
      }
    }
    await log.maintain();
    runs += p.cleaner.runs;
    assert.ok(runs >= 5, `compaction ran (${runs} runs)`);
    const after = await readAll(log);
    for (const r of after) assert.deepEqual([str(r.key), str(r.value)], appended.get(r.offset), `offset ${r.offset} is what was appended there`);
    for (const [key, v] of newest) assert.ok(after.some((r) => r.offset === v.offset), `newest ${key} (offset ${v.offset}) kept`);
    assertCleanKeysDistinct(p, after);
    assert.ok(after.length < appended.size / 3, `${after.length} of ${appended.size} records left`);

    // Tombstones past deleteRetentionMs go, and with them the keys they deleted.
    await log.maintain(Date.now() + 120_000);
    const final = await readAll(log);
    const gone = [...newest].filter(([, v]) => v.value === null && v.offset < p.cleaner.cleanEnd).map(([k]) => k);
    assert.ok(gone.length > 0, 'some keys end deleted in the compacted part');
    for (const k of gone) assert.ok(!final.some((r) => str(r.key) === k), `deleted ${k} is gone`);
    assert.ok(!final.some((r) => r.value === null && r.offset < p.cleaner.cleanEnd), 'no expired tombstone left in the compacted part');
    for (const [key, v] of newest) if (v.value !== null) assert.ok(final.some((r) => r.offset === v.offset), `newest ${key} still kept`);
  } finally {
    await log.close();
  }
});

test('an idle topic still drops expired tombstones, with no dirty bytes, at most every deleteRetentionMs / 2', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  const R = 60_000;
  const { log, p } = await openLog(dataDir, { deleteRetentionMs: R, file: { segmentBytes: 300 } });
  p.onRoll = null;
  try {
    await log.append(T, 0, [{ key: b('a'), value: b('1') }]);
    await log.append(T, 0, [{ key: b('a'), value: null }]);
    const aDeleted = Date.now();
    while (Date.now() <= aDeleted + 2) await new Promise((r) => setTimeout(r, 3));
    const bBefore = Date.now();
    await log.append(T, 0, [{ key: b('b'), value: b('2') }]);
    await log.append(T, 0, [{ key: b('b'), value: null }]);
    for (let i = 0; p.segments.length < 4; i++) await log.append(T, 0, [{ key: b(`filler-${i}`), value: b('z'.repeat(50)) }]);
    const keys = async () => (await readAll(log)).map((r) => `${str(r.key)}=${str(r.value)}`).filter((s) => !s.startsWith('filler'));

    const now1 = aDeleted + R + 1; // a's tombstone has expired, b's (appended after bBefore > aDeleted + 1) not yet
    await log.maintain(now1);
    assert.equal(p.cleaner.runs, 1);
    assert.deepEqual(await keys(), ['b=null']);
    assert.ok(p.cleaner.oldestTombstone >= bBefore);

    const stats = fileStats(p);
    await log.maintain(Date.now() + R + 1000); // b's has expired too, but the last run was under R / 2 ago
    assert.equal(p.cleaner.runs, 1, 'not due yet');
    assert.deepEqual(fileStats(p), stats);
    await log.maintain(now1 + R / 2);
    assert.equal(p.cleaner.runs, 2, 'due: an expired tombstone and the last run R / 2 ago');
    assert.deepEqual(await keys(), []);
    await log.maintain(now1 + 10 * R);
    assert.equal(p.cleaner.runs, 2, 'no tombstone left, nothing dirty: nothing to do');
  } finally {
    await log.close();
  }
});

test('compaction leaves undecided transactions alone, drops aborted records, and lets committed ones supersede', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  const { log, p } = await openLog(dataDir, { file: { segmentBytes: 400 } });
  p.onRoll = null;
  let n = 0;
  const filler = async (segments: number) => {
    for (const target = p.segments.length + segments; p.segments.length < target; ) await log.append(T, 0, [{ key: b(`f${n % 3}`), value: b(`${n++}-${'f'.repeat(40)}`) }]);
  };
  const values = async (isolation: Isolation) => (await readAll(log, isolation)).filter((r) => str(r.key) === 'k').map((r) => str(r.value));
  try {
    await log.append(T, 0, [{ key: b('k'), value: b('v1') }]);
    await filler(2);
    const zombie = await log.initProducer('tx');
    const stamp = { producerId: zombie.producerId, producerEpoch: zombie.epoch, baseSequence: 1 };
    const inFlight = await p.append([{ key: b('k'), value: b('v2') }], stamp, ATTR_TRANSACTIONAL);
    await filler(3);
    const undecided = p.segments.filter((s) => s.nextOffset > inFlight.baseOffset).map((s) => s.path);
    const stats = fileStats(p).filter((s) => undecided.includes(s.split(' ')[0]!));
    await log.maintain();
    assert.equal(p.cleaner.runs, 1);
    assert.equal(p.cleaner.cleanEnd, p.segments.find((s) => s.nextOffset > inFlight.baseOffset)!.baseOffset, 'compacted up to the undecided transaction');
    assert.deepEqual(fileStats(p).filter((s) => undecided.includes(s.split(' ')[0]!)), stats, 'segments from the undecided transaction on are untouched');
    assert.deepEqual(await values('read_uncommitted'), ['v1', 'v2'], 'an undecided value does not displace the committed one');

    // The producer is replaced, so its transaction never commits: aborted.
    const tx = await log.initProducer('tx');
    p.resolveTxn(inFlight.baseOffset);
    await filler(1);
    await log.maintain();
    assert.equal(p.cleaner.runs, 2);
    assert.deepEqual(await values('read_uncommitted'), ['v1'], 'the aborted record is gone, and did not take v1 with it');

    await log.commitTransaction(tx, 1, { writes: [{ topic: T, partition: 0, records: [{ key: b('k'), value: b('v3') }] }], offsets: [] });
    await filler(3);
    await log.maintain();
    assert.deepEqual(await values('read_uncommitted'), ['v3'], 'a committed transactional value supersedes');
    assert.deepEqual(await values('read_committed'), ['v3']);
  } finally {
    await log.close();
  }
});

test('compaction merges adjacent small segments up to segmentBytes; a crash before the merged-away files are deleted is repaired on open', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  const segmentBytes = 1000;
  let { log, p } = await openLog(dataDir, { file: { segmentBytes } });
  p.onRoll = null;
  const dir = `${dataDir}/topics/${T}/0`;
  const logFiles = () => fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  try {
    // Half the keys are written once: every segment keeps about half its bytes.
    for (let i = 0; p.segments.length < 12; i++) await log.append(T, 0, [{ key: b(i % 2 === 0 ? `u${i}` : `k${i % 8}`), value: b(`v${i}-${'m'.repeat(i % 30)}`) }]);
    const uncompacted = new Map((await readAll(log)).map((r) => [r.offset, r]));
    await log.close();
    const originals = new Map(logFiles().map((f) => [f, fs.readFileSync(`${dir}/${f}`)]));

    ({ log, p } = await openLog(dataDir));
    p.onRoll = null;
    await log.maintain();
    const closed = p.segments.slice(0, -1);
    assert.ok(closed.length < originals.size - 1, `${originals.size - 1} closed segments merged into ${closed.length}`);
    for (let i = 1; i < closed.length; i++) assert.ok(closed[i - 1]!.size + closed[i]!.size > segmentBytes, 'no two neighbours would fit in one segment');
    const expected = await readAll(log);
    const after = logFiles();
    await log.close();

    // As if the process died after renaming the merged file into place, before deleting the others.
    const ranges = closed.map((s) => [s.baseOffset, s.nextOffset] as const);
    const mergedAway = [...originals.keys()].filter((f) => !after.includes(f) && ranges.some(([from, to]) => Number(f.slice(0, 20)) > from && Number(f.slice(0, 20)) < to));
    assert.ok(mergedAway.length > 0);
    for (const f of mergedAway) fs.writeFileSync(`${dir}/${f}`, originals.get(f)!);
    const reader = await openFileLog({ dataDir, readOnly: true });
    try {
      // It may read a leftover's superseded records (as before the merge), but nothing else.
      const seen = await readAll(reader);
      for (const r of seen) assert.deepEqual(r, uncompacted.get(r.offset), `offset ${r.offset} as appended`);
      for (const r of expected) assert.ok(seen.some((x) => x.offset === r.offset), `a reader sees ${r.offset}`);
    } finally {
      await reader.close();
    }
    ({ log, p } = await openLog(dataDir));
    assert.deepEqual(logFiles(), after, 'the leftovers were deleted');
    assert.deepEqual(await readAll(log), expected);
  } finally {
    await log.close();
  }
});

test('minCleanableDirtyRatio: 0.5 by default, also for topics created before it existed; outside 0..1 refused', async (t) => {
  const dataDir = tmpDir(t, 'sluice-compaction-');
  let { log } = await openLog(dataDir, {});
  try {
    assert.equal((await log.getTopic(T)).config.file?.minCleanableDirtyRatio, 0.5);
    for (const bad of [1.5, -0.1, Number.NaN, '0.5'] as unknown as number[]) {
      await assert.rejects(log.createTopic('other', { file: { minCleanableDirtyRatio: bad } }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.details['field'] === 'file.minCleanableDirtyRatio');
    }
    await log.createTopic('edge', { file: { minCleanableDirtyRatio: 1 } });
  } finally {
    await log.close();
  }
  // A topic.json as releases before minCleanableDirtyRatio wrote it (flat, without it).
  const file = `${dataDir}/topics/${T}/topic.json`;
  const { id } = JSON.parse(fs.readFileSync(file, 'utf8')) as { id: string };
  fs.writeFileSync(file, `{"id":"${id}","partitions":1,"retentionMs":null,"retentionBytes":null,"compact":true,"deleteRetentionMs":86400000,"segmentBytes":67108864,"segmentMs":604800000,"fsync":"always"}`);
  ({ log } = await openLog(dataDir));
  try {
    assert.equal((await log.getTopic(T)).config.file?.minCleanableDirtyRatio, 0.5);
  } finally {
    await log.close();
  }
});

interface Ack {
  base: number;
  records: [string, string | null][];
}

/** Starts the child, kills it with SIGKILL `killMs` after it is ready, and returns its acknowledgements. */
function runChild(dataDir: string, round: number, killMs: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: Ack[] = [];
    let buffered = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killMs);
        else acks.push(JSON.parse(line) as Ack);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acks) : reject(new Error(`child exited with ${code}: ${stderr}`))));
  });
}

test('kill -9 while compaction runs: every acknowledged newest value survives, and the log reopens and compacts again', async (t: TestContext) => {
  const dataDir = tmpDir(t, 'sluice-compaction-crash-');
  const rand = prng(Number(process.env.SLUICE_CRASH_SEED ?? 99));
  const acked = new Map<number, [string, string | null]>();
  const newest = new Map<string, number>();
  for (let round = 0; round < 6; round++) {
    for (const a of await runChild(dataDir, round, 150 + Math.floor(rand() * 600))) {
      a.records.forEach((r, i) => {
        acked.set(a.base + i, r);
        if ((newest.get(r[0]) ?? -1) < a.base + i) newest.set(r[0], a.base + i);
      });
    }
    assert.ok(acked.size > 0, `round ${round}: the child acknowledged appends`);
    const { log } = await openLog(dataDir);
    try {
      const dir = `${dataDir}/topics/${T}/0`;
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.cleaned')), [], 'no leftover of an interrupted compaction');
      await log.maintain();
      const records = await readAll(log);
      for (const r of records) {
        const want = acked.get(r.offset);
        // Unacknowledged appends may have survived; acknowledged offsets hold exactly what was acknowledged.
        if (want) assert.deepEqual([str(r.key), str(r.value)], want, `round ${round}, offset ${r.offset}`);
      }
      for (const [key, offset] of newest) {
        assert.ok(records.some((r) => str(r.key) === key && r.offset >= offset), `round ${round}: ${key}'s newest acknowledged value (${offset}) or a later one survives`);
      }
      assertCleanKeysDistinct(await partitionOf(log), records);
    } finally {
      await log.close();
    }
  }
});
