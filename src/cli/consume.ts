// `sluice consume TOPIC`: records → JSON lines on stdout. Without --follow it
// stops at the end offsets that existed when it started; with --follow it tails
// until SIGINT/SIGTERM. With --group it resumes from the group's committed
// offsets and commits what it wrote: when idle, every few seconds while busy,
// and on exit. Commits happen only after the records were written to stdout, so
// a crash re-delivers rather than skips (at-least-once).

import type { Command } from 'commander';
import { SluiceError } from '../errors.ts';
import { Consumer, type ConsumerOptions, type StartFrom } from '../log/consumer.ts';
import { renderRecords } from '../log/record-json.ts';
import { parseIntArg, parsePartitionOffset, parseTime, withLog } from './options.ts';
import { Output } from './stdout.ts';
import { untilStopped } from './stop-signal.ts';

interface ConsumeOptions {
  group?: string;
  fromBeginning?: boolean;
  fromEnd?: boolean;
  fromOffset?: { partition: number; offset: number }[];
  fromTime?: number;
  follow?: boolean;
  max?: number;
  withMeta?: boolean;
  commitIntervalMs: number;
}

const BATCH = 1000;

function startFrom(o: ConsumeOptions): StartFrom | undefined {
  const given = [o.fromBeginning && '--from-beginning', o.fromEnd && '--from-end', o.fromOffset && '--from-offset', o.fromTime !== undefined && '--from-time'].filter(
    (x): x is string => typeof x === 'string',
  );
  if (given.length > 1) throw new SluiceError('INVALID_ARGUMENT', `${given.join(' and ')} cannot be combined; pick one starting point`);
  if (o.fromOffset && o.group !== undefined) {
    throw new SluiceError('INVALID_ARGUMENT', '--from-offset reads chosen partitions and cannot be combined with --group (a group reads its assigned partitions)');
  }
  if (o.fromBeginning) return 'beginning';
  if (o.fromEnd) return 'end';
  if (o.fromOffset) return { offsets: o.fromOffset };
  if (o.fromTime !== undefined) return { timestamp: o.fromTime };
  return undefined;
}

async function consume(topic: string, o: ConsumeOptions, cmd: Command): Promise<void> {
  const from = startFrom(o);
  const out = new Output(process.stdout);
  await untilStopped((stop) =>
    withLog(cmd, 'read', async (log) => {
      const options: ConsumerOptions = { topic, stopAtEnd: !o.follow, maxRecords: BATCH };
      if (o.group !== undefined) options.group = o.group;
      if (from !== undefined) options.from = from;
      const consumer = await Consumer.open(log, options);
      let remaining = o.max ?? Infinity;
      let lastCommit = Date.now();
      try {
        while (remaining > 0 && !stop.aborted) {
          const limit = Math.min(remaining, BATCH);
          let records = await consumer.poll({ wait: false, maxRecords: limit });
          if (records.length === 0) {
            if (consumer.done) break;
            // Going idle: make what was written durable in the group before waiting.
            await consumer.commit();
            lastCommit = Date.now();
            records = await consumer.poll({ signal: stop, maxRecords: limit });
            if (records.length === 0) break;
          }
          if (!(await out.write(renderRecords(records, o.withMeta === true)))) {
            // The reader left (e.g. `| head`): we cannot tell which lines it read, so
            // nothing more is committed; the group re-delivers from its last commit.
            return;
          }
          remaining -= records.length;
          if (o.group !== undefined && Date.now() - lastCommit >= o.commitIntervalMs) {
            await consumer.commit();
            lastCommit = Date.now();
          }
        }
        await out.flush();
        await consumer.commit();
      } finally {
        await consumer.close();
      }
    }),
  );
}

export function registerConsume(program: Command): void {
  program
    .command('consume')
    .description('write a topic\'s records to stdout as JSON lines (values; or {topic, partition, offset, key, timestamp, headers, value} with --with-meta)')
    .argument('<topic>', 'topic name')
    .option('-g, --group <group>', 'consume as this group: resume from its committed offsets and commit progress')
    .option('--from-beginning', 'start at the oldest record (the default; with --group: only where the group has no commit)')
    .option('--from-end', 'start after the newest record (useful with --follow)')
    .option('--from-offset <partition:offset>', 'read only this partition, from this offset (repeatable)', parsePartitionOffset)
    .option('--from-time <time>', 'start at the first record with timestamp >= this (ISO-8601 or epoch ms)', parseTime)
    .option('-f, --follow', 'keep waiting for new records until interrupted (SIGINT/SIGTERM)')
    .option('-n, --max <n>', 'stop after this many records', parseIntArg(1))
    .option('--with-meta', 'wrap each value with its topic, partition, offset, key, timestamp and headers')
    .option('--commit-interval-ms <ms>', 'with --group: commit at least this often while busy', parseIntArg(1), 5000)
    .action((topic: string, o: ConsumeOptions, cmd: Command) => consume(topic, o, cmd));
}
