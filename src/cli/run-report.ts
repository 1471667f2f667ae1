// What `sluice run` says on stderr: the readiness line once the job runs, its
// progress while it runs (progress.ts), and the summary at its end.
//
// The readiness line is one line a script can wait for (docs/cli.md):
//   sluice ready job=NAME listen=tcp://127.0.0.1:7010 reads=orders writes=totals state=NAME-changelog log=/data queries=- guarantee=exactly-once
// Fields are key=value, separated by one space, always in this order; a list
// is comma-separated; `-` is none; a value holding a space or a quote is a JSON string.

import type { Application } from '../dataflow/application.ts';
import type { Guarantee } from '../dataflow/io.ts';
import type { JobResult, JobStatus } from '../runtime/job.ts';
import { changelogTopic } from '../runtime/state-changelog.ts';
import { topicsOf } from '../runtime/topics-check.ts';
import { rate } from './progress.ts';

interface Listening {
  address(): { host: string; port: number };
}

function listens(source: unknown): source is Listening {
  return typeof (source as Partial<Listening>).address === 'function';
}

function field(v: string): string {
  return /[\s"]/.test(v) ? JSON.stringify(v) : v;
}

function list(items: string[]): string {
  return items.length === 0 ? '-' : items.map(field).join(',');
}

/** Where each listening source (TCP, HTTP) accepts connections: tcp://host:port, http://host:port/path. */
function listenUrls(app: Application): string[] {
  const urls: string[] = [];
  for (const n of app.nodes()) {
    if (n.kind !== 'source' || !listens(n.source)) continue;
    const { host, port } = n.source.address();
    const kind = n.source.name.split(' ')[0] ?? 'tcp';
    const hostPart = host.includes(':') ? `[${host}]` : host;
    // The HTTP source's name is "http HOST:PORT/PATH": the path follows the port.
    const path = kind === 'http' ? (/^http \S+?:\d+(\/\S*)?$/.exec(n.source.name)?.[1] ?? '') : '';
    urls.push(`${kind}://${hostPart}:${port}${path}`);
  }
  return urls;
}

export function readinessLine(app: Application, o: { guarantee: Guarantee; log: string; queries?: string }): string {
  const { reads, writes } = topicsOf(app);
  const state = o.guarantee === 'none' ? '-' : changelogTopic(app.name);
  return (
    `sluice ready job=${field(app.name)} listen=${list(listenUrls(app))} reads=${list(reads)} writes=${list(writes)}` +
    ` state=${field(state)} log=${field(o.log)} queries=${field(o.queries ?? '-')} guarantee=${o.guarantee}\n`
  );
}

/** `backlog`: records its topic sources have yet to read (backlog.ts), null when unknown. */
export function progressLine(app: Application, s: JobStatus, startedMs: number, backlog: number | null = null): string {
  const secs = Math.round((Date.now() - startedMs) / 1000);
  const left = backlog === null ? '' : `, ${backlog} to read`;
  return `${app.name}: running ${secs} s: ${s.recordsIn} in (${rate(s.recordsIn, startedMs)}/s), ${s.recordsOut} out, ${s.deadLetters} dead-lettered, ${s.checkpoints} checkpoint${s.checkpoints === 1 ? '' : 's'}${left}`;
}

export function summaryLines(app: Application, result: JobResult, startedMs: number): string {
  const secs = (Date.now() - startedMs) / 1000;
  const dead = result.deadLetters > 0 ? ` (topic ${app.deadLetterTopic})` : '';
  return (
    `${app.name}: ${result.recordsIn} record${result.recordsIn === 1 ? '' : 's'} in, ${result.recordsOut} out, ${result.deadLetters} dead-lettered${dead}, ` +
    `${result.checkpoints} checkpoint${result.checkpoints === 1 ? '' : 's'} in ${secs.toFixed(1)} s\n` +
    formatCounters(result.counters)
  );
}

/** "  hourly: late-dropped 3, ..." per operator with counters (late events, duplicates): nothing dropped goes unmentioned. */
function formatCounters(counters: Record<string, Record<string, number>>): string {
  return Object.entries(counters)
    .map(([op, c]) => `  ${op}: ${Object.entries(c).map(([name, n]) => `${name} ${n}`).join(', ')}\n`)
    .join('');
}
