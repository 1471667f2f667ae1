// Committed offsets of one consumer group, on disk: `groups/<group>/offsets.log`,
// a sequence of CRC-framed JSON commits (json-frames.ts: frames plus a header
// recording the synced length); the newest value per topic/partition wins. A
// torn final frame (crash mid-commit) is ignored: that commit was never
// acknowledged. Anything else wrong with the file is damage: it refuses this
// group only (reading it as "no offsets" would rewind the group to the start).
// The file is rewritten as one snapshot frame when it grows.
//
// Each group has its own lock, separate from the data dir's writer lock, so a
// `sluice consume --group` in one process can commit while `sluice produce`
// appends in another.

import fs from 'node:fs';
import { join } from 'node:path';
import type { TopicPartitionOffset } from '../log.ts';
import { fsyncDir, type FsyncObserver } from './io.ts';
import { FrameWriter, frameFileBytes, readFrameFile, replaceFile, type FrameScan } from './json-frames.ts';
import { acquireLock, type Lock } from './lock.ts';
import { validateGroupName } from '../topic-config.ts';
import { DamageReport, damagedError, type Damage } from './damage.ts';
import { fileError } from './file-errors.ts';

const REWRITE_AFTER_FRAMES = 1000;

/** The topic id says which incarnation of the topic the offset belongs to (absent in old files). */
type Entry = [topic: string, partition: number, offset: number, topicId?: string];

export interface StoredOffset extends TopicPartitionOffset {
  topicId?: string;
}

export class GroupStore {
  readonly group: string;
  private readonly dir: string;
  readonly file: string;
  private readonly damage: DamageReport;
  private lock: Lock | null = null;
  private writer: FrameWriter | null = null;
  private offsets = new Map<string, StoredOffset>();
  private queue: Promise<void> = Promise.resolve();
  /** Set when loading found damage: what was reported, so the writer refuses too. */
  private damagedBy: Damage | null = null;
  private readonly onFsync: FsyncObserver | undefined;

  constructor(groupsDir: string, group: string, damage = new DamageReport('refuse'), onFsync?: FsyncObserver) {
    this.onFsync = onFsync;
    validateGroupName(group);
    this.group = group;
    this.dir = join(groupsDir, encodeURIComponent(group));
    this.file = join(this.dir, 'offsets.log');
    this.damage = damage;
  }

  /** Reads the committed offsets from disk (no lock needed: a reader sees whole frames only); reports damage. */
  load(): StoredOffset[] {
    return this.read().offsets;
  }

  private read(): { offsets: StoredOffset[]; scan: FrameScan<Entry[]> | null } {
    this.offsets.clear();
    const scan = readFrameFile<Entry[]>(this.file);
    for (const entries of scan?.values ?? []) {
      for (const [topic, partition, offset, topicId] of entries) {
        this.offsets.set(`${topic}\0${partition}`, topicId === undefined ? { topic, partition, offset } : { topic, partition, offset, topicId });
      }
    }
    this.damagedBy = null;
    if (scan) for (const d of scan.damage) this.report(d.problem, d.truncated ? `bytes ${d.at}-${d.to}, which are gone` : `bytes ${d.at}-${d.to}`, scan.values.length);
    else if (this.dirHoldsMore()) this.report('the offsets file is missing, but the group directory exists', 'the whole file', 0);
    return { offsets: [...this.offsets.values()], scan };
  }

  /**
   * A group's directory gets its offsets file before anything else (acquire), so anything else
   * there without it means it was lost. The file being there *now* means a writer created the
   * group after the read found no file: the group had no commits then, it is not damaged.
   */
  private dirHoldsMore(): boolean {
    try {
      const names = fs.readdirSync(this.dir);
      return names.length > 0 && !names.includes('offsets.log');
    } catch {
      return false;
    }
  }

  private report(problem: string, range: string, kept: number): void {
    const current = [...this.offsets.values()];
    const d: Damage = {
      file: this.file,
      problem,
      loss: `the commits of group "${this.group}" in ${range}: for each partition the group keeps the newest readable offset (${current.length === 0 ? 'none: the group would start from its reset policy' : current.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(', ')}), so a partition committed only there is read again from an earlier offset`,
      action: `rewrite ${this.file} from its ${kept} readable commits`,
      repair: () => replaceFile(this.file, frameFileBytes([current.map(entry)])),
    };
    this.damagedBy = d;
    this.damage.report(d);
  }

  /** Makes this process the group's writer; fails with LOCKED if another process is. */
  acquire(): void {
    if (this.lock) return;
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      // The offsets file exists before the lock does: a group dir with anything in it has one.
      fs.closeSync(fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644));
      fsyncDir(this.dir);
    } catch (e) {
      throw fileError(e, 'create', this.file);
    }
    this.lock = acquireLock(
      join(this.dir, 'LOCK'),
      `consumer group "${this.group}"`,
      'Members of one group in different processes need the broker: run `sluice serve` and pass --broker to each of them.',
    );
    try {
      const { scan } = this.read();
      // Collect mode (sluice repair) reports without throwing; nothing may be written to a damaged file.
      if (this.damagedBy) throw damagedError(this.damagedBy, this.damage.dataDir);
      this.writer = new FrameWriter(this.file, this.onFsync);
      this.writer.open(scan);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  commit(offsets: StoredOffset[]): Promise<void> {
    this.acquire();
    const run = this.queue.then(() => this.write(offsets));
    this.queue = run.catch(() => {});
    return run;
  }

  private async write(offsets: StoredOffset[]): Promise<void> {
    for (const o of offsets) this.offsets.set(`${o.topic}\0${o.partition}`, { ...o });
    if (this.writer!.frames >= REWRITE_AFTER_FRAMES) this.writer!.replace([[...this.offsets.values()].map(entry)]);
    else await this.writer!.append(offsets.map(entry));
  }

  current(): StoredOffset[] {
    return [...this.offsets.values()];
  }

  close(): void {
    this.writer?.close();
    this.writer = null;
    this.lock?.release();
    this.lock = null;
  }
}

function entry(o: StoredOffset): Entry {
  return o.topicId === undefined ? [o.topic, o.partition, o.offset] : [o.topic, o.partition, o.offset, o.topicId];
}

export function listGroupNames(groupsDir: string): string[] {
  try {
    return fs
      .readdirSync(groupsDir)
      .map((n) => decodeURIComponent(n))
      .sort();
  } catch {
    return [];
  }
}
