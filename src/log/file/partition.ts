// One partition of a topic on local disk: an ordered list of segments, the
// last of which is active. Appends are group-committed: while one write+fsync
// is in flight, new appends queue up and share the next one. Offsets become
// visible to readers (the high watermark advances) only once acknowledged.
//
// The class holds the partition's state and its reads, tailing and lifecycle;
// opening it (recovery) is partition-open.ts, the write path
// partition-append.ts, reading partition-reader.ts and a reader's refresh
// partition-refresh.ts. Fields marked internal are theirs, not the FileLog's.

import fs from 'node:fs';
import { where, type SluiceError } from '../../errors.ts';
import type { ProducerRecord } from '../../record.ts';
import type { ProducerStamp } from '../batch.ts';
import type { AppendResult, BatchReadResult, FileLogTopicConfig, Isolation, PartitionInfo, ReadOptions, ReadResult } from '../log.ts';
import { offsetForTimestamp, readPartition, readPartitionBatches } from './partition-reader.ts';
import type { Segment } from './segment.ts';
import { TailWatcher } from './tail-watcher.ts';
import { refreshFromDisk } from './partition-refresh.ts';
import type { WatermarkWriter } from './watermark-file.ts';
import type { EndEvidence } from './partition-recovery.ts';
import { DamageReport } from './damage.ts';
import { fileError } from './file-errors.ts';
import { newCleanerState, type CleanerState } from './compaction.ts';
import type { ProducerWindow } from './producer-state.ts';
import { sharedFdCache, type FdCache } from './fd-cache.ts';
import type { FsyncObserver } from './io.ts';
import { loadSegments } from './partition-open.ts';
import { appendRecords, forgetDirty, syncIfDirty, type PendingAppend } from './partition-append.ts';

interface Waiter {
  offset: number;
  isolation: Isolation;
  resolve: () => void;
}

export interface PartitionOptions {
  topic: string;
  partition: number;
  dir: string;
  config: FileLogTopicConfig;
  writable: boolean;
  /** Where damage found on open is reported (default: refuse, i.e. throw DAMAGED). */
  damage?: DamageReport;
  /** What the owner knows durably about the partition's end (the transaction log, group offsets). */
  evidence?: EndEvidence[];
  /** Readers: the writer's lock, to tell a live writer's published watermarks from a dead one's. */
  lockPath?: string;
  /** Where the partition's file descriptors are kept (default: one cache shared by the process). */
  files?: FdCache;
  /** Times its appends' data syncs (FileLogOptions.onFsync). */
  onFsync?: FsyncObserver;
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  config: FileLogTopicConfig;
  readonly writable: boolean;
  readonly lockPath: string | undefined;
  readonly onFsync: FsyncObserver | null;
  readonly files: FdCache;
  segments: Segment[] = [];
  /** End of acknowledged (writer) or completely written (reader) records. */
  highWatermark = 0;
  // ---- internal: state that partition-open.ts, -append.ts, -reader.ts and -refresh.ts share ----
  /** Next offset to assign to an append; ahead of the high watermark while writes are in flight. */
  nextOffset = 0;
  pending: PendingAppend[] = [];
  flushing = false;
  /** Set once a write fails (or open found damage): the partition takes no more appends. */
  failure: SluiceError | null = null;
  dirty = false;
  /**
   * With `interval`, the segment holding unsynced writes is fsynced before the cache closes its
   * descriptor to make room: a descriptor opened after a write-back error might not report it
   * (errseq), so the interval's fsync on a reopened one could succeed on data never on disk.
   * Pinning it open instead let every partition written between two syncs hold a descriptor.
   */
  dirtySeg: Segment | null = null;
  /** The interval fsync in flight: close waits for it, so it never publishes into a closed file. */
  syncing: Promise<void> | null = null;
  closed = false;
  published: WatermarkWriter | null = null;
  /** Every offset below this is fdatasynced: the evidence recovery trusts (see watermark-file.ts). */
  syncedEnd = 0;
  /** Readers: damage a dead writer's hw file shows (records it synced are not on disk). */
  damaged: SluiceError | null = null;
  /** Internal to the read path: the last batch whose CRC was checked (see partition-reader.ts). */
  lastVerified: { seg: Segment | null; pos: number } = { seg: null, pos: -1 };
  /** Base offsets of transactional batches whose transaction is not decided yet. */
  readonly pendingTxns = new Set<number>();
  /** Per producer id, its last stamped append: a retry of it is answered, not appended again. */
  lastStamps: ProducerWindow = new Map();
  // ---- end of internal ----
  /** Per producer id, the stamp of its last batch here (the transaction coordinator's recovery reads them). */
  get producerStamps(): ReadonlyMap<number, { epoch: number; sequence: number }> {
    return this.lastStamps;
  }
  /** Readers in other processes: the writer's published last stable offset (see watermark-file.ts). */
  publishedLso: number | null = null;
  /** Decides transactional batches below the last stable offset (the transaction log's view). */
  visibility: ((producerId: number, epoch: number, sequence: number) => 'committed' | 'aborted') | null = null;
  /** Runs after a segment rolls (retention, compaction); set by the owner. */
  onRoll: (() => void) | null = null;
  /** Compaction's bookkeeping (compaction.ts); fresh on open, so the whole log starts dirty. */
  cleaner: CleanerState = newCleanerState();
  private readonly waiters = new Set<Waiter>();
  private syncTimer: NodeJS.Timeout | null = null;
  private watcher: TailWatcher | null = null;

  private constructor(o: PartitionOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.dir = o.dir;
    this.config = o.config;
    this.writable = o.writable;
    this.lockPath = o.lockPath;
    this.files = o.files ?? sharedFdCache();
    this.onFsync = o.onFsync ?? null;
  }

  static async open(o: PartitionOptions): Promise<Partition> {
    const p = new Partition(o);
    if (o.writable) fs.mkdirSync(o.dir, { recursive: true });
    try {
      await loadSegments(p, o.damage ?? new DamageReport('refuse'), o.evidence ?? []);
    } catch (e) {
      for (const s of p.segments) s.close();
      throw e;
    }
    if (o.writable && typeof o.config.file.fsync === 'object') {
      const ms = o.config.file.fsync.intervalMs;
      p.syncTimer = setInterval(() => void syncIfDirty(p), ms);
      p.syncTimer.unref();
    }
    return p;
  }

  get startOffset(): number {
    return this.segments[0]?.baseOffset ?? 0;
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  where(offset?: number): string {
    return where(this.topic, this.partition, offset);
  }

  /** Internal: what the hw file publishes. */
  watermarks(): { highWatermark: number; lastStableOffset: number; syncedEnd: number } {
    return { highWatermark: this.highWatermark, lastStableOffset: this.lastStableOffset, syncedEnd: this.syncedEnd };
  }

  // ---- appends (partition-append.ts) -----------------------------------------

  append(records: readonly ProducerRecord[], producer?: ProducerStamp, attributes = 0): Promise<AppendResult> {
    return appendRecords(this, records, producer, attributes);
  }

  // ---- reads (partition-reader.ts) -----------------------------------------

  async read(offset: number, opts: ReadOptions = {}): Promise<ReadResult> {
    await this.beforeRead(offset);
    return readPartition(this, offset, opts);
  }

  async readBatches(offset: number, opts: ReadOptions = {}): Promise<BatchReadResult> {
    await this.beforeRead(offset);
    return readPartitionBatches(this, offset, opts);
  }

  private async beforeRead(offset: number): Promise<void> {
    if (!this.writable) {
      await this.refresh();
      if (this.damaged && offset >= this.highWatermark) throw this.damaged;
    }
  }

  async offsetForTimestamp(ts: number): Promise<number> {
    if (!this.writable) await this.refresh();
    return offsetForTimestamp(this, ts);
  }

  /**
   * End of what read_committed readers may see: the first offset of a
   * transaction still in flight, or the high watermark when none is.
   */
  get lastStableOffset(): number {
    if (this.publishedLso !== null) return Math.min(this.publishedLso, this.highWatermark);
    let lso = this.highWatermark;
    for (const base of this.pendingTxns) if (base < lso) lso = base;
    return lso;
  }

  /** The end a reader with this isolation may read up to. */
  visibleEnd(isolation: Isolation = 'read_committed'): number {
    return isolation === 'read_committed' ? this.lastStableOffset : this.highWatermark;
  }

  /** A transaction that wrote the batch at `baseOffset` was decided: its records are stable now. */
  resolveTxn(baseOffset: number): void {
    if (!this.pendingTxns.delete(baseOffset)) return;
    this.published?.publish(this.watermarks());
    this.notifyWaiters();
  }

  // ---- tailing ---------------------------------------------------------------

  waitFor(offset: number, signal?: AbortSignal, isolation: Isolation = 'read_committed'): Promise<void> {
    if (this.visibleEnd(isolation) > offset || this.closed || this.damaged || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const w: Waiter = {
        offset,
        isolation,
        resolve: () => {
          this.waiters.delete(w);
          signal?.removeEventListener('abort', w.resolve);
          if (this.waiters.size === 0) this.watcher?.stop();
          resolve();
        },
      };
      this.waiters.add(w);
      signal?.addEventListener('abort', w.resolve, { once: true });
      if (!this.writable) {
        this.watcher ??= new TailWatcher(this.dir, () => void this.refresh().then(() => this.notifyWaiters()).catch(() => {}));
        this.watcher.start();
        // The file may have grown between our last look and the watch starting.
        void this.refresh().then(() => this.notifyWaiters()).catch(() => {});
      }
    });
  }

  /** Internal: wakes the tailers whose offset is now visible. */
  notifyWaiters(): void {
    // Damage wakes tailers too: their next read reports it rather than waiting forever.
    for (const w of this.waiters) if (this.visibleEnd(w.isolation) > w.offset || this.closed || this.damaged) w.resolve();
  }

  /** Reader processes: pick up segments the writer created, deleted or replaced, and newly completed batches. */
  async refresh(): Promise<void> {
    await refreshFromDisk(this);
  }

  // ---- info and lifecycle ----------------------------------------------------

  info(): PartitionInfo {
    let sizeBytes = 0;
    for (const s of this.segments) sizeBytes += s.size;
    return { partition: this.partition, startOffset: this.startOffset, endOffset: this.highWatermark, sizeBytes, segments: this.segments.length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.syncing;
    this.watcher?.stop();
    this.notifyWaiters();
    // Every acknowledged record is already written: a failure here (ENOSPC persisting
    // the index) loses nothing, but must still close the files and name the partition.
    let failed: unknown;
    if (this.writable && !this.failure && this.segments.length > 0) {
      try {
        if (this.dirty) this.active.withFdSync((fd) => fs.fdatasyncSync(fd));
        this.active.persistIndex();
        this.syncedEnd = this.active.nextOffset;
        this.published?.publish(this.watermarks());
      } catch (e) {
        failed = fileError(e, `finish writing ${this.where()} in`, this.dir);
      }
    }
    if (this.dirtySeg) forgetDirty(this, this.dirtySeg);
    for (const s of this.segments) s.close();
    this.published?.close();
    if (failed !== undefined) throw failed;
  }
}
