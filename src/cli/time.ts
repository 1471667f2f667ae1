// `sluice time JOB [--json]`: a job's event time as of its last committed
// checkpoint — the job's watermark, each source partition's largest event
// time and watermark — and its operators' counters (late events dropped,
// duplicates removed). Read from the changelog, like `sluice state`, so it
// works beside a running job (the data dir is opened read-only).

import type { Command } from 'commander';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { changelogTopic, readChangelog, type SavedJobTime } from '../runtime/state-changelog.ts';
import { withLog } from './options.ts';

interface TimeOptions {
  json?: boolean;
}

interface PartitionTime {
  source: string;
  origin: string;
  maxTimestamp: number;
  watermark: number;
}

interface TimeReport {
  job: string;
  /** null: no event yet; 'end': bounded input ended, every window closed. */
  watermark: number | null | 'end';
  partitions: PartitionTime[];
  counters: Record<string, Record<string, number>>;
}

function timeReport(job: string, saved: SavedJobTime | null): TimeReport {
  const partitions: PartitionTime[] = [];
  for (const [source, s] of Object.entries(saved?.clock.sources ?? {})) {
    for (const [origin, maxTimestamp] of Object.entries(s.origins)) partitions.push({ source, origin, maxTimestamp, watermark: maxTimestamp - s.maxOutOfOrderMs });
  }
  return { job, watermark: saved?.clock.watermark ?? null, partitions, counters: saved?.counters ?? {} };
}

const iso = (ms: number | null | 'end') => (ms === null ? 'none yet' : ms === 'end' ? 'end of input' : `${new Date(ms).toISOString()} (${ms})`);

function render(r: TimeReport): string {
  const lines = [`${r.job}: watermark ${iso(r.watermark)}`];
  if (r.partitions.length === 0) lines.push('  no event time recorded yet');
  for (const p of r.partitions) lines.push(`  ${p.origin} (${p.source}): latest event ${iso(p.maxTimestamp)}, watermark ${iso(p.watermark)}`);
  for (const [op, counters] of Object.entries(r.counters)) {
    lines.push(`  ${op}: ${Object.entries(counters).map(([name, n]) => `${name} ${n}`).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

export function registerTime(program: Command): void {
  program
    .command('time')
    .description("print a job's event time at its last checkpoint: watermark per source partition, late and duplicate counters")
    .argument('<job>', 'the job (application) name')
    .option('--json', 'one JSON object instead of text')
    .action(async (job: string, opts: TimeOptions, cmd: Command) => {
      const saved = await withLog(cmd, 'read', async (log) => {
        try {
          return await readChangelog(log, job);
        } catch (e) {
          if (!isSluiceError(e, ErrorCodes.UNKNOWN_TOPIC)) throw e;
          throw new SluiceError(ErrorCodes.UNKNOWN_TOPIC, `job ${job} has no checkpoints (no topic ${changelogTopic(job)}); has it run with --guarantee exactly-once or at-least-once?`, { topic: changelogTopic(job) });
        }
      });
      const report = timeReport(job, saved.time);
      process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : render(report));
    });
}
