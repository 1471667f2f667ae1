// Sluice's public API. Everything not exported here is internal and may change.

export { SluiceError, ErrorCodes, isSluiceError } from './errors.ts';
export type { ErrorCode, ErrorDetails } from './errors.ts';

export type { Headers, LogRecord, ProducerRecord } from './record.ts';
export { json, jsonOf, string, text, bytes } from './codec.ts';
export type { Codec, Decoder, Encoder } from './codec.ts';
export { Partitioner, partitionForKey, murmur2 } from './partitioner.ts';

export type {
  Log,
  TopicConfig,
  TopicInfo,
  TopicDescription,
  PartitionInfo,
  GroupLag,
  FsyncPolicy,
  Isolation,
  ReadOptions,
  ReadResult,
  AppendResult,
  TopicPartition,
  TopicPartitionOffset,
  JoinOptions,
  Assignment,
  GroupMember,
} from './log/log.ts';
export { DEFAULT_TOPIC_CONFIG } from './log/log.ts';
export { openFileLog, FileLog } from './log/file/file-log.ts';
export type { FileLogOptions } from './log/file/file-log.ts';
export { Producer, BatchingProducer } from './log/producer.ts';
export type { SendRecord, RecordMetadata, ProducerOptions } from './log/producer.ts';
export { Consumer } from './log/consumer.ts';
export { RemoteLog, openRemoteLog } from './log/remote/remote-log.ts';
export type { RemoteLogOptions } from './log/remote/remote-log.ts';
export { Broker } from './server/broker.ts';
export type { BrokerOptions } from './server/broker.ts';
export type { ConsumerOptions, ConsumerRecord, StartFrom, PollOptions } from './log/consumer.ts';

export { Application, isApplication } from './dataflow/application.ts';
export type { ApplicationOptions, ErrorPolicy } from './dataflow/application.ts';
export { Pipeline } from './dataflow/pipeline.ts';
export type { FromOptions } from './dataflow/pipeline.ts';
export { Stream, KeyedStream } from './dataflow/stream.ts';
export type { EventInfo, KeyByOptions, ProcessOptions, ToOptions } from './dataflow/stream.ts';
export type { ProcessContext, EmitOptions } from './dataflow/context.ts';
export type { PartitionFunction, StateCodec, Timer, TimeDomain, WatermarkOptions } from './dataflow/graph.ts';
export { DEFAULT_WATERMARK } from './dataflow/pipeline.ts';
export { tumbling, hopping, sliding, session, calendar, aggregators } from './dataflow/windows.ts';
export type { WindowSpec, WindowOptions, WindowResult, WindowBounds, LateEvent, LatePolicy, Aggregator } from './dataflow/windows.ts';
export { WindowedStream } from './dataflow/windowed-stream.ts';
export { Table } from './dataflow/table.ts';
export type { Change, Upsert, TableOptions } from './dataflow/table.ts';
export type { StreamTableJoinOptions, StreamStreamJoinOptions } from './dataflow/joins.ts';
export { Job, runJob } from './runtime/job.ts';
export { QueryServer, type QueryServerOptions } from './server/query-server.ts';
export type { JobOptions, JobResult } from './runtime/job.ts';
export { TestDriver } from './runtime/testing/test-driver.ts';
export type { TestInput, TestOutputRecord } from './runtime/testing/test-driver.ts';
export * from './connectors/index.ts';
export { ExecJob } from './exec/exec-job.ts';
export type { ExecOptions, ExecResult, ExecMode } from './exec/exec-job.ts';
export type { ProducerIdentity, TransactionBody, TransactionWrite, TransactionResult, AppendOptions } from './log/log.ts';
