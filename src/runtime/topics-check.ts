// Before a job creates anything (its changelog, its producer identity), every
// topic its sources read and its sinks write must exist: a misconfigured run
// then fails having changed nothing, and names every missing topic at once
// instead of one per attempt.

import type { Application } from '../dataflow/application.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import type { Sink, Source } from '../dataflow/io.ts';

// By shape, not instanceof: an app file may import another copy of Sluice than
// the CLI's own (a global CLI, a linked checkout), whose classes differ.
function topicsRead(s: Source): readonly string[] {
  if (!s.name.startsWith('topic ')) return [];
  const topics = (s as { topics?: unknown }).topics;
  // A copy from before `topics` existed names them all: "topic a,b".
  return Array.isArray(topics) ? (topics as string[]) : s.name.slice('topic '.length).split(',');
}

function topicWritten(s: Sink): string | null {
  const topic = (s as { topic?: unknown }).topic;
  return s.name.startsWith('topic ') && typeof topic === 'string' ? topic : null;
}

/** The topics `app` reads and writes through topic sources and sinks, each once, in graph order. */
export function topicsOf(app: Application): { reads: string[]; writes: string[] } {
  const reads = new Set<string>();
  const writes = new Set<string>();
  for (const n of app.nodes()) {
    if (n.kind === 'source') for (const t of topicsRead(n.source)) reads.add(t);
    const written = n.kind === 'sink' ? topicWritten(n.sink) : null;
    if (written !== null) writes.add(written);
  }
  return { reads: [...reads], writes: [...writes] };
}

/** Throws one UNKNOWN_TOPIC naming every topic `app` needs that `log` lacks, with the commands that create them. */
export async function checkTopicsExist(app: Application, log: Log): Promise<void> {
  const { reads, writes } = topicsOf(app);
  const needed = [...new Set([...reads, ...writes])];
  if (needed.length === 0) return;
  const existing = new Set((await log.listTopics()).map((t) => t.name));
  const missing = needed.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  const role = (t: string) => (reads.includes(t) ? (writes.includes(t) ? 'read and written' : 'read') : 'written');
  const list = missing.map((t) => `${t} (${role(t)})`).join(', ');
  const create = missing.map((t) => `\`sluice topic create ${t} --partitions N\``).join(', ');
  throw new SluiceError(
    ErrorCodes.UNKNOWN_TOPIC,
    `job ${app.name}: ${missing.length === 1 ? 'unknown topic' : `${missing.length} unknown topics`} ${list}; nothing was created. Create ${missing.length === 1 ? 'it' : 'them'} with ${create}, then run again`,
    { job: app.name, topic: missing[0]!, topics: missing },
  );
}
