// The Log interface over the network: every operation is one request to a
// broker (`sluice serve`), so the CLI, jobs and exec run against a broker
// exactly as they do against the embedded log.
//
// Appends without a producer stamp of their own get one: the client registers
// an idempotent producer identity at its first append and numbers its appends
// per partition, one in flight per partition. A produce retried after a lost
// connection (or a broker restart) is then answered from the first attempt
// instead of appended twice.

import { randomUUID } from 'node:crypto';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { decodeRecords, encodeRecords } from '../../broker/protocol.ts';
import type { LogRecord, ProducerRecord } from '../../record.ts';
import type {
  AppendOptions,
  AppendResult,
  Assignment,
  GroupMember,
  Isolation,
  JoinOptions,
  Log,
  ProducerIdentity,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  TopicInfo,
  TopicPartitionOffset,
  TransactionBody,
  TransactionResult,
} from '../log.ts';
import { BrokerConnection, parseBrokerUrl, type ConnectionOptions } from './connection.ts';

/** How long one waitFor request parks on the broker before the client asks again. */
const WAIT_SLICE_MS = 20_000;

export interface RemoteLogOptions extends ConnectionOptions {
  /** sluice://HOST:PORT or sluices://HOST:PORT */
  url: string;
}

export class RemoteLog implements Log {
  readonly readOnly = false;
  readonly url: string;
  private readonly conn: BrokerConnection;
  private identity: Promise<ProducerIdentity> | null = null;
  /** Per topic/partition: the last sequence used and the tail of the append chain (one in flight). */
  private readonly partitions = new Map<string, { sequence: number; tail: Promise<unknown> }>();

  constructor(o: RemoteLogOptions) {
    this.url = o.url;
    this.conn = new BrokerConnection(parseBrokerUrl(o.url), o);
  }

  private async call<T>(name: Parameters<BrokerConnection['request']>[0], json: unknown, blob?: Buffer): Promise<T> {
    return (await this.conn.request(name, json, blob)).json as T;
  }

  /** Connects (and authenticates) now rather than at the first request: for clear errors up front. */
  async connect(): Promise<void> {
    await this.call('hello', {});
  }

  createTopic(name: string, config: Partial<TopicConfig> = {}): Promise<TopicInfo> {
    return this.call('createTopic', { name, config });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.call('deleteTopic', { name });
  }

  listTopics(): Promise<TopicInfo[]> {
    return this.call('listTopics', {});
  }

  getTopic(name: string): Promise<TopicInfo> {
    return this.call('getTopic', { name });
  }

  describeTopic(name: string): Promise<TopicDescription> {
    return this.call('describeTopic', { name });
  }

  append(topic: string, partition: number, records: ProducerRecord[], options?: AppendOptions): Promise<AppendResult> {
    const blob = encodeRecords(records, false);
    if (options?.producer) return this.call('append', { topic, partition, count: records.length, producer: options.producer }, blob);
    const key = `${topic}\0${partition}`;
    let p = this.partitions.get(key);
    if (!p) this.partitions.set(key, (p = { sequence: -1, tail: Promise.resolve() }));
    const slot = p;
    const result = slot.tail.then(async () => {
      const id = await this.producerIdentity();
      // Used up whatever happens: after a failure whose outcome is unknown, reusing the number for
      // other records could make the broker take them for a retry of the first and drop them.
      const sequence = ++slot.sequence;
      return this.call<AppendResult>('append', { topic, partition, count: records.length, producer: { producerId: id.producerId, epoch: id.epoch, sequence } }, blob);
    });
    slot.tail = result.catch(() => {});
    return result;
  }

  private producerIdentity(): Promise<ProducerIdentity> {
    this.identity ??= this.initProducer(`sluice-remote:${randomUUID()}`);
    this.identity.catch(() => (this.identity = null));
    return this.identity;
  }

  async read(topic: string, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadResult> {
    const r = await this.conn.request('read', { topic, partition, offset, ...options });
    const j = r.json as { count: number; nextOffset: number; highWatermark: number; startOffset: number };
    const records: LogRecord[] = decodeRecords(r.blob, j.count, true);
    return { records, nextOffset: j.nextOffset, highWatermark: j.highWatermark, startOffset: j.startOffset };
  }

  async waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void> {
    while (!signal?.aborted) {
      const req = this.conn.request('waitFor', { topic, partition, offset, isolation, timeoutMs: WAIT_SLICE_MS });
      const cancel = () => this.conn.fireAndForget('cancel', { id: req.id });
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        const { ready } = (await req).json as { ready: boolean };
        if (ready) return;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    }
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    return (await this.call<{ offset: number }>('offsetForTimestamp', { topic, partition, timestamp })).offset;
  }

  async commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    await this.call('commitOffsets', { group, offsets });
  }

  committedOffsets(group: string): Promise<TopicPartitionOffset[]> {
    return this.call('committedOffsets', { group });
  }

  listGroups(): Promise<string[]> {
    return this.call('listGroups', {});
  }

  async joinGroup(group: string, options: JoinOptions): Promise<GroupMember> {
    const joined = await this.call<{ memberId: string; assignment: Assignment }>('joinGroup', { group, ...options });
    const { memberId } = joined;
    let latest = joined.assignment;
    return {
      group,
      memberId,
      heartbeat: async () => (latest = await this.call<Assignment>('heartbeat', { group, memberId })),
      assignment: () => latest,
      commit: async (offsets) => void (await this.call('memberCommit', { group, memberId, offsets })),
      leave: async () => void (await this.call('leaveGroup', { group, memberId })),
    };
  }

  initProducer(transactionalId: string): Promise<ProducerIdentity> {
    return this.call('initProducer', { transactionalId });
  }

  commitTransaction(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult> {
    const blobs = body.writes.map((w) => encodeRecords(w.records, false));
    const writes = body.writes.map((w) => ({ topic: w.topic, partition: w.partition, count: w.records.length }));
    // Only the protocol's fields: `member` may be a richer object at the caller's end.
    const offsets = body.offsets.map(({ group, offsets, member }) => ({ group, offsets, member: member && { memberId: member.memberId, generation: member.generation } }));
    return this.call('commitTransaction', { producer, sequence, writes, offsets }, Buffer.concat(blobs));
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

/** Opens a client for the broker at `url` and checks that it answers (and accepts the token). */
export async function openRemoteLog(o: RemoteLogOptions): Promise<RemoteLog> {
  const log = new RemoteLog(o);
  try {
    await log.connect();
  } catch (e) {
    await log.close();
    if (e instanceof SluiceError) throw e;
    throw new SluiceError(ErrorCodes.UNAVAILABLE, `cannot reach the broker at ${o.url}: ${(e as Error).message}`, {}, { cause: e });
  }
  return log;
}
