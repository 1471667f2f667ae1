// Shared plumbing of the log suite: opening and always closing a factory's
// logs, a spying wrapper that works on any Log, and condition waits.

import type { TestContext } from 'node:test';
import type {
  AppendOptions,
  AppendResult,
  BatchReadResult,
  GroupMember,
  Isolation,
  JoinOptions,
  Log,
  ProducerIdentity,
  ReadOptions,
  ReadResult,
  TopicConfigInput,
  TopicDescription,
  PartitionOffsets,
  TopicInfo,
  TopicPartitionOffset,
  TransactionBody,
  TransactionResult,
} from '../../../src/log/log.ts';
import type { ProducerRecord } from '../../../src/record.ts';
import type { LogFactory } from './factory.ts';

export const b = (s: string): Buffer => Buffer.from(s);
export const str = (u: Uint8Array | null): string | null => (u === null ? null : Buffer.from(u).toString());
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond()` holds, checking every few ms; fails after `timeoutMs` (generous: a condition, not a timing). */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(2);
  }
}

/** The logs a test opened through the factory; all of them are closed when the test body ends. */
export interface Session {
  /** The current log (replaced by `restart`). */
  log: Log;
  /** Closes the current log and reopens the data (factory.reopen); without reopen, keeps the open log. */
  restart(): Promise<Log>;
  /** Another handle on the same data (factory.openReader); fails if the factory has none (skip such tests). */
  reader(): Promise<Log>;
  /** Closes a log of this session now (e.g. a reader before opening another). */
  close(log: Log): Promise<void>;
}

/** Runs `fn` with a fresh log from `f`, and closes every log it opened through the session, also on failure. */
export async function withLog(f: LogFactory, t: TestContext, fn: (s: Session) => Promise<void>): Promise<void> {
  const open = new Set<Log>();
  const track = (log: Log): Log => {
    open.add(log);
    return log;
  };
  const close = async (log: Log): Promise<void> => {
    if (!open.delete(log)) return;
    await log.close();
  };
  const s: Session = {
    log: track(await f.open(t)),
    restart: async () => {
      if (!f.reopen) return s.log;
      await close(s.log);
      s.log = track(await f.reopen(t));
      return s.log;
    },
    reader: async () => {
      if (!f.openReader) throw new Error(`${f.name} has no openReader: skip this test`);
      return track(await f.openReader(t));
    },
    close,
  };
  let failure: unknown;
  try {
    await fn(s);
  } catch (e) {
    failure = e;
  }
  // Readers first, the writer last.
  for (const log of [...open].reverse()) {
    try {
      await close(log);
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}

/** Skip option for tests that need an optional factory capability. */
export function needs(f: LogFactory, what: 'reopen' | 'openReader' | 'maintain'): { skip?: string } {
  return f[what] ? {} : { skip: `${f.name} has no ${what}` };
}

/**
 * Wraps any Log, counting reads and pending waitFor calls per partition
 * (what an in-memory test double used to expose). `append` may be replaced on
 * the instance to delay or fail appends; `inner` is the wrapped log.
 */
export class SpyLog implements Log {
  readonly inner: Log;
  reads = 0;
  readonly #waiting = new Map<string, number>();

  constructor(inner: Log) {
    this.inner = inner;
  }

  /** Number of waitFor calls on the partition that have not settled yet. */
  waiting(topic: string, partition: number): number {
    return this.#waiting.get(`${topic}/${partition}`) ?? 0;
  }

  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  createTopic(name: string, config?: TopicConfigInput): Promise<TopicInfo> {
    return this.inner.createTopic(name, config);
  }
  deleteTopic(name: string): Promise<void> {
    return this.inner.deleteTopic(name);
  }
  listTopics(): Promise<TopicInfo[]> {
    return this.inner.listTopics();
  }
  getTopic(name: string): Promise<TopicInfo> {
    return this.inner.getTopic(name);
  }
  describeTopic(name: string): Promise<TopicDescription> {
    return this.inner.describeTopic(name);
  }
  endOffsets(topic: string): Promise<PartitionOffsets[]> {
    return this.inner.endOffsets(topic);
  }
  append(topic: string, partition: number, records: ProducerRecord[], options?: AppendOptions): Promise<AppendResult> {
    return this.inner.append(topic, partition, records, options);
  }
  read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult> {
    this.reads++;
    return this.inner.read(topic, partition, offset, options);
  }
  readBatches(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<BatchReadResult> {
    this.reads++;
    return this.inner.readBatches(topic, partition, offset, options);
  }
  deleteRecords(topic: string, partition: number, offset: number): Promise<number> {
    return this.inner.deleteRecords(topic, partition, offset);
  }
  async waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void> {
    const key = `${topic}/${partition}`;
    this.#waiting.set(key, this.waiting(topic, partition) + 1);
    try {
      await this.inner.waitFor(topic, partition, offset, signal, isolation);
    } finally {
      this.#waiting.set(key, this.waiting(topic, partition) - 1);
    }
  }
  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    return this.inner.offsetForTimestamp(topic, partition, timestamp);
  }
  commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    return this.inner.commitOffsets(group, offsets);
  }
  committedOffsets(group: string): Promise<TopicPartitionOffset[]> {
    return this.inner.committedOffsets(group);
  }
  listGroups(): Promise<string[]> {
    return this.inner.listGroups();
  }
  joinGroup(group: string, options: JoinOptions): Promise<GroupMember> {
    return this.inner.joinGroup(group, options);
  }
  initProducer(transactionalId: string): Promise<ProducerIdentity> {
    return this.inner.initProducer(transactionalId);
  }
  commitTransaction(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult> {
    return this.inner.commitTransaction(producer, sequence, body);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
