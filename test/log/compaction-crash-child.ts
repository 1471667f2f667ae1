// Child process of test/log/compaction-crash.test.ts: opens the data dir as a
// writer and dies by SIGKILL at one exact step of a compaction run or of a
// segment roll, found by wrapping the fs call that step makes. Prints
// `at <step>` (synchronously) just before it dies; `done` and exit 0 if the
// step never came (the parent fails then). For roll steps it appends records
// and prints `acked <last offset>` after each acknowledged append.
//
//   node --import tsx test/log/compaction-crash-child.ts <dataDir> <step> <next offset>

import fs from 'node:fs';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { appendRecords, C, logOptions } from './damage/compacted-helpers.ts';

const [dataDir, step, nextArg] = process.argv.slice(2);
if (!dataDir || !step || nextArg === undefined) {
  process.stderr.write('usage: compaction-crash-child.ts <dataDir> <step> <next offset>\n');
  process.exit(2);
}
setTimeout(() => process.exit(3), 60_000).unref();

function die(): never {
  fs.writeSync(1, `at ${step}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

type Fn = (...args: never[]) => unknown;
/** Wraps fs[name]: `before` may die before the real call, `after` after it. */
function wrap(name: 'openSync' | 'renameSync' | 'rmSync', when: (args: unknown[]) => 'before' | 'after' | null): void {
  const real = fs[name] as Fn;
  (fs as unknown as Record<string, Fn>)[name] = (...args: never[]) => {
    const w = when(args);
    if (w === 'before') die();
    const out = real(...args);
    if (w === 'after') die();
    return out;
  };
}

const str = (a: unknown) => String(a);
let renamed = false;
const creates = (args: unknown[]) => str(args[0]).endsWith('.log') && typeof args[1] === 'number' && (args[1] & fs.constants.O_CREAT) !== 0;
switch (step) {
  case 'cleaned-opened': // nothing written into it yet
    wrap('openSync', (a) => (str(a[0]).endsWith('.cleaned') ? 'after' : null));
    break;
  case 'cleaned-written': // written and fsynced, not renamed
    wrap('renameSync', (a) => (str(a[0]).endsWith('.cleaned') ? 'before' : null));
    break;
  case 'renamed': // renamed over the first segment, none of the merged-in ones deleted
    wrap('renameSync', (a) => (str(a[0]).endsWith('.cleaned') ? 'after' : null));
    break;
  case 'deleting': // the first merged-in segment file deleted, its indexes and the others not
    wrap('renameSync', (a) => {
      if (str(a[0]).endsWith('.cleaned')) renamed = true;
      return null;
    });
    wrap('rmSync', (a) => (renamed && str(a[0]).endsWith('.log') ? 'after' : null));
    break;
  case 'marker': // an older dir's upgrade: segments contiguous and durable, the marker not yet in place
    wrap('renameSync', (a) => (str(a[0]).endsWith('contiguous.tmp') ? 'before' : null));
    break;
  case 'roll-before': // the closed segment synced and indexed, the next one not created
    wrap('openSync', (a) => (creates(a) ? 'before' : null));
    break;
  case 'roll-created': // the next segment created, empty, the dir not synced
    wrap('openSync', (a) => (creates(a) ? 'after' : null));
    break;
  default:
    process.stderr.write(`unknown step ${step}\n`);
    process.exit(2);
}

const log = await openFileLog(logOptions(dataDir));
await log.getTopic(C);
if (step.startsWith('roll')) {
  const next = Number(nextArg);
  await appendRecords(log, next, next + 300, (last) => fs.writeSync(1, `acked ${last}\n`));
} else {
  await log.maintain();
}
fs.writeSync(1, 'done\n');
await log.close();
