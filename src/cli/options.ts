// What every command shares: where the data dir is, how to open the log for
// reading or writing, and parsers for option values. Parsers throw commander's
// InvalidArgumentError so a bad value is a usage error (exit 2) with commander's
// message naming the option.

import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { openFileLog } from '../log/file/file-log.ts';
import { openRemoteLog } from '../log/remote/remote-log.ts';
import { openSharedLog } from '../server/shared-log.ts';
import type { Log } from '../log/log.ts';

export const DEFAULT_DATA_DIR = './.sluice';

export interface GlobalOptions {
  dataDir?: string;
  broker?: string;
  token?: string;
}

/** --broker, else $SLUICE_BROKER: when set, commands talk to that broker instead of opening a data dir. */
export function brokerOf(cmd: Command): string | undefined {
  const b = cmd.optsWithGlobals<GlobalOptions>().broker ?? process.env['SLUICE_BROKER'];
  return b === undefined || b === '' ? undefined : b;
}

/** --data-dir, else $SLUICE_DATA_DIR, else ./.sluice (relative to the working directory). */
export function dataDirOf(cmd: Command): string {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const env = process.env['SLUICE_DATA_DIR'];
  return resolve(g.dataDir ?? (env !== undefined && env !== '' ? env : DEFAULT_DATA_DIR));
}

/**
 * Writers (topic create/delete, produce, run, exec) share the data dir: the first
 * holds its lock and serves it to the others (server/shared-log.ts). Readers
 * (consume, describe, list) open it read-only, beside any writer: they read the
 * files directly, so they need no holder and add no load to it.
 */
export function openLog(cmd: Command, mode: 'read' | 'write'): Promise<Log> {
  const broker = brokerOf(cmd);
  if (broker !== undefined) {
    const token = cmd.optsWithGlobals<GlobalOptions>().token ?? process.env['SLUICE_TOKEN'];
    const ca = process.env['SLUICE_TLS_CA'];
    return openRemoteLog({ url: broker, token: token === '' ? undefined : token, ca: ca ? readFileSync(ca) : undefined });
  }
  const dataDir = dataDirOf(cmd);
  if (mode === 'read') return openFileLog({ dataDir, readOnly: true });
  const wait = Number(process.env['SLUICE_HOLDER_WAIT_MS']);
  return openSharedLog({ dataDir, waitForHolderMs: wait >= 0 ? wait : undefined, onWait: (message) => process.stderr.write(`sluice: ${message}\n`) });
}

/** Runs `fn` with the log open and always closes it, keeping fn's error if both fail. */
export async function withLog<T>(cmd: Command, mode: 'read' | 'write', fn: (log: Log) => Promise<T>): Promise<T> {
  const log = await openLog(cmd, mode);
  let result: T;
  try {
    result = await fn(log);
  } catch (e) {
    await log.close().catch(() => {});
    throw e;
  }
  await log.close();
  return result;
}

export function parseIntArg(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** `P:O` (partition:offset); repeatable, so it accumulates into an array. */
export function parsePartitionOffset(v: string, prev: { partition: number; offset: number }[] = []): { partition: number; offset: number }[] {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected PARTITION:OFFSET, e.g. 0:42');
  const partition = Number(m[1]);
  const offset = Number(m[2]);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(partition)) throw new InvalidArgumentError('number too large');
  if (prev.some((p) => p.partition === partition)) throw new InvalidArgumentError(`partition ${partition} given twice`);
  return [...prev, { partition, offset }];
}

/** An ISO-8601 date/time, or epoch milliseconds. */
export function parseTime(v: string): number {
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s);
  // Date.parse accepts some non-ISO forms too; requiring a leading YYYY-MM-DD keeps
  // "yesterday"-style surprises out while allowing dates with or without a time.
  const t = /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected an ISO-8601 time (e.g. 2024-05-01T12:00:00Z) or epoch milliseconds');
  return t;
}
