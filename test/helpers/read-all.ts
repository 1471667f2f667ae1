import assert from 'node:assert/strict';
import type { Log } from '../../src/log/log.ts';
import type { LogRecord } from '../../src/record.ts';

/**
 * Reads a partition from `from` (default: its start offset) to its current end,
 * in reads of `maxRecords`, asserting that every read makes progress.
 */
export async function readAll(log: Log, topic: string, partition: number, opts: { from?: number; maxRecords?: number } = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let offset = opts.from ?? (await log.describeTopic(topic)).partitions[partition]!.startOffset;
  for (;;) {
    const r = await log.read(topic, partition, offset, { maxRecords: opts.maxRecords ?? 100 });
    out.push(...r.records);
    if (r.nextOffset >= r.highWatermark) return out;
    assert.ok(r.nextOffset > offset, `read made no progress at ${topic}/${partition}@${offset}`);
    offset = r.nextOffset;
  }
}
