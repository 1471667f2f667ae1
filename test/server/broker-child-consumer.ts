// A consumer-group member process for the broker tests: joins `group` on the
// input topic through a RemoteLog, heartbeats, and processes each record of
// its partitions by writing one output record, committing the outputs and
// the group's offsets in one transaction (its own transactional id).
//
// Each transaction names the member and the generation its records were read
// under, so the broker refuses it (REBALANCED) if a partition moved meanwhile:
// a member that has not yet heard of a rebalance may keep processing a
// partition that moved, but cannot commit it, and the new owner starts from
// the last commit that was allowed. Nothing else coordinates the members: no
// heartbeat before a commit, no waiting before reading a partition gained.
//
//   argv[2]: JSON {url, group, name, input, output, sessionTimeoutMs, heartbeatMs}
//   stdout:  {joined, memberId} · {gen, partitions} at each new assignment ·
//            {txn, n, partitions} per commit · {refused, n, partitions} per
//            transaction refused as REBALANCED · {error} before exiting 1
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
}

const a = JSON.parse(process.argv[2]!) as Args;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

interface Owned {
  partition: number;
  /** Next offset to process; null until the group's committed offset is read. */
  position: number | null;
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
  for (const p of now) if (!owned.has(p)) owned.set(p, { partition: p, position: null });
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

// A refused transaction fails its producer's epoch: registering again starts a new one.
let producer = await log.initProducer(`consumer-${a.name}`);
let sequence = 0;
try {
  while (!stopping) {
    // The member and generation the records of this round are read under: what the commit names.
    const readUnder = { memberId: member.memberId, generation };
    const due = [...owned.values()].filter((o) => o.position === null);
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
    // Only partitions this process still thinks are its own (by the same state object); the broker decides.
    const mine = reads.filter((x) => owned.get(x.o.partition) === x.o);
    if (mine.length === 0) continue;
    const writes = mine.map((x) => ({
      topic: a.output,
      partition: x.o.partition,
      records: x.records.map((r) => ({ key: r.key, value: Buffer.from(JSON.stringify({ id: Buffer.from(r.key!).toString(), p: x.o.partition, offset: r.offset, by: a.name })) })),
    }));
    const offsets = [{ group: a.group, offsets: mine.map((x) => ({ topic: a.input, partition: x.o.partition, offset: x.next })), member: readUnder }];
    try {
      await log.commitTransaction(producer, ++sequence, { writes, offsets });
    } catch (e) {
      if (!isSluiceError(e, 'REBALANCED')) throw e;
      out({ refused: true, n: writes.reduce((n, w) => n + w.records.length, 0), partitions: mine.map((x) => x.o.partition) });
      producer = await log.initProducer(`consumer-${a.name}`);
      sequence = 0;
      await beat();
      continue;
    }
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
