// Child of index-read-errors.test.ts: persists an index for the segment at argv[2], uses up
// every file descriptor, then loads the index and prints what happened as one JSON line.
import fs from 'node:fs';
import { SegmentIndex } from '../../src/log/file/segment-index.ts';

const log = process.argv[2]!;
fs.writeFileSync(log, Buffer.alloc(100));
const index = new SegmentIndex();
index.onBatch(0, 0, 1000, 100);
index.persist(log, 100);

const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.message));
const held: number[] = [];
for (;;) {
  try {
    held.push(fs.openSync('/dev/null', 'r'));
  } catch {
    break;
  }
}
let outcome: Record<string, unknown>;
try {
  const loaded = SegmentIndex.load(log, 100);
  outcome = { loaded: loaded !== null };
} catch (e) {
  outcome = { threw: (e as { code?: string }).code, message: (e as Error).message };
}
for (const fd of held) fs.closeSync(fd);
// Warnings are emitted on the next tick.
setImmediate(() => console.log(JSON.stringify({ ...outcome, warnings })));
