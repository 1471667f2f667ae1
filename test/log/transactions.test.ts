// The transaction coordinator (src/log/transactions.ts) as a unit, over an
// in-memory storage port: fencing, sequences, retries, poisoned epochs, the
// decision order and unstable groups, with no files. Gates in the storage hold
// a write or a decision where a test needs it held. The same rules through a
// real Log: test/log/suite/transactions.ts, member-transactions.ts, and the
// file log's own file-log-transactions.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError, isSluiceError } from '../../src/errors.ts';
import { GroupCoordinator } from '../../src/log/group-coordinator.ts';
import { ProducerTable, type Decision, type TxnOffset, type TxnWriteRange } from '../../src/log/producer-table.ts';
import { TransactionCoordinator, type TransactionStorage } from '../../src/log/transactions.ts';
import type { ProducerStamp } from '../../src/log/batch.ts';
import type { AppendResult, TransactionBody, TransactionOffsets, TransactionWrite } from '../../src/log/log.ts';

const b = (s: string) => Buffer.from(s);

/** A point a storage call stops at until released; `reached` resolves when one gets there. */
class Gate {
  reached: Promise<void>;
  private arrive!: () => void;
  private open!: () => void;
  private readonly opened: Promise<void>;
  constructor() {
    this.reached = new Promise((r) => (this.arrive = r));
    this.opened = new Promise((r) => (this.open = r));
  }
  async pass(): Promise<void> {
    this.arrive();
    await this.opened;
  }
  release(): void {
    this.open();
  }
}

interface Batch extends TxnWriteRange {
  stamp: ProducerStamp;
  values: string[];
}

class MemoryStorage implements TransactionStorage {
  readonly producers = new ProducerTable();
  readonly decisions: Decision[] = [];
  readonly batches: Batch[] = [];
  /** `${topic}/${partition}` -> base offsets of batches not yet settled. */
  readonly unsettled = new Map<string, Set<number>>();
  readonly groupOffsets = new Map<string, number>();
  private readonly ends = new Map<string, number>();
  readonly partitions = new Set(['out/0', 'out/1', 'in/0']);
  decisionsInFlight = 0;
  maxDecisionsInFlight = 0;
  /** Set by a test: the next call of that kind waits at the gate, or fails. */
  holdDecision: Gate | null = null;
  holdWrite: Gate | null = null;
  failDecision: Error | null = null;
  failWrite: ((w: TransactionWrite) => Error | null) | null = null;

  async appendDecision(d: Decision): Promise<void> {
    this.maxDecisionsInFlight = Math.max(this.maxDecisionsInFlight, ++this.decisionsInFlight);
    try {
      const gate = this.holdDecision;
      this.holdDecision = null;
      await gate?.pass();
      const fail = this.failDecision;
      this.failDecision = null;
      if (fail) throw fail;
      this.decisions.push(d);
      this.producers.apply(d);
    } finally {
      this.decisionsInFlight--;
    }
  }

  async prepare(writes: readonly TransactionWrite[], offsets: readonly TransactionOffsets[]): Promise<TxnOffset[]> {
    for (const tp of [...writes, ...offsets.flatMap((g) => g.offsets)]) {
      if (!this.partitions.has(`${tp.topic}/${tp.partition}`)) throw new SluiceError(ErrorCodes.UNKNOWN_TOPIC, `no ${tp.topic}/${tp.partition}`, { topic: tp.topic });
    }
    return offsets.flatMap((g) => g.offsets.map((o) => ({ group: g.group, ...o, topicId: `${o.topic}-id` })));
  }

  async writeRecords(w: TransactionWrite, stamp: ProducerStamp): Promise<AppendResult> {
    const fail = this.failWrite?.(w);
    if (fail) throw fail;
    const k = `${w.topic}/${w.partition}`;
    const baseOffset = this.ends.get(k) ?? 0;
    const lastOffset = baseOffset + w.records.length - 1;
    this.ends.set(k, lastOffset + 1);
    this.batches.push({ topic: w.topic, partition: w.partition, baseOffset, lastOffset, stamp, values: w.records.map((r) => String(r.value)) });
    this.unsettled.set(k, (this.unsettled.get(k) ?? new Set()).add(baseOffset));
    const gate = this.holdWrite;
    this.holdWrite = null;
    await gate?.pass();
    return { baseOffset, lastOffset };
  }

  settle(w: TxnWriteRange): void {
    this.unsettled.get(`${w.topic}/${w.partition}`)?.delete(w.baseOffset);
  }

  async applyOffsets(offsets: TxnOffset[]): Promise<void> {
    for (const o of offsets) this.groupOffsets.set(`${o.group} ${o.topic}/${o.partition}`, o.offset);
  }

  /** What a read_committed reader of the partition sees: settled batches the coordinator calls committed. */
  visible(c: TransactionCoordinator, topic: string, partition: number): string[] {
    const unsettled = this.unsettled.get(`${topic}/${partition}`) ?? new Set();
    const stable = Math.min(Infinity, ...unsettled);
    return this.batches
      .filter((x) => x.topic === topic && x.partition === partition && x.baseOffset < stable)
      .filter((x) => c.visibility(x.stamp.producerId, x.stamp.producerEpoch, x.stamp.baseSequence) === 'committed')
      .flatMap((x) => x.values);
  }

  unsettledCount(): number {
    return [...this.unsettled.values()].reduce((n, s) => n + s.size, 0);
  }
}

function setup(): { storage: MemoryStorage; groups: GroupCoordinator; c: TransactionCoordinator } {
  const storage = new MemoryStorage();
  const groups = new GroupCoordinator(() => 1);
  return { storage, groups, c: new TransactionCoordinator(storage, groups) };
}

const out = (value: string, partition = 0): TransactionBody => ({ writes: [{ topic: 'out', partition, records: [{ key: null, value: b(value) }] }], offsets: [] });
const code = (c: string, message?: RegExp) => (e: unknown) => isSluiceError(e) && e.code === c && (message === undefined || message.test(e.message));
/** Lets every promise continuation that is ready run (microtasks and one macrotask turn): nothing here waits on time. */
const settleMicrotasks = () => new Promise((r) => setImmediate(r));

test('registering an id again keeps its producer id, bumps the epoch and fences the old epoch (FENCED, with its details)', async () => {
  const { storage, c } = setup();
  const old = await c.initProducer('job');
  const other = await c.initProducer('other-job');
  assert.notEqual(other.producerId, old.producerId);
  await c.commit(old, 1, out('1'));
  const fresh = await c.initProducer('job');
  assert.deepEqual([fresh.producerId, fresh.epoch], [old.producerId, old.epoch + 1]);
  await assert.rejects(c.commit(old, 2, out('zombie')), (e) => {
    assert.ok(isSluiceError(e, 'FENCED'));
    assert.deepEqual(e.details, { transactionalId: 'job', epoch: old.epoch, reason: 'replaced', currentEpoch: old.epoch + 1 });
    assert.match(e.message, /replaced by a newer instance \(epoch 1\)/);
    return true;
  });
  assert.equal(storage.batches.length, 1, 'the zombie wrote nothing');
  await c.commit(fresh, 1, out('2'));
  assert.deepEqual(storage.visible(c, 'out', 0), ['1', '2']);
  await assert.rejects(c.initProducer(''), code('INVALID_ARGUMENT'));
});

test('an epoch fenced while its records are being written is refused at the commit point, and its records are aborted', async () => {
  const { storage, c } = setup();
  const old = await c.initProducer('job');
  const gate = (storage.holdWrite = new Gate());
  const committing = c.commit(old, 1, out('zombie'));
  await gate.reached;
  const fresh = await c.initProducer('job');
  gate.release();
  await assert.rejects(committing, code('FENCED', /replaced by a newer instance/));
  assert.equal(storage.unsettledCount(), 0, 'readers may pass the dead batch');
  assert.deepEqual(storage.visible(c, 'out', 0), []);
  await c.commit(fresh, 1, out('ok'));
  assert.deepEqual(storage.visible(c, 'out', 0), ['ok']);
});

test('sequences go 1, 2, 3... per epoch: a gap or a repeat of an older one is refused before anything is written', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  await assert.rejects(c.commit(p, 2, out('early')), code('INVALID_ARGUMENT', /does not follow 0/));
  await c.commit(p, 1, out('1'));
  await c.commit(p, 2, out('2'));
  await assert.rejects(c.commit(p, 4, out('gap')), code('INVALID_ARGUMENT', /transaction 4 of producer job does not follow 2/));
  await assert.rejects(c.commit(p, 1, out('old')), code('INVALID_ARGUMENT'));
  assert.deepEqual(storage.batches.flatMap((x) => x.values), ['1', '2']);
  const next = await c.initProducer('job');
  await c.commit(next, 1, out('new epoch'));
  assert.deepEqual(storage.visible(c, 'out', 0), ['1', '2', 'new epoch']);
});

test('a retried sequence returns the first result without writing or deciding again', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  const body: TransactionBody = { ...out('once'), offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 7 }] }] };
  const first = await c.commit(p, 1, body);
  assert.deepEqual(first.appended, [{ topic: 'out', partition: 0, baseOffset: 0, lastOffset: 0 }]);
  const decisions = storage.decisions.length;
  assert.deepEqual(await c.commit(p, 1, body), first);
  assert.deepEqual(await c.commit(p, 1, out('a different body: still the first result')), first);
  assert.equal(storage.decisions.length, decisions);
  assert.deepEqual(storage.batches.flatMap((x) => x.values), ['once']);
});

test('invalid input is refused before anything is written, without failing the producer', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  const badTime: TransactionBody = { writes: [...out('a').writes, { topic: 'out', partition: 1, records: [{ key: null, value: b('b'), timestamp: -5 }] }], offsets: [] };
  await assert.rejects(c.commit(p, 1, badTime), code('INVALID_ARGUMENT', /timestamp/));
  await assert.rejects(c.commit(p, 1, out('nowhere', 9)), code('UNKNOWN_TOPIC'));
  assert.equal(storage.batches.length, 0);
  await c.commit(p, 1, out('fine'));
  assert.deepEqual(storage.visible(c, 'out', 0), ['fine']);
});

test('a failure at the commit point poisons the epoch until the producer registers again; its records are aborted', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  await c.commit(p, 1, out('kept'));
  storage.failDecision = new SluiceError(ErrorCodes.IO_ERROR, 'EIO at the commit point');
  await assert.rejects(c.commit(p, 2, { writes: [...out('lost').writes, ...out('lost too', 1).writes], offsets: [] }), code('IO_ERROR'));
  assert.equal(storage.unsettledCount(), 0, 'readers may pass the dead batches');
  assert.deepEqual(storage.visible(c, 'out', 0), ['kept']);
  assert.deepEqual(storage.visible(c, 'out', 1), []);
  for (const seq of [2, 3]) {
    await assert.rejects(c.commit(p, seq, out('again')), (e) => {
      assert.ok(isSluiceError(e, 'FENCED') && /failed in the middle of a transaction.*; register it again/.test(e.message));
      assert.deepEqual(e.details, { transactionalId: 'job', epoch: p.epoch, reason: 'failed' });
      return true;
    });
  }
  const again = await c.initProducer('job');
  assert.equal(again.epoch, p.epoch + 1);
  await c.commit(again, 1, out('next'));
  assert.deepEqual(storage.visible(c, 'out', 0), ['kept', 'next']);
});

test('one write failing fails the transaction: the others are settled and aborted, and the epoch is poisoned', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  storage.failWrite = (w) => (w.partition === 1 ? new SluiceError(ErrorCodes.IO_ERROR, 'ENOSPC on out/1') : null);
  await assert.rejects(c.commit(p, 1, { writes: [...out('a').writes, ...out('b', 1).writes], offsets: [] }), code('IO_ERROR'));
  storage.failWrite = null;
  assert.equal(storage.decisions.filter((d) => d.type === 'commit').length, 0, 'nothing was decided');
  assert.equal(storage.unsettledCount(), 0);
  assert.deepEqual(storage.visible(c, 'out', 0), []);
  await assert.rejects(c.commit(p, 1, out('retry')), code('FENCED', /register it again/));
});

test('decisions are made one at a time, in order: a registration waits for the commit in flight before it', async () => {
  const { storage, c } = setup();
  const p = await c.initProducer('job');
  const q = await c.initProducer('other');
  const gate = (storage.holdDecision = new Gate());
  const first = c.commit(p, 1, out('p1'));
  await gate.reached;
  const second = c.commit(q, 1, out('q1', 1));
  await settleMicrotasks(); // its records are written: its decision is queued
  const reinit = c.initProducer('job');
  await settleMicrotasks();
  assert.equal(storage.maxDecisionsInFlight, 1, 'the other producer\'s commit and the registration wait');
  gate.release();
  await first; // it passed its epoch check before the registration, so it commits
  await second;
  const fresh = await reinit;
  assert.deepEqual(
    storage.decisions.slice(2).map((d) => (d.type === 'commit' ? `commit ${d.producerId}:${d.epoch}:${d.sequence}` : `register ${d.transactionalId}:${d.epoch}`)),
    [`commit ${p.producerId}:0:1`, `commit ${q.producerId}:0:1`, 'register job:1'],
  );
  assert.equal(storage.maxDecisionsInFlight, 1);
  assert.deepEqual(storage.visible(c, 'out', 0), ['p1']);
  await assert.rejects(c.commit(p, 2, out('zombie')), code('FENCED'));
  await c.commit(fresh, 1, out('fresh'));
});

test("readers of a group's offsets wait for a member-checked transaction past its check; other groups do not", async () => {
  const { storage, groups, c } = setup();
  const joined = groups.join('g', ['in'], 'm1');
  const p = await c.initProducer('member');
  const gate = (storage.holdDecision = new Gate());
  const offsets = [{ topic: 'in', partition: 0, offset: 5 }];
  const committing = c.commit(p, 1, { ...out('o'), offsets: [{ group: 'g', offsets, member: { memberId: joined.memberId, generation: joined.assignment.generation } }] });
  await gate.reached;
  let stable = false;
  const waiting = c.stable('g').then(() => (stable = true));
  await c.stable('unrelated');
  await settleMicrotasks();
  assert.equal(stable, false, 'g is unstable until the offsets are written');
  gate.release();
  await committing;
  await waiting;
  assert.equal(storage.groupOffsets.get('g in/0'), 5, 'the wait ended after the offsets were written');
  await c.stable('g');
});

test('a transaction that names a member which no longer owns the partition is refused at the commit point (REBALANCED) and aborted', async () => {
  const { storage, groups, c } = setup();
  const b1 = groups.join('g', ['in'], 'b');
  const p = await c.initProducer('member');
  const gate = (storage.holdWrite = new Gate());
  const body: TransactionBody = { ...out('late'), offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 3 }], member: { memberId: b1.memberId, generation: b1.assignment.generation } }] };
  const committing = c.commit(p, 1, body);
  await gate.reached;
  groups.join('g', ['in'], 'a'); // sorted first: a now owns in/0
  gate.release();
  await assert.rejects(committing, code('REBALANCED', /the transaction was aborted/));
  assert.equal(storage.groupOffsets.size, 0);
  assert.equal(storage.unsettledCount(), 0);
  assert.deepEqual(storage.visible(c, 'out', 0), []);
  await c.stable('g');
  await assert.rejects(c.commit(p, 1, out('x')), code('FENCED', /register it again/));
});

test('after a restart, an attempt the previous process wrote but never decided poisons its epoch; decided ones do not', async () => {
  const { storage, groups, c } = setup();
  const p = await c.initProducer('job');
  const q = await c.initProducer('other');
  await c.commit(p, 1, out('p1'));
  await c.commit(q, 1, out('q1', 1));
  storage.failDecision = new SluiceError(ErrorCodes.IO_ERROR, 'the process died here');
  await assert.rejects(c.commit(p, 2, out('p2')));
  // A new process over the same storage: what it remembers is only what is stored.
  const restarted = new TransactionCoordinator(storage, groups);
  const last = new Map<string, Batch>();
  for (const x of storage.batches) last.set(`${x.topic}/${x.partition} ${x.stamp.producerId}`, x);
  restarted.recover([...last.values()].map((x) => ({ producerId: x.stamp.producerId, epoch: x.stamp.producerEpoch, sequence: x.stamp.baseSequence })));
  await assert.rejects(restarted.commit(p, 2, out('p2')), code('FENCED', /register it again/));
  assert.deepEqual(storage.visible(restarted, 'out', 0), ['p1'], 'the undecided attempt stays aborted');
  await restarted.commit(q, 2, out('q2', 1));
  const again = await restarted.initProducer('job');
  await restarted.commit(again, 1, out('p2'));
  assert.deepEqual(storage.visible(restarted, 'out', 0), ['p1', 'p2']);
  assert.deepEqual(storage.visible(restarted, 'out', 1), ['q1', 'q2']);
});

test('visibility: a batch is committed when its sequence is at most its epoch\'s last committed one, else aborted', async () => {
  const { c } = setup();
  const p = await c.initProducer('job');
  await c.commit(p, 1, out('1'));
  await c.commit(p, 2, out('2'));
  assert.equal(c.visibility(p.producerId, p.epoch, 2), 'committed');
  assert.equal(c.visibility(p.producerId, p.epoch, 3), 'aborted');
  assert.equal(c.visibility(p.producerId, p.epoch + 1, 1), 'aborted');
  assert.equal(c.visibility(p.producerId + 1, 0, 1), 'aborted');
});
