// Child process of test/log/crash.test.ts: opens the log (fsync `always`),
// appends batches of crashRecord()s to 2 partitions with several appends in
// flight (so group commit batches them), and prints one line per acknowledged
// batch:  ack <partition> <baseOffset> <lastOffset> <firstIndex> <count>
// The parent kills it with SIGKILL at a random moment.
//
//   node --import tsx test/helpers/append-child.ts <dataDir> <round> <seed>

import { openFileLog } from '../../src/log/file/file-log.ts';
import { CRASH_TOPIC, crashRecord, prng } from './crash-records.ts';

const [dataDir, roundArg, seedArg] = process.argv.slice(2);
if (!dataDir || roundArg === undefined || seedArg === undefined) {
  process.stderr.write('usage: append-child.ts <dataDir> <round> <seed>\n');
  process.exit(2);
}
const round = Number(roundArg);
const rand = prng(Number(seedArg));
// Never outlive a parent that forgot us.
setTimeout(() => process.exit(3), 300_000).unref(); // minutes: a busy machine must not end a round early

const log = await openFileLog({ dataDir });
process.stdout.write(`ready ${process.pid}\n`);

const next = [0, 0];
const inFlightTarget = 2 + Math.floor(rand() * 7);
let inFlight = 0;

function issue(): void {
  const p = rand() < 0.5 ? 0 : 1;
  const r = rand();
  const count = r < 0.3 ? 1 : r < 0.9 ? 1 + Math.floor(rand() * 20) : 50 + Math.floor(rand() * 150);
  const first = next[p]!;
  next[p] = first + count;
  const records = [];
  for (let i = first; i < first + count; i++) records.push(crashRecord(round, p, i));
  inFlight++;
  log.append(CRASH_TOPIC, p, records).then(
    (res) => {
      process.stdout.write(`ack ${p} ${res.baseOffset} ${res.lastOffset} ${first} ${count}\n`);
      inFlight--;
      fill();
    },
    (e: unknown) => {
      process.stderr.write(`append failed: ${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}

function fill(): void {
  while (inFlight < inFlightTarget) issue();
}

fill();
