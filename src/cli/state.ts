// `sluice state JOB [--key K]`: the state a job saved at its last committed
// checkpoint, read from its changelog topic, as JSON (indented on a terminal,
// one line otherwise or with --json). Works while the job is
// stopped, and beside a running one (the data dir is opened read-only).

import type { Command } from 'commander';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { changelogTopic, readChangelog } from '../runtime/state-changelog.ts';
import { withLog } from './options.ts';

interface StateOptions {
  key?: string;
  json?: boolean;
}

export function registerState(program: Command): void {
  program
    .command('state')
    .description("print a job's saved state as JSON: { operator: { key: state } }")
    .argument('<job>', 'the job (application) name')
    .option('--key <key>', 'only this key: { operator: state }')
    .option('--json', 'one line of JSON, also on a terminal (the default when stdout is not a terminal: pipes and files get one line)')
    .action(async (job: string, opts: StateOptions, cmd: Command) => {
      const saved = await withLog(cmd, 'read', async (log) => {
        try {
          return await readChangelog(log, job);
        } catch (e) {
          if (!isSluiceError(e, ErrorCodes.UNKNOWN_TOPIC)) throw e;
          throw new SluiceError(ErrorCodes.UNKNOWN_TOPIC, `job ${job} has no saved state (no topic ${changelogTopic(job)}); has it run with --guarantee exactly-once or at-least-once?`, { topic: changelogTopic(job) });
        }
      });
      const out: Record<string, Record<string, unknown>> = {};
      for (const c of saved.states) {
        if (c.state === '') continue; // pending timers only: not state (`sluice time` summarises event time)
        if (opts.key !== undefined && c.key !== opts.key) continue;
        (out[c.operator] ??= {})[c.key] = JSON.parse(c.state) as unknown;
      }
      const result: unknown = opts.key === undefined ? out : Object.fromEntries(Object.entries(out).map(([op, m]) => [op, m[opts.key!]]));
      // Indented for a person at a terminal; one line for scripts (jq, files), or whenever --json asks.
      const pretty = process.stdout.isTTY === true && opts.json !== true;
      process.stdout.write(JSON.stringify(result, null, pretty ? 2 : undefined) + '\n');
    });
}
