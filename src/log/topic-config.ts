// Validation of topic names and configs, shared by every Log implementation
// and the CLI so the same mistake gets the same message everywhere.

import { ErrorCodes, SluiceError } from '../errors.ts';
import { DEFAULT_FILE_TOPIC_CONFIG, DEFAULT_TOPIC_CONFIG, type FileLogTopicConfig, type FileTopicConfig, type FsyncPolicy, type TopicConfig, type TopicConfigInput } from './log.ts';

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

/** A config as people write it (the CLI's output, the HTTP API's JSON): fsync as text, `interval:100`, not an object. */
export function topicConfigJson(c: TopicConfig): Record<string, unknown> {
  return c.file === undefined ? { ...c } : { ...c, file: { ...c.file, fsync: formatFsyncPolicy(c.file.fsync) } };
}

const PORTABLE_FIELDS = ['partitions', 'retentionMs', 'retentionBytes', 'compact', 'deleteRetentionMs'] as const;
export const FILE_FIELDS = ['segmentBytes', 'segmentMs', 'minCleanableDirtyRatio', 'fsync'] as const;
/** Every field a topic config may have at its top level (the file ones there are the deprecated flat form). */
export const TOPIC_CONFIG_FIELDS: readonly string[] = [...PORTABLE_FIELDS, 'file', ...FILE_FIELDS];

function invalid(field: string, message: string): SluiceError {
  return new SluiceError(ErrorCodes.INVALID_ARGUMENT, message, { field });
}

function positiveInt(field: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalid(field, `${field} must be an integer between 1 and ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function refuseUnknown(o: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw invalid(prefix + k, `unknown topic setting ${JSON.stringify(prefix + k)}; a topic takes ${known.map((f) => prefix + f).join(', ')}`);
  }
}

/**
 * Fills defaults and checks every field; throws INVALID_ARGUMENT naming the
 * bad one (`details.field`, e.g. `file.segmentBytes`), unknown ones included,
 * so a typo is not silently a default. The file settings may also come at the
 * top level (the deprecated flat form, and every topic.json written before
 * they moved under `file`); `file` wins where both are given.
 */
export function resolveTopicConfig(input: TopicConfigInput = {}): FileLogTopicConfig {
  if (!isObject(input)) throw invalid('config', 'a topic config must be an object');
  refuseUnknown(input, TOPIC_CONFIG_FIELDS, '');
  const nested: unknown = input.file ?? {};
  if (!isObject(nested)) throw invalid('file', `file must be an object of file-log settings (${FILE_FIELDS.join(', ')})`);
  refuseUnknown(nested, FILE_FIELDS, 'file.');
  const flat: Partial<FileTopicConfig> = {};
  for (const k of FILE_FIELDS) if (input[k] !== undefined) Object.assign(flat, { [k]: input[k] });
  const portable = { ...DEFAULT_TOPIC_CONFIG, ...stripUndefined(input) };
  const f: FileTopicConfig = { ...DEFAULT_FILE_TOPIC_CONFIG, ...flat, ...stripUndefined(nested as Partial<FileTopicConfig>) };

  positiveInt('partitions', portable.partitions, 10_000);
  if (portable.retentionMs !== null) positiveInt('retentionMs', portable.retentionMs);
  if (portable.retentionBytes !== null) positiveInt('retentionBytes', portable.retentionBytes);
  if (typeof portable.deleteRetentionMs !== 'number' || !(portable.deleteRetentionMs >= 0)) {
    throw invalid('deleteRetentionMs', `deleteRetentionMs must be >= 0, got ${JSON.stringify(portable.deleteRetentionMs)}`);
  }
  if (typeof portable.compact !== 'boolean') throw invalid('compact', 'compact must be true or false');
  positiveInt('file.segmentBytes', f.segmentBytes, 2 ** 31 - 1);
  positiveInt('file.segmentMs', f.segmentMs);
  if (typeof f.minCleanableDirtyRatio !== 'number' || !(f.minCleanableDirtyRatio >= 0 && f.minCleanableDirtyRatio <= 1)) {
    throw invalid('file.minCleanableDirtyRatio', `file.minCleanableDirtyRatio must be a number from 0 to 1, got ${JSON.stringify(f.minCleanableDirtyRatio)}`);
  }
  let fsync: FsyncPolicy;
  if (typeof f.fsync === 'string') {
    try {
      fsync = parseFsyncPolicy(f.fsync);
    } catch (e) {
      throw invalid('file.fsync', (e as Error).message);
    }
  } else {
    fsync = { intervalMs: positiveInt('file.fsync.intervalMs', (f.fsync as { intervalMs?: unknown } | null)?.intervalMs) };
  }
  // Built field by field, in one order: what is stored and shown is exactly the known settings.
  return {
    partitions: portable.partitions,
    retentionMs: portable.retentionMs,
    retentionBytes: portable.retentionBytes,
    compact: portable.compact,
    deleteRetentionMs: portable.deleteRetentionMs,
    file: { segmentBytes: f.segmentBytes, segmentMs: f.segmentMs, minCleanableDirtyRatio: f.minCleanableDirtyRatio, fsync },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
