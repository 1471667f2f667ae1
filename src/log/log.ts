// The Log interface: the one seam between Sluice's storage and everything above
// it. The runtime, exec, connectors and the CLI talk to a Log, never to files or
// to NATS, so a job runs embedded, against a broker, or on a cluster unchanged.
//
// It is partition-explicit (append to topic/partition) and pull-based (read a
// batch from an offset, then wait for more): that shape maps one-to-one onto a
// broker's fetch/produce requests and onto a JetStream stream per partition.

import type { LogRecord, ProducerRecord } from '../record.ts';

export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

/**
 * What every Log implementation honours: the file log (embedded or behind a
 * broker) and any other store. Settings only one implementation has are
 * nested under its name (`file`), so a portable config reads the same
 * everywhere and a store that does not know a setting is not asked to fake it.
 */
export interface TopicConfig {
  partitions: number;
  /** Delete whole segments whose newest append is older than this. null: keep forever. */
  retentionMs: number | null;
  /** Per partition: delete the oldest segments while the partition is larger than this. null: no limit. */
  retentionBytes: number | null;
  /** Keep only the newest record per key (plus tombstones for `deleteRetentionMs`). */
  compact: boolean;
  /** How long a tombstone survives compaction, so slow readers still see the delete. */
  deleteRetentionMs: number;
  /** The file log's own settings; present on every topic of a file log (embedded or behind a broker). */
  file?: FileTopicConfig;
}

/** Settings of the file log (`log/file/`): how its segments roll, compact and sync. */
export interface FileTopicConfig {
  /** Roll to a new segment when the active one reaches this size... */
  segmentBytes: number;
  /** ...or when its first append is older than this. */
  segmentMs: number;
  /**
   * Compact once the part written since the last compaction is at least this
   * share (0..1) of the compactable log: each run then reads about as much
   * new data as old, so compaction's cost stays proportional to what is written.
   */
  minCleanableDirtyRatio: number;
  /** When an append is acknowledged: after fsync (`always`), after write (`never`), or fsync on a timer. */
  fsync: FsyncPolicy;
}

/** A TopicConfig whose file settings are filled in: what a file log's topic has. */
export type FileLogTopicConfig = TopicConfig & { file: FileTopicConfig };

/**
 * What `createTopic` takes: any portable field, any file setting; the rest
 * are defaults (DEFAULT_TOPIC_CONFIG).
 */
export type TopicConfigInput = Partial<Omit<TopicConfig, 'file'>> & {
  file?: Partial<FileTopicConfig>;
} & DeprecatedFlatFileConfig;

/**
 * The file settings at the top level, as TopicConfig had them before they
 * moved under `file` (and as every topic.json written before holds them).
 * Still accepted, for one release; `file` wins where both are given.
 * @deprecated pass them under `file`: `{ file: { segmentBytes } }`.
 */
export interface DeprecatedFlatFileConfig {
  /** @deprecated use `file.segmentBytes` */
  segmentBytes?: number;
  /** @deprecated use `file.segmentMs` */
  segmentMs?: number;
  /** @deprecated use `file.minCleanableDirtyRatio` */
  minCleanableDirtyRatio?: number;
  /** @deprecated use `file.fsync` */
  fsync?: FsyncPolicy;
}

export interface TopicInfo {
  name: string;
  /**
   * This incarnation of the topic: a topic deleted and created again under the
   * same name gets a new id, so offsets committed for the old one do not apply.
   */
  id: string;
  config: TopicConfig;
}

/** Where a partition's records start and end: what a reader needs to place itself. */
export interface PartitionOffsets {
  partition: number;
  /** First offset still in the log (older ones were deleted by retention). */
  startOffset: number;
  /** The offset the next record will get: records [startOffset, endOffset) exist. */
  endOffset: number;
}

export interface PartitionInfo extends PartitionOffsets {
  sizeBytes: number;
  /** The file log's segment files in this partition; absent where a store has no segments. */
  segments?: number;
}

export interface GroupLag {
  group: string;
  partitions: { partition: number; committed: number | null; lag: number }[];
}

export interface TopicDescription extends TopicInfo {
  partitions: PartitionInfo[];
  groups: GroupLag[];
}

/**
 * read_committed: only records of committed transactions (and non-transactional
 * records) up to the last stable offset. read_uncommitted: everything acknowledged.
 */
export type Isolation = 'read_committed' | 'read_uncommitted';

export interface ReadOptions {
  maxRecords?: number;
  /** A soft limit: at least one batch is always returned if one is available. */
  maxBytes?: number;
  isolation?: Isolation;
}

export interface ReadResult {
  records: LogRecord[];
  /** Where the next read should start. May be past the last record (compaction gaps, control records). */
  nextOffset: number;
  /** The end of what this reader may see (high watermark, or last stable offset for read_committed). */
  highWatermark: number;
  startOffset: number;
}

/** What readBatches returns: the records as the log stores them, for a reader that wants no record objects. */
export interface BatchReadResult extends Omit<ReadResult, 'records'> {
  /**
   * Whole batches in the log's batch format (log/batch.ts: forEachValue reads
   * them), checksums verified, only those visible to the read's isolation. The
   * first may begin before the offset read from, and the last may end past
   * `maxRecords`: batches are not cut.
   */
  batches: Uint8Array;
  /** Records in `batches` at or after the offset read from. */
  records: number;
}

export interface AppendOptions {
  /**
   * Idempotence: a producer numbers its appends to a partition; the same
   * (producerId, epoch, sequence) again — a retry after a lost acknowledgement —
   * returns the first append's offsets instead of appending a second copy.
   */
  producer?: { producerId: number; epoch: number; sequence: number };
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The next offset the group will read (Kafka's convention: last processed + 1). */
  offset: number;
}

export interface JoinOptions {
  topics: string[];
  /** Stable id for a member; generated when omitted. */
  memberId?: string;
  /** A member that has not heartbeat for this long is removed and its partitions reassigned. */
  sessionTimeoutMs?: number;
}

export interface Assignment {
  generation: number;
  partitions: TopicPartition[];
}

/** A live member of a consumer group. The group's partitions are split among its members. */
export interface GroupMember {
  readonly group: string;
  readonly memberId: string;
  /** Keeps the membership alive and returns the current assignment (which may have changed). */
  heartbeat(): Promise<Assignment>;
  /** Latest known assignment without a round trip. */
  assignment(): Assignment;
  /**
   * Commits offsets; fails with REBALANCED for a partition the member does not
   * own now. To commit them with output, atomically, pass
   * `{ group, offsets, member: { memberId, generation } }` in a transaction instead.
   */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  leave(): Promise<void>;
}

/** A registered transactional producer. */
export interface ProducerIdentity {
  transactionalId: string;
  producerId: number;
  epoch: number;
}

export interface TransactionWrite {
  topic: string;
  partition: number;
  records: ProducerRecord[];
}

/**
 * The group member a transaction commits offsets for (Kafka's group metadata in
 * `sendOffsetsToTransaction`): `{ memberId: member.memberId, generation }`.
 */
export interface TransactionMember {
  memberId: string;
  /**
   * The generation of the assignment the records were read under (keep
   * `assignment().generation` from when you read them): the commit is also
   * refused if a partition was reassigned since, even if it came back. Omitted:
   * only current ownership is checked, as by `GroupMember.commit`.
   */
  generation?: number;
}

/** One group's offsets in a transaction. */
export interface TransactionOffsets {
  group: string;
  offsets: TopicPartitionOffset[];
  /**
   * With it, the transaction commits only if this member still owns every
   * partition in `offsets`; otherwise it fails with REBALANCED and none of it
   * becomes visible. Without it nothing is checked: a job needs no membership,
   * it is protected from its zombies by its transactional id (FENCED).
   */
  member?: TransactionMember;
}

/** Everything one transaction does: appends to any partitions, and group offsets. */
export interface TransactionBody {
  writes: TransactionWrite[];
  offsets: TransactionOffsets[];
}

export interface TransactionResult {
  appended: (TopicPartition & AppendResult)[];
}

export interface Log {
  readonly readOnly: boolean;

  createTopic(name: string, config?: TopicConfigInput): Promise<TopicInfo>;
  deleteTopic(name: string): Promise<void>;
  listTopics(): Promise<TopicInfo[]>;
  /** Fails with UNKNOWN_TOPIC. */
  getTopic(name: string): Promise<TopicInfo>;
  /** Sizes, and every group's lag: for people. A reader placing itself wants endOffsets. */
  describeTopic(name: string): Promise<TopicDescription>;
  /** Each partition's start and end offsets, in partition order; cheap (no group offsets are read). Fails with UNKNOWN_TOPIC. */
  endOffsets(topic: string): Promise<PartitionOffsets[]>;

  /** Appends one batch to one partition; resolves when acknowledged under the topic's fsync policy. */
  append(topic: string, partition: number, records: ProducerRecord[], options?: AppendOptions): Promise<AppendResult>;
  read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult>;
  /**
   * As read, but the batches as stored, undecoded: a reader that copies
   * values out by the million (exec's replay) builds no object per record.
   */
  readBatches(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<BatchReadResult>;
  /**
   * Deletes the records before `offset` (Kafka's DeleteRecords, at the
   * store's granularity: the file log deletes the whole segments that end at
   * or before it, as retention does, never the active one), for an owner that
   * knows it needs them no more (exec's journal before a `--protocol`
   * snapshot). Resolves with the partition's start offset after it, at most
   * `offset`; reads before it fail with OFFSET_OUT_OF_RANGE. `offset` past the
   * high watermark fails with OFFSET_OUT_OF_RANGE.
   */
  deleteRecords(topic: string, partition: number, offset: number): Promise<number>;
  /**
   * Resolves once a record at or after `offset` is visible (or at once if one is),
   * or when `signal` aborts. No busy loop: in-process appends and file events wake it.
   */
  waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void>;
  /** The first offset whose record has timestamp >= `timestamp`; the end offset if none. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number>;

  /** Offsets committed by a group outside any membership (tools, resets). */
  commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void>;
  committedOffsets(group: string): Promise<TopicPartitionOffset[]>;
  listGroups(): Promise<string[]>;
  joinGroup(group: string, options: JoinOptions): Promise<GroupMember>;

  /**
   * Registers a transactional producer. Registering an id again bumps its
   * epoch: the earlier holder is fenced (its commits fail with FENCED) and a
   * transaction it left undecided is aborted.
   */
  initProducer(transactionalId: string): Promise<ProducerIdentity>;
  /**
   * Appends every write and commits every group offset atomically: once this
   * resolves all of it is visible to read_committed readers; if it fails or the
   * process dies first, none of it ever is. `sequence` numbers the producer's
   * transactions 1, 2, 3... within its epoch; retrying the last one returns its
   * result without doing it twice.
   */
  commitTransaction(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult>;

  close(): Promise<void>;
}

export const DEFAULT_FILE_TOPIC_CONFIG: FileTopicConfig = {
  segmentBytes: 64 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  minCleanableDirtyRatio: 0.5,
  fsync: 'always',
};

export const DEFAULT_TOPIC_CONFIG: FileLogTopicConfig = {
  partitions: 1,
  retentionMs: null,
  retentionBytes: null,
  compact: false,
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  file: DEFAULT_FILE_TOPIC_CONFIG,
};
