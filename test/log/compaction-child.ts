// Child process of test/log/compaction.test.ts: appends keyed records (some
// tombstones) to a compacted topic with small segments, so compaction runs
// over and over in the background, and prints one JSON line per acknowledged
// append: {"base": <offset>, "records": [[key, value], ...]}. The parent kills
// it with SIGKILL at a random moment.
//
//   node --import tsx test/log/compaction-child.ts <dataDir> <round>

import { openFileLog } from '../../src/log/file/file-log.ts';
import { prng } from '../helpers/crash-records.ts';

const [dataDir, roundArg] = process.argv.slice(2);
if (!dataDir || roundArg === undefined) {
  process.stderr.write('usage: compaction-child.ts <dataDir> <round>\n');
  process.exit(2);
}
const round = Number(roundArg);
const rand = prng(1000 + round);
// Never outlive a parent that forgot us.
setTimeout(() => process.exit(3), 30_000).unref();

const log = await openFileLog({ dataDir, maintenanceIntervalMs: 20 });
if (!(await log.listTopics()).some((t) => t.name === 'cmp')) await log.createTopic('cmp', { compact: true, file: { segmentBytes: 1500 } });
process.stdout.write('ready\n');

let i = 0;
function issue(): void {
  const records: [string, string | null][] = [];
  for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) {
    records.push([`k${Math.floor(rand() * 30)}`, rand() < 0.1 ? null : `r${round}-${i++}-${'p'.repeat(Math.floor(rand() * 80))}`]);
  }
  log.append('cmp', 0, records.map(([k, v]) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v) }))).then(
    (res) => {
      process.stdout.write(JSON.stringify({ base: res.baseOffset, records }) + '\n');
      issue();
    },
    (e: unknown) => {
      process.stderr.write(`append failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
for (let k = 0; k < 3; k++) issue();
