// A consumer-group member process for the broker tests: joins `group` on the
// input topic through a RemoteLog, heartbeats, and processes each record of
// its partitions by writing one output record, committing the outputs and
// the group's offsets in one transaction (its own transactional id).
//
// Transactional offsets are not fenced by the group's generation, so two
// members must never process one partition at the same time. A member checks
// by a heartbeat, just before each commit, that it still owns the partitions
// it read; a partition it gains it reads only after `graceMs`, by when any
// previous owner has seen the change and stopped (its last commit landed).
//
//   argv[2]: JSON {url, group, name, input, output, sessionTimeoutMs, heartbeatMs, graceMs}
//   stdout:  {joined, memberId} · {gen, partitions} at each new assignment ·
//            {txn, n, partitions} per commit · {error} before exiting 1
//   SIGTERM: leaves the group and exits 0.

import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import { isSluiceError } from '../../src/errors.ts';
import type { Assignment, GroupMember } from '../../src/log/log.ts';

interface Args {
  url: string;
  group: string;
  name: string;
  input: string;
  output: string;
  sessionTimeoutMs: number;
  heartbeatMs: number;
  graceMs: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

interface Owned {
  partition: number;
  /** Next offset to process; null until the grace period is over and the group's offset is read. */
  position: number | null;
  readableAt: number;
}

const log = await openRemoteLog({ url: a.url });
const join = () => log.joinGroup(a.group, { topics: [a.input], memberId: a.name, sessionTimeoutMs: a.sessionTimeoutMs });
let member: GroupMember = await join();
out({ joined: true, memberId: member.memberId });
let generation = -1;
const owned = new Map<number, Owned>();

function apply(asg: Assignment): void {
  if (asg.generation === generation) return;
  generation = asg.generation;
  const now = new Set(asg.partitions.filter((tp) => tp.topic === a.input).map((tp) => tp.partition));
  for (const p of owned.keys()) if (!now.has(p)) owned.delete(p);
  for (const p of now) if (!owned.has(p)) owned.set(p, { partition: p, position: null, readableAt: Date.now() + a.graceMs });
  out({ gen: generation, partitions: [...now].sort((x, y) => x - y) });
}
apply(member.assignment());

let beating: Promise<unknown> = Promise.resolve();
/** One heartbeat after any in flight (so its answer is fresh); a member dropped from the group drops everything and rejoins. */
function beat(): Promise<void> {
  const run = beating.then(async () => {
    try {
      apply(await member.heartbeat());
    } catch (e) {
      if (!isSluiceError(e, 'REBALANCED')) throw e;
      owned.clear();
      out({ expired: true });
      member = await join();
      generation = -1;
      apply(member.assignment());
    }
  });
  beating = run.catch(() => {});
  return run;
}

function fail(e: unknown): never {
  out({ error: String((e as Error)?.stack ?? e) });
  process.exit(1);
}

let stopping = false;
const timer = setInterval(() => beat().catch(fail), a.heartbeatMs);
process.on('SIGTERM', () => (stopping = true));

const producer = await log.initProducer(`consumer-${a.name}`);
let sequence = 0;
try {
  while (!stopping) {
    const due = [...owned.values()].filter((o) => o.position === null && o.readableAt <= Date.now());
    if (due.length > 0) {
      const committed = await log.committedOffsets(a.group);
      for (const o of due) o.position = committed.find((c) => c.topic === a.input && c.partition === o.partition)?.offset ?? 0;
    }
    const reads: { o: Owned; records: { key: Uint8Array | null; offset: number }[]; next: number }[] = [];
    for (const o of owned.values()) {
      if (o.position === null) continue;
      const r = await log.read(a.input, o.partition, o.position, { maxRecords: 100 });
      if (r.records.length > 0) reads.push({ o, records: r.records, next: r.nextOffset });
    }
    if (reads.length === 0) {
      await new Promise((r) => setTimeout(r, 30));
      continue;
    }
    await beat();
    // Only partitions still ours, by the same state object (not lost and regained meanwhile).
    const mine = reads.filter((x) => owned.get(x.o.partition) === x.o && x.o.position !== null);
    if (mine.length === 0) continue;
    const writes = mine.map((x) => ({
      topic: a.output,
      partition: x.o.partition,
      records: x.records.map((r) => ({ key: r.key, value: Buffer.from(JSON.stringify({ id: Buffer.from(r.key!).toString(), p: x.o.partition, offset: r.offset, by: a.name })) })),
    }));
    const offsets = [{ group: a.group, offsets: mine.map((x) => ({ topic: a.input, partition: x.o.partition, offset: x.next })) }];
    await log.commitTransaction(producer, ++sequence, { writes, offsets });
    for (const x of mine) x.o.position = x.next;
    out({ txn: sequence, n: writes.reduce((n, w) => n + w.records.length, 0), partitions: mine.map((x) => x.o.partition) });
  }
  clearInterval(timer);
  await beating;
  await member.leave();
  await log.close();
  out({ left: true });
} catch (e) {
  fail(e);
}
