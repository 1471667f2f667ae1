// The shape of every request and its response, as JSON, shared by the client
// (log/remote) and the broker (server/handlers.ts): the compiler checks both
// ends against one definition. Records travel beside the JSON as a blob
// (frames.ts, encodeRecords); `count` fields say how many are in it.
//
// The client trusts a response's shape (it comes from a broker of the same
// protocol version); the broker trusts nothing and validates every request
// field, since its client may be anything.

import type {
  AppendResult,
  Assignment,
  Isolation,
  PartitionOffsets,
  ProducerIdentity,
  TopicConfigInput,
  TopicDescription,
  TopicInfo,
  TopicPartitionOffset,
  TransactionResult,
} from '../log/log.ts';
import type { RequestName } from './frames.ts';

type Empty = Record<string, never>;

export interface Messages {
  /** The first request of a connection; `token` when the broker requires one. */
  hello: { request: { token?: string; client?: string }; response: { ok: true } };
  createTopic: { request: { name: string; config?: TopicConfigInput }; response: TopicInfo };
  deleteTopic: { request: { name: string }; response: Empty };
  listTopics: { request: Empty; response: TopicInfo[] };
  getTopic: { request: { name: string }; response: TopicInfo };
  describeTopic: { request: { name: string }; response: TopicDescription };
  endOffsets: { request: { topic: string }; response: PartitionOffsets[] };
  /** The records are the blob. `producer` stamps an idempotent append. */
  append: {
    request: { topic: string; partition: number; count: number; producer?: { producerId: number; epoch: number; sequence: number } };
    response: AppendResult;
  };
  /** The records read are the response's blob, `count` of them, with their offsets. */
  read: {
    request: { topic: string; partition: number; offset: number; maxRecords?: number; maxBytes?: number; isolation?: Isolation };
    response: { count: number; nextOffset: number; highWatermark: number; startOffset: number };
  };
  /** The batches read, as the log stores them (log/batch.ts), are the response's blob; `records` of them at or after `offset`. */
  readBatches: {
    request: { topic: string; partition: number; offset: number; maxRecords?: number; maxBytes?: number; isolation?: Isolation };
    response: { records: number; nextOffset: number; highWatermark: number; startOffset: number };
  };
  /** Log.deleteRecords: `startOffset` is the partition's start after it. */
  deleteRecords: { request: { topic: string; partition: number; offset: number }; response: { startOffset: number } };
  /** Parks until the offset exists or timeoutMs (capped by the broker) passes: `ready` says which. */
  waitFor: {
    request: { topic: string; partition: number; offset: number; isolation?: Isolation; timeoutMs?: number };
    response: { ready: boolean };
  };
  /** Ends the waitFor with this request id on the same connection. */
  cancel: { request: { id: number }; response: Empty };
  offsetForTimestamp: { request: { topic: string; partition: number; timestamp: number }; response: { offset: number } };
  commitOffsets: { request: { group: string; offsets: TopicPartitionOffset[] }; response: Empty };
  committedOffsets: { request: { group: string }; response: TopicPartitionOffset[] };
  listGroups: { request: Empty; response: string[] };
  joinGroup: {
    request: { group: string; topics: string[]; memberId?: string; sessionTimeoutMs?: number };
    response: { memberId: string; assignment: Assignment };
  };
  heartbeat: { request: { group: string; memberId: string }; response: Assignment };
  memberCommit: { request: { group: string; memberId: string; offsets: TopicPartitionOffset[] }; response: Empty };
  leaveGroup: { request: { group: string; memberId: string }; response: Empty };
  initProducer: { request: { transactionalId: string }; response: ProducerIdentity };
  /** The records of every write are the blob, in the order of `writes`. */
  commitTransaction: {
    request: {
      producer: ProducerIdentity;
      sequence: number;
      writes: { topic: string; partition: number; count: number }[];
      offsets: { group: string; offsets: TopicPartitionOffset[]; member?: { memberId: string; generation?: number } }[];
    };
    response: TransactionResult;
  };
}

export type RequestOf<N extends RequestName> = Messages[N]['request'];
export type ResponseOf<N extends RequestName> = Messages[N]['response'];

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Every request type (frames.ts) has a shape here, and nothing else does. */
const _everyRequestHasAShape: Same<keyof Messages, RequestName> = true;
