// The committed state of an exec job, in `<job>-changelog`: per instance its
// counts (inputs journaled, outputs committed), snapshot, skipped inputs and
// whether it was given the end of its input; and where the input rotation
// stands.

import type { Log } from '../log/log.ts';
import { readChangelogLatest } from '../runtime/state-changelog.ts';
import type { InstanceState } from './instance.ts';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

export interface SavedExec {
  instances: Map<number, InstanceState>;
  source: unknown;
}

export function instanceKey(index: number): Buffer {
  return utf8(JSON.stringify(['exec', index]));
}

export const SOURCE_KEY = utf8(JSON.stringify(['source', 'exec']));

export async function readExecState(log: Log, job: string): Promise<SavedExec> {
  const out: SavedExec = { instances: new Map(), source: undefined };
  for (const [k, v] of await readChangelogLatest(log, job)) {
    if (v === '') continue;
    const key = JSON.parse(k) as unknown[];
    if (key[0] === 'exec') out.instances.set(Number(key[1]), JSON.parse(v) as InstanceState);
    else if (key[0] === 'source') out.source = JSON.parse(v) as unknown;
  }
  return out;
}
