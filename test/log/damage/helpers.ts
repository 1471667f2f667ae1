// Shared by the damage suite (one file per file kind of a partition): a log
// with acknowledged records, the files to damage, and checks that what comes
// back is exactly what was written.
//
// The matrix (issue 13): file kind x damage -> the test that covers it. "CLI" is
// the same damage through the real CLI.
//   segment (active)  flip: segment.test 'flipped byte in the last acknowledged batch'
//                     truncate: segment.test 'half-truncating', 'at a batch boundary', 'hw and indexes gone'
//                     delete: segment.test 'the active segment deleted'
//                     read-only opens: read-only.test (segmentDamages below, same error as the writer's)
//                     CLI: e2e/damage-cli.test (consume, topic describe, state: truncated)
//   segment (closed)  flip mid-segment: e2e/changelog-damage.test (repair lists and rewrites it)
//                     flip in its last batch: read-only.test, e2e/damage-cli.test (writers and readers)
//                     truncate: index.test 'coverage is the only evidence'
//                     delete a middle one: read-only.test, e2e/damage-cli.test (the gap to the next
//                     segment's base is the evidence); compacted: compacted.test (after compaction, never
//                     compacted, an older dir without the marker), e2e/changelog-damage.test (run, state,
//                     repair), e2e/damage-cli.test (state); kill -9 mid-compaction: log/compaction-crash.test
//   beside a live writer: read-only.test (readers never judge its active segment's tail)
//   .index/.timeindex flip, truncate, delete x closed/active: index.test (reads + seeks vs reference,
//                     warning names the file); CLI: index.test 'through the CLI'
//   hw                flip, truncate, empty, delete: hw.test; stale: hw.test (kill -9); CLI: hw.test
//   txn.log           flip: txn-log.test (middle, last frame); truncate: txn-log.test; delete: txn-log.test;
//                     kill -9: txn-kill.test; CLI: e2e/repair.test (flip)
//   groups/*/offsets  flip, truncate, delete: group-offsets.test; CLI: e2e/repair.test (flip)
//   topic.json        flip, truncate, delete: topic-json.test; CLI: e2e/damage-cli.test
//   changelog         flip mid-segment, truncate active: e2e/changelog-damage.test (run, state, repair)
//   exec journal      not this suite (the exec helper's area)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openFileLog, type FileLog } from '../../../src/log/file/file-log.ts';
import { DamageReport, type Damage } from '../../../src/log/file/damage.ts';
import { indexPath, timeIndexPath } from '../../../src/log/file/segment-index.ts';
import { isSluiceError, type SluiceError } from '../../../src/errors.ts';
import type { TopicConfigInput } from '../../../src/log/log.ts';
import type { LogRecord, ProducerRecord } from '../../../src/record.ts';
import { sameRecord } from '../../helpers/crash-records.ts';
import { tmpDir } from '../../helpers/tmp.ts';

export const T = 'orders';

/** Record i: its content (including size) is a function of i alone. */
export function rec(i: number, padLen = 40 + ((i * 37) % 200)): ProducerRecord {
  return {
    key: Buffer.from(`key-${i}`),
    value: Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(padLen) })),
    timestamp: 1_000_000 + i * 10,
    headers: { i: String(i) },
  };
}

export interface Filled {
  dataDir: string;
  /** The partition directory of T/0. */
  dir: string;
  /** Segment file paths, oldest first. */
  segments(): string[];
}

/** Topic T with one partition holding `batches` acknowledged batches of `perBatch` records; the log is closed. */
export async function filled(t: TestContext, batches: number, perBatch: number, config: TopicConfigInput = {}): Promise<Filled> {
  const dataDir = tmpDir(t, 'sluice-damage-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic(T, { partitions: 1, ...config });
    for (let b = 0; b < batches; b++) {
      const res = await log.append(T, 0, Array.from({ length: perBatch }, (_, j) => rec(b * perBatch + j)));
      assert.equal(res.baseOffset, b * perBatch);
    }
  } finally {
    await log.close();
  }
  const dir = join(dataDir, 'topics', T, '0');
  return { dataDir, dir, segments: () => segmentFiles(dir) };
}

export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => join(dir, n));
}

/** Start positions of the batches in a segment file (walking the length prefixes). */
export function batchPositions(path: string): number[] {
  const buf = fs.readFileSync(path);
  const out: number[] = [];
  for (let p = 0; p + 4 <= buf.length; p += buf.readUInt32BE(p) + 4) out.push(p);
  return out;
}

export function flipByte(path: string, position: number): void {
  const fd = fs.openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, position);
    b[0] = b[0]! ^ 0x5a;
    fs.writeSync(fd, b, 0, 1, position);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every file of the data dir with its bytes: to show that a refused open changed nothing. */
export function snapshot(dataDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const p = join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (n !== 'LOCK') out.set(p, fs.readFileSync(p));
    }
  };
  walk(dataDir);
  return out;
}

export async function readRange(log: FileLog, from: number, to: number, topic = T, pageSize = 500): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let offset = from;
  while (offset < to) {
    const r = await log.read(topic, 0, offset, { maxRecords: Math.min(pageSize, to - offset) });
    assert.ok(r.records.length > 0 || r.nextOffset > offset, `no progress at ${offset}`);
    out.push(...r.records);
    offset = r.nextOffset;
  }
  return out;
}

export function assertRecords(got: LogRecord[], from: number, to: number, ctx = ''): void {
  assert.deepEqual(
    got.map((r) => r.offset),
    Array.from({ length: to - from }, (_, k) => from + k),
    `${ctx} offsets`,
  );
  for (const r of got) assert.ok(sameRecord(r, rec(r.offset)), `${ctx} record ${r.offset} intact`);
}

/**
 * The writer refuses the damaged topic with DAMAGED naming `file` (and matching `loss`): for
 * reads and appends alike (the data dir itself still opens). No file of the data dir changed.
 */
export async function assertRefused(dataDir: string, file: string, loss: RegExp, topic = T): Promise<SluiceError> {
  const before = snapshot(dataDir);
  let error: unknown = null;
  const log = await openFileLog({ dataDir });
  try {
    await assert.rejects(log.append(topic, 0, [rec(0)]), (e: unknown) => isSluiceError(e, 'DAMAGED'));
    await log.read(topic, 0, 0);
  } catch (e) {
    error = e;
  } finally {
    await log.close();
  }
  assert.ok(isSluiceError(error, 'DAMAGED'), `expected DAMAGED, got ${String(error)}`);
  assert.ok(error.message.includes(file), `the message names ${file}: ${error.message}`);
  assert.match(error.message, loss);
  assert.equal(error.details.file, file);
  const after = snapshot(dataDir);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no file created or deleted');
  for (const [p, b] of before) assert.ok(after.get(p)!.equals(b), `${p} unchanged`);
  return error;
}

/** Opens in collect mode (as `sluice repair` does), expects exactly one Damage, applies it and closes. */
export async function repairOne(dataDir: string, file: string): Promise<Damage> {
  const damage = new DamageReport('collect');
  const log = await openFileLog({ dataDir, damage });
  let d: Damage;
  try {
    assert.equal(damage.found.length, 1, `one damage found: ${damage.found.map((x) => x.problem).join(' | ')}`);
    d = damage.found[0]!;
    assert.equal(d.file, file);
    await d.repair();
  } finally {
    await log.close();
  }
  return d;
}

/** Topic T in at least three segments: 60 batches of 4 records (offsets 0-239), 24 KiB segments. */
export async function segmented(t: TestContext, config: TopicConfigInput = {}): Promise<Filled> {
  const f = await filled(t, 60, 4, { ...config, file: { segmentBytes: 24 * 1024, ...config.file } });
  assert.ok(f.segments().length >= 3, `three segments or more: ${f.segments().join(', ')}`);
  return f;
}

export function baseOf(segment: string): number {
  return Number(segment.slice(-24, -4));
}

/** Damage to the segments of a partition that every open (writer or reader) must refuse. */
export interface SegmentDamage {
  what: string;
  /** Damages the partition in `dir`; returns the file the refusal names and the offsets it says are lost. */
  apply(dir: string): { file: string; loss: RegExp };
}

export const segmentDamages: readonly SegmentDamage[] = [
  {
    what: 'a flipped byte in the last batch of a closed segment',
    apply(dir) {
      const [first, second] = segmentFiles(dir);
      const last = batchPositions(first!).at(-1)!;
      flipByte(first!, last + 60);
      return { file: first!, loss: new RegExp(`offsets \\d+-${baseOf(second!) - 1} of ${T}/0`) };
    },
  },
  {
    what: 'the active segment cut in half (hw and its index say it held more)',
    apply(dir) {
      const active = segmentFiles(dir).at(-1)!;
      fs.truncateSync(active, Math.floor(fs.statSync(active).size / 2));
      return { file: active, loss: new RegExp(`offsets \\d+-\\d+ of ${T}/0 \\(at least \\d+ records\\) acknowledged and now missing`) };
    },
  },
  {
    what: 'a deleted middle segment',
    apply(dir) {
      const [first, middle, third] = segmentFiles(dir);
      fs.rmSync(middle!);
      fs.rmSync(indexPath(middle!), { force: true });
      fs.rmSync(timeIndexPath(middle!), { force: true });
      return { file: first!, loss: new RegExp(`offsets ${baseOf(middle!)}-${baseOf(third!) - 1} of ${T}/0`) };
    },
  },
];
