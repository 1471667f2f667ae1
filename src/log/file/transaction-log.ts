// The transaction log: `<dataDir>/transactions/txn.log`, CRC-framed JSON
// records, the single commit point of every transaction in the data dir.
//
// Mechanism (see docs/exactly-once.md): a transaction's records are appended to
// their partitions as batches marked transactional and stamped with the
// producer's id, epoch and the transaction's sequence number. They become
// visible to read_committed readers when — and only when — a COMMIT record for
// (producer, epoch, sequence) is fsynced here. Within one epoch a producer's
// transactions commit strictly in sequence, and any failure after writing
// poisons the epoch (the producer must re-initialise, which bumps it), so one
// number per (producer, epoch) — the last committed sequence — decides every
// batch: committed if its sequence is at most that, otherwise dead (aborted).
//
// Records:
//   { t: 'init', tid, pid, epoch }                      a producer (re)registered
//   { t: 'commit', pid, epoch, seq, writes, offsets }   a transaction committed

import fs from 'node:fs';
import { join } from 'node:path';
import { io, fsyncDir } from './io.ts';
import { decodeFrames, encodeFrame, replaceFile } from './json-frames.ts';

export interface TxnWriteRange {
  topic: string;
  partition: number;
  baseOffset: number;
  lastOffset: number;
}

export interface TxnOffset {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  topicId: string;
}

type TxnRecord =
  | { t: 'init'; tid: string; pid: number; epoch: number }
  | { t: 'commit'; pid: number; epoch: number; seq: number; writes: TxnWriteRange[]; offsets: TxnOffset[] };

export type BatchVisibility = 'committed' | 'aborted';

const REWRITE_AFTER = 10_000;

export class TransactionLog {
  readonly file: string;
  private readonly dir: string;
  private fd = -1;
  private size = 0;
  private records = 0;
  /** transactional id -> current producer id and epoch. */
  readonly producers = new Map<string, { pid: number; epoch: number }>();
  /** `${pid}:${epoch}` -> last committed sequence. */
  private readonly lastCommitted = new Map<string, number>();
  /** pid -> the last commit, to answer a retried commit without doing it twice. */
  private readonly lastCommit = new Map<number, { epoch: number; seq: number; writes: TxnWriteRange[]; offsets: TxnOffset[] }>();
  private nextPid = 1;
  private failure: Error | null = null;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'transactions');
    this.file = join(this.dir, 'txn.log');
  }

  /** Reads every whole record; a torn final record (a crash mid-write) was never acknowledged and is ignored. */
  load(): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch {
      buf = Buffer.alloc(0);
    }
    this.replay(buf, 0);
  }

  /** Reader processes: picks up records the writer appended since the last look. */
  refresh(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return;
    }
    if (st.size < this.size) {
      // Rewritten as a snapshot by the writer: start over.
      this.producers.clear();
      this.lastCommitted.clear();
      this.lastCommit.clear();
      this.size = 0;
      this.records = 0;
    }
    if (st.size === this.size) return;
    const fd = fs.openSync(this.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(st.size - this.size);
      const n = fs.readSync(fd, buf, 0, buf.length, this.size);
      this.replay(buf.subarray(0, n), this.size);
    } finally {
      fs.closeSync(fd);
    }
  }

  private replay(buf: Buffer, base: number): void {
    const { values, end } = decodeFrames<TxnRecord>(buf);
    for (const r of values) this.apply(r);
    this.records += values.length;
    this.size = base + end;
  }

  private apply(r: TxnRecord): void {
    if (r.t === 'init') {
      this.producers.set(r.tid, { pid: r.pid, epoch: r.epoch });
      this.nextPid = Math.max(this.nextPid, r.pid + 1);
    } else {
      this.lastCommitted.set(`${r.pid}:${r.epoch}`, r.seq);
      this.lastCommit.set(r.pid, { epoch: r.epoch, seq: r.seq, writes: r.writes, offsets: r.offsets });
    }
  }

  /** The writer: opens the file for appending (dropping a torn tail). */
  openForWrite(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.load();
    this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    fs.ftruncateSync(this.fd, this.size);
    fsyncDir(this.dir);
  }

  /** Registers a producer: a known transactional id keeps its producer id and gets the next epoch. */
  async init(tid: string): Promise<{ pid: number; epoch: number }> {
    const known = this.producers.get(tid);
    const rec: TxnRecord = { t: 'init', tid, pid: known?.pid ?? this.nextPid, epoch: known ? known.epoch + 1 : 0 };
    await this.append(rec);
    return { pid: rec.pid, epoch: rec.epoch };
  }

  /** The commit point: once this resolves, the transaction is committed, durably. */
  async commit(pid: number, epoch: number, seq: number, writes: TxnWriteRange[], offsets: TxnOffset[]): Promise<void> {
    await this.append({ t: 'commit', pid, epoch, seq, writes, offsets });
  }

  lastCommittedSeq(pid: number, epoch: number): number {
    return this.lastCommitted.get(`${pid}:${epoch}`) ?? 0;
  }

  /** The last commit of a producer (to answer a retry of it). */
  lastCommitOf(pid: number): { epoch: number; seq: number; writes: TxnWriteRange[]; offsets: TxnOffset[] } | undefined {
    return this.lastCommit.get(pid);
  }

  /**
   * A transactional batch below the last stable offset: committed if its
   * sequence was committed in its epoch, otherwise aborted (its transaction
   * failed, or its producer died before committing).
   */
  visibility(pid: number, epoch: number, seq: number): BatchVisibility {
    return seq <= this.lastCommittedSeq(pid, epoch) ? 'committed' : 'aborted';
  }

  /** Every commit's offsets, in log order: recovery re-applies those the group stores may have missed. */
  committedOffsets(): TxnOffset[] {
    const out: TxnOffset[] = [];
    for (const c of this.lastCommit.values()) out.push(...c.offsets);
    return out;
  }

  private async append(rec: TxnRecord): Promise<void> {
    if (this.fd < 0) throw new Error('internal: the transaction log is not open for writing');
    if (this.records >= REWRITE_AFTER) this.rewrite();
    if (this.failure) throw this.failure;
    const buf = encodeFrame(rec);
    try {
      await io.writev(this.fd, [buf], this.size);
      await io.fdatasync(this.fd);
    } catch (e) {
      // The caller is told this record failed, so it must not turn up after a restart: cut it
      // off. If even that fails, nothing more may be decided until the log is reopened.
      try {
        fs.ftruncateSync(this.fd, this.size);
        fs.fdatasyncSync(this.fd);
      } catch {
        this.failure = e as Error;
      }
      throw e;
    }
    this.size += buf.length;
    this.records++;
    this.apply(rec);
  }

  /**
   * Replaces the file with the current state: one init per producer, one
   * commit per (producer, epoch) holding its last committed sequence.
   */
  private rewrite(): void {
    const recs: TxnRecord[] = [];
    for (const [tid, p] of this.producers) recs.push({ t: 'init', tid, pid: p.pid, epoch: p.epoch });
    for (const [k, seq] of this.lastCommitted) {
      const [pid, epoch] = k.split(':').map(Number) as [number, number];
      const last = this.lastCommit.get(pid);
      const same = last && last.epoch === epoch && last.seq === seq;
      recs.push({ t: 'commit', pid, epoch, seq, writes: same ? last.writes : [], offsets: same ? last.offsets : [] });
    }
    const buf = Buffer.concat(recs.map(encodeFrame));
    replaceFile(this.file, buf);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'r+');
    this.size = buf.length;
    this.records = recs.length;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
