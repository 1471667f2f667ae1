// The topics of a data dir and their open partitions: which topics exist
// (topic-dir.ts holds their directories), opening each once however many
// callers ask at the same time, refusing a damaged one (only that one), and
// creating and deleting them. The file log (file-log.ts) puts its groups,
// transactions and maintenance around it.

import fs from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SluiceError, isSluiceError } from '../../errors.ts';
import type { TopicConfigInput, TopicInfo } from '../log.ts';
import { resolveTopicConfig, validateTopicName } from '../topic-config.ts';
import type { BatchVisibility } from '../transactions.ts';
import { Partition } from './partition.ts';
import type { DamageReport } from './damage.ts';
import type { FsyncObserver } from './io.ts';
import type { EndEvidence } from './partition-recovery.ts';
import type { FdCache } from './fd-cache.ts';
import { fileError } from './file-errors.ts';
import { createTopicDir, readTopicInfo, removeTopicDir, topicNamesOnDisk, type FileTopicInfo } from './topic-dir.ts';

export interface OpenTopic {
  info: FileTopicInfo;
  partitions: Partition[];
}

export interface TopicCatalogOptions {
  dataDir: string;
  readOnly: boolean;
  damage: DamageReport;
  files: FdCache;
  /** Called once per topic opened: what else knows durably where each of its partitions ends. */
  endEvidence: (info: TopicInfo) => (partition: number) => EndEvidence[];
  /** Whether a transactional batch is committed or aborted. */
  visibility: (producerId: number, epoch: number, sequence: number) => BatchVisibility;
  /** A topic id that offsets recorded, to repair a lost topic.json without orphaning them. */
  knownTopicId: (topic: string) => string | undefined;
  /** A partition rolled a segment (retention and compaction may be due). */
  onRoll: (p: Partition) => void;
  /** Times the partitions' data syncs (FileLogOptions.onFsync). */
  onFsync?: FsyncObserver;
}

export class TopicCatalog {
  readonly topicsDir: string;
  private readonly o: TopicCatalogOptions;
  private readonly topics = new Map<string, OpenTopic>();
  /** Topics refused at open for damage (refuse mode), with the error every use of them gets. */
  private readonly refused = new Map<string, SluiceError>();
  /**
   * Topics being deleted: unknown from the moment their partitions close, though their
   * directory stays until the transaction log has forgotten them, so a tailer woken by
   * the close cannot reopen the topic in between.
   */
  private readonly deleting = new Set<string>();
  private readonly opening = new Map<string, Promise<OpenTopic>>();

  constructor(o: TopicCatalogOptions) {
    this.o = o;
    this.topicsDir = join(o.dataDir, 'topics');
  }

  private get collecting(): boolean {
    return this.o.damage.mode === 'collect';
  }

  /** Opens every topic on disk: damage of a topic refuses that topic only, so the others open. */
  async openAll(): Promise<void> {
    for (const name of topicNamesOnDisk(this.topicsDir)) {
      try {
        await this.open(name);
      } catch (e) {
        // Collecting, a damaged topic.json was reported and its topic reads as absent.
        if (this.collecting && isSluiceError(e, 'UNKNOWN_TOPIC')) continue;
        if (!isSluiceError(e, 'DAMAGED') || this.collecting) throw e;
        this.refused.set(name, e);
      }
    }
  }

  /** An open topic, if it is open. */
  get(name: string): OpenTopic | undefined {
    return this.topics.get(name);
  }

  openTopics(): IterableIterator<OpenTopic> {
    return this.topics.values();
  }

  private readInfo(name: string): FileTopicInfo | null {
    const refused = this.refused.get(name);
    if (refused) throw refused;
    return readTopicInfo(this.topicsDir, name, this.o.damage, () => this.o.knownTopicId(name));
  }

  open(name: string): Promise<OpenTopic> {
    const open = this.topics.get(name);
    if (open) return Promise.resolve(open);
    let pending = this.opening.get(name);
    if (!pending) {
      if (this.deleting.has(name)) return Promise.reject(unknownTopic(name));
      pending = (async () => {
        const info = this.readInfo(name);
        if (!info) throw unknownTopic(name);
        const evidence = this.o.endEvidence(info);
        const partitions: Partition[] = [];
        try {
          for (let i = 0; i < info.config.partitions; i++) partitions.push(await this.openPartition(info, i, evidence(i)));
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

  private async openPartition(info: FileTopicInfo, i: number, evidence: EndEvidence[]): Promise<Partition> {
    const dir = join(this.topicsDir, info.name, String(i));
    let p: Partition;
    try {
      p = await Partition.open({
        topic: info.name,
        partition: i,
        dir,
        config: info.config,
        writable: !this.o.readOnly,
        damage: this.o.damage,
        evidence,
        lockPath: join(this.o.dataDir, 'LOCK'),
        files: this.o.files,
        onFsync: this.o.onFsync,
      });
    } catch (e) {
      throw fileError(e, 'open', (e as NodeJS.ErrnoException).path ?? dir);
    }
    p.onRoll = () => this.o.onRoll(p);
    p.visibility = this.o.visibility;
    return p;
  }

  async partition(topic: string, partition: number): Promise<Partition> {
    const t = await this.open(topic);
    const p = t.partitions[partition];
    if (!p) {
      throw new SluiceError(ErrorCodes.UNKNOWN_PARTITION, `topic ${topic} has partitions 0..${t.partitions.length - 1}; there is no partition ${partition}`, { topic, partition });
    }
    return p;
  }

  async create(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    validateTopicName(name);
    const resolved = resolveTopicConfig(config);
    if (fs.existsSync(join(this.topicsDir, name))) throw new SluiceError(ErrorCodes.TOPIC_EXISTS, `topic ${name} already exists`, { topic: name });
    createTopicDir(this.topicsDir, name, resolved);
    try {
      return (await this.open(name)).info;
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

  /** Closes the topic's partitions, runs `forget` (what else holds on to the topic), then removes its directory. */
  async delete(name: string, forget: () => Promise<void>): Promise<void> {
    // A damaged topic may be deleted: that is one way out of its damage.
    const t = this.refused.delete(name) ? null : await this.open(name);
    this.deleting.add(name);
    try {
      this.topics.delete(name);
      if (t) for (const p of t.partitions) await p.close();
      // Before the directory goes: a crash in between leaves the old topic with less evidence, never
      // a new topic of the same name held to the old one's committed ends.
      await forget();
      removeTopicDir(this.topicsDir, name);
    } finally {
      this.deleting.delete(name);
    }
  }

  /** Every readable topic: a damaged one is left out (using it says why). */
  list(): TopicInfo[] {
    return topicNamesOnDisk(this.topicsDir)
      .map((n) => this.topics.get(n)?.info ?? this.infoIfReadable(n))
      .filter((t): t is TopicInfo => t !== null);
  }

  private infoIfReadable(name: string): TopicInfo | null {
    try {
      return this.readInfo(name);
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return null;
      throw e;
    }
  }

  /** null: no such topic; undefined: its topic.json is damaged, so which incarnation it is cannot be told. */
  idIfKnown(topic: string): string | null | undefined {
    const open = this.topics.get(topic);
    if (open) return open.info.id;
    try {
      return this.readInfo(topic)?.id ?? null;
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return undefined;
      throw e;
    }
  }

  /** Closes every partition even when one fails (its files are left whole), then throws the first failure. */
  async closeAll(): Promise<void> {
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
}

function unknownTopic(name: string): SluiceError {
  return new SluiceError(ErrorCodes.UNKNOWN_TOPIC, `unknown topic ${name}; create it with \`sluice topic create ${name} --partitions N\``, { topic: name });
}
