// Crash test: a child appends with fsync `always` and is killed with SIGKILL at
// random moments. After every kill the log is reopened here and checked against
// what the child acknowledged: every acknowledged record is there, in order,
// byte for byte, nothing duplicated, offsets dense; unacknowledged records may
// have survived, but only whole and at most once. Then the log must take over
// the dead writer's lock and accept appends again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import type { LogRecord, ProducerRecord } from '../../src/record.ts';
import { CRASH_TOPIC, crashRecord, markerRecord, prng, sameRecord } from '../helpers/crash-records.ts';
import { readAll as readPartition } from '../helpers/read-all.ts';
import { scaled } from '../fixtures/proof-scale.ts';

const CHILD = fileURLToPath(new URL('../helpers/append-child.ts', import.meta.url));
const ROUNDS = scaled(10, 24); // npm test; npm run proof (test/fixtures/proof-scale.ts)
const SEED = Number(process.env.SLUICE_CRASH_SEED ?? 20240611);

interface Ack {
  p: number;
  base: number;
  last: number;
  first: number;
  count: number;
}

interface ChildRun {
  pid: number;
  ready: boolean;
  acks: Ack[];
  stderr: string;
}

/**
 * Starts the child and SIGKILLs it `killDelayMs` after its `killAfterAcks`-th
 * acknowledgement (0: after it opened the log), while it goes on appending;
 * returns what it acknowledged. Counting acks, not time, keeps the rounds as
 * long on a busy machine as on an idle one.
 */
function runChild(dataDir: string, round: number, seed: number, killAfterAcks: number, killDelayMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(round), String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { pid: child.pid!, ready: false, acks: [], stderr: '' };
    let buffered = '';
    let timer: NodeJS.Timeout | null = null;
    const kill = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), killDelayMs);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const f = line.split(' ');
        if (f[0] === 'ready') {
          run.ready = true;
          if (killAfterAcks === 0) kill();
        } else if (f[0] === 'ack') {
          const [p, base, last, first, count] = f.slice(1).map(Number) as [number, number, number, number, number];
          run.acks.push({ p, base, last, first, count });
          if (run.acks.length >= killAfterAcks) kill();
        }
      }
      // A partial last line (the kill struck mid-write) is not an acknowledgement we can rely on: ignored.
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (run.stderr += s));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (code ${code}, signal ${signal}): ${run.stderr}`));
      else resolve(run);
    });
  });
}

function readAll(log: FileLog, p: number): Promise<LogRecord[]> {
  return readPartition(log, CRASH_TOPIC, p, { from: 0, maxRecords: 500 });
}

test(`kill -9 during appends: acknowledged records survive (${ROUNDS} rounds, seed ${SEED})`, async (t) => {
  const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-crash-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  {
    const log = await openFileLog({ dataDir });
    // Small segments, so some kills land around a segment roll.
    await log.createTopic(CRASH_TOPIC, { partitions: 2, file: { segmentBytes: 96 * 1024 } });
    await log.close();
  }
  const rand = prng(SEED);
  // What each partition must hold, record by record, from offset 0: verified survivors of earlier rounds.
  const baseline: ProducerRecord[][] = [[], []];
  let acked = 0;
  let survivorsUnacked = 0;
  let maxSegments = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const killAfterAcks = Math.floor(rand() * 300);
    const killDelayMs = Math.floor(rand() * 20);
    const run = await runChild(dataDir, round, Math.floor(rand() * 2 ** 31), killAfterAcks, killDelayMs);
    const ctx = `round ${round} (kill ${killDelayMs} ms after ack ${killAfterAcks}, ${run.acks.length} acks seen)`;
    assert.ok(run.ready, `${ctx}: child never opened the log: ${run.stderr}`);

    // The dead child's lock is still on disk...
    const lockPath = join(dataDir, 'LOCK');
    const owner = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid: number };
    assert.equal(owner.pid, run.pid, `${ctx}: LOCK should name the killed child`);
    // ...and opening the log takes it over (it would fail with LOCKED otherwise).
    const log = await openFileLog({ dataDir });
    try {
      assert.equal((JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid: number }).pid, process.pid, `${ctx}: lock taken over`);
      for (const p of [0, 1]) {
        const got = await readAll(log, p);
        const base = baseline[p]!;
        // Offsets are dense from 0 and the previous rounds' records are untouched.
        got.forEach((r, i) => assert.equal(r.offset, i, `${ctx}: partition ${p} offsets must be dense`));
        assert.ok(got.length >= base.length, `${ctx}: partition ${p} lost records of earlier rounds (${got.length} < ${base.length})`);
        for (let i = 0; i < base.length; i++) assert.ok(sameRecord(got[i]!, base[i]!), `${ctx}: partition ${p} record ${i} changed`);
        // Then a prefix of what this round's child issued, in issue order, each record whole and once.
        const fresh = got.length - base.length;
        for (let i = 0; i < fresh; i++) {
          assert.ok(sameRecord(got[base.length + i]!, crashRecord(round, p, i)), `${ctx}: partition ${p} offset ${base.length + i} is not record ${round}:${p}:${i}`);
        }
        // Every acknowledged batch is inside that prefix, at the offsets the append returned.
        let ackedHere = 0;
        for (const a of run.acks.filter((x) => x.p === p)) {
          assert.equal(a.last - a.base + 1, a.count, `${ctx}: ack offsets`);
          assert.equal(a.base, base.length + a.first, `${ctx}: partition ${p} batch ${a.first}+${a.count} acknowledged at offset ${a.base}`);
          assert.ok(a.first + a.count <= fresh, `${ctx}: partition ${p} lost acknowledged records ${a.first}..${a.first + a.count - 1} (only ${fresh} survived)`);
          ackedHere = Math.max(ackedHere, a.first + a.count);
          acked += a.count;
        }
        survivorsUnacked += fresh - ackedHere;
        for (let i = 0; i < fresh; i++) base.push(crashRecord(round, p, i));
        // The log accepts appends again, at the next dense offset.
        const marker = markerRecord(round, p);
        const res = await log.append(CRASH_TOPIC, p, [marker]);
        assert.equal(res.baseOffset, base.length, `${ctx}: append after reopen continues at the end`);
        base.push(marker);
      }
      const d = await log.describeTopic(CRASH_TOPIC);
      maxSegments = Math.max(maxSegments, ...d.partitions.map((x) => x.segments ?? 0));
    } finally {
      await log.close();
    }
    assert.equal(fs.existsSync(lockPath), false, `${ctx}: close releases the lock`);
  }

  // A last clean reopen sees exactly the baseline.
  const log = await openFileLog({ dataDir });
  try {
    for (const p of [0, 1]) {
      const got = await readAll(log, p);
      assert.equal(got.length, baseline[p]!.length);
      got.forEach((r, i) => assert.ok(sameRecord(r, baseline[p]![i]!), `final check, partition ${p} offset ${i}`));
    }
  } finally {
    await log.close();
  }
  t.diagnostic(`acknowledged records checked: ${acked}; unacknowledged survivors: ${survivorsUnacked}; max segments per partition: ${maxSegments}`);
  assert.ok(acked > 0, 'the children acknowledged something');
  assert.ok(maxSegments > 1, 'segments rolled during the test');
});
