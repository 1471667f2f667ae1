// Child process of test/log/multiprocess.test.ts.
//
//   write <dataDir>                       opens the log for writing; prints {ok} or {code, message, details}
//   tail <dataDir> <topic> <partitions> <records>
//                                         opens it read-only and tails every partition with waitFor + read
//                                         until <records> records were read in all; prints one JSON line
//                                         per read: {p, from, hw, records: [{offset, value}]}, then {done}
//   die-holding <dataDir>                 opens the log for writing, prints {ok, pid}, then SIGKILLs itself
//   create-groups <dataDir> <groups>      opens the log for writing and commits one offset for each of
//                                         groups g0..g<groups-1>, one by one; prints {done}
//   take-turns <dataDir> <turns>          <turns> times: waits for the writer lock, then, holding it,
//                                         creates <dataDir>/inside exclusively and removes it; prints {done}

import { openFileLog } from '../../src/log/file/file-log.ts';
import { isSluiceError } from '../../src/errors.ts';

const [mode, dataDir, ...rest] = process.argv.slice(2);
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
setTimeout(() => {
  out({ timeout: true });
  process.exit(3);
}, 50_000).unref();

if (mode === 'write') {
  try {
    const log = await openFileLog({ dataDir: dataDir! });
    out({ ok: true });
    await log.close();
  } catch (e) {
    if (!isSluiceError(e)) throw e;
    out({ code: e.code, message: e.message, details: e.details });
  }
} else if (mode === 'tail') {
  const [topic, partitionsArg, recordsArg] = rest;
  const log = await openFileLog({ dataDir: dataDir!, readOnly: true });
  out({ ready: true });
  let remaining = Number(recordsArg);
  const ac = new AbortController();
  await Promise.all(
    Array.from({ length: Number(partitionsArg) }, async (_, p) => {
      let offset = 0;
      while (remaining > 0) {
        await log.waitFor(topic!, p, offset, ac.signal);
        if (remaining <= 0) break;
        const r = await log.read(topic!, p, offset);
        if (r.records.length > 0) {
          out({ p, from: offset, hw: r.highWatermark, records: r.records.map((x) => ({ offset: x.offset, value: Buffer.from(x.value!).toString() })) });
        }
        remaining -= r.records.length;
        offset = r.nextOffset;
      }
      ac.abort(); // wake the other partitions' waiters once everything is in
    }),
  );
  out({ done: true });
  await log.close();
} else if (mode === 'die-holding') {
  await openFileLog({ dataDir: dataDir! });
  out({ ok: true, pid: process.pid });
  process.kill(process.pid, 'SIGKILL');
} else if (mode === 'create-groups') {
  const log = await openFileLog({ dataDir: dataDir! });
  out({ ok: true });
  for (let i = 0; i < Number(rest[0]); i++) {
    await log.commitOffsets(`g${i}`, [{ topic: 't', partition: 0, offset: 1 }]);
    await new Promise((r) => setImmediate(r));
  }
  out({ done: true });
  await log.close();
} else if (mode === 'take-turns') {
  const { acquireLock } = await import('../../src/log/file/lock.ts');
  const fs = await import('node:fs');
  for (let turn = 0; turn < Number(rest[0]); ) {
    let lock;
    try {
      lock = acquireLock(`${dataDir}/LOCK`, 'the test dir', '');
    } catch (e) {
      if (!isSluiceError(e, 'LOCKED')) throw e;
      await new Promise((r) => setImmediate(r));
      continue;
    }
    // Two holders at once would collide here: the file is created exclusively.
    fs.writeFileSync(`${dataDir}/inside`, String(process.pid), { flag: 'wx' });
    await new Promise((r) => setImmediate(r));
    fs.rmSync(`${dataDir}/inside`);
    lock.release();
    turn++;
  }
  out({ done: true });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
