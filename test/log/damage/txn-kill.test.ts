// kill -9 while transactions and group commits are being written never reads
// as damage (issue 13): the torn frame a kill leaves is past the synced length
// the header records, so the next writer opens silently, with every
// acknowledged transaction visible.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { prng } from '../../helpers/crash-records.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { values } from '../suite/transactions.ts';

const CHILD = fileURLToPath(new URL('./txn-child.ts', import.meta.url));
const ROUNDS = 8;

/** Runs the child until it has acknowledged `acks` transactions, then SIGKILLs it; returns what it acknowledged. */
function runChild(dataDir: string, round: number, acks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        acked.push(buffered.slice(4, nl));
        buffered = buffered.slice(nl + 1);
        if (acked.length === acks) child.kill('SIGKILL');
      }
    });
    child.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`child exited by itself (${code}): ${stderr}`))));
  });
}

test(`kill -9 mid-commit: the transaction log and group offsets open silently, every acknowledged transaction visible (${ROUNDS} rounds)`, async (t) => {
  const dataDir = tmpDir(t, 'sluice-txn-kill-');
  const random = prng(1313);
  const acked: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    acked.push(...(await runChild(dataDir, round, 1 + Math.floor(random() * 30))));
    const log = await openFileLog({ dataDir }); // a false DAMAGED fails here
    try {
      const visible = await values(log, 'out', 0);
      const set = new Set(visible);
      for (const a of acked) assert.ok(set.has(a), `acknowledged ${a} is visible after round ${round}`);
      assert.equal(set.size, visible.length, 'nothing twice');
      const [g] = await log.committedOffsets('g');
      assert.ok(g !== undefined && g.offset >= Number(acked[acked.length - 1]!.split(':')[1]), 'the group is not rewound');
    } finally {
      await log.close();
    }
  }
});
