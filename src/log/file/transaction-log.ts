// The transaction log: `<dataDir>/transactions/txn.log`, CRC-framed JSON
// records (json-frames.ts: frames plus a header recording the synced length),
// the single commit point of every transaction in the data dir.
//
// It is the file log's store of transaction decisions (the rules that make
// them are in ../transactions.ts; the mechanism in docs/exactly-once.md): a
// transaction's records, already in their partitions, become visible to
// read_committed readers when — and only when — its commit record is fsynced
// here. Replayed, the records rebuild the producer table (../producer-table.ts).
//
// Records:
//   { t: 'init', tid, pid, epoch }                      a producer (re)registered
//   { t: 'commit', pid, epoch, seq, writes, offsets }   a transaction committed
//   { t: 'ends', ends: [[topic, partition, end]...] }   committedEnds, kept by a snapshot rewrite
//   { t: 'forget', topic }                              a topic was deleted: its ends no longer hold
//
// Because this file decides what every partition shows, damage to it refuses
// the whole data dir (readers too: they would show aborted records as
// committed or the reverse), and a missing file in a dir that has topics or
// groups is damage, not "nothing was ever committed".

import fs from 'node:fs';
import { join } from 'node:path';
import { FrameWriter, frameFileBytes, readFrameFile, replaceFile, scanFrames, type FrameDamage, type FrameScan } from './json-frames.ts';
import { fileError } from './file-errors.ts';
import { DamageReport } from './damage.ts';
import type { FsyncObserver } from './io.ts';
import type { EndEvidence } from './partition-recovery.ts';
import { ProducerTable, type Decision, type TxnOffset, type TxnWriteRange } from '../producer-table.ts';

type TxnRecord =
  | { t: 'init'; tid: string; pid: number; epoch: number }
  | { t: 'commit'; pid: number; epoch: number; seq: number; writes: TxnWriteRange[]; offsets: TxnOffset[] }
  | { t: 'ends'; ends: [topic: string, partition: number, end: number][] }
  | { t: 'forget'; topic: string };

const REWRITE_AFTER = 10_000;

export class TransactionLog {
  readonly file: string;
  private readonly dataDir: string;
  private readonly dir: string;
  private readonly damage: DamageReport;
  private writer: FrameWriter | null = null;
  /** Readers: how far the file has been read, the synced length seen, and which file (a rewrite replaces it). */
  private readPos = 0;
  private readSynced = 0;
  private readIno = -1;
  private records = 0;
  /** What the init and commit records say. */
  readonly producers = new ProducerTable();
  private readonly ends = new Map<string, number>();
  private readonly rewriteAfter: number;

  private readonly onFsync: FsyncObserver | undefined;

  constructor(dataDir: string, damage = new DamageReport('refuse'), o: { rewriteAfter?: number; onFsync?: FsyncObserver } = {}) {
    this.rewriteAfter = o.rewriteAfter ?? REWRITE_AFTER;
    this.onFsync = o.onFsync;
    this.dataDir = dataDir;
    this.dir = join(dataDir, 'transactions');
    this.file = join(this.dir, 'txn.log');
    this.damage = damage;
  }

  /** Reads the whole file, reporting damage; a torn final record (a crash mid-write) was never acknowledged and is ignored. */
  load(): FrameScan<TxnRecord> | null {
    this.reset();
    const scan = readFrameFile<TxnRecord>(this.file);
    if (!scan) {
      if (this.dirHasData()) this.reportMissing();
      return null;
    }
    for (const r of scan.values) this.apply(r);
    this.records = scan.values.length;
    this.readPos = scan.end;
    this.readSynced = scan.synced;
    this.readIno = inode(this.file);
    for (const d of scan.damage) this.reportDamage(d, scan);
    return scan;
  }

  private reset(): void {
    this.producers.clear();
    this.ends.clear();
    this.records = 0;
  }

  /** A data dir that has topics or groups has had a writer, and every writer creates this file. */
  private dirHasData(): boolean {
    for (const sub of ['topics', 'groups']) {
      try {
        if (fs.readdirSync(join(this.dataDir, sub)).some((n) => !n.startsWith('.'))) return true;
      } catch {
        // absent: nothing there
      }
    }
    return false;
  }

  private reportMissing(): void {
    this.damage.report({
      file: this.file,
      problem: 'the transaction log is missing, but the data dir has topics or groups (it was deleted or never restored)',
      loss: 'every commit record: records of transactions already in the partitions become aborted (invisible to read_committed readers), and transactional producers must register again',
      action: 'create an empty transaction log',
      repair: () => {
        fs.mkdirSync(this.dir, { recursive: true });
        replaceFile(this.file, frameFileBytes([]));
      },
    });
  }

  private reportDamage(d: FrameDamage, scan: FrameScan<TxnRecord>): void {
    const truncated = d.truncated === true;
    const kept = scan.values.length;
    this.damage.report({
      file: this.file,
      problem: d.problem,
      loss: truncated
        ? `the records in bytes ${d.at}-${d.to}: an unknown number of commits (their transactions' records become aborted, invisible to read_committed readers) and producer registrations`
        : `the unreadable record(s) in bytes ${d.at}-${d.to} (commits or producer registrations); the ${kept} readable records are kept, and a later commit of the same producer still decides its earlier transactions, so a transaction is lost only if this held its producer's last commit`,
      action: `rewrite ${this.file} from its ${kept} readable records`,
      repair: () => replaceFile(this.file, frameFileBytes(this.snapshot())),
    });
  }

  /** Reader processes: picks up records the writer appended since the last look. */
  refresh(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return;
    }
    if (st.ino !== this.readIno || st.size < this.readPos) {
      // Rewritten as a snapshot by the writer (a new file): start over.
      this.load();
      return;
    }
    if (st.size === this.readPos) return;
    let buf: Buffer;
    const fd = fs.openSync(this.file, 'r');
    try {
      buf = Buffer.allocUnsafe(st.size - this.readPos);
      buf = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, this.readPos));
    } finally {
      fs.closeSync(fd);
    }
    const scan = scanFrames<TxnRecord>(buf, this.readPos, this.readSynced);
    for (const r of scan.values) this.apply(r);
    this.records += scan.values.length;
    this.readPos = scan.end;
    for (const d of scan.damage) this.reportDamage(d, scan);
  }

  private apply(r: TxnRecord): void {
    if (r.t === 'init') {
      this.producers.apply({ type: 'register', transactionalId: r.tid, producerId: r.pid, epoch: r.epoch });
    } else if (r.t === 'commit') {
      this.producers.apply({ type: 'commit', producerId: r.pid, epoch: r.epoch, sequence: r.seq, writes: r.writes, offsets: r.offsets });
      for (const w of r.writes) this.noteEnd(w.topic, w.partition, w.lastOffset + 1);
    } else if (r.t === 'ends') {
      for (const [topic, partition, end] of r.ends) this.noteEnd(topic, partition, end);
    } else {
      for (const k of [...this.ends.keys()]) if (k.startsWith(`${r.topic}\0`)) this.ends.delete(k);
    }
  }

  private noteEnd(topic: string, partition: number, end: number): void {
    const k = `${topic}\0${partition}`;
    if (end > (this.ends.get(k) ?? 0)) this.ends.set(k, end);
  }

  /** The writer: opens the file for appending (dropping a torn tail; damage is reported first). */
  openForWrite(): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw fileError(e, 'create', this.dir);
    }
    const before = this.damage.found.length;
    const scan = this.load();
    // In collect mode (sluice repair) a damaged file is left exactly as it is, for its repair.
    if (this.damage.found.length > before) return;
    if (!scan && this.dirHasData()) return;
    this.writer = new FrameWriter(this.file, this.onFsync);
    this.writer.open(scan);
  }

  /** Makes a decision durable (for a commit: the commit point); resolved, it holds after any crash. */
  async appendDecision(d: Decision): Promise<void> {
    await this.append(record(d));
  }

  /** Before a topic is deleted: what commits said about its partitions must not hold for a new topic of that name. */
  async forgetTopic(topic: string): Promise<void> {
    if ([...this.ends.keys()].some((k) => k.startsWith(`${topic}\0`))) await this.append({ t: 'forget', topic });
  }

  /**
   * Per `${topic}\0${partition}`, the highest lastOffset + 1 any commit named:
   * a partition whose recovered end is below it has lost committed records.
   */
  committedEnds(): Map<string, number> {
    return new Map(this.ends);
  }

  /**
   * What this log knows durably about a partition's end: the records its commits
   * wrote. Committed offsets are not evidence, in a transaction or not: as in
   * Kafka, any offset may be committed, also past the end (the protocol fuzz does).
   */
  endEvidence(topic: string, partition: number): EndEvidence[] {
    const written = this.ends.get(`${topic}\0${partition}`);
    return written === undefined ? [] : [{ end: written, source: `${this.file} (records committed in transactions)` }];
  }

  private async append(rec: TxnRecord): Promise<void> {
    if (!this.writer) throw new Error('internal: the transaction log is not open for writing');
    if (this.records >= this.rewriteAfter) this.rewrite();
    await this.writer.append(rec);
    this.records++;
    this.apply(rec);
  }

  /** The current state as the fewest records: the producer table's snapshot, and the ends. */
  private snapshot(): TxnRecord[] {
    const recs: TxnRecord[] = this.producers.snapshot().map(record);
    const ends: [string, number, number][] = [];
    for (const [k, end] of this.ends) {
      const [topic, partition] = k.split('\0') as [string, string];
      ends.push([topic, Number(partition), end]);
    }
    if (ends.length > 0) recs.push({ t: 'ends', ends });
    return recs;
  }

  /** Replaces the file with the current state, so it does not grow without bound. */
  private rewrite(): void {
    const recs = this.snapshot();
    this.writer!.replace(recs);
    this.records = recs.length;
  }

  close(): void {
    this.writer?.close();
    this.writer = null;
  }
}

function record(d: Decision): TxnRecord {
  return d.type === 'register'
    ? { t: 'init', tid: d.transactionalId, pid: d.producerId, epoch: d.epoch }
    : { t: 'commit', pid: d.producerId, epoch: d.epoch, seq: d.sequence, writes: d.writes, offsets: d.offsets };
}

function inode(file: string): number {
  try {
    return fs.statSync(file).ino;
  } catch {
    return -1;
  }
}
