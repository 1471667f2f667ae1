// A topic's directory, `<dataDir>/topics/<topic>/`: its config (`topic.json`)
// and one directory per partition. What is written here decides whether a
// topic exists at all, so it is written all-or-nothing: a topic is built whole
// (topic.json, partition dirs, first segments) under a hidden temporary name
// and renamed into place, so a failure — a full disk, EMFILE with 10,000
// partitions — or a crash leaves no half topic, and hidden leftovers (never
// visible as a topic) are removed when a writer opens the dir. topic.json is
// written once, at creation, so write-new-then-rename is the whole story; it is
// never appended to.
//
// A topic.json that does not parse, or is missing from a topic's directory, is
// damage to that topic only: the other topics open.
//
// Two forms are read: the file settings under `file` (written since they
// moved there), and flat beside the portable ones (every topic.json written
// before). An old file is read as it is and never rewritten: topic.json is
// write-once, so a rewrite would be a second write path with its own crash
// window, it would need the writer where readers open read-only, and it would
// make a data dir unreadable to the release before for no gain — reading the
// flat form costs nothing and stays. Settings this release does not know (a
// later one wrote them) are ignored, not damage: the topic still opens.

import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { FileLogTopicConfig, TopicConfigInput, TopicInfo } from '../log.ts';
import { FILE_FIELDS, TOPIC_CONFIG_FIELDS, resolveTopicConfig } from '../topic-config.ts';
import { fsyncDir } from './io.ts';
import { fileError } from './file-errors.ts';
import { replaceFile } from './json-frames.ts';
import { segmentFileName } from './segment.ts';
import { writeContinuityMarker } from './segment-continuity.ts';
import type { DamageReport } from './damage.ts';

const CREATING = '.creating-';
const DELETED = '.deleted-';

export function topicConfigFile(topicsDir: string, name: string): string {
  return join(topicsDir, name, 'topic.json');
}

/** Topic directories (hidden names are creations or deletions in progress, never topics). */
export function topicNamesOnDisk(topicsDir: string): string[] {
  try {
    return fs
      .readdirSync(topicsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Removes what an interrupted creation or deletion left: neither was ever a visible topic. */
export function removeLeftovers(topicsDir: string): void {
  for (const n of fs.readdirSync(topicsDir)) {
    if (n.startsWith(CREATING) || n.startsWith(DELETED)) fs.rmSync(join(topicsDir, n), { recursive: true, force: true });
  }
}

/** A topic of the file log: its config has the file settings filled in. */
export interface FileTopicInfo extends TopicInfo {
  config: FileLogTopicConfig;
}

function encodeConfig(id: string, config: FileLogTopicConfig): Buffer {
  return Buffer.from(JSON.stringify({ id, ...config }, null, 2) + '\n');
}

/**
 * Reads a topic's config; null if there is no such topic. A damaged or missing
 * topic.json is reported (in refuse mode that throws DAMAGED for this topic);
 * in collect mode the topic is then skipped (null). `knownId` finds the topic's
 * id elsewhere (offsets stamped with it), for a repair that keeps them.
 */
export function readTopicInfo(topicsDir: string, name: string, damage: DamageReport, knownId: () => string | undefined): FileTopicInfo | null {
  const dir = join(topicsDir, name);
  const file = topicConfigFile(topicsDir, name);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, 'read', file);
    if (!fs.existsSync(dir)) return null;
    reportDamage(dir, file, name, 'the topic directory has no topic.json (it was deleted)', damage, knownId);
    return null;
  }
  try {
    const { id, ...config } = JSON.parse(text) as { id?: string };
    // Defaults fill options added after the topic was created (minCleanableDirtyRatio).
    return { name, id: id ?? 'original', config: resolveTopicConfig(knownSettings(config)) };
  } catch (e) {
    reportDamage(dir, file, name, `topic.json is not a valid topic config (${(e as Error).message})`, damage, knownId);
    return null;
  }
}

/** The settings this release knows, in either form; a value that is not an object fails resolveTopicConfig as damage. */
function knownSettings(json: unknown): TopicConfigInput {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json as TopicConfigInput;
  const out: Record<string, unknown> = {};
  for (const k of TOPIC_CONFIG_FIELDS) if (k in json) out[k] = (json as Record<string, unknown>)[k];
  const file = (json as Record<string, unknown>)['file'];
  if (typeof file === 'object' && file !== null && !Array.isArray(file)) {
    out['file'] = Object.fromEntries(FILE_FIELDS.filter((k) => k in file).map((k) => [k, (file as Record<string, unknown>)[k]]));
  }
  return out;
}

function reportDamage(dir: string, file: string, name: string, problem: string, damage: DamageReport, knownId: () => string | undefined): void {
  const partitions = fs.readdirSync(dir).filter((n) => /^\d+$/.test(n)).length;
  damage.report({
    file,
    problem,
    loss: `the options of topic ${name} other than its ${partitions} partitions (counted from its directories): they become the defaults (retention 7 days, no compaction, fsync always), so set any that differed again`,
    action: `write ${file} with ${partitions} partitions and default options`,
    repair: () => replaceFile(file, encodeConfig(knownId() ?? 'original', resolveTopicConfig({ partitions: Math.max(1, partitions) }))),
  });
}

/** Builds the topic whole under a hidden name, then renames it into place. */
export function createTopicDir(topicsDir: string, name: string, config: FileLogTopicConfig): FileTopicInfo {
  const id = randomUUID();
  const tmp = join(topicsDir, `${CREATING}${name}-${process.pid}`);
  let step = tmp;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    step = join(tmp, 'topic.json');
    writeSynced(step, encodeConfig(id, config));
    for (let i = 0; i < config.partitions; i++) {
      step = join(tmp, String(i));
      fs.mkdirSync(step);
      // A new compacted topic's segments are contiguous from the start: gaps are damage at once.
      if (config.compact) writeContinuityMarker(step);
      step = join(step, segmentFileName(0));
      fs.closeSync(fs.openSync(step, 'w', 0o644));
    }
    // Partition dirs and segments lost to a power cut are recreated on open; topic.json is not.
    step = tmp;
    fsyncDir(tmp);
    step = join(topicsDir, name);
    fs.renameSync(tmp, step);
    step = topicsDir;
    fsyncDir(topicsDir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const err = fileError(e, 'create', step.replace(tmp, join(topicsDir, name)));
    err.message = `topic ${name} was not created (nothing of it is left): ${err.message}`;
    throw err;
  }
  return { name, id, config };
}

function writeSynced(file: string, buf: Buffer): void {
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Renames the topic away first (one atomic step), then removes it. */
export function removeTopicDir(topicsDir: string, name: string): void {
  const grave = join(topicsDir, `${DELETED}${name}-${Date.now()}`);
  try {
    fs.renameSync(join(topicsDir, name), grave);
    fsyncDir(topicsDir);
  } catch (e) {
    throw fileError(e, 'delete', join(topicsDir, name));
  }
  fs.rmSync(grave, { recursive: true, force: true });
}
