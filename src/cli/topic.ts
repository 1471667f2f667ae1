// `sluice topic create|list|describe|delete`. Machine-readable results go to
// stdout as JSON (one object per line for lists, so `| jq` and `| wc -l` work);
// confirmations for humans go to stderr.

import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { isSluiceError } from '../errors.ts';
import type { FileTopicConfig, FsyncPolicy, TopicConfigInput, TopicDescription, TopicInfo } from '../log/log.ts';
import { parseFsyncPolicy, topicConfigJson } from '../log/topic-config.ts';
import { dataDirOf, parseIntArg, withLog, brokerOf } from './options.ts';

interface CreateOptions {
  partitions: number;
  retentionMs?: number;
  retentionBytes?: number;
  compact?: boolean;
  deleteRetentionMs?: number;
  segmentBytes?: number;
  segmentMs?: number;
  fsync?: FsyncPolicy;
  ifNotExists?: boolean;
}

function fsyncArg(v: string): FsyncPolicy {
  try {
    return parseFsyncPolicy(v);
  } catch {
    throw new InvalidArgumentError('expected always, never or interval:<ms>');
  }
}

export function topicJson(t: TopicInfo): Record<string, unknown> {
  return { name: t.name, ...topicConfigJson(t.config) };
}

export function describeJson(d: TopicDescription): Record<string, unknown> {
  return {
    name: d.name,
    config: topicConfigJson(d.config),
    partitions: d.partitions,
    groups: d.groups.map((g) => ({ group: g.group, lag: g.partitions.reduce((n, p) => n + p.lag, 0), partitions: g.partitions })),
  };
}

/** One JSON document: indented for a person at a terminal, one line for a pipe. */
function printDocument(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, process.stdout.isTTY ? 2 : undefined) + '\n');
}

export function registerTopic(program: Command): void {
  const topic = program.command('topic').description('create, list, describe and delete topics');

  topic
    .command('create')
    .description('create a topic')
    .argument('<name>', "topic name: letters, digits, '.', '_', '-'")
    .requiredOption('-p, --partitions <n>', 'number of partitions (1-10000)', parseIntArg(1, 10_000))
    .option('--retention-ms <ms>', 'delete segments whose newest record was appended longer ago than this', parseIntArg(1))
    .option('--retention-bytes <bytes>', 'per partition: delete the oldest segments beyond this size', parseIntArg(1))
    .option('--compact', 'keep only the newest record per key (null value = delete the key)')
    .option('--delete-retention-ms <ms>', 'with --compact: how long deletes (tombstones) are kept', parseIntArg(0))
    .option('--segment-bytes <bytes>', 'roll to a new segment at this size', parseIntArg(1, 2 ** 31 - 1))
    .option('--segment-ms <ms>', 'roll to a new segment after this long', parseIntArg(1))
    .option('--fsync <policy>', 'when appends are acknowledged: always (default), never, interval:<ms>', fsyncArg)
    .option('--if-not-exists', 'succeed quietly if the topic already exists')
    .action(async (name: string, o: CreateOptions, cmd: Command) => {
      // Undefined fields are defaults: the flags given are all that is sent.
      const file: Partial<FileTopicConfig> = { segmentBytes: o.segmentBytes, segmentMs: o.segmentMs, fsync: o.fsync };
      const config: TopicConfigInput = {
        partitions: o.partitions,
        retentionMs: o.retentionMs,
        retentionBytes: o.retentionBytes,
        compact: o.compact === true ? true : undefined,
        deleteRetentionMs: o.deleteRetentionMs,
        file,
      };
      await withLog(cmd, 'write', async (log) => {
        try {
          const t = await log.createTopic(name, config);
          process.stderr.write(`created topic ${t.name} with ${t.config.partitions} partition${t.config.partitions === 1 ? '' : 's'}\n`);
        } catch (e) {
          if (!(o.ifNotExists && isSluiceError(e, 'TOPIC_EXISTS'))) throw e;
        }
      });
    });

  topic
    .command('list')
    .description('list topics, one JSON object per line: {name, partitions, retentionMs, ...}')
    .action(async (_o: unknown, cmd: Command) => {
      // A data dir that does not exist yet simply has no topics.
      if (brokerOf(cmd) === undefined && !existsSync(dataDirOf(cmd))) return;
      const topics = await withLog(cmd, 'read', (log) => log.listTopics());
      process.stdout.write(topics.map((t) => JSON.stringify(topicJson(t)) + '\n').join(''));
    });

  topic
    .command('describe')
    .description('show a topic: config, partitions (offsets, sizes, segments), consumer groups and their lag')
    .argument('<name>', 'topic name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const d = await withLog(cmd, 'read', (log) => log.describeTopic(name));
      printDocument(describeJson(d));
    });

  topic
    .command('delete')
    .description('delete a topic and all its records')
    .argument('<name>', 'topic name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withLog(cmd, 'write', (log) => log.deleteTopic(name));
      process.stderr.write(`deleted topic ${name}\n`);
    });
}
