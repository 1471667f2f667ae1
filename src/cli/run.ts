// `sluice run APP`: runs an application file on the embedded log (or a broker,
// with --broker) until it is stopped (SIGINT/SIGTERM: finish the in-flight
// batch, checkpoint, exit 0) or, with --until-end, until its bounded inputs
// are drained. On stderr: the readiness line once it runs, progress while it
// runs, a summary at the end (run-report.ts).

import { InvalidArgumentError, type Command } from 'commander';
import type { ErrorPolicy } from '../dataflow/application.ts';
import type { Guarantee } from '../dataflow/io.ts';
import { Job } from '../runtime/job.ts';
import { QueryServer } from '../server/query-server.ts';
import { brokerOf, dataDirOf, parseIntArg, withLog } from './options.ts';
import { untilStopped } from './stop-signal.ts';
import { DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_RECORDS } from '../runtime/defaults.ts';
import { loadApp } from './app-load.ts';
import { join } from 'node:path';
import { DEFAULT_STATE_CACHE_BYTES } from '../runtime/state-on-disk.ts';
import { typecheck } from './typecheck.ts';
import { Progress, progressIntervalMs } from './progress.ts';
import { Backlog } from './backlog.ts';
import { progressLine, readinessLine, summaryLines } from './run-report.ts';

interface RunOptions {
  guarantee: Guarantee;
  untilEnd?: boolean;
  workers: number;
  commitIntervalMs: number;
  commitRecords: number;
  onError?: ErrorPolicy;
  quiet?: boolean;
  typecheck?: boolean;
  http?: string;
  httpToken?: string;
  stateBackend: 'memory' | 'disk';
  stateDir?: string;
  stateCacheMb: number;
}

function backendArg(v: string): 'memory' | 'disk' {
  if (v === 'memory' || v === 'disk') return v;
  throw new InvalidArgumentError('expected memory or disk');
}

function guaranteeArg(v: string): Guarantee {
  if (v === 'exactly-once' || v === 'at-least-once' || v === 'none') return v;
  throw new InvalidArgumentError('expected exactly-once, at-least-once or none');
}

function errorPolicy(v: string): ErrorPolicy {
  if (v === 'dead-letter' || v === 'stop') return v;
  throw new InvalidArgumentError('expected dead-letter or stop');
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run a Sluice application file (TypeScript or JavaScript) on the data dir, or on a broker with --broker')
    .argument('<app>', 'the application file; its default export is an Application')
    .option('--until-end', 'process what bounded inputs (topics, files, stdin) hold at start, commit, and exit 0')
    .option('--typecheck', "type-check the app's project first (its own tsc and tsconfig.json); do not start on errors")
    .option('--workers <n>', 'worker threads that run the state partitions (1: all on the main thread)', parseIntArg(1, 64), 1)
    .option('--commit-interval-ms <ms>', 'how often to checkpoint (outputs, state and input offsets)', parseIntArg(1), DEFAULT_COMMIT_INTERVAL_MS)
    .option('--commit-records <n>', 'checkpoint sooner when this many records went in or out since the last one', parseIntArg(1), DEFAULT_COMMIT_RECORDS)
    .option('--guarantee <g>', 'exactly-once, at-least-once or none: what a crash may cost (see docs/exactly-once.md)', guaranteeArg, 'exactly-once')
    .option('--on-error <policy>', "a record that cannot be decoded or processed: 'dead-letter' (default) or 'stop'", errorPolicy)
    .option('--state-backend <b>', "where keyed state lives: 'memory' (default) or 'disk' (a cache in memory, the rest on disk; see docs/state-on-disk.md)", backendArg, 'memory')
    .option('--state-dir <dir>', 'where state kept on disk lives (default: DATA_DIR/state)')
    .option('--state-cache-mb <n>', 'memory for the cached keys of state kept on disk, in MiB (an estimate; 0: only the keys changed since the last checkpoint stay)', parseIntArg(0), DEFAULT_STATE_CACHE_BYTES / 1024 / 1024)
    .option('--http <host:port>', "answer table queries over HTTP while the job runs (GET /tables, /tables/NAME, /tables/NAME/KEY; see docs/tables-and-joins.md)")
    .option('--http-token <token>', 'require this bearer token of table queries (required beyond loopback); or $SLUICE_HTTP_TOKEN')
    .option('-q, --quiet', 'no progress and no summary on stderr (the readiness line stays: scripts wait for it)')
    .action(async (file: string, opts: RunOptions, cmd: Command) => {
      if (opts.typecheck) typecheck(file);
      const app = await loadApp(file);
      const started = Date.now();
      const where = brokerOf(cmd) ?? dataDirOf(cmd);
      await untilStopped(async (signal) => {
        let progress: Progress | null = null;
        let backlog: Backlog | null = null;
        const result = await withLog(cmd, 'write', async (log) => {
          let queries: QueryServer | null = null;
          const job: Job = new Job(app, {
            log,
            untilEnd: opts.untilEnd,
            signal,
            commitIntervalMs: opts.commitIntervalMs,
            commitRecords: opts.commitRecords,
            onError: opts.onError,
            workers: opts.workers,
            appFile: file,
            guarantee: opts.guarantee,
            state: { backend: opts.stateBackend, stateDir: opts.stateDir ?? join(dataDirOf(cmd), 'state'), cacheBytes: opts.stateCacheMb * 1024 * 1024 },
            onReady: () => {
              process.stderr.write(readinessLine(app, { guarantee: opts.guarantee, log: where, queries: queries?.url }));
              backlog = new Backlog(app, log, progressIntervalMs(opts.quiet));
              progress = new Progress(() => progressLine(app, job.status(), started, backlog?.value ?? null), opts.quiet);
            },
          });
          queries = opts.http === undefined ? null : await QueryServer.start(job, { listen: opts.http, token: opts.httpToken ?? process.env['SLUICE_HTTP_TOKEN'] });
          if (queries) process.stderr.write(`${app.name}: table queries on ${queries.url}/tables\n`);
          try {
            return await job.run();
          } finally {
            (progress as Progress | null)?.stop();
            (backlog as Backlog | null)?.stop();
            await queries?.close();
          }
        });
        if (!opts.quiet) process.stderr.write(summaryLines(app, result, started));
      });
    });
}
