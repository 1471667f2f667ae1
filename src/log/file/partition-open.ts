// Opening a partition: list its segments, scan them (the active one in full),
// judge damage against what is durably known about its end (partition-recovery.ts),
// truncate only a torn unsynced tail, and rebuild the producer window of
// idempotent appends. Writers then publish their watermarks; readers open
// read-only and judge the same damage.

import fs from 'node:fs';
import { fsyncDir } from './io.ts';
import { Segment, parseSegmentFileName, type OpenedSegment } from './segment.ts';
import { WatermarkWriter, readPublishedWatermark } from './watermark-file.ts';
import { findDamage, type EndEvidence } from './partition-recovery.ts';
import { damagedError, type DamageReport } from './damage.ts';
import { noteBatch, readProducerSnapshot, writeProducerSnapshot } from './producer-state.ts';
import { scanBatches } from './scan.ts';
import { gapsAreDamage } from './segment-continuity.ts';
import type { Partition } from './partition.ts';

export async function loadSegments(p: Partition, report: DamageReport, evidence: EndEvidence[]): Promise<void> {
  // Read before the listing: a marker seen says the segments listed after it are contiguous.
  const gaps = gapsAreDamage(p.dir, p.config.compact);
  let listing = await openListed(p, report);
  // A reader beside a live writer's compaction may open a segment before its merge and miss the
  // ones merged into it (deleted since the listing): a gap that is not there; or open a file
  // as it is replaced. List again.
  for (let tries = 1; listing.raced && p.config.compact && tries < RELISTS; tries++) {
    for (const s of p.segments) s.close();
    p.segments = [];
    listing = await openListed(p, report);
  }
  const { opened, hw } = listing;
  // Judged by writers, by `sluice repair`'s read-only dry run (so that it lists what --yes would
  // repair), and by readers, which must not return the records before damage as if they were all.
  // A reader beside a live writer judges the same things, and that is sound: closed segments
  // were synced whole before the next one was created, and the evidence (hw and the index, read
  // before the scan; the FileLog gives no transaction-log evidence while a writer lives, whose
  // deletes could outdate it) only covers bytes the writer wrote before it published them. The
  // active segment's unsynced tail is past every piece of evidence, so it is never judged.
  const all = hw ? [{ end: hw.syncedEnd, source: `${p.dir}/hw (the synced end)` }, ...evidence] : evidence;
  // A compacted partition still changing after RELISTS listings: no gap is judged rather than a false one.
  const judgeGaps = gaps && !(listing.raced && p.config.compact);
  const found = findDamage(p, opened, all, { midSegment: report.mode === 'collect', gapsAreDamage: judgeGaps });
  for (const d of found) report.report(d); // throws in 'refuse' mode
  if (found.length > 0) {
    // Collect mode (`sluice repair`): keep everything as found; this partition takes no appends.
    p.failure = damagedError(found[0]!);
    p.nextOffset = p.highWatermark = p.segments.length > 0 ? p.active.nextOffset : 0;
    return;
  }
  if (p.writable) {
    const last = opened[opened.length - 1];
    if (last && last.wholeEnd < last.fileSize) {
      // A crash tore the last append after the last sync point: it was never acknowledged, and
      // nothing durable says it existed, so dropping it loses nothing.
      last.segment.withFdSync((fd) => fs.ftruncateSync(fd, last.wholeEnd));
    }
  }
  if (p.segments.length === 0) {
    if (!p.writable) return;
    p.segments.push(Segment.create(p.dir, 0, p.files));
    fsyncDir(p.dir);
  }
  p.nextOffset = p.highWatermark = p.active.nextOffset;
  if (p.writable) {
    // What was recovered (page-cache data of a killed writer included) is synced before it is
    // published as synced, and the index saved to match it.
    p.active.withFdSync((fd) => fs.fdatasyncSync(fd));
    p.active.persistIndex();
    await restoreProducerWindow(p);
    p.syncedEnd = p.highWatermark;
    p.published = new WatermarkWriter(p.dir, p.watermarks(), p.files);
  }
}

/** The stamps of the closed segments, from the snapshot and the segments it does not cover, under the active one's. */
async function restoreProducerWindow(p: Partition): Promise<void> {
  const closed = p.segments.slice(0, -1);
  if (closed.length === 0) return;
  const snap = readProducerSnapshot(p.dir);
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
  if (stale.length > 0) writeProducerSnapshot(p.dir, p.active.baseOffset, below);
  for (const [id, last] of p.lastStamps) below.set(id, last);
  p.lastStamps = below;
}

function renamedOver(seg: Segment): boolean {
  try {
    return fs.statSync(seg.path).ino !== seg.file.ino;
  } catch {
    return true; // deleted since: a merge took it in
  }
}

/** How many times a reader lists a compacted partition that a live writer keeps changing under it. */
const RELISTS = 20;

/** Lists the partition's segments and opens them; `raced`: one was deleted or replaced between the listing and its opening. */
async function openListed(p: Partition, report: DamageReport): Promise<{ opened: OpenedSegment[]; hw: ReturnType<typeof readPublishedWatermark>; raced: boolean }> {
  let names: string[];
  try {
    names = fs.readdirSync(p.dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !p.writable) names = [];
    else throw e;
  }
  if (p.writable) {
    // Leftovers of an interrupted compaction or index write: the originals are intact.
    for (const n of names) if (n.endsWith('.cleaned') || n.endsWith('.tmp')) fs.rmSync(`${p.dir}/${n}`, { force: true });
  }
  const bases = names.map(parseSegmentFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
  // Read before the segments are scanned: a live writer appending meanwhile can only make the
  // scan longer than what this says was synced, never shorter (see the judgement below).
  const hw = readPublishedWatermark(p.dir);
  let opened: OpenedSegment[] = [];
  let raced = false;
  for (let i = 0; i < bases.length; i++) {
    const last = i === bases.length - 1;
    let o: OpenedSegment;
    try {
      o = await Segment.open(`${p.dir}/${names.find((n) => parseSegmentFileName(n) === bases[i])}`, bases[i]!, {
        writable: p.writable,
        // `sluice repair` scans every segment in full, to list bad batches anywhere.
        full: last || report.mode === 'collect',
        files: p.files,
        // The active segment's producer stamps rebuild the idempotence window after a restart.
        onBatch: last ? (h) => noteBatch(p.lastStamps, h) : undefined,
      });
    } catch (e) {
      // Gone with its whole directory: the topic was deleted meanwhile, which is no damage to report.
      if (p.writable || (e as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(p.dir)) throw e;
      raced = true;
      // A live writer deleted it since the listing. Retention deletes the oldest first, so the
      // segments before it are going too (keeping them would look like a gap); compaction's
      // merges delete segments whose records the one before now holds (the caller lists again).
      if (!p.config.compact) {
        for (const s of p.segments) s.close();
        p.segments = [];
        opened = [];
      }
      continue;
    }
    const segment = o.segment;
    if (!p.writable && p.config.compact && renamedOver(segment)) {
      // Compaction renamed a new file over it while it was opened: its index, read by path, may
      // be the new file's, judged against the old file's size (a false "shorter than its index").
      segment.close();
      raced = true;
      continue;
    }
    const prev = p.segments[p.segments.length - 1];
    if (prev && segment.baseOffset < prev.nextOffset) {
      // Taken into the segment before it by a compaction merge that a crash interrupted: its records are there.
      if (p.writable) segment.delete();
      else segment.close();
      continue;
    }
    p.segments.push(segment);
    opened.push(o);
  }
  return { opened, hw, raced };
}
