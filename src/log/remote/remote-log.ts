// The Log interface over the network: every operation is one request to a
// broker (`sluice serve`), so the CLI, jobs and exec run against a broker
// exactly as they do against the embedded log.
//
// Appends without a producer stamp of their own get one: the client registers
// an idempotent producer identity at its first append and numbers its appends
// per partition, one in flight per partition. A produce retried after a lost
// connection (or a broker restart) is then answered from the first attempt
// instead of appended twice.
//
// When the broker stays away longer than the connection retries, an append
// fails with its outcome unknown (it may have been appended before the
// acknowledgement was lost). The client keeps that append's sequence: the
// caller's retry of the same records, however much later, is sent under it
// again and answered from the first attempt if there was one.

import { randomUUID } from 'node:crypto';
import { ErrorCodes, SluiceError, isSluiceError, where } from '../../errors.ts';
import { decodeRecords, encodeRecords, type RequestName } from '../../protocol/frames.ts';
import type { RequestOf, ResponseOf } from '../../protocol/messages.ts';
import type { LogRecord, ProducerRecord } from '../../record.ts';
import type {
  AppendOptions,
  AppendResult,
  BatchReadResult,
  GroupMember,
  Isolation,
  JoinOptions,
  Log,
  PartitionOffsets,
  ProducerIdentity,
  ReadOptions,
  ReadResult,
  TopicConfigInput,
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
  /** Per topic/partition: the stamps of this client's appends there (one in flight). */
  private readonly partitions = new Map<string, PartitionStamps>();

  constructor(o: RemoteLogOptions) {
    this.url = o.url;
    this.conn = new BrokerConnection(parseBrokerUrl(o.url), o);
  }

  private async call<N extends RequestName>(name: N, json: RequestOf<N>, blob?: Buffer): Promise<ResponseOf<N>> {
    return (await this.conn.request(name, json, blob)).json;
  }

  /** Connects (and authenticates) now rather than at the first request: for clear errors up front. */
  async connect(): Promise<void> {
    await this.call('hello', {});
  }

  createTopic(name: string, config: TopicConfigInput = {}): Promise<TopicInfo> {
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

  endOffsets(topic: string): Promise<PartitionOffsets[]> {
    return this.call('endOffsets', { topic });
  }

  append(topic: string, partition: number, records: ProducerRecord[], options?: AppendOptions): Promise<AppendResult> {
    let blob: Buffer;
    try {
      blob = encodeRecords(records, false, where(topic, partition));
    } catch (e) {
      // An invalid timestamp: a rejection, as from any Log, never a throw from append().
      return Promise.reject(e);
    }
    if (options?.producer) {
      return this.call('append', { topic, partition, count: records.length, producer: options.producer }, blob).catch((e: unknown) => {
        throw isSluiceError(e, ErrorCodes.TOO_LARGE) ? tooLarge(e, topic, partition, records.length) : e;
      });
    }
    const key = `${topic}\0${partition}`;
    let p = this.partitions.get(key);
    if (!p) this.partitions.set(key, (p = { sequence: -1, tail: Promise.resolve(), unknown: null, acked: null }));
    const slot = p;
    const result = slot.tail.then(async () => {
      const id = await this.producerIdentity();
      // A number is used up whatever happens: reusing it for other records could make the broker
      // take them for a retry of the first and drop them. Only byte-identical records (the
      // caller's retry of an append whose outcome is unknown) go under the same number again.
      const retry = slot.unknown !== null && slot.unknown.blob.equals(blob) ? slot.unknown.sequence : null;
      slot.unknown = null;
      const sequence = retry ?? ++slot.sequence;
      try {
        const r = await this.call('append', { topic, partition, count: records.length, producer: { producerId: id.producerId, epoch: id.epoch, sequence } }, blob);
        slot.acked = r.lastOffset + 1;
        return r;
      } catch (e) {
        if (isSluiceError(e, ErrorCodes.TOO_LARGE)) throw tooLarge(e, topic, partition, records.length);
        if (!outcomeUnknown(e)) throw e;
        slot.unknown = { sequence, blob };
        throw unknownAppend(e, topic, partition, records.length, slot.acked);
      }
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
    const j = r.json;
    const records: LogRecord[] = decodeRecords(r.blob, j.count, true);
    return { records, nextOffset: j.nextOffset, highWatermark: j.highWatermark, startOffset: j.startOffset };
  }

  async readBatches(topic: string, partition: number, offset: number, options: ReadOptions = {}): Promise<BatchReadResult> {
    const r = await this.conn.request('readBatches', { topic, partition, offset, ...options });
    const j = r.json;
    return { batches: r.blob, records: j.records, nextOffset: j.nextOffset, highWatermark: j.highWatermark, startOffset: j.startOffset };
  }

  async deleteRecords(topic: string, partition: number, offset: number): Promise<number> {
    return (await this.call('deleteRecords', { topic, partition, offset })).startOffset;
  }

  async waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void> {
    while (!signal?.aborted) {
      const req = this.conn.request('waitFor', { topic, partition, offset, isolation, timeoutMs: WAIT_SLICE_MS });
      const cancel = () => this.conn.fireAndForget('cancel', { id: req.id });
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        const { ready } = (await req).json;
        if (ready) return;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    }
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    return (await this.call('offsetForTimestamp', { topic, partition, timestamp })).offset;
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
    const joined = await this.call('joinGroup', { group, ...options });
    const { memberId } = joined;
    let latest = joined.assignment;
    return {
      group,
      memberId,
      heartbeat: async () => (latest = await this.call('heartbeat', { group, memberId })),
      assignment: () => latest,
      commit: async (offsets) => void (await this.call('memberCommit', { group, memberId, offsets })),
      leave: async () => void (await this.call('leaveGroup', { group, memberId })),
    };
  }

  initProducer(transactionalId: string): Promise<ProducerIdentity> {
    return this.call('initProducer', { transactionalId });
  }

  commitTransaction(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult> {
    let blobs: Buffer[];
    try {
      blobs = body.writes.map((w) => encodeRecords(w.records, false, where(w.topic, w.partition)));
    } catch (e) {
      return Promise.reject(e);
    }
    const writes = body.writes.map((w) => ({ topic: w.topic, partition: w.partition, count: w.records.length }));
    // Only the protocol's fields: `member` may be a richer object at the caller's end.
    const offsets = body.offsets.map(({ group, offsets, member }) => ({ group, offsets, member: member && { memberId: member.memberId, generation: member.generation } }));
    return this.call('commitTransaction', { producer, sequence, writes, offsets }, Buffer.concat(blobs)).catch((e: unknown) => {
      if (!outcomeUnknown(e)) throw e;
      const { transactionalId } = producer;
      throw new SluiceError(
        e.code,
        `${e.message}; whether transaction ${sequence} of ${transactionalId} committed is unknown: commit it again with the same producer and sequence (the broker answers a repeat from the first commit), or look for its records with \`sluice consume TOPIC --from-offset P:O --with-meta\``,
        { ...e.details, transactionalId, sequence, outcome: 'unknown' },
        { cause: e },
      );
    });
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

interface PartitionStamps {
  /** The last sequence used. */
  sequence: number;
  /** The tail of the append chain. */
  tail: Promise<unknown>;
  /** The last append, if its outcome is unknown: a retry of the same records reuses its sequence. */
  unknown: { sequence: number; blob: Buffer } | null;
  /** The end offset after this client's last acknowledged append, where an unknown one would begin. */
  acked: number | null;
}

/**
 * The connection gave up (the broker was away longer than it retries) or was closed with the request
 * pending: the request may have been carried out before its answer was lost.
 */
function outcomeUnknown(e: unknown): e is SluiceError {
  return isSluiceError(e, ErrorCodes.UNAVAILABLE) || isSluiceError(e, ErrorCodes.CLOSED);
}

function unknownAppend(e: SluiceError, topic: string, partition: number, count: number, acked: number | null): SluiceError {
  const check =
    acked === null
      ? `\`sluice topic describe ${topic}\` shows partition ${partition}'s end offset, and \`sluice consume ${topic} --from-offset ${partition}:OFFSET --with-meta\` the records there`
      : `\`sluice consume ${topic} --from-offset ${partition}:${acked} --with-meta\` shows whether they are there (this client's appends before it end at offset ${acked})`;
  return new SluiceError(
    e.code,
    `${e.message}; whether the append of ${count} record${count === 1 ? '' : 's'} to ${where(topic, partition)} happened is unknown: retrying the same records with this client is safe (a repeat is answered from the first attempt), or check: ${check}`,
    { ...e.details, topic, partition, outcome: 'unknown', ...(acked === null ? {} : { offset: acked }) },
    { cause: e },
  );
}

/** The broker refused the append's frame: nothing of it was written (the broker never read it). */
function tooLarge(e: SluiceError, topic: string, partition: number, count: number): SluiceError {
  return new SluiceError(e.code, `the append of ${count} record${count === 1 ? '' : 's'} to ${where(topic, partition)} was not written: ${e.message}`, { ...e.details, topic, partition }, { cause: e });
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
