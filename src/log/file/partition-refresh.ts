// How a reader in another process keeps up with the writer. It never trusts
// sizes alone: it scans newly written bytes and counts only whole batches with
// valid CRCs, so it sees exactly what is complete, never a half-written append.
//
// While the writer lives, the reader also stops at its published watermarks
// (watermark-file.ts). Without a live writer, those may be stale (killed
// between a batch's fsync and its publication, or a torn or copied file) and
// would hide durable records, so the reader goes by what it verified on disk;
// if the hw file's synced end is beyond that, records a writer made durable are
// missing: reads there fail with DAMAGED instead of looking like the end.

import fs from 'node:fs';
import { resolve } from 'node:path';
import type { Partition } from './partition.ts';
import { Segment, parseSegmentFileName, segmentFileName } from './segment.ts';
import { scanBatches } from './scan.ts';
import { readPublishedWatermark, watermarkPath } from './watermark-file.ts';
import { isLockHeld } from './lock.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';

const FULL_LISTING_EVERY_MS = 1000;
const lastListing = new WeakMap<Partition, number>();
const inFlight = new WeakMap<Partition, Promise<void>>();
/** A writer seen alive is taken as alive this long, so busy readers do not probe its lock at every read. */
const ALIVE_FOR_MS = 1000;
const seenAlive = new Map<string, number>();

function writerAlive(lockPath: string | undefined): boolean {
  if (lockPath === undefined) return true;
  const now = Date.now();
  if (now - (seenAlive.get(lockPath) ?? -Infinity) < ALIVE_FOR_MS) return true;
  const alive = isLockHeld(lockPath);
  if (alive) seenAlive.set(lockPath, now);
  else seenAlive.delete(lockPath);
  return alive;
}

export function refreshFromDisk(p: Partition): Promise<void> {
  // Concurrent callers share one refresh: it is not safe to scan the same tail twice at once.
  let run = inFlight.get(p);
  if (!run) {
    run = doRefresh(p).finally(() => inFlight.delete(p));
    inFlight.set(p, run);
  }
  return run;
}

async function doRefresh(p: Partition): Promise<void> {
  const now = Date.now();
  const active = p.segments[p.segments.length - 1];
  const rolled = active !== undefined && fs.existsSync(`${p.dir}/${segmentFileName(active.nextOffset)}`) && active.nextOffset !== active.baseOffset;
  if (active === undefined || rolled || now - (lastListing.get(p) ?? 0) >= FULL_LISTING_EVERY_MS) {
    lastListing.set(p, now);
    await syncSegmentList(p);
    // The segment we tailed may have grown before the writer rolled away from it: finish
    // scanning it, or reads would skip from its stale end straight into the next segment.
    if (active !== undefined && active !== p.segments[p.segments.length - 1] && p.segments.includes(active)) await scanTail(active);
  }
  const seg = p.segments[p.segments.length - 1];
  if (!seg) return;
  await scanTail(seg);
  const scanned = seg.nextOffset;
  const published = readPublishedWatermark(p.dir);
  // The published watermarks would hide records scanned here, or claim synced records not found.
  const hides = published === null || published.highWatermark < scanned || published.lastStableOffset < scanned;
  const short = published !== null && published.syncedEnd > scanned;
  p.damaged = null;
  if (!hides && !short) {
    p.highWatermark = scanned;
    p.publishedLso = null;
  } else if (!writerAlive(p.lockPath)) {
    // No writer whose acknowledgements could still be on their way: what is on disk is all there is.
    p.highWatermark = scanned;
    p.publishedLso = null;
    if (short) p.damaged = missingError(p, seg.path, scanned, published.syncedEnd);
  } else if (published !== null) {
    // Never past what the live writer has acknowledged.
    p.highWatermark = Math.min(scanned, published.highWatermark);
    p.publishedLso = published.lastStableOffset;
  } else {
    // Torn mid-update or damaged while the writer lives: keep the last good view until it publishes again.
    p.highWatermark = Math.min(scanned, p.highWatermark);
  }
}

function missingError(p: Partition, file: string, end: number, synced: number): SluiceError {
  return new SluiceError(
    ErrorCodes.DAMAGED,
    `${p.where(end)}: ${watermarkPath(p.dir)} says offsets below ${synced} were written and synced, but ${file} ends at offset ${end}: offsets ${end}-${synced - 1} are missing. ` +
      `Nothing is returned past the damage. Run \`sluice repair --data-dir ${resolve(p.dir, '..', '..', '..')}\` to see what a repair would do.`,
    { topic: p.topic, partition: p.partition, offset: end, file },
  );
}

/** Scans bytes appended since the last look; stops before an incomplete batch. */
async function scanTail(seg: Segment): Promise<void> {
  let fileSize: number;
  try {
    fileSize = fs.statSync(seg.path).size;
  } catch {
    return;
  }
  if (fileSize <= seg.size || seg.file.closed) return;
  const scan = await seg.withFd((fd) => scanBatches(fd, seg.size, fileSize, seg.nextOffset, (h, position) => seg.onAppended(h, position)));
  seg.corrupt.push(...scan.corrupt);
}

async function syncSegmentList(p: Partition): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(p.dir);
  } catch {
    names = [];
  }
  const onDisk = new Map<number, string>();
  for (const n of names) {
    const base = parseSegmentFileName(n);
    if (base !== null) onDisk.set(base, `${p.dir}/${n}`);
  }
  const bases = [...onDisk.keys()].sort((a, b) => a - b);
  const known = new Map(p.segments.map((s) => [s.baseOffset, s]));
  const next: Segment[] = [];
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const path = onDisk.get(base)!;
    const last = i === bases.length - 1;
    let seg = known.get(base);
    if (seg && replaced(seg)) seg = undefined; // compaction swapped the file: reopen the new one
    if (!seg) {
      try {
        seg = (await Segment.open(path, base, { writable: false, full: last, files: p.files })).segment;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted while we looked
        throw e;
      }
    }
    next.push(seg);
  }
  const kept = new Set(next);
  for (const s of p.segments) if (!kept.has(s)) s.close();
  p.segments = next;
}

function replaced(seg: Segment): boolean {
  try {
    // The inode first opened, not the open fd's: the cache may have closed that one.
    return fs.statSync(seg.path).ino !== seg.file.ino;
  } catch {
    return true;
  }
}
