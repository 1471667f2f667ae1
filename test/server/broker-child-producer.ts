// A producer process for the broker tests: appends `count` numbered records
// through a RemoteLog, spread over the topic's partitions (record i goes to
// partition i % partitions, one append in flight per partition, batches of
// 1..batchMax records), and reports every acknowledgement on stdout, so the
// test knows exactly which records the broker promised to keep, and where.
//
//   argv[2]: JSON {url, topic, name, count, partitions, delayMs?, batchMax?}
//   stdout:  {ready} · {p, base, last, ids: [i...]} per acknowledged append ·
//            {failed: {p, ids, code, message}} · {done, acked, failed}

import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import { prng } from '../helpers/crash-records.ts';
import { producedRecord } from './helpers.ts';

interface Args {
  url: string;
  topic: string;
  name: string;
  count: number;
  partitions: number;
  delayMs?: number;
  batchMax?: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
// A producer stuck for this long is a failure of the test, not something to wait out.
setTimeout(() => {
  out({ timeout: true });
  process.exit(3);
}, 55_000).unref();

const log = await openRemoteLog({ url: a.url });
out({ ready: true });
let acked = 0;
let failed = 0;
await Promise.all(
  Array.from({ length: a.partitions }, async (_, p) => {
    const rand = prng(p * 7919 + a.name.length * 31 + a.count);
    const mine: number[] = [];
    for (let i = p; i < a.count; i += a.partitions) mine.push(i);
    for (let at = 0; at < mine.length; ) {
      const ids = mine.slice(at, (at += 1 + Math.floor(rand() * (a.batchMax ?? 1))));
      try {
        const r = await log.append(a.topic, p, ids.map((i) => producedRecord(a.name, i)));
        acked += ids.length;
        out({ p, base: r.baseOffset, last: r.lastOffset, ids });
      } catch (e) {
        failed += ids.length;
        const err = e as { code?: string; message?: string };
        out({ failed: { p, ids, code: err.code, message: err.message } });
      }
      if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
    }
  }),
);
out({ done: true, acked, failed });
await log.close();
