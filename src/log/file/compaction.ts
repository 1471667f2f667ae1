// Log compaction: in the closed segments of a compacted topic, keep only the
// newest record per key; drop tombstones (null values) once they are older than
// deleteRetentionMs, so consumers that were behind still see the delete.
// Offsets are preserved (each kept record keeps its offset; gaps remain).
//
// Each segment is rewritten to `<file>.cleaned`, fsynced, and renamed over the
// original: a crash leaves either the old file or the new one, and leftover
// `.cleaned` files are deleted on open.

import fs from 'node:fs';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, decodeRecords, encodeBatch, type BatchHeader } from '../batch.ts';
import type { LogRecord } from '../../record.ts';
import type { Partition } from './partition.ts';
import { Segment } from './segment.ts';
import { scanBatches } from './scan.ts';
import { fsyncDir } from './io.ts';

function keyString(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1');
}

async function eachBatch(seg: Segment, visit: (h: BatchHeader, records: LogRecord[], raw: Buffer) => void): Promise<void> {
  await scanBatches(seg.fd, 0, seg.size, seg.baseOffset, (h, _pos, buf, bufPos) => {
    const records: LogRecord[] = [];
    if ((h.attributes & ATTR_CONTROL) === 0) decodeRecords(buf, bufPos, h, 0, records, Infinity);
    visit(h, records, buf.subarray(bufPos, bufPos + h.size));
  });
}

/**
 * Records of transactions not committed (aborted, or still in flight) neither
 * count as a key's newest value nor survive: an in-flight transaction that
 * later aborts must not have displaced the value before it.
 */
function committed(p: Partition, h: BatchHeader): boolean {
  if ((h.attributes & ATTR_TRANSACTIONAL) === 0 || p.visibility === null) return true;
  return p.visibility(h.producerId, h.producerEpoch, h.baseSequence) === 'committed';
}

/** Compacts the closed segments of `p`. Returns how many records were removed. */
export async function compactPartition(p: Partition, now: number): Promise<number> {
  const snapshot = p.segments;
  // Segments reaching past the last stable offset hold undecided transactions: leave them for later.
  const closed = snapshot.slice(0, -1).filter((seg) => seg.nextOffset <= p.lastStableOffset);
  if (closed.length === 0) return 0;
  const latest = new Map<string, number>();
  for (const seg of snapshot) {
    await eachBatch(seg, (h, records) => {
      if (!committed(p, h)) return;
      for (const r of records) if (r.key) latest.set(keyString(r.key), r.offset);
    });
  }
  const tombstoneHorizon = now - p.config.deleteRetentionMs;
  let removed = 0;
  for (const seg of closed) {
    const out: Buffer[] = [];
    let dropped = 0;
    await eachBatch(seg, (h, records, raw) => {
      if (h.attributes & ATTR_CONTROL) {
        out.push(Buffer.from(raw)); // transaction markers are kept as they are
        return;
      }
      const live = committed(p, h);
      const kept = records.filter((r) => {
        if (!live) return false;
        const newest = r.key !== null && latest.get(keyString(r.key)) === r.offset;
        return newest && !(r.value === null && h.appendTime < tombstoneHorizon);
      });
      dropped += records.length - kept.length;
      if (kept.length > 0) {
        out.push(
          encodeBatch(kept, {
            baseOffset: h.baseOffset,
            appendTime: h.appendTime,
            attributes: h.attributes,
            producer: h.producerId >= 0 ? { producerId: h.producerId, producerEpoch: h.producerEpoch, baseSequence: h.baseSequence } : undefined,
            offsetDeltas: kept.map((r) => r.offset - h.baseOffset),
          }),
        );
      }
    });
    if (dropped === 0) continue;
    removed += dropped;
    if (out.length === 0) {
      p.segments = p.segments.filter((s) => s !== seg);
      seg.delete();
      continue;
    }
    const cleaned = seg.path + '.cleaned';
    const fd = fs.openSync(cleaned, 'w');
    try {
      for (const b of out) fs.writeSync(fd, b);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(cleaned, seg.path);
    const { segment } = await Segment.open(seg.path, seg.baseOffset, { writable: true, full: true });
    p.segments = p.segments.map((s) => (s === seg ? segment : s));
    seg.close();
  }
  if (removed > 0) fsyncDir(p.dir);
  return removed;
}
