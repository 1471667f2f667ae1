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

import fs from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SluiceError, isSluiceError } from '../../errors.ts';
import type { ProducerRecord } from '../../record.ts';
import type {
  AppendOptions,
  AppendResult,
  Assignment,
  Isolation,
  ProducerIdentity,
  TransactionBody,
  TransactionResult,
  GroupLag,
  GroupMember,
  JoinOptions,
  Log,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  PartitionOffsets,
  TopicInfo,
  TopicPartitionOffset,
} from '../log.ts';
import { GroupCoordinator } from '../group-coordinator.ts';
import { keylessRecordError, resolveTopicConfig, validateTopicName } from '../topic-config.ts';
import { Partition } from './partition.ts';
import { acquireLock, isLockHeld, type Lock } from './lock.ts';
import { GroupStore, listGroupNames, type StoredOffset } from './group-store.ts';
import { applyRetention } from './retention.ts';
import { compactPartition } from './compaction.ts';
import { DamageReport } from './damage.ts';
import type { EndEvidence } from './partition-recovery.ts';
import { fileError } from './file-errors.ts';
import { createTopicDir, readTopicInfo, removeLeftovers, removeTopicDir, topicNamesOnDisk } from './topic-dir.ts';
import { TransactionLog } from './transaction-log.ts';
import { TransactionCoordinator, type TransactionStorage } from '../transactions.ts';
import type { TxnOffset } from '../producer-table.ts';
import { ATTR_TRANSACTIONAL } from '../batch.ts';
import { FdCache, maxOpenFilesFromEnv } from './fd-cache.ts';

export interface FileLogOptions {
  dataDir: string;
  /** Read and tail only; no lock is taken, so another process may be writing. */
  readOnly?: boolean;
  /** How often retention and compaction run in the writer (they also run after each segment roll). */
  maintenanceIntervalMs?: number;
  /**
   * Where damage found on open goes (damage.ts). The default refuses: opening
   * throws DAMAGED for the dir (transaction log), or using the damaged topic or
   * group does. `sluice repair` passes a 'collect' report: every topic and group
   * is then read at open, damage is listed instead of thrown, nothing damaged
   * is written, and no maintenance runs.
   */
  damage?: DamageReport;
  /**
   * At most this many segment and `hw` files are kept open at once (fd-cache.ts); the
   * least recently used are closed and reopened on demand. Default: `$SLUICE_MAX_OPEN_FILES`,
   * else 256 or a quarter of `ulimit -n`, whichever is larger (at most half of it).
   */
  maxOpenFiles?: number;
}

interface OpenTopic {
  info: TopicInfo;
  partitions: Partition[];
}

export async function openFileLog(options: FileLogOptions): Promise<FileLog> {
  const log = new FileLog(options);
  await log.init();
  return log;
}

export class FileLog implements Log {
  readonly dataDir: string;
  readonly readOnly: boolean;
  readonly damage: DamageReport;
  private readonly topicsDir: string;
  private readonly groupsDir: string;
  private lock: Lock | null = null;
  private topics = new Map<string, OpenTopic>();
  /** Topics refused at open for damage (refuse mode), with the error every use of them gets. */
  private refused = new Map<string, SluiceError>();
  /**
   * Topics being deleted: unknown from the moment their partitions close, though their
   * directory stays until the transaction log has forgotten them, so a tailer woken by
   * the close cannot reopen the topic in between.
   */
  private deleting = new Set<string>();
  private opening = new Map<string, Promise<OpenTopic>>();
  private groups = new Map<string, GroupStore>();
  private coordinator: GroupCoordinator;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private groupSweeper: NodeJS.Timeout | null = null;
  private readonly txnLog: TransactionLog;
  /** The transaction rules; this log is only their storage (transactionStorage). */
  private readonly transactions: TransactionCoordinator;
  private maintaining = new Set<Partition>();
  private maintainAgain = new Set<Partition>();
  private readonly maintenanceIntervalMs: number;
  private closed = false;
  /** Every partition's descriptors: a data dir costs at most this many, whatever its partition count. */
  readonly files: FdCache;

  constructor(o: FileLogOptions) {
    this.dataDir = o.dataDir;
    this.readOnly = o.readOnly ?? false;
    this.damage = o.damage ?? new DamageReport('refuse', o.dataDir);
    this.topicsDir = join(o.dataDir, 'topics');
    this.groupsDir = join(o.dataDir, 'groups');
    this.maintenanceIntervalMs = o.maintenanceIntervalMs ?? 60_000;
    this.files = new FdCache(o.maxOpenFiles ?? maxOpenFilesFromEnv());
    this.coordinator = new GroupCoordinator((t) => this.topics.get(t)?.info.config.partitions ?? 0);
    this.txnLog = new TransactionLog(o.dataDir, this.damage);
    this.transactions = new TransactionCoordinator(this.transactionStorage(), this.coordinator);
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
    for (const dir of [this.topicsDir, this.groupsDir]) {
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
      removeLeftovers(this.topicsDir);
      await this.openEverything();
      if (!this.collecting) await this.reapplyTransactionalOffsets();
    } catch (e) {
      await this.closeTopics();
      this.txnLog.close();
      this.files.closeAll();
      this.lock.release();
      throw e;
    }
    if (this.collecting) return;
    this.maintenanceTimer = setInterval(() => void this.maintain(), this.maintenanceIntervalMs);
    this.maintenanceTimer.unref();
  }

  /**
   * Opens every topic (and, collecting damage, reads every group): damage of a
   * topic refuses that topic only, so the others open.
   */
  private async openEverything(): Promise<void> {
    for (const name of topicNamesOnDisk(this.topicsDir)) {
      try {
        await this.openTopic(name);
      } catch (e) {
        // Collecting, a damaged topic.json was reported and its topic reads as absent.
        if (this.collecting && isSluiceError(e, 'UNKNOWN_TOPIC')) continue;
        if (!isSluiceError(e, 'DAMAGED') || this.collecting) throw e;
        this.refused.set(name, e);
      }
    }
    if (this.collecting) for (const g of listGroupNames(this.groupsDir)) new GroupStore(this.groupsDir, g, this.damage).load();
  }

  private readTopicInfo(name: string): TopicInfo | null {
    const refused = this.refused.get(name);
    if (refused) throw refused;
    return readTopicInfo(this.topicsDir, name, this.damage, () => this.knownTopicId(name));
  }

  /** A topic's id as the offsets stamped with it recorded it (to repair a lost topic.json without orphaning them). */
  private knownTopicId(topic: string): string | undefined {
    for (const o of this.txnLog.producers.committedOffsets()) if (o.topic === topic) return o.topicId;
    for (const g of listGroupNames(this.groupsDir)) {
      const id = new GroupStore(this.groupsDir, g, new DamageReport('collect')).load().find((o) => o.topic === topic)?.topicId;
      if (id) return id;
    }
    return undefined;
  }

  private openTopic(name: string): Promise<OpenTopic> {
    const open = this.topics.get(name);
    if (open) return Promise.resolve(open);
    let pending = this.opening.get(name);
    if (!pending) {
      if (this.deleting.has(name)) return Promise.reject(unknownTopic(name));
      pending = (async () => {
        const info = this.readTopicInfo(name);
        if (!info) throw unknownTopic(name);
        const partitions: Partition[] = [];
        const txnEvidence = this.txnEvidenceForOpen();
        try {
          for (let i = 0; i < info.config.partitions; i++) partitions.push(await this.openPartition(info, i, txnEvidence));
        } catch (e) {
          for (const p of partitions) await p.close().catch(() => {});
          throw e;
        }
        const t = { info, partitions };
        this.topics.set(name, t);
        return t;
      })().finally(() => this.opening.delete(name));
      this.opening.set(name, pending);
    }
    return pending;
  }

  /**
   * What the transaction log knows durably about a partition's end: the records its
   * commits wrote. Committed offsets are not evidence, in a transaction or not: as in
   * Kafka, any offset may be committed, also past the end (the protocol fuzz does).
   */
  private endEvidence(info: TopicInfo, partition: number): EndEvidence[] {
    const written = this.txnLog.committedEnds().get(`${info.name}\0${partition}`);
    return written === undefined ? [] : [{ end: written, source: `${this.txnLog.file} (records committed in transactions)` }];
  }

  /**
   * Whether the transaction log's committed ends judge the partitions opened now. A reader
   * refreshes them first, and uses them only while no writer lives: a live writer may delete
   * and recreate a topic after the reader read them, and the new topic is not held to the old
   * one's ends. (Beside a live writer a reader still judges its closed segments and the hw and
   * index evidence: see Partition.loadSegments.)
   */
  private txnEvidenceForOpen(): boolean {
    if (!this.readOnly || this.collecting) return true;
    if (isLockHeld(join(this.dataDir, 'LOCK'))) return false;
    this.txnLog.refresh();
    return true;
  }

  private async openPartition(info: TopicInfo, i: number, txnEvidence: boolean): Promise<Partition> {
    const dir = join(this.topicsDir, info.name, String(i));
    let p: Partition;
    try {
      p = await Partition.open({
        topic: info.name,
        partition: i,
        dir,
        config: info.config,
        writable: !this.readOnly,
        damage: this.damage,
        evidence: txnEvidence ? this.endEvidence(info, i) : [],
        lockPath: join(this.dataDir, 'LOCK'),
        files: this.files,
      });
    } catch (e) {
      throw fileError(e, 'open', (e as NodeJS.ErrnoException).path ?? dir);
    }
    p.onRoll = () => setImmediate(() => void this.maintainPartition(p));
    p.visibility = (pid, epoch, seq) => {
      if (this.readOnly) this.txnLog.refresh();
      return this.transactions.visibility(pid, epoch, seq);
    };
    return p;
  }

  private async partition(topic: string, partition: number): Promise<Partition> {
    this.checkOpen();
    const t = await this.openTopic(topic);
    const p = t.partitions[partition];
    if (!p) {
      throw new SluiceError(ErrorCodes.UNKNOWN_PARTITION, `topic ${topic} has partitions 0..${t.partitions.length - 1}; there is no partition ${partition}`, { topic, partition });
    }
    return p;
  }

  private checkOpen(): void {
    if (this.closed) throw new SluiceError(ErrorCodes.CLOSED, 'the log is closed');
  }

  private checkWritable(what: string): void {
    this.checkOpen();
    if (this.readOnly) throw new SluiceError(ErrorCodes.READ_ONLY, `cannot ${what}: the log was opened read-only`);
  }

  // ---- topics ----------------------------------------------------------------

  async createTopic(name: string, config: Partial<TopicConfig> = {}): Promise<TopicInfo> {
    this.checkWritable(`create topic ${name}`);
    validateTopicName(name);
    const resolved = resolveTopicConfig(config);
    if (fs.existsSync(join(this.topicsDir, name))) throw new SluiceError(ErrorCodes.TOPIC_EXISTS, `topic ${name} already exists`, { topic: name });
    createTopicDir(this.topicsDir, name, resolved);
    try {
      return (await this.openTopic(name)).info;
    } catch (e) {
      // A topic this process cannot open (EMFILE) would stop every later open of the dir: take it back.
      try {
        removeTopicDir(this.topicsDir, name);
      } catch {
        // The open's error is the one to report; if even the removal failed, the topic stays whole on disk.
      }
      if (isSluiceError(e)) e.message = `topic ${name} was created but could not be opened, so it was removed again: ${e.message}`;
      throw e;
    }
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkWritable(`delete topic ${name}`);
    // A damaged topic may be deleted: that is one way out of its damage.
    const t = this.refused.delete(name) ? null : await this.openTopic(name);
    this.deleting.add(name);
    try {
      this.topics.delete(name);
      if (t) for (const p of t.partitions) await p.close();
      // Before the directory goes: a crash in between leaves the old topic with less evidence, never
      // a new topic of the same name held to the old one's committed ends.
      await this.transactions.decide(() => this.txnLog.forgetTopic(name));
      removeTopicDir(this.topicsDir, name);
    } finally {
      this.deleting.delete(name);
    }
  }

  async listTopics(): Promise<TopicInfo[]> {
    this.checkOpen();
    // A damaged topic is left out of the list; using it says why.
    return topicNamesOnDisk(this.topicsDir)
      .map((n) => this.topics.get(n)?.info ?? this.topicIfReadable(n))
      .filter((t): t is TopicInfo => t !== null);
  }

  private topicIfReadable(name: string): TopicInfo | null {
    try {
      return this.readTopicInfo(name);
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return null;
      throw e;
    }
  }

  async getTopic(name: string): Promise<TopicInfo> {
    this.checkOpen();
    return (await this.openTopic(name)).info;
  }

  async endOffsets(topic: string): Promise<PartitionOffsets[]> {
    this.checkOpen();
    const t = await this.openTopic(topic);
    if (this.readOnly) for (const p of t.partitions) await p.refresh();
    return t.partitions.map((p) => ({ partition: p.partition, startOffset: p.startOffset, endOffset: p.highWatermark }));
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    this.checkOpen();
    const t = await this.openTopic(name);
    if (this.readOnly) for (const p of t.partitions) await p.refresh();
    const partitions = t.partitions.map((p) => p.info());
    const groups: GroupLag[] = [];
    for (const group of listGroupNames(this.groupsDir)) {
      const committed = this.live(this.groups.get(group)?.current() ?? new GroupStore(this.groupsDir, group, this.damage).load()).filter((o) => o.topic === name);
      if (committed.length === 0) continue;
      groups.push({
        group,
        partitions: partitions.map((p) => {
          const c = committed.find((o) => o.partition === p.partition)?.offset ?? null;
          return { partition: p.partition, committed: c, lag: p.endOffset - (c ?? p.startOffset) };
        }),
      });
    }
    return { ...t.info, partitions, groups };
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

  async waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal, isolation?: Isolation): Promise<void> {
    return (await this.partition(topic, partition)).waitFor(offset, signal, isolation);
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
          for (const o of await this.stamped(g.offsets)) out.push({ group: g.group, topic: o.topic, partition: o.partition, offset: o.offset, topicId: o.topicId! });
        }
        return out;
      },
      writeRecords: async (w, stamp) => (await this.partition(w.topic, w.partition)).append(w.records, stamp, ATTR_TRANSACTIONAL),
      settle: (w) => this.topics.get(w.topic)?.partitions[w.partition]?.resolveTxn(w.baseOffset),
      applyOffsets: (offsets) => this.applyOffsets(offsets),
    };
  }

  /** Group offsets of committed transactions into the group stores (idempotent: after a crash, again). */
  private async applyOffsets(offsets: TxnOffset[]): Promise<void> {
    const byGroup = new Map<string, StoredOffset[]>();
    for (const o of offsets) {
      const list = byGroup.get(o.group) ?? [];
      list.push({ topic: o.topic, partition: o.partition, offset: o.offset, topicId: o.topicId });
      byGroup.set(o.group, list);
    }
    for (const [group, list] of byGroup) await this.groupStore(group).commit(list);
  }

  /**
   * A crash between a transaction's commit record and its group-offset writes
   * leaves the group stores behind the transaction log: bring them level.
   */
  private async reapplyTransactionalOffsets(): Promise<void> {
    const behind: TxnOffset[] = [];
    const stores = new Map<string, StoredOffset[] | null>();
    for (const o of this.txnLog.producers.committedOffsets()) {
      if (!stores.has(o.group)) stores.set(o.group, this.loadUnlessDamaged(o.group));
      const loaded = stores.get(o.group);
      if (loaded === null) continue; // refused: its damage is reported when it is used
      const stored = loaded!.find((s) => s.topic === o.topic && s.partition === o.partition);
      if (!stored || stored.topicId !== o.topicId || stored.offset < o.offset) behind.push(o);
    }
    if (behind.length > 0) await this.applyOffsets(behind);
  }

  private loadUnlessDamaged(group: string): StoredOffset[] | null {
    try {
      return new GroupStore(this.groupsDir, group, this.damage).load();
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return null;
      throw e;
    }
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    return (await this.partition(topic, partition)).offsetForTimestamp(timestamp);
  }

  // ---- groups ----------------------------------------------------------------

  private groupStore(group: string): GroupStore {
    if (!group) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'a consumer group needs a non-empty name');
    let s = this.groups.get(group);
    if (!s) {
      s = new GroupStore(this.groupsDir, group, this.damage);
      s.load();
      this.groups.set(group, s);
    }
    return s;
  }

  async commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    this.checkOpen();
    await this.groupStore(group).commit(await this.stamped(offsets));
  }

  /** Checks each partition exists and stamps the offset with its topic's current id. */
  private async stamped(offsets: TopicPartitionOffset[]): Promise<StoredOffset[]> {
    const out: StoredOffset[] = [];
    for (const o of offsets) {
      await this.partition(o.topic, o.partition);
      out.push({ topic: o.topic, partition: o.partition, offset: o.offset, topicId: this.topics.get(o.topic)!.info.id });
    }
    return out;
  }

  /** Drops offsets of topics that no longer exist or were deleted and created again since. */
  private live(stored: StoredOffset[]): TopicPartitionOffset[] {
    const ids = new Map<string, string | null | undefined>();
    const idOf = (topic: string) => {
      if (!ids.has(topic)) ids.set(topic, this.topics.get(topic)?.info.id ?? this.topicIdIfKnown(topic));
      return ids.get(topic)!;
    };
    return stored
      .filter((o) => {
        const id = idOf(o.topic);
        return id !== null && (id === undefined || o.topicId === undefined || o.topicId === id);
      })
      .map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  /** null: no such topic; undefined: its topic.json is damaged, so which incarnation it is cannot be told (offsets are kept). */
  private topicIdIfKnown(topic: string): string | null | undefined {
    try {
      return this.readTopicInfo(topic)?.id ?? null;
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return undefined;
      throw e;
    }
  }

  async committedOffsets(group: string): Promise<TopicPartitionOffset[]> {
    this.checkOpen();
    await this.transactions.stable(group);
    const s = this.groups.get(group);
    return this.live(s ? s.current() : new GroupStore(this.groupsDir, group, this.damage).load());
  }

  async listGroups(): Promise<string[]> {
    this.checkOpen();
    return listGroupNames(this.groupsDir);
  }

  async joinGroup(group: string, options: JoinOptions): Promise<GroupMember> {
    this.checkOpen();
    for (const t of options.topics) await this.openTopic(t);
    const store = this.groupStore(group);
    store.acquire();
    const coordinator = this.coordinator;
    const joined = coordinator.join(group, options.topics, options.memberId, options.sessionTimeoutMs);
    this.sweepGroups();
    let latest: Assignment = joined.assignment;
    return {
      group,
      memberId: joined.memberId,
      heartbeat: async () => (latest = coordinator.heartbeat(group, joined.memberId)),
      assignment: () => latest,
      commit: async (offsets) => {
        coordinator.checkOwnership(group, joined.memberId, offsets);
        await store.commit(await this.stamped(offsets));
      },
      leave: async () => coordinator.leave(group, joined.memberId),
    };
  }

  /**
   * While any group has members, expires silent ones every second: members'
   * heartbeats only expire their own group's, so a group whose members all
   * died would otherwise be held forever, and its partitions never move.
   */
  private sweepGroups(): void {
    if (this.groupSweeper) return;
    this.groupSweeper = setInterval(() => {
      if (this.coordinator.sweep() > 0) return;
      clearInterval(this.groupSweeper!);
      this.groupSweeper = null;
    }, GROUP_SWEEP_MS);
    this.groupSweeper.unref();
  }

  // ---- maintenance -----------------------------------------------------------

  /** Runs retention and compaction on every open partition now. */
  async maintain(now = Date.now()): Promise<void> {
    for (const t of this.topics.values()) for (const p of t.partitions) await this.maintainPartition(p, now);
  }

  /**
   * Retention, then compaction if it is due (compaction.ts decides without
   * reading). A call while a run is in progress (a roll during a long
   * compaction) is remembered and run after it, not lost until the next timer.
   */
  private async maintainPartition(p: Partition, now = Date.now()): Promise<void> {
    if (this.readOnly || this.closed) return;
    if (this.maintaining.has(p)) {
      this.maintainAgain.add(p);
      return;
    }
    this.maintaining.add(p);
    try {
      for (let at = now; ; at = Date.now()) {
        this.maintainAgain.delete(p);
        applyRetention(p, at);
        if (p.config.compact) await compactPartition(p, at);
        if (!this.maintainAgain.has(p) || this.closed) break;
      }
    } catch (e) {
      process.emitWarning(`maintenance of ${p.topic}/${p.partition} failed: ${(e as Error).message}`);
    } finally {
      this.maintainAgain.delete(p);
      this.maintaining.delete(p);
    }
  }

  /** Closes every partition even when one fails (its files are left whole), then throws the first failure. */
  private async closeTopics(): Promise<void> {
    let failed: unknown;
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        try {
          await p.close();
        } catch (e) {
          failed ??= e;
        }
      }
    }
    this.topics.clear();
    if (failed !== undefined) throw failed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    if (this.groupSweeper) clearInterval(this.groupSweeper);
    while (this.maintaining.size > 0) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    try {
      await this.closeTopics();
    } finally {
      for (const g of this.groups.values()) g.close();
      this.txnLog.close();
      this.files.closeAll();
      this.lock?.release();
    }
  }
}

const GROUP_SWEEP_MS = 1000;

function unknownTopic(name: string): SluiceError {
  return new SluiceError(ErrorCodes.UNKNOWN_TOPIC, `unknown topic ${name}; create it with \`sluice topic create ${name} --partitions N\``, { topic: name });
}
