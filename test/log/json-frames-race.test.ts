// A reader of a frame file (the transaction log, group offsets) beside the
// process that writes it: each append writes a frame and then rewrites the
// header's synced length, so a read that takes the file's size before an append
// and its header after it (readFileSync does: fstat, then read) saw a header
// claiming more bytes than it read, "truncated", and reported false damage. The
// reader re-reads a bounded number of times before reporting; real damage stays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { frameFileBytes, readFrameFile } from '../../src/log/file/json-frames.ts';
import { tmpDir } from '../helpers/tmp.ts';

const CHILD = fileURLToPath(new URL('./frame-writer-child.ts', import.meta.url));
const APPENDS = 8_000;

test('a reader beside a real writer process never reports damage that is not there', async (t) => {
  const file = join(tmpDir(t), 'frames');
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, String(APPENDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let running = true;
  void exited.then(() => (running = false));
  await once(child.stdout, 'data');
  let reads = 0;
  let last = 0;
  while (running) {
    // Reads in bursts (the race window is microseconds wide), yielding between them to see the exit.
    for (let k = 0; k < 50; k++) {
      const scan = readFrameFile<{ i: number }>(file);
      reads++;
      assert.deepEqual(scan?.damage ?? [], [], `read ${reads}, while the writer appends: no damage`);
      const n = scan?.values.length ?? 0;
      assert.ok(n >= last, 'records never disappear');
      last = n;
    }
    await new Promise((r) => setImmediate(r));
  }
  const [code] = (await exited) as [number | null];
  t.diagnostic(`${reads} reads beside ${APPENDS} appends`);
  assert.equal(code, 0);
  const final = readFrameFile<{ i: number }>(file)!;
  assert.equal(final.values.length, APPENDS);
  assert.ok(reads > 100, `the reader overlapped the writer (${reads} reads)`);
});

test('real damage is still reported after the re-reads', (t) => {
  const file = join(tmpDir(t), 'frames');
  const buf = frameFileBytes([{ a: 1 }, { a: 2 }, { a: 3 }]);
  const at = buf.length - 12; // inside a whole frame before the end: not a torn tail
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(file, buf);
  const scan = readFrameFile(file)!;
  assert.equal(scan.damage.length, 1, JSON.stringify(scan.damage));
});
