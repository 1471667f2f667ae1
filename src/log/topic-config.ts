// Validation of topic names and configs, shared by every Log implementation
// and the CLI so the same mistake gets the same message everywhere.

import { ErrorCodes, SluiceError } from '../errors.ts';
import { DEFAULT_TOPIC_CONFIG, type FsyncPolicy, type TopicConfig } from './log.ts';

/** A compacted topic keeps the newest record per key, so a record without one has no place in it. */
export function keylessRecordError(topic: string, partition: number, config: TopicConfig, records: readonly { key: unknown }[]): SluiceError | null {
  if (!config.compact || records.every((r) => r.key !== null)) return null;
  return new SluiceError(ErrorCodes.INVALID_ARGUMENT, `topic ${topic} is compacted, so every record needs a key; got a record without one`, { topic, partition });
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

export function validateTopicName(name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..' || name.startsWith('.')) {
    throw new SluiceError(
      ErrorCodes.INVALID_ARGUMENT,
      `invalid topic name ${JSON.stringify(name)}: use 1-200 letters, digits, '.', '_' or '-', not starting with '.'`,
      { topic: name },
    );
  }
}

/**
 * Group names are free text (stored URI-encoded as a directory name), but not
 * empty, not `.` or `..` (they would name the groups directory or its parent),
 * and short enough for a file name.
 */
export function validateGroupName(group: string): void {
  if (typeof group !== 'string' || group === '' || group === '.' || group === '..' || encodeURIComponent(group).length > 200) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `invalid consumer group name ${JSON.stringify(group)}: use a non-empty name other than '.' or '..', up to 200 bytes once URI-encoded`, { group });
  }
}

/** Parses `always`, `never` or `interval:<ms>`. */
export function parseFsyncPolicy(s: string): FsyncPolicy {
  if (s === 'always' || s === 'never') return s;
  const m = /^interval:(\d+)$/.exec(s);
  if (m && Number(m[1]) > 0) return { intervalMs: Number(m[1]) };
  throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `invalid fsync policy ${JSON.stringify(s)}: use always, never or interval:<ms> (e.g. interval:100)`);
}

export function formatFsyncPolicy(p: FsyncPolicy): string {
  return typeof p === 'string' ? p : `interval:${p.intervalMs}`;
}

function positiveInt(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${name} must be an integer between 1 and ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Fills defaults and checks every field; throws INVALID_ARGUMENT naming the bad one. */
export function resolveTopicConfig(partial: Partial<TopicConfig> = {}): TopicConfig {
  const c: TopicConfig = { ...DEFAULT_TOPIC_CONFIG, ...stripUndefined(partial) };
  positiveInt('partitions', c.partitions, 10_000);
  if (c.retentionMs !== null) positiveInt('retentionMs', c.retentionMs);
  if (c.retentionBytes !== null) positiveInt('retentionBytes', c.retentionBytes);
  positiveInt('segmentBytes', c.segmentBytes, 2 ** 31 - 1);
  positiveInt('segmentMs', c.segmentMs);
  if (typeof c.deleteRetentionMs !== 'number' || c.deleteRetentionMs < 0) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `deleteRetentionMs must be >= 0, got ${JSON.stringify(c.deleteRetentionMs)}`);
  }
  if (typeof c.minCleanableDirtyRatio !== 'number' || !(c.minCleanableDirtyRatio >= 0 && c.minCleanableDirtyRatio <= 1)) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `minCleanableDirtyRatio must be a number from 0 to 1, got ${JSON.stringify(c.minCleanableDirtyRatio)}`);
  }
  if (typeof c.compact !== 'boolean') throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'compact must be true or false');
  if (typeof c.fsync === 'string') parseFsyncPolicy(c.fsync);
  else positiveInt('fsync.intervalMs', c.fsync?.intervalMs);
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
