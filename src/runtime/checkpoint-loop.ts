// The exactly-once checkpoint loop, shared by the dataflow job (checkpointer.ts)
// and `sluice exec` (exec/exec-job.ts). A checkpoint asks each participant for
// its contribution — the records it wrote and the input offsets it consumed
// since the last one — and commits them as one transaction under the job's
// producer. The commit is pipelined: the job goes on processing while it is
// written, and the next checkpoint (or settle()) waits for it first, so at
// most one is in flight and they become durable in order. A participant's
// committed() hook runs once its checkpoint is durable.
//
// When a checkpoint is due (CheckpointSchedule) and how a loop waits for
// input or for that moment (raceTimeout) are here too, so both loops keep the
// same rhythm: every commit interval, or sooner once enough records wait.

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log, ProducerIdentity, TransactionBody, TransactionOffsets, TransactionWrite } from '../log/log.ts';
import { MAX_BATCH_BYTES, recordSize } from '../log/batch.ts';
import type { ProducerRecord } from '../record.ts';

/** What one participant puts into a checkpoint's transaction. */
export interface Contribution {
  writes?: TransactionWrite[];
  offsets?: TransactionOffsets[];
}

/**
 * A part of a job with something to make durable at each checkpoint: a
 * program instance (its outputs, journal, counts), a topic sink (its held
 * outputs), keyed state (its changelog records), a source (its offsets).
 */
export interface CheckpointParticipant {
  /**
   * What this participant wrote and consumed since the last checkpoint.
   * Taking it is what assigns it to this checkpoint: anything later belongs
   * to the next. Called in participant order, one after another.
   */
  prepare(): Contribution | Promise<Contribution>;
  /** The checkpoint's transaction is durable (or there was nothing to write). */
  committed?(): void | Promise<void>;
  /**
   * Whether the checkpoint must not return before it is durable, because
   * committed() tells someone outside the log (a sender waiting for its
   * acknowledgement); others let the commit run on while the job processes.
   */
  readonly awaitsCommit?: boolean;
}

/** Bytes of records one write of a checkpoint may merge (half an append's limit: room for batch overhead). */
const MAX_WRITE_BYTES = MAX_BATCH_BYTES / 2;

function recordsSize(records: readonly ProducerRecord[]): number {
  let n = 0;
  for (const r of records) n += recordSize(r);
  return n;
}

/** The transaction of one checkpoint; null when no participant contributed anything. */
export function checkpointBody(contributions: readonly Contribution[]): TransactionBody | null {
  const writes: TransactionWrite[] = [];
  const byPartition = new Map<string, { write: TransactionWrite; bytes: number }>();
  const offsets: TransactionOffsets[] = [];
  for (const c of contributions) {
    for (const w of c.writes ?? []) {
      // Two writes to one partition would be appended side by side in no set order: one write, in participant order —
      // up to half an append's limit; past it, the next write (a big state's changelog: the transaction coordinator
      // starts its appends in the order of its writes, so consecutive writes to one partition keep their order).
      const key = `${w.partition}/${w.topic}`;
      const same = byPartition.get(key);
      const bytes = recordsSize(w.records);
      if (same && same.bytes + bytes <= MAX_WRITE_BYTES) {
        same.write.records = [...same.write.records, ...w.records];
        same.bytes += bytes;
      } else {
        const own = { topic: w.topic, partition: w.partition, records: w.records };
        byPartition.set(key, { write: own, bytes });
        writes.push(own);
      }
    }
    if (c.offsets) offsets.push(...c.offsets);
  }
  return writes.length > 0 || offsets.length > 0 ? { writes, offsets } : null;
}

export class CheckpointLoop {
  private readonly log: Log;
  private readonly transactionalId: string;
  private producer: ProducerIdentity | null = null;
  private sequence = 0;
  /** The checkpoint still being committed, with its participants' committed() hooks. */
  private inFlight: Promise<void> | null = null;

  /** `transactionalId` names the job's producer: a new instance of the job fences every older one. */
  constructor(log: Log, transactionalId: string) {
    this.log = log;
    this.transactionalId = transactionalId;
  }

  /**
   * Registers the job's producer, fencing any older instance of the job (none
   * of its commits succeeds from now on). Before anything reads where to resume.
   */
  async fence(): Promise<void> {
    this.producer = await this.log.initProducer(this.transactionalId);
  }

  /**
   * Takes a checkpoint: waits for the one in flight, collects the
   * participants' contributions and starts their transaction. Returns once it
   * is written when a participant awaits the commit; otherwise at once (its
   * failure is thrown by the next checkpoint or settle()).
   */
  async take(participants: readonly CheckpointParticipant[]): Promise<void> {
    await this.settle();
    const contributions: Contribution[] = [];
    for (const p of participants) contributions.push(await p.prepare());
    const body = checkpointBody(contributions);
    const commit = body ? this.log.commitTransaction(this.producerOrThrow(), ++this.sequence, body) : Promise.resolve();
    const done = commit.then(async () => {
      for (const p of participants) await p.committed?.();
    });
    done.catch(() => {}); // reported by settle(); never an unhandled rejection if the job fails first
    this.inFlight = done;
    if (participants.some((p) => p.awaitsCommit)) await this.settle();
  }

  /** A transaction of its own, outside the checkpoints (after the one in flight), awaited. */
  async commit(body: TransactionBody): Promise<void> {
    await this.settle();
    await this.log.commitTransaction(this.producerOrThrow(), ++this.sequence, body);
  }

  /** Waits for the checkpoint in flight, if any, and throws its failure. */
  async settle(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = null;
    await pending;
  }

  /** Forgets the checkpoint in flight without waiting (the job failed; its outcome no longer matters). */
  drop(): void {
    this.inFlight = null;
  }

  private producerOrThrow(): ProducerIdentity {
    if (!this.producer) throw new SluiceError(ErrorCodes.INTERNAL, `a transaction of ${this.transactionalId} before its producer was registered (fence())`);
    return this.producer;
  }
}

/**
 * When a checkpoint is due: `intervalMs` after the last one once anything
 * waits to be committed, or at once when `records` records wait (what a
 * checkpoint holds in memory stays bounded).
 */
export class CheckpointSchedule {
  private readonly intervalMs: number;
  private readonly records: number;
  private last: number;
  private waiting = 0;

  constructor(intervalMs: number, records: number, now = Date.now()) {
    this.intervalMs = intervalMs;
    this.records = records;
    this.last = now;
  }

  /** `n` more records (in or out) wait for the next checkpoint. */
  add(n: number): void {
    this.waiting += n;
  }

  /** Whether a checkpoint is due; `dirty` says something waits that add() did not count. */
  due(now = Date.now(), dirty = false): boolean {
    if (this.waiting === 0 && !dirty) return false;
    return this.waiting >= this.records || now - this.last >= this.intervalMs;
  }

  /** Milliseconds until due() turns true by time alone; Infinity while nothing waits. */
  dueIn(now = Date.now(), dirty = false): number {
    if (this.waiting === 0 && !dirty) return Infinity;
    return Math.max(0, this.last + this.intervalMs - now);
  }

  /** A checkpoint was taken: nothing waits. */
  taken(now = Date.now()): void {
    this.waiting = 0;
    this.last = now;
  }
}

/**
 * The first of `waits` to settle, or 'timeout' once `ms` have passed first
 * (Infinity: no timer). A loop wakes on time even when no input arrives: to
 * checkpoint (outputs must not wait for the next record) and for the clock.
 */
export async function raceTimeout<T>(waits: readonly Promise<T>[], ms: number): Promise<T | 'timeout'> {
  if (ms === Infinity) return Promise.race(waits);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([...waits, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
