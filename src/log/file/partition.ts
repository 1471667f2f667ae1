// One partition of a topic on local disk: an ordered list of segments, the
// last of which is active. Appends are group-committed: while one write+fsync
// is in flight, new appends queue up and share the next one. Offsets become
// visible to readers (the high watermark advances) only once acknowledged.

import fs from 'node:fs';
import { ErrorCodes, SluiceError, where } from '../../errors.ts';
import { timestampError, type ProducerRecord } from '../../record.ts';
import { ATTR_TRANSACTIONAL, batchTooLarge, encodeBatch, readBatchHeader, MAX_BATCH_BYTES, type ProducerStamp } from '../batch.ts';
import type { AppendResult, FileLogTopicConfig, Isolation, PartitionInfo, ReadOptions, ReadResult } from '../log.ts';
import { offsetForTimestamp, readPartition } from './partition-reader.ts';
import { io, fsyncDir } from './io.ts';
import { Segment, parseSegmentFileName, type OpenedSegment } from './segment.ts';
import { TailWatcher } from './tail-watcher.ts';
import { refreshFromDisk } from './partition-refresh.ts';
import { WatermarkWriter, readPublishedWatermark } from './watermark-file.ts';
import { findDamage, type EndEvidence } from './partition-recovery.ts';
import { DamageReport, damagedError } from './damage.ts';
import { fileError, hintSuffix } from './file-errors.ts';
import { newCleanerState, type CleanerState } from './compaction.ts';
import { noteBatch, readProducerSnapshot, writeProducerSnapshot, type ProducerWindow } from './producer-state.ts';
import { scanBatches } from './scan.ts';
import { sharedFdCache, type FdCache } from './fd-cache.ts';
import { keylessRecordError } from '../topic-config.ts';

/** Above this many queued batches one write concatenates them (writev caps its iovec count). */
const MAX_IOVECS = 64;

interface PendingAppend {
  buf: Buffer;
  baseOffset: number;
  lastOffset: number;
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

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
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  config: FileLogTopicConfig;
  readonly writable: boolean;
  readonly lockPath: string | undefined;
  readonly files: FdCache;
  segments: Segment[] = [];
  /** End of acknowledged (writer) or completely written (reader) records. */
  highWatermark = 0;
  /** Next offset to assign to an append; ahead of the high watermark while writes are in flight. */
  private nextOffset = 0;
  private pending: PendingAppend[] = [];
  private flushing = false;
  private failure: SluiceError | null = null;
  private waiters = new Set<Waiter>();
  private dirty = false;
  /**
   * With `interval`, the segment holding unsynced writes is fsynced before the cache closes its
   * descriptor to make room: a descriptor opened after a write-back error might not report it
   * (errseq), so the interval's fsync on a reopened one could succeed on data never on disk.
   * Pinning it open instead let every partition written between two syncs hold a descriptor.
   */
  private dirtySeg: Segment | null = null;
  /** The interval fsync in flight: close waits for it, so it never publishes into a closed file. */
  private syncing: Promise<void> | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private watcher: TailWatcher | null = null;
  private closed = false;
  private published: WatermarkWriter | null = null;
  /** Every offset below this is fdatasynced: the evidence recovery trusts (see watermark-file.ts). */
  private syncedEnd = 0;
  /** Readers: damage a dead writer's hw file shows (records it synced are not on disk). */
  damaged: SluiceError | null = null;
  /** Internal to the read path: the last batch whose CRC was checked (see partition-reader.ts). */
  lastVerified: { seg: Segment | null; pos: number } = { seg: null, pos: -1 };
  /** Base offsets of transactional batches whose transaction is not decided yet. */
  private readonly pendingTxns = new Set<number>();
  /** Per producer id, its last stamped append: a retry of it is answered, not appended again. */
  private lastStamps: ProducerWindow = new Map();
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

  private constructor(o: PartitionOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.dir = o.dir;
    this.config = o.config;
    this.writable = o.writable;
    this.lockPath = o.lockPath;
    this.files = o.files ?? sharedFdCache();
  }

  static async open(o: PartitionOptions): Promise<Partition> {
    const p = new Partition(o);
    if (o.writable) fs.mkdirSync(o.dir, { recursive: true });
    try {
      await p.loadSegments(o.damage ?? new DamageReport('refuse'), o.evidence ?? []);
    } catch (e) {
      for (const s of p.segments) s.close();
      throw e;
    }
    if (o.writable && typeof o.config.file.fsync === 'object') {
      const ms = o.config.file.fsync.intervalMs;
      p.syncTimer = setInterval(() => void p.syncIfDirty(), ms);
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

  private async loadSegments(report: DamageReport, evidence: EndEvidence[]): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !this.writable) names = [];
      else throw e;
    }
    if (this.writable) {
      // Leftovers of an interrupted compaction or index write: the originals are intact.
      for (const n of names) if (n.endsWith('.cleaned') || n.endsWith('.tmp')) fs.rmSync(`${this.dir}/${n}`, { force: true });
    }
    const bases = names.map(parseSegmentFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
    // Read before the segments are scanned: a live writer appending meanwhile can only make the
    // scan longer than what this says was synced, never shorter (see the judgement below).
    const hw = readPublishedWatermark(this.dir);
    let opened: OpenedSegment[] = [];
    for (let i = 0; i < bases.length; i++) {
      const last = i === bases.length - 1;
      let o: OpenedSegment;
      try {
        o = await Segment.open(`${this.dir}/${names.find((n) => parseSegmentFileName(n) === bases[i])}`, bases[i]!, {
          writable: this.writable,
          // `sluice repair` scans every segment in full, to list bad batches anywhere.
          full: last || report.mode === 'collect',
          files: this.files,
          // The active segment's producer stamps rebuild the idempotence window after a restart.
          onBatch: last ? (h) => noteBatch(this.lastStamps, h) : undefined,
        });
      } catch (e) {
        // Gone with its whole directory: the topic was deleted meanwhile, which is no damage to report.
        if (this.writable || (e as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(this.dir)) throw e;
        // A live writer deleted it since the listing. Retention deletes the oldest first, so the
        // segments before it are going too (keeping them would look like a gap); compaction's
        // merges delete segments whose records the one before now holds (gaps are allowed there).
        if (!this.config.compact) {
          for (const s of this.segments) s.close();
          this.segments = [];
          opened = [];
        }
        continue;
      }
      const segment = o.segment;
      const prev = this.segments[this.segments.length - 1];
      if (prev && segment.baseOffset < prev.nextOffset) {
        // Taken into the segment before it by a compaction merge that a crash interrupted: its records are there.
        if (this.writable) segment.delete();
        else segment.close();
        continue;
      }
      this.segments.push(segment);
      opened.push(o);
    }
    // Judged by writers, by `sluice repair`'s read-only dry run (so that it lists what --yes would
    // repair), and by readers, which must not return the records before damage as if they were all.
    // A reader beside a live writer judges the same things, and that is sound: closed segments
    // were synced whole before the next one was created, and the evidence (hw and the index, read
    // before the scan; the FileLog gives no transaction-log evidence while a writer lives, whose
    // deletes could outdate it) only covers bytes the writer wrote before it published them. The
    // active segment's unsynced tail is past every piece of evidence, so it is never judged.
    const all = hw ? [{ end: hw.syncedEnd, source: `${this.dir}/hw (the synced end)` }, ...evidence] : evidence;
    const found = findDamage(this, opened, all, report.mode === 'collect');
    for (const d of found) report.report(d); // throws in 'refuse' mode
    if (found.length > 0) {
      // Collect mode (`sluice repair`): keep everything as found; this partition takes no appends.
      this.failure = damagedError(found[0]!);
      this.nextOffset = this.highWatermark = this.segments.length > 0 ? this.active.nextOffset : 0;
      return;
    }
    if (this.writable) {
      const last = opened[opened.length - 1];
      if (last && last.wholeEnd < last.fileSize) {
        // A crash tore the last append after the last sync point: it was never acknowledged, and
        // nothing durable says it existed, so dropping it loses nothing.
        last.segment.withFdSync((fd) => fs.ftruncateSync(fd, last.wholeEnd));
      }
    }
    if (this.segments.length === 0) {
      if (!this.writable) return;
      this.segments.push(Segment.create(this.dir, 0, this.files));
      fsyncDir(this.dir);
    }
    this.nextOffset = this.highWatermark = this.active.nextOffset;
    if (this.writable) {
      // What was recovered (page-cache data of a killed writer included) is synced before it is
      // published as synced, and the index saved to match it.
      this.active.withFdSync((fd) => fs.fdatasyncSync(fd));
      this.active.persistIndex();
      await this.restoreProducerWindow();
      this.syncedEnd = this.highWatermark;
      this.published = new WatermarkWriter(this.dir, this.watermarks(), this.files);
    }
  }

  private watermarks(): { highWatermark: number; lastStableOffset: number; syncedEnd: number } {
    return { highWatermark: this.highWatermark, lastStableOffset: this.lastStableOffset, syncedEnd: this.syncedEnd };
  }

  // ---- appends -------------------------------------------------------------

  append(records: readonly ProducerRecord[], producer?: ProducerStamp, attributes = 0): Promise<AppendResult> {
    if (!this.writable) return Promise.reject(new SluiceError(ErrorCodes.READ_ONLY, `cannot append to ${this.where()}: the log was opened read-only`));
    if (this.closed) return Promise.reject(new SluiceError(ErrorCodes.CLOSED, `cannot append to ${this.where()}: the log is closed`));
    if (this.failure) return Promise.reject(this.failure);
    if (records.length === 0) return Promise.reject(new SluiceError(ErrorCodes.INVALID_ARGUMENT, `empty append to ${this.where()}`));
    // Every append to a file log passes here; an Infinity stored would later print as invalid JSON.
    const badTime = timestampError(records, this.where());
    if (badTime) return Promise.reject(badTime);
    const keyless = keylessRecordError(this.topic, this.partition, this.config, records);
    if (keyless) return Promise.reject(keyless);
    if (producer && (attributes & ATTR_TRANSACTIONAL) === 0) {
      const dup = this.duplicateOf(producer, records.length);
      if (dup) return dup;
    }
    const baseOffset = this.nextOffset;
    const buf = encodeBatch(records, { baseOffset, appendTime: Date.now(), producer, attributes });
    if (buf.length > MAX_BATCH_BYTES) {
      return Promise.reject(batchTooLarge(buf.length, records, this.where()));
    }
    this.nextOffset += records.length;
    if (producer) this.lastStamps.set(producer.producerId, { epoch: producer.producerEpoch, sequence: producer.baseSequence, count: records.length, baseOffset, appendTime: Date.now() });
    // Registered before the write so the batch is never stable before its transaction is decided.
    if (attributes & ATTR_TRANSACTIONAL) this.pendingTxns.add(baseOffset);
    return new Promise((resolve, reject) => {
      this.pending.push({ buf, baseOffset, lastOffset: baseOffset + records.length - 1, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // A microtask lets every append issued in this tick join the first write.
        queueMicrotask(() => void this.flushLoop());
      }
    });
  }

  /** The stamps of the closed segments, from the snapshot and the segments it does not cover, under the active one's. */
  private async restoreProducerWindow(): Promise<void> {
    const closed = this.segments.slice(0, -1);
    if (closed.length === 0) return;
    const snap = readProducerSnapshot(this.dir);
    const below = snap?.window ?? new Map();
    const from = snap?.end ?? 0;
    const stale = closed.filter((s) => s.nextOffset > from);
    for (const seg of stale) {
      // Through the cache: a writer opening thousands of partitions must not hold each one's closed segments open.
      await seg.withFd((fd) =>
        scanBatches(fd, 0, seg.size, seg.baseOffset, (h) => {
          if (h.baseOffset >= from) noteBatch(below, h);
        }),
      );
    }
    if (stale.length > 0) writeProducerSnapshot(this.dir, this.active.baseOffset, below);
    for (const [id, last] of this.lastStamps) below.set(id, last);
    this.lastStamps = below;
  }

  /**
   * Idempotent appends: a producer stamps each append with a sequence number;
   * the same stamp again (a retry after a lost acknowledgement) gets the first
   * append's offsets instead of a second copy. An older one is refused.
   */
  private duplicateOf(producer: ProducerStamp, count: number): Promise<AppendResult> | null {
    const last = this.lastStamps.get(producer.producerId);
    if (!last || last.epoch !== producer.producerEpoch || producer.baseSequence > last.sequence) return null;
    if (producer.baseSequence === last.sequence && count === last.count) {
      const result = { baseOffset: last.baseOffset, lastOffset: last.baseOffset + count - 1 };
      // Acknowledged once the original is: wait for it if it is still being written.
      return last.baseOffset + count <= this.highWatermark ? Promise.resolve(result) : this.waitFor(result.lastOffset, undefined, 'read_uncommitted').then(() => result);
    }
    return Promise.reject(
      new SluiceError(ErrorCodes.INVALID_ARGUMENT, `producer ${producer.producerId} sent sequence ${producer.baseSequence} to ${this.where()} after ${last.sequence}: sequences must increase`, {
        topic: this.topic,
        partition: this.partition,
      }),
    );
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 && !this.failure) {
      const group = this.pending;
      this.pending = [];
      try {
        await this.writeGroup(group);
      } catch (e) {
        this.fail(e, group);
        break;
      }
      this.highWatermark = group[group.length - 1]!.lastOffset + 1;
      if (this.config.file.fsync === 'always') this.syncedEnd = this.highWatermark;
      this.published?.publish(this.watermarks());
      for (const a of group) a.resolve({ baseOffset: a.baseOffset, lastOffset: a.lastOffset });
      this.notifyWaiters();
    }
    this.flushing = false;
  }

  private async writeGroup(group: PendingAppend[]): Promise<void> {
    let run: PendingAppend[] = [];
    let runBytes = 0;
    for (const a of group) {
      if (this.shouldRoll(runBytes + a.buf.length)) {
        if (run.length > 0) await this.writeRun(run);
        run = [];
        runBytes = 0;
        if (this.active.size > 0) await this.roll(a.baseOffset);
      }
      run.push(a);
      runBytes += a.buf.length;
    }
    if (run.length > 0) await this.writeRun(run);
    if (this.config.file.fsync === 'always') await this.active.withFd((fd) => io.fdatasync(fd));
    else this.markDirty();
  }

  private markDirty(): void {
    this.dirty = true;
    // `never` promises no fsync whose errors could be lost.
    if (typeof this.config.file.fsync !== 'object') return;
    const seg = this.active;
    this.dirtySeg = seg;
    seg.file.beforeEvict ??= (fd) => this.syncBeforeEvict(seg, fd);
  }

  /** Called by the cache, synchronously, while another file waits for the room. */
  private syncBeforeEvict(seg: Segment, fd: number): void {
    if (this.dirtySeg !== seg || this.failure) return;
    try {
      fs.fdatasyncSync(fd);
    } catch (e) {
      this.fail(e, []);
    }
  }

  private forgetDirty(seg: Segment): void {
    if (this.dirtySeg !== seg) return;
    seg.file.beforeEvict = null;
    this.dirtySeg = null;
  }

  private shouldRoll(extraBytes: number): boolean {
    const seg = this.active;
    if (seg.size === 0) return false;
    return seg.size + extraBytes > this.config.file.segmentBytes || Date.now() - seg.firstAppendTime >= this.config.file.segmentMs;
  }

  private async writeRun(run: PendingAppend[]): Promise<void> {
    const seg = this.active;
    const bufs = run.map((a) => a.buf);
    const position = seg.size;
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let written = 0;
    let chunk = bufs.length > MAX_IOVECS ? [Buffer.concat(bufs, total)] : bufs;
    await seg.withFd(async (fd) => {
      while (written < total) {
        const n = await io.writev(fd, chunk, position + written);
        written += n;
        if (written < total) chunk = [Buffer.concat(bufs, total).subarray(written)];
      }
    });
    let pos = position;
    for (const b of bufs) {
      const h = readBatchHeader(b, 0, b.length, false);
      if (typeof h === 'string') throw new Error(`internal: encoded batch unreadable (${h})`);
      seg.onAppended(h, pos);
      pos += h.size;
    }
  }

  private async roll(baseOffset: number): Promise<void> {
    const old = this.active;
    // Under every policy, also `never`: a closed segment is whole on disk, so its index (and the
    // next segment's base) are evidence that recovery may hold it to.
    await old.withFd((fd) => io.fdatasync(fd));
    this.forgetDirty(old);
    this.syncedEnd = Math.max(this.syncedEnd, old.nextOffset);
    old.persistIndex();
    writeProducerSnapshot(this.dir, baseOffset, this.lastStamps);
    // Replace, never mutate: reads in flight hold the previous array.
    this.segments = [...this.segments, Segment.create(this.dir, baseOffset, this.files)];
    fsyncDir(this.dir);
    this.onRoll?.();
  }

  private fail(e: unknown, group: PendingAppend[]): void {
    const err = new SluiceError(
      ErrorCodes.IO_ERROR,
      `writing to ${this.where()} failed (${(e as Error).message}${hintSuffix(e)}); the records of this append were not acknowledged, ` +
        `records acknowledged before it are safe. Fix the disk problem and restart: the partition is recovered on open.`,
      { topic: this.topic, partition: this.partition },
      { cause: e },
    );
    this.failure = err;
    for (const a of group) a.reject(err);
    for (const a of this.pending) a.reject(err);
    this.pending = [];
  }

  private syncIfDirty(): Promise<void> {
    if (!this.dirty || this.closed || this.failure || this.syncing) return Promise.resolve();
    this.syncing = this.syncDirty().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async syncDirty(): Promise<void> {
    this.dirty = false;
    const seg = this.active;
    const upTo = seg.nextOffset;
    try {
      await seg.withFd((fd) => io.fdatasync(fd));
    } catch (e) {
      this.fail(e, []);
      return;
    }
    // Appends since the sync began marked it dirty again: their fsync is still owed.
    if (!this.dirty) this.forgetDirty(seg);
    this.syncedEnd = Math.max(this.syncedEnd, upTo);
    this.published?.publish(this.watermarks());
  }

  // ---- reads (partition-reader.ts) -----------------------------------------

  async read(offset: number, opts: ReadOptions = {}): Promise<ReadResult> {
    if (!this.writable) {
      await this.refresh();
      if (this.damaged && offset >= this.highWatermark) throw this.damaged;
    }
    return readPartition(this, offset, opts);
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

  private notifyWaiters(): void {
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
    if (this.dirtySeg) this.forgetDirty(this.dirtySeg);
    for (const s of this.segments) s.close();
    this.published?.close();
    if (failed !== undefined) throw failed;
  }
}
