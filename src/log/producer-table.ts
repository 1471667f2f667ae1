// What a log knows durably about its transactional producers: the decisions
// (registrations and commits) its storage has made durable, replayed in order.
// Every storage keeps one (the file log replays `txn.log` into it; a log on a
// remote stream service would replay its decision stream), and the transaction
// coordinator (transactions.ts) decides from it alone, so the rules never look
// at how decisions are stored.

import type { TopicPartition, AppendResult } from './log.ts';

/** The records one transaction wrote to one partition. */
export interface TxnWriteRange extends TopicPartition, AppendResult {}

/** A group offset committed by a transaction, stamped with the topic's id (the incarnation it belongs to). */
export interface TxnOffset {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  topicId: string;
}

export type Decision =
  /** A transactional id was (re)registered: it now holds this producer id and epoch; earlier epochs are fenced. */
  | { type: 'register'; transactionalId: string; producerId: number; epoch: number }
  /** The commit point of a transaction: its writes become visible and its offsets hold. */
  | { type: 'commit'; producerId: number; epoch: number; sequence: number; writes: TxnWriteRange[]; offsets: TxnOffset[] };

export type CommitDecision = Extract<Decision, { type: 'commit' }>;

export class ProducerTable {
  /** transactional id -> its current producer id and epoch. */
  private readonly registered = new Map<string, { producerId: number; epoch: number }>();
  /** `${pid}:${epoch}` -> last committed sequence. */
  private readonly lastCommitted = new Map<string, number>();
  /** pid -> its last commit, to answer a retried commit without doing it twice. */
  private readonly last = new Map<number, CommitDecision>();
  /** pid -> the highest epoch any decision names (a registration lost to damage must not be handed out again). */
  private readonly maxEpoch = new Map<number, number>();
  private nextPid = 1;

  apply(d: Decision): void {
    if (d.type === 'register') this.registered.set(d.transactionalId, { producerId: d.producerId, epoch: d.epoch });
    else {
      this.lastCommitted.set(`${d.producerId}:${d.epoch}`, d.sequence);
      this.last.set(d.producerId, d);
    }
    this.nextPid = Math.max(this.nextPid, d.producerId + 1);
    this.maxEpoch.set(d.producerId, Math.max(this.maxEpoch.get(d.producerId) ?? -1, d.epoch));
  }

  clear(): void {
    this.registered.clear();
    this.lastCommitted.clear();
    this.last.clear();
    this.maxEpoch.clear();
    this.nextPid = 1;
  }

  registration(transactionalId: string): { producerId: number; epoch: number } | undefined {
    return this.registered.get(transactionalId);
  }

  /** A producer id no decision has named. */
  unusedProducerId(): number {
    return this.nextPid;
  }

  /** The highest epoch any decision names for the producer id; -1 if none does. */
  highestEpoch(producerId: number): number {
    return this.maxEpoch.get(producerId) ?? -1;
  }

  /** 0 when the epoch has committed nothing (sequences start at 1). */
  lastCommittedSequence(producerId: number, epoch: number): number {
    return this.lastCommitted.get(`${producerId}:${epoch}`) ?? 0;
  }

  lastCommit(producerId: number): CommitDecision | undefined {
    return this.last.get(producerId);
  }

  /** Every producer's last commit's offsets: a storage that writes offsets after the decision re-applies those it missed. */
  committedOffsets(): TxnOffset[] {
    const out: TxnOffset[] = [];
    for (const c of this.last.values()) out.push(...c.offsets);
    return out;
  }

  /**
   * The table as the fewest decisions that rebuild it: one registration per
   * transactional id and one commit per (producer, epoch) holding its last
   * sequence (with its writes and offsets if it is the producer's last commit).
   */
  snapshot(): Decision[] {
    const out: Decision[] = [];
    for (const [transactionalId, r] of this.registered) out.push({ type: 'register', transactionalId, ...r });
    for (const [k, sequence] of this.lastCommitted) {
      const [producerId, epoch] = k.split(':').map(Number) as [number, number];
      const last = this.last.get(producerId);
      const same = last !== undefined && last.epoch === epoch && last.sequence === sequence;
      out.push({ type: 'commit', producerId, epoch, sequence, writes: same ? last.writes : [], offsets: same ? last.offsets : [] });
    }
    return out;
  }
}
