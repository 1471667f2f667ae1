// The embedded Log: topics and partitions in a data directory on local disk.
//
//   <dataDir>/LOCK                                   the writer's lock (pid, host, command)
//   <dataDir>/topics/<topic>/topic.json              the topic's config
//   <dataDir>/topics/<topic>/<partition>/<base>.log  segments, with .index and .timeindex
//   <dataDir>/groups/<group>/offsets.log             committed offsets (own lock per group)
//   <dataDir>/transactions/txn.log                   the commit point of every transaction
//
// Damage found on open (damage.ts) refuses what it affects: the whole dir for
// the transaction log, one topic for its topic.json or a partition, one group
// for its offsets; everything else opens. Read-only opens judge the same way
// (a topic when it is first used), so a reader never shows the records before
// damage as if they were all.
//
// One process writes (holds LOCK); any number of processes may open the same
// directory read-only to read and tail it.
//
// This file is the storage and the Log methods over it; the parts are the
// topics (topic-catalog.ts), the groups' offsets (group-offsets.ts),
// maintenance (maintenance.ts), and the transaction log (transaction-log.ts)
// under the transaction rules, which are not here (../transactions.ts).

import fs from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { ProducerRecord } from '../../record.ts';
import type {
  AppendOptions,
  AppendResult,
  Assignment,
  BatchReadResult,
  Isolation,
  ProducerIdentity,
  TransactionBody,
  TransactionResult,
  GroupMember,
  JoinOptions,
  Log,
  ReadOptions,
  ReadResult,
  TopicConfigInput,
  TopicDescription,
  PartitionOffsets,
  TopicInfo,
  TopicPartitionOffset,
} from '../log.ts';
import { GroupCoordinator } from '../group-coordinator.ts';
import { GroupSweeper } from '../group-sweeper.ts';
import { keylessRecordError } from '../topic-config.ts';
import { TransactionCoordinator, type TransactionStorage } from '../transactions.ts';
import type { TxnOffset } from '../producer-table.ts';
import { ATTR_TRANSACTIONAL } from '../batch.ts';
import type { Partition } from './partition.ts';
import { acquireLock, isLockHeld, type Lock } from './lock.ts';
import { DamageReport } from './damage.ts';
import { fileError } from './file-errors.ts';
import { removeLeftovers } from './topic-dir.ts';
import { TopicCatalog } from './topic-catalog.ts';
import { GroupOffsets } from './group-offsets.ts';
import { Maintenance } from './maintenance.ts';
import { deleteBefore } from './retention.ts';
import { TransactionLog } from './transaction-log.ts';
import { FdCache, maxOpenFilesFromEnv } from './fd-cache.ts';
import type { FileLogOptions } from './file-log-options.ts';

export type { FileLogOptions };

export async function openFileLog(options: FileLogOptions): Promise<FileLog> {
  const log = new FileLog(options);
  await log.init();
  return log;
}

export class FileLog implements Log {
  readonly dataDir: string;
  readonly readOnly: boolean;
  readonly damage: DamageReport;
  private lock: Lock | null = null;
  private readonly catalog: TopicCatalog;
  private readonly groups: GroupOffsets;
  private readonly coordinator: GroupCoordinator;
  private readonly groupSweeper: GroupSweeper;
  private readonly txnLog: TransactionLog;
  /** The transaction rules; this log is only their storage (transactionStorage). */
  private readonly transactions: TransactionCoordinator;
  private readonly maintenance: Maintenance;
  private readonly maintenanceIntervalMs: number;
  private closed = false;
  /** Every partition's descriptors: a data dir costs at most this many, whatever its partition count. */
  readonly files: FdCache;

  constructor(o: FileLogOptions) {
    this.dataDir = o.dataDir;
    this.readOnly = o.readOnly ?? false;
    this.damage = o.damage ?? new DamageReport('refuse', o.dataDir);
    this.maintenanceIntervalMs = o.maintenanceIntervalMs ?? 60_000;
    this.files = new FdCache(o.maxOpenFiles ?? maxOpenFilesFromEnv());
    this.txnLog = new TransactionLog(o.dataDir, this.damage, { onFsync: o.onFsync });
    this.catalog = new TopicCatalog({
      dataDir: o.dataDir,
      readOnly: this.readOnly,
      damage: this.damage,
      files: this.files,
      onFsync: o.onFsync,
      endEvidence: (info) => {
        const txnEvidence = this.txnEvidenceForOpen();
        return (i) => (txnEvidence ? this.txnLog.endEvidence(info.name, i) : []);
      },
      visibility: (pid, epoch, seq) => {
        if (this.readOnly) this.txnLog.refresh();
        return this.transactions.visibility(pid, epoch, seq);
      },
      knownTopicId: (topic) => this.knownTopicId(topic),
      onRoll: (p) => setImmediate(() => void this.maintainPartition(p)),
    });
    this.groups = new GroupOffsets(o.dataDir, this.damage, this.catalog, o.onFsync);
    this.coordinator = new GroupCoordinator((t) => this.catalog.get(t)?.info.config.partitions ?? 0);
    this.groupSweeper = new GroupSweeper(this.coordinator);
    this.transactions = new TransactionCoordinator(this.transactionStorage(), this.coordinator);
    this.maintenance = new Maintenance(() => [...this.catalog.openTopics()].flatMap((t) => t.partitions));
  }

  private get collecting(): boolean {
    return this.damage.mode === 'collect';
  }

  async init(): Promise<void> {
    if (this.readOnly) {
      if (!fs.existsSync(this.dataDir)) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no Sluice data dir at ${this.dataDir}; create a topic first (sluice topic create) or pass --data-dir`, { file: this.dataDir });
      }
      this.txnLog.load();
      if (this.collecting) await this.openEverything();
      return;
    }
    for (const dir of [this.catalog.topicsDir, join(this.dataDir, 'groups')]) {
      try {
        fs.mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw fileError(e, 'create', dir);
      }
    }
    this.lock = acquireLock(
      join(this.dataDir, 'LOCK'),
      `data dir ${this.dataDir}`,
      'Only one process may write to a data dir. Stop that process, or run `sluice serve --data-dir ' +
        this.dataDir +
        '` and point every client at it with --broker sluice://127.0.0.1:7420.',
    );
    try {
      this.txnLog.openForWrite();
      removeLeftovers(this.catalog.topicsDir);
      await this.openEverything();
      if (!this.collecting) {
        await this.groups.reapply(this.txnLog.producers.committedOffsets());
        const partitions = [...this.catalog.openTopics()].flatMap((t) => t.partitions);
        this.transactions.recover(partitions.flatMap((p) => [...p.producerStamps].map(([producerId, s]) => ({ producerId, ...s }))));
      }
    } catch (e) {
      await this.catalog.closeAll();
      this.txnLog.close();
      this.files.closeAll();
      this.lock.release();
      throw e;
    }
    if (this.collecting) return;
    this.maintenance.start(this.maintenanceIntervalMs);
  }

  /** Opens every topic (and, collecting damage, reads every group). */
  private async openEverything(): Promise<void> {
    await this.catalog.openAll();
    if (this.collecting) this.groups.loadAll();
  }

  /** A topic's id as the offsets stamped with it recorded it (to repair a lost topic.json without orphaning them). */
  private knownTopicId(topic: string): string | undefined {
    for (const o of this.txnLog.producers.committedOffsets()) if (o.topic === topic) return o.topicId;
    return this.groups.topicIdIn(topic);
  }

  /**
   * Whether the transaction log's committed ends judge the partitions opened now. A reader
   * refreshes them first, and uses them only while no writer lives: a live writer may delete
   * and recreate a topic after the reader read them, and the new topic is not held to the old
   * one's ends. (Beside a live writer a reader still judges its closed segments and the hw and
   * index evidence: see loadSegments in partition-open.ts.)
   */
  private txnEvidenceForOpen(): boolean {
    if (!this.readOnly || this.collecting) return true;
    if (isLockHeld(join(this.dataDir, 'LOCK'))) return false;
    this.txnLog.refresh();
    return true;
  }

  /** @internal The open Partition itself, for tests that inspect its segments and cleaner; not part of the Log API. */
  async partition(topic: string, partition: number): Promise<Partition> {
    this.checkOpen();
    return this.catalog.partition(topic, partition);
  }

  private checkOpen(): void {
    if (this.closed) throw new SluiceError(ErrorCodes.CLOSED, 'the log is closed');
  }

  private checkWritable(what: string): void {
    this.checkOpen();
    if (this.readOnly) throw new SluiceError(ErrorCodes.READ_ONLY, `cannot ${what}: the log was opened read-only`);
  }

  // ---- topics ----------------------------------------------------------------

  async createTopic(name: string, config: TopicConfigInput = {}): Promise<TopicInfo> {
    this.checkWritable(`create topic ${name}`);
    return this.catalog.create(name, config);
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkWritable(`delete topic ${name}`);
    await this.catalog.delete(name, () => this.transactions.decide(() => this.txnLog.forgetTopic(name)));
  }

  async listTopics(): Promise<TopicInfo[]> {
    this.checkOpen();
    return this.catalog.list();
  }

  async getTopic(name: string): Promise<TopicInfo> {
    this.checkOpen();
    return (await this.catalog.open(name)).info;
  }

  async endOffsets(topic: string): Promise<PartitionOffsets[]> {
    this.checkOpen();
    const t = await this.catalog.open(topic);
    if (this.readOnly) for (const p of t.partitions) await p.refresh();
    return t.partitions.map((p) => ({ partition: p.partition, startOffset: p.startOffset, endOffset: p.highWatermark }));
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    this.checkOpen();
    const t = await this.catalog.open(name);
    if (this.readOnly) for (const p of t.partitions) await p.refresh();
    const partitions = t.partitions.map((p) => p.info());
    return { ...t.info, partitions, groups: this.groups.lag(name, partitions) };
  }

  // ---- records ---------------------------------------------------------------

  async append(topic: string, partition: number, records: ProducerRecord[], options?: AppendOptions): Promise<AppendResult> {
    this.checkWritable(`append to ${topic}`);
    const pr = options?.producer;
    return (await this.partition(topic, partition)).append(records, pr && { producerId: pr.producerId, producerEpoch: pr.epoch, baseSequence: pr.sequence });
  }

  async read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult> {
    return (await this.partition(topic, partition)).read(offset, options);
  }

  async readBatches(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<BatchReadResult> {
    return (await this.partition(topic, partition)).readBatches(offset, options);
  }

  async deleteRecords(topic: string, partition: number, offset: number): Promise<number> {
    this.checkWritable(`delete records of ${topic}/${partition}`);
    const p = await this.partition(topic, partition);
    if (offset < 0 || offset > p.highWatermark) {
      throw new SluiceError(ErrorCodes.OFFSET_OUT_OF_RANGE, `cannot delete the records before offset ${offset} of ${p.where()}: its records end at ${p.highWatermark}`, { topic, partition, offset, startOffset: p.startOffset, endOffset: p.highWatermark });
    }
    return this.maintenance.between(p, () => deleteBefore(p, offset));
  }

  async waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void> {
    return (await this.partition(topic, partition)).waitFor(offset, signal, isolation);
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    return (await this.partition(topic, partition)).offsetForTimestamp(timestamp);
  }

  // ---- transactions (rules: ../transactions.ts; commit point: transaction-log.ts) --

  async initProducer(transactionalId: string): Promise<ProducerIdentity> {
    this.checkWritable(`register producer ${transactionalId}`);
    return this.transactions.initProducer(transactionalId);
  }

  async commitTransaction(producer: ProducerIdentity, sequence: number, body: TransactionBody): Promise<TransactionResult> {
    this.checkWritable('commit a transaction');
    return this.transactions.commit(producer, sequence, body);
  }

  /** The coordinator's storage port: the transaction log holds the decisions, partitions the records, group stores the offsets. */
  private transactionStorage(): TransactionStorage {
    return {
      producers: this.txnLog.producers,
      appendDecision: (d) => this.txnLog.appendDecision(d),
      prepare: async (writes, offsets) => {
        for (const w of writes) {
          const keyless = keylessRecordError(w.topic, w.partition, (await this.partition(w.topic, w.partition)).config, w.records);
          if (keyless) throw keyless;
        }
        const out: TxnOffset[] = [];
        for (const g of offsets) {
          for (const o of await this.groups.stamped(g.offsets)) out.push({ group: g.group, topic: o.topic, partition: o.partition, offset: o.offset, topicId: o.topicId! });
        }
        return out;
      },
      writeRecords: async (w, stamp) => (await this.partition(w.topic, w.partition)).append(w.records, stamp, ATTR_TRANSACTIONAL),
      settle: (w) => this.catalog.get(w.topic)?.partitions[w.partition]?.resolveTxn(w.baseOffset),
      applyOffsets: (offsets) => this.groups.apply(offsets),
    };
  }

  // ---- groups ----------------------------------------------------------------

  async commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    this.checkOpen();
    await this.groups.commit(group, offsets);
  }

  async committedOffsets(group: string): Promise<TopicPartitionOffset[]> {
    this.checkOpen();
    await this.transactions.stable(group);
    return this.groups.committed(group);
  }

  async listGroups(): Promise<string[]> {
    this.checkOpen();
    return this.groups.list();
  }

  async joinGroup(group: string, options: JoinOptions): Promise<GroupMember> {
    this.checkOpen();
    for (const t of options.topics) await this.catalog.open(t);
    const store = this.groups.store(group);
    store.acquire();
    const coordinator = this.coordinator;
    const joined = coordinator.join(group, options.topics, options.memberId, options.sessionTimeoutMs);
    this.groupSweeper.start();
    let latest: Assignment = joined.assignment;
    return {
      group,
      memberId: joined.memberId,
      heartbeat: async () => (latest = coordinator.heartbeat(group, joined.memberId)),
      assignment: () => latest,
      commit: async (offsets) => {
        coordinator.checkOwnership(group, joined.memberId, offsets);
        await store.commit(await this.groups.stamped(offsets));
      },
      leave: async () => coordinator.leave(group, joined.memberId),
    };
  }

  /** @internal For tests: how many groups have members in memory, and whether the sweep of silent members runs. */
  groupActivity(): { groups: number; sweeping: boolean } {
    return { groups: this.coordinator.groupCount, sweeping: this.groupSweeper.running };
  }

  // ---- maintenance -----------------------------------------------------------

  /** Runs retention and compaction on every open partition at `now` (after any run in progress). */
  async maintain(now = Date.now()): Promise<void> {
    if (this.readOnly || this.closed) return;
    await this.maintenance.all(now);
  }

  private maintainPartition(p: Partition): Promise<void> {
    if (this.readOnly || this.closed) return Promise.resolve();
    return this.maintenance.partition(p);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.groupSweeper.stop();
    await this.maintenance.stop();
    this.closed = true;
    try {
      await this.catalog.closeAll();
    } finally {
      this.groups.close();
      this.txnLog.close();
      this.files.closeAll();
      this.lock?.release();
    }
  }
}
