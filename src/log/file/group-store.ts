// Committed offsets of one consumer group, on disk: `groups/<group>/offsets.log`,
// a sequence of CRC-framed JSON commits; the newest value per topic/partition
// wins. A torn final frame (crash mid-commit) is ignored: that commit was never
// acknowledged. The file is rewritten as one snapshot frame when it grows.
//
// Each group has its own lock, separate from the data dir's writer lock, so a
// `sluice consume --group` in one process can commit while `sluice produce`
// appends in another.

import fs from 'node:fs';
import { join } from 'node:path';
import type { TopicPartitionOffset } from '../log.ts';
import { io, fsyncDir } from './io.ts';
import { decodeFrames, encodeFrame, replaceFile } from './json-frames.ts';
import { acquireLock, type Lock } from './lock.ts';
import { validateGroupName } from '../topic-config.ts';

const REWRITE_AFTER_FRAMES = 1000;

/** The topic id says which incarnation of the topic the offset belongs to (absent in old files). */
type Entry = [topic: string, partition: number, offset: number, topicId?: string];

export interface StoredOffset extends TopicPartitionOffset {
  topicId?: string;
}

export class GroupStore {
  readonly group: string;
  private readonly dir: string;
  private readonly file: string;
  private lock: Lock | null = null;
  private fd = -1;
  private size = 0;
  private frames = 0;
  private offsets = new Map<string, StoredOffset>();
  private queue: Promise<void> = Promise.resolve();

  constructor(groupsDir: string, group: string) {
    validateGroupName(group);
    this.group = group;
    this.dir = join(groupsDir, encodeURIComponent(group));
    this.file = join(this.dir, 'offsets.log');
  }

  /** Reads the committed offsets from disk (no lock needed: a reader sees whole frames only). */
  load(): StoredOffset[] {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch {
      buf = Buffer.alloc(0);
    }
    this.offsets.clear();
    const { values, end } = decodeFrames<Entry[]>(buf);
    for (const entries of values) {
      for (const [topic, partition, offset, topicId] of entries) {
        this.offsets.set(`${topic}\0${partition}`, topicId === undefined ? { topic, partition, offset } : { topic, partition, offset, topicId });
      }
    }
    this.size = end;
    this.frames = values.length;
    return [...this.offsets.values()];
  }

  /** Makes this process the group's writer; fails with LOCKED if another process is. */
  acquire(): void {
    if (this.lock) return;
    fs.mkdirSync(this.dir, { recursive: true });
    this.lock = acquireLock(
      join(this.dir, 'LOCK'),
      `consumer group "${this.group}"`,
      'Members of one group in different processes need the broker: run `sluice serve` and pass --broker to each of them.',
    );
    this.load();
    // Drop a torn tail so the next frame starts on a boundary.
    this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    fs.ftruncateSync(this.fd, this.size);
    fsyncDir(this.dir);
  }

  commit(offsets: StoredOffset[]): Promise<void> {
    this.acquire();
    const run = this.queue.then(() => this.write(offsets));
    this.queue = run.catch(() => {});
    return run;
  }

  private async write(offsets: StoredOffset[]): Promise<void> {
    for (const o of offsets) this.offsets.set(`${o.topic}\0${o.partition}`, { ...o });
    if (this.frames >= REWRITE_AFTER_FRAMES) return this.rewrite();
    const buf = encodeFrame(offsets.map(entry));
    await io.writev(this.fd, [buf], this.size);
    await io.fdatasync(this.fd);
    this.size += buf.length;
    this.frames++;
  }

  /** Replaces the file with a single snapshot frame (temp file + fsync + rename). */
  private rewrite(): void {
    const buf = encodeFrame([...this.offsets.values()].map(entry));
    replaceFile(this.file, buf);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'r+');
    this.size = buf.length;
    this.frames = 1;
  }

  current(): StoredOffset[] {
    return [...this.offsets.values()];
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
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
