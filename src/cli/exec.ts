// `sluice exec --input T --output T [options] -- COMMAND [ARGS...]`: runs an
// unmodified program as an exactly-once stream processor (src/exec/).

import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ExecJob, type ExecMode, type OnError } from '../exec/exec-job.ts';
import { parseIntArg, withLog } from './options.ts';
import { untilStopped } from './stop-signal.ts';

interface ExecCliOptions {
  input: string;
  output: string;
  job?: string;
  outputKeyField?: string;
  instances: number;
  partitionBy?: string;
  stateless?: boolean;
  protocol?: boolean;
  withMeta?: boolean;
  untilEnd?: boolean;
  commitIntervalMs?: number;
  maxRestarts: number;
  hangTimeoutMs: number;
  onError: OnError;
  quiet?: boolean;
}

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a program that reads JSON lines on stdin and writes JSON lines on stdout as an exactly-once stream processor')
    .argument('<command>', 'the program')
    .argument('[args...]', 'its arguments (put -- before the command so its options are not taken for sluice\'s)')
    .requiredOption('--input <topics>', 'input topic(s), comma-separated')
    .requiredOption('--output <topic>', 'output topic')
    .option('--job <name>', "the job's name: its consumer group, journal and state (default: exec-<program name>)")
    .option('--output-key-field <field>', 'key output records by this field of each output line')
    .option('--instances <n>', 'copies of the program; needs --partition-by', parseIntArg(1, 64), 1)
    .option('--partition-by <field>', 'with --instances: the input field whose hash picks the instance')
    .option('--stateless', 'the program keeps no state between lines: no journal, no replay (it is restarted at each checkpoint)')
    .option('--protocol', 'the program speaks the checkpoint protocol (docs/exec.md): recovery replays nothing')
    .option('--with-meta', 'feed {topic, partition, offset, key, timestamp, headers, value} instead of the value')
    .option('--until-end', 'process what the inputs hold now, commit, and exit 0')
    .option('--commit-interval-ms <ms>', 'how often to checkpoint (default 100; 1000 with --stateless)', parseIntArg(1))
    .option('--max-restarts <n>', 'restarts of a failing program before giving up', parseIntArg(0), 5)
    .option('--hang-timeout-ms <ms>', 'a program Sluice waits on that reads and writes nothing this long is killed as hung (then restarted)', parseIntArg(1), 60_000)
    .option('--on-error <policy>', 'an input the program fails on every time (crash, non-JSON output): fail naming it, skip it, or dead-letter it to <job>-dead-letters', parseOnError, 'fail')
    .option('-q, --quiet', 'no summary on stderr')
    .action(async (command: string, args: string[], o: ExecCliOptions, cmd: Command) => {
      if (o.stateless && o.protocol) throw new InvalidArgumentError('--stateless and --protocol exclude each other');
      const mode: ExecMode = o.stateless ? 'stateless' : o.protocol ? 'protocol' : 'replay';
      const job = o.job ?? `exec-${basename(command).replace(/[^A-Za-z0-9._-]/g, '_')}`;
      const started = Date.now();
      await untilStopped(async (signal) => {
        const r = await withLog(cmd, 'write', (log) =>
          new ExecJob({
            log,
            job,
            inputs: o.input.split(',').map((t) => t.trim()).filter(Boolean),
            output: o.output,
            command,
            args,
            mode,
            instances: o.instances,
            partitionBy: o.partitionBy,
            outputKeyField: o.outputKeyField,
            withMeta: o.withMeta ?? false,
            untilEnd: o.untilEnd ?? false,
            signal,
            ...(o.commitIntervalMs !== undefined ? { commitIntervalMs: o.commitIntervalMs } : {}),
            maxRestarts: o.maxRestarts,
            hangTimeoutMs: o.hangTimeoutMs,
            onError: o.onError,
          }).run(),
        );
        if (!o.quiet) {
          process.stderr.write(
            `${job}: ${r.inputs} inputs, ${r.outputs} outputs committed in ${r.checkpoints} checkpoints` +
              `${r.restarts > 0 ? `, ${r.restarts} restarts` : ''}${r.skipped > 0 ? `, ${r.skipped} inputs passed over (--on-error ${o.onError})` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
          );
        }
      });
    });
}

function parseOnError(v: string): OnError {
  if (v === 'fail' || v === 'skip' || v === 'dead-letter') return v;
  throw new InvalidArgumentError('expected fail, skip or dead-letter');
}
