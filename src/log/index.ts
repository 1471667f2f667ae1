// `sluice/log`: the Log and what reads and writes it — the embedded FileLog,
// the RemoteLog client of a broker, producers and consumers. A public entry
// (package.json "exports"), not a module: code in src/ imports the modules
// themselves (scripts/check-layers.mjs).

export type {
  Log,
  TopicConfig, TopicConfigInput, FileTopicConfig,
  TopicInfo,
  TopicDescription,
  PartitionInfo,
  GroupLag,
  FsyncPolicy,
  Isolation,
  ReadOptions,
  ReadResult,
  AppendOptions,
  AppendResult,
  TopicPartition,
  TopicPartitionOffset,
  JoinOptions,
  Assignment,
  GroupMember,
  ProducerIdentity,
  TransactionBody,
  TransactionWrite,
  TransactionResult,
} from './log.ts';
export { DEFAULT_TOPIC_CONFIG } from './log.ts';
export { openFileLog, FileLog } from './file/file-log.ts';
export type { FileLogOptions } from './file/file-log.ts';
export { RemoteLog, openRemoteLog } from './remote/remote-log.ts';
export type { RemoteLogOptions } from './remote/remote-log.ts';
export { Producer, BatchingProducer } from './producer.ts';
export type { SendRecord, RecordMetadata, ProducerOptions } from './producer.ts';
export { Consumer } from './consumer.ts';
export type { ConsumerOptions, ConsumerRecord, StartFrom, PollOptions } from './consumer.ts';
