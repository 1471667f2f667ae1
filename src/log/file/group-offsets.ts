// The committed offsets of every consumer group in a data dir,
// `<dataDir>/groups/<group>/offsets.log` (one GroupStore each, group-store.ts):
// stamping offsets with their topic's incarnation, hiding those of topics
// deleted since, lag per topic, and bringing the groups level with the
// transaction log after a crash between a commit record and its offsets.

import { join } from 'node:path';
import { ErrorCodes, SluiceError, isSluiceError } from '../../errors.ts';
import type { GroupLag, PartitionInfo, TopicPartitionOffset } from '../log.ts';
import type { TxnOffset } from '../producer-table.ts';
import { DamageReport } from './damage.ts';
import type { FsyncObserver } from './io.ts';
import { GroupStore, listGroupNames, type StoredOffset } from './group-store.ts';
import type { TopicCatalog } from './topic-catalog.ts';

export class GroupOffsets {
  private readonly groupsDir: string;
  private readonly damage: DamageReport;
  private readonly catalog: TopicCatalog;
  private readonly stores = new Map<string, GroupStore>();

  private readonly onFsync: FsyncObserver | undefined;

  constructor(dataDir: string, damage: DamageReport, catalog: TopicCatalog, onFsync?: FsyncObserver) {
    this.onFsync = onFsync;
    this.groupsDir = join(dataDir, 'groups');
    this.damage = damage;
    this.catalog = catalog;
  }

  /** This process's store of the group (loaded once; it becomes the group's writer on the first commit). */
  store(group: string): GroupStore {
    if (!group) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'a consumer group needs a non-empty name');
    let s = this.stores.get(group);
    if (!s) {
      s = new GroupStore(this.groupsDir, group, this.damage, this.onFsync);
      s.load();
      this.stores.set(group, s);
    }
    return s;
  }

  async commit(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    await this.store(group).commit(await this.stamped(offsets));
  }

  /** Checks each partition exists and stamps the offset with its topic's current id. */
  async stamped(offsets: readonly TopicPartitionOffset[]): Promise<StoredOffset[]> {
    const out: StoredOffset[] = [];
    for (const o of offsets) {
      await this.catalog.partition(o.topic, o.partition);
      out.push({ topic: o.topic, partition: o.partition, offset: o.offset, topicId: this.catalog.get(o.topic)!.info.id });
    }
    return out;
  }

  /** The group's offsets of topics that still exist, as this process last wrote or read them. */
  committed(group: string): TopicPartitionOffset[] {
    return this.live(this.current(group));
  }

  private current(group: string): StoredOffset[] {
    return this.stores.get(group)?.current() ?? new GroupStore(this.groupsDir, group, this.damage).load();
  }

  /** Drops offsets of topics that no longer exist or were deleted and created again since. */
  private live(stored: StoredOffset[]): TopicPartitionOffset[] {
    const ids = new Map<string, string | null | undefined>();
    const idOf = (topic: string) => {
      if (!ids.has(topic)) ids.set(topic, this.catalog.idIfKnown(topic));
      return ids.get(topic)!;
    };
    return stored
      .filter((o) => {
        const id = idOf(o.topic);
        return id !== null && (id === undefined || o.topicId === undefined || o.topicId === id);
      })
      .map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  /** Every group that committed offsets of the topic, with its lag per partition. */
  lag(topic: string, partitions: readonly PartitionInfo[]): GroupLag[] {
    const out: GroupLag[] = [];
    for (const group of this.list()) {
      const committed = this.committed(group).filter((o) => o.topic === topic);
      if (committed.length === 0) continue;
      out.push({
        group,
        partitions: partitions.map((p) => {
          const c = committed.find((o) => o.partition === p.partition)?.offset ?? null;
          return { partition: p.partition, committed: c, lag: p.endOffset - (c ?? p.startOffset) };
        }),
      });
    }
    return out;
  }

  list(): string[] {
    return listGroupNames(this.groupsDir);
  }

  /** Reads every group (`sluice repair`: their damage is listed at open). */
  loadAll(): void {
    for (const g of this.list()) new GroupStore(this.groupsDir, g, this.damage).load();
  }

  /** The topic id some group's offsets recorded for the topic (damage ignored: this is a repair's hint). */
  topicIdIn(topic: string): string | undefined {
    for (const g of this.list()) {
      const id = new GroupStore(this.groupsDir, g, new DamageReport('collect')).load().find((o) => o.topic === topic)?.topicId;
      if (id) return id;
    }
    return undefined;
  }

  /** Group offsets of committed transactions into the group stores (idempotent: after a crash, again). */
  async apply(offsets: readonly TxnOffset[]): Promise<void> {
    const byGroup = new Map<string, StoredOffset[]>();
    for (const o of offsets) {
      const list = byGroup.get(o.group) ?? [];
      list.push({ topic: o.topic, partition: o.partition, offset: o.offset, topicId: o.topicId });
      byGroup.set(o.group, list);
    }
    for (const [group, list] of byGroup) await this.store(group).commit(list);
  }

  /**
   * A crash between a transaction's commit record and its group-offset writes
   * leaves the group stores behind the transaction log: bring them level.
   */
  async reapply(committed: readonly TxnOffset[]): Promise<void> {
    const behind: TxnOffset[] = [];
    const loaded = new Map<string, StoredOffset[] | null>();
    for (const o of committed) {
      if (!loaded.has(o.group)) loaded.set(o.group, this.loadUnlessDamaged(o.group));
      const stored = loaded.get(o.group);
      if (stored === null) continue; // refused: its damage is reported when it is used
      const s = stored!.find((x) => x.topic === o.topic && x.partition === o.partition);
      if (!s || s.topicId !== o.topicId || s.offset < o.offset) behind.push(o);
    }
    if (behind.length > 0) await this.apply(behind);
  }

  private loadUnlessDamaged(group: string): StoredOffset[] | null {
    try {
      return new GroupStore(this.groupsDir, group, this.damage).load();
    } catch (e) {
      if (isSluiceError(e, 'DAMAGED')) return null;
      throw e;
    }
  }

  close(): void {
    for (const s of this.stores.values()) s.close();
  }
}
