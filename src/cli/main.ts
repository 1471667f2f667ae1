#!/usr/bin/env node
// The `sluice` command. Each command group registers itself from its own file;
// this file only wires commander to Sluice's error and exit-code conventions
// (see exit.ts) and makes sure output is flushed before the process exits.

import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { installLastResort, reportError } from './exit.ts';
import { registerConsume } from './consume.ts';
import { registerProduce } from './produce.ts';
import { registerTopic } from './topic.ts';
import { registerRun } from './run.ts';
import { registerState } from './state.ts';
import { registerExec } from './exec.ts';
import { registerTime } from './time.ts';
import { registerServe } from './serve.ts';
import { registerRepair } from './repair.ts';

function version(): string {
  try {
    // dist/cli/main.js and src/cli/main.ts are both two levels below package.json.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function createProgram(): Command {
  const program = new Command('sluice');
  // Set before any subcommand is added: commander copies these settings into subcommands.
  program
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`sluice: ${str.replace(/^error: /, '')}`) })
    .showHelpAfterError('(add --help for usage)')
    .description('durable, exactly-once stream processing: an embedded partitioned log and tools for JSON lines')
    .version(version(), '-V, --version')
    .option('-d, --data-dir <dir>', 'data directory (default: $SLUICE_DATA_DIR or ./.sluice)')
    .option('--broker <url>', 'use the broker at sluice://HOST:PORT instead of a data dir (default: $SLUICE_BROKER)')
    .option('--token <token>', "the broker's token (default: $SLUICE_TOKEN); for sluices:// with a private CA set $SLUICE_TLS_CA");
  registerTopic(program);
  registerProduce(program);
  registerConsume(program);
  registerRun(program);
  registerState(program);
  registerTime(program);
  registerServe(program);
  registerExec(program);
  registerRepair(program);
  return program;
}

async function main(): Promise<number> {
  installLastResort();
  try {
    await createProgram().parseAsync(process.argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

// Sluice's own warnings (a rebuilt index, records lost to retention) are one `sluice: warning:` line
// like its errors; anything else keeps Node's format.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  process.stderr.write(w.name === 'SluiceWarning' ? `sluice: warning: ${w.message}\n` : `(node:${process.pid}) ${w.name}: ${w.message}\n`);
});

const code = await main();
process.exitCode = code;
// Exit explicitly (a reader's file watchers must not keep us alive), but only once
// stdout has taken everything: process.exit drops data still queued for a pipe.
process.stdout.write('', () => process.exit(code));
