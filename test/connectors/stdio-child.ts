// Child process for test/connectors/stdio.test.ts: the stdio connectors on a
// real process's stdin and stdout.
//
//   copy    stdinSource → stdoutSink until EOF; reports "done <records> <batches>" on stderr
//   flood   writes numbered lines to stdoutSink until a write fails; reports the error code on stderr

import { stdinSource, stdoutSink } from '../../src/connectors/index.ts';
import { isSluiceError } from '../../src/errors.ts';
import { noLog } from './helpers.ts';

setTimeout(() => {
  process.stderr.write('timeout\n');
  process.exit(3);
}, 50_000).unref();

const mode = process.argv[2];
const sink = stdoutSink();
await sink.open({ log: noLog, job: 'child', guarantee: 'at-least-once' });

if (mode === 'copy') {
  const src = stdinSource();
  await src.open({ log: noLog, job: 'child', untilEnd: false, maxBatchRecords: 100, guarantee: 'at-least-once' });
  const signal = new AbortController().signal;
  let records = 0;
  let batches = 0;
  let expectPos = -1;
  for (let b = await src.next(signal); b !== null; b = await src.next(signal)) {
    if (b.origin !== 'stdin' || b.position <= expectPos) throw new Error(`bad batch ${b.origin} ${b.position}`);
    expectPos = b.position + b.records.length - 1;
    records += b.records.length;
    batches++;
    await sink.write(b.records);
  }
  await sink.flush();
  await src.close();
  process.stderr.write(`done ${records} ${batches}\n`);
} else if (mode === 'flood') {
  const line = new TextEncoder().encode('x'.repeat(1000));
  try {
    for (let i = 0; ; i++) await sink.write([{ key: null, value: line, timestamp: 0 }]);
  } catch (e) {
    process.stderr.write(`${isSluiceError(e) ? e.code : 'other'}: ${(e as Error).message}\n`);
  }
}
await sink.close();
