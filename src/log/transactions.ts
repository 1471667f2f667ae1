// Transaction coordination, independent of storage: which producer may commit
// (epochs, fencing), in which order (sequences, retries), what a failure means
// (a poisoned epoch), when a commit happens (the decision queue), and what
// readers of group offsets wait for (unstable groups). The file log runs it
// over its transaction log and partitions (file/file-log.ts); a log on a
// remote stream service implements the same small storage port and gets the
// same rules. The mechanism and why: docs/exactly-once.md.
//
// The rules:
// - A transactional id registered again keeps its producer id and gets the
//   next epoch; every earlier epoch is fenced (FENCED), checked on entry and
//   again at the commit point.
// - Within an epoch, transactions commit strictly in sequence 1, 2, 3...; the
//   last one retried returns its first result.
// - A failure after anything was written poisons the epoch until the producer
//   registers again: one number per (producer, epoch), the last committed
//   sequence, then decides every batch (visibility). A process that stopped
//   in the middle of a transaction poisons its epoch too (recover): the
//   producer may live on (a client of a broker) and send the commit again.
// - Decisions (registrations, commits with their group offsets) are made one
//   at a time, in order: a registration sees every commit before it complete.
// - A member-checked transaction past its check makes its group unstable until
//   its offsets are written: readers of the group's offsets wait for it.

import { ErrorCodes, SluiceError, where } from '../errors.ts';
import { timestampError } from '../record.ts';
import type { AppendResult, ProducerIdentity, TransactionBody, TransactionOffsets, TransactionResult, TransactionWrite } from './log.ts';
import type { GroupCoordinator } from './group-coordinator.ts';
import type { ProducerStamp } from './batch.ts';
import type { Decision, ProducerTable, TxnOffset, TxnWriteRange } from './producer-table.ts';

/**
 * What the coordinator needs from a log's storage. Six operations, because a
 * transaction is: check and stamp (prepare), write the records where they live
 * (writeRecords), make the decision durable (appendDecision), let readers pass
 * the records (settle), and write the offsets (applyOffsets); the table is what
 * the decisions made so far say. Nothing in it names a file: a storage on a
 * stream service appends decisions to a stream and replays it into the table.
 * A storage whose records outlive the process that wrote them also calls
 * `recover` once on open, with the producer stamps its partitions hold.
 */
export interface TransactionStorage {
  /** Every decision made durable so far (after open: all of them, replayed). */
  readonly producers: ProducerTable;
  /**
   * Makes a decision durable, then applies it to `producers`; for a commit this
   * is the commit point. Called one decision at a time, in order.
   */
  appendDecision(decision: Decision): Promise<void>;
  /**
   * Before anything is written: fails (UNKNOWN_TOPIC, UNKNOWN_PARTITION,
   * INVALID_ARGUMENT, ...) unless every partition named exists and would take
   * its records; returns the offsets stamped with their topic's current id.
   */
  prepare(writes: readonly TransactionWrite[], offsets: readonly TransactionOffsets[]): Promise<TxnOffset[]>;
  /**
   * Writes the records to their partition, marked transactional and stamped;
   * resolves once they are durable. read_committed readers of the partition
   * stop at them until they are settled.
   */
  writeRecords(write: TransactionWrite, stamp: ProducerStamp): Promise<AppendResult>;
  /** The transaction that wrote these records is decided (committed, or dead): readers may pass them. */
  settle(write: TxnWriteRange): void;
  /**
   * Writes a committed transaction's group offsets where the groups keep them.
   * Idempotent: a storage that can crash between the decision and this write
   * re-applies the table's `committedOffsets()` on open.
   */
  applyOffsets(offsets: TxnOffset[]): Promise<void>;
}

export type BatchVisibility = 'committed' | 'aborted';

export class TransactionCoordinator {
  private readonly storage: TransactionStorage;
  private readonly groups: GroupCoordinator;
  private decisions: Promise<void> = Promise.resolve();
  /** Producer epochs that failed mid-transaction (`${pid}:${epoch}`): they must register again before committing. */
  private readonly poisoned = new Set<string>();
  /** Groups with member-checked transactions past their check whose offsets are not written yet, and how many. */
  private readonly unstable = new Map<string, number>();

  constructor(storage: TransactionStorage, groups: GroupCoordinator) {
    this.storage = storage;
    this.groups = groups;
  }

  /**
   * On open, before any commit: `held` are the stamps of the last batch of each
   * producer in each partition. One past its epoch's last committed sequence is
   * an attempt the previous process wrote but never decided. Its producer may
   * outlive that process (a broker's client resends a commit on reconnect), and a
   * commit of that sequence now would make the dead batch visible beside the new
   * one, so the epoch is poisoned as if the attempt had failed here.
   */
  recover(held: Iterable<{ producerId: number; epoch: number; sequence: number }>): void {
    for (const s of held) {
      if (s.sequence > this.storage.producers.lastCommittedSequence(s.producerId, s.epoch)) this.poisoned.add(`${s.producerId}:${s.epoch}`);
    }
  }

  async initProducer(transactionalId: string): Promise<ProducerIdentity> {
    if (!transactionalId) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'a transactional producer needs a non-empty id');
    // Queued behind commits in flight: a commit that started under the old epoch is
    // either finished (offsets applied) or refused before this registration returns.
    return this.decide(async () => {
      const t = this.storage.producers;
      const known = t.registration(transactionalId);
      const producerId = known?.producerId ?? t.unusedProducerId();
      const epoch = known ? Math.max(known.epoch, t.highestEpoch(producerId)) + 1 : 0;
      await this.storage.appendDecision({ type: 'register', transactionalId, producerId, epoch });
      return { transactionalId, producerId, epoch };
    });
  }

  async commit(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult> {
    const { producerId: pid, epoch, transactionalId } = producer;
    this.checkEpoch(producer);
    const key = `${pid}:${epoch}`;
    if (this.poisoned.has(key)) {
      throw new SluiceError(
        ErrorCodes.FENCED,
        `producer ${transactionalId} (epoch ${epoch}) failed in the middle of a transaction (or the log stopped in the middle of one); register it again (initProducer) to continue; for sluice run or sluice exec, run the job again: it resumes from its last checkpoint`,
        { transactionalId, epoch, reason: 'failed' },
      );
    }
    const last = this.storage.producers.lastCommittedSequence(pid, epoch);
    if (sequence === last) {
      const prev = this.storage.producers.lastCommit(pid);
      if (prev && prev.epoch === epoch && prev.sequence === sequence) return { appended: prev.writes };
    }
    if (sequence !== last + 1) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `transaction ${sequence} of producer ${transactionalId} does not follow ${last}; sequences go 1, 2, 3... per epoch`, { transactionalId });
    }
    // Validate everything before writing anything: a write refused once others were written fails the producer.
    for (const w of body.writes) {
      const badTime = timestampError(w.records, `${where(w.topic, w.partition)} in transaction ${sequence} of producer ${transactionalId}`);
      if (badTime) throw badTime;
    }
    const writes = body.writes.filter((w) => w.records.length > 0);
    const offsets = await this.storage.prepare(writes, body.offsets);
    const stamp = { producerId: pid, producerEpoch: epoch, baseSequence: sequence };
    // Started together, so every partition's records share one round of group commit.
    const pending = writes.map((w) => this.storage.writeRecords(w, stamp).then((r): TxnWriteRange => ({ topic: w.topic, partition: w.partition, ...r })));
    try {
      const decided = await Promise.all(pending);
      await this.decide(async () => {
        // Again, at the commit point: a newer instance may have registered while the records were written.
        this.checkEpoch(producer);
        // Membership too, here: a member's ownership is decided at the commit point, nowhere earlier.
        const checked = body.offsets.filter((g) => g.member !== undefined);
        for (const g of checked) this.groups.checkOwnership(g.group, g.member!.memberId, g.offsets, g.member!.generation, TXN_REFUSED);
        for (const g of checked) this.unstable.set(g.group, (this.unstable.get(g.group) ?? 0) + 1);
        try {
          await this.storage.appendDecision({ type: 'commit', producerId: pid, epoch, sequence, writes: decided, offsets });
          for (const w of decided) this.storage.settle(w);
          await this.storage.applyOffsets(offsets);
        } finally {
          for (const g of checked) {
            const n = this.unstable.get(g.group)! - 1;
            if (n > 0) this.unstable.set(g.group, n);
            else this.unstable.delete(g.group);
          }
        }
      });
      return { appended: decided };
    } catch (e) {
      // Whatever was written is dead (its sequence never commits in this epoch): let readers pass it.
      this.poisoned.add(key);
      await Promise.allSettled(pending.map((p) => p.then((w) => this.storage.settle(w))));
      throw e;
    }
  }

  /**
   * A transactional batch below the last stable offset: committed if its
   * sequence was committed in its epoch, otherwise aborted (its transaction
   * failed, or its producer died before committing).
   */
  visibility(producerId: number, epoch: number, sequence: number): BatchVisibility {
    return sequence <= this.storage.producers.lastCommittedSequence(producerId, epoch) ? 'committed' : 'aborted';
  }

  /**
   * Resolves once the group's offsets may be read: a member's transaction that
   * passed its ownership check may still be writing them (Kafka's
   * require_stable), and whoever was given the partitions since must start after them.
   */
  async stable(group: string): Promise<void> {
    if (this.unstable.has(group)) await this.decisions;
  }

  /**
   * Runs `fn` in the order of decisions, after every one queued before it: for
   * storage changes that must not interleave with a commit (a deleted topic's
   * record in the file log's transaction log).
   */
  decide<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.decisions.then(fn);
    this.decisions = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private checkEpoch(producer: ProducerIdentity): void {
    const { producerId: pid, epoch, transactionalId } = producer;
    const current = this.storage.producers.registration(transactionalId);
    if (!current || current.producerId !== pid || current.epoch !== epoch) {
      throw new SluiceError(
        ErrorCodes.FENCED,
        `producer ${transactionalId} (epoch ${epoch}) was replaced by a newer instance (epoch ${current?.epoch ?? '?'}); this instance may not commit. Stop it: the newer one carries on from the last commit.`,
        { transactionalId, epoch, reason: 'replaced', currentEpoch: current?.epoch ?? null },
      );
    }
  }
}

const TXN_REFUSED = 'the transaction was aborted: none of its records or offsets will ever be visible, and its producer must be registered again (initProducer)';
