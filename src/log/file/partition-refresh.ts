// How a reader in another process keeps up with the writer. It never trusts
// sizes alone: it scans newly written bytes and counts only whole batches with
// valid CRCs, so it sees exactly what is complete, never a half-written append.

import fs from 'node:fs';
import type { Partition } from './partition.ts';
import { Segment, parseSegmentFileName, segmentFileName } from './segment.ts';
import { scanBatches } from './scan.ts';
import { readPublishedWatermark } from './watermark-file.ts';

const FULL_LISTING_EVERY_MS = 1000;
const lastListing = new WeakMap<Partition, number>();
const inFlight = new WeakMap<Partition, Promise<void>>();

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
  // Never past what the writer has acknowledged (see watermark-file.ts).
  const published = readPublishedWatermark(p.dir);
  p.highWatermark = published === null ? seg.nextOffset : Math.min(seg.nextOffset, published.highWatermark);
  p.publishedLso = published === null ? null : published.lastStableOffset;
}

/** Scans bytes appended since the last look; stops before an incomplete batch. */
async function scanTail(seg: Segment): Promise<void> {
  let fileSize: number;
  try {
    fileSize = fs.fstatSync(seg.fd).size;
  } catch {
    return;
  }
  if (fileSize <= seg.size) return;
  const scan = await scanBatches(seg.fd, seg.size, fileSize, seg.nextOffset, (h, position) => seg.onAppended(h, position));
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
        seg = (await Segment.open(path, base, { writable: false, full: last })).segment;
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
    return fs.statSync(seg.path).ino !== fs.fstatSync(seg.fd).ino;
  } catch {
    return true;
  }
}
