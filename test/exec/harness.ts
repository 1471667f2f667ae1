// Helpers for the `sluice exec` proofs (test/e2e/exec.test.ts, scripts/exec-proof.ts):
// which external programs exist, the bank-transfer programs under exec, the
// committed output as lines, and a loop that SIGKILLs the *child program*
// (not the runtime) at seeded-random moments. Runtime kills reuse
// crashLoop from test/fixtures/crash-harness.ts.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { generateTransfers, prng, setupDataDir, sluice, spawnSluice, type Run, type TopicInput } from '../fixtures/crash-harness.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { referenceOutcomes, type Transfer } from '../../examples/bank-transfers/reference.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const EXAMPLES = {
  py: here('../../examples/exec/transfers.py'),
  jq: here('../../examples/exec/transfers.jq'),
  mjs: here('../../examples/exec/transfers.mjs'),
  pyProtocol: here('../../examples/exec/transfers_protocol.py'),
  mjsProtocol: here('../../examples/exec/transfers-protocol.mjs'),
};
export const PROGRAMS = {
  echoCount: here('./programs/echo-count.py'),
  perSource: here('./programs/per-source.py'),
};

/** The bank-transfer program in each language, as `sluice exec -- ...` arguments. */
export const BANK: Record<'python' | 'jq' | 'node', string[]> = {
  python: ['python3', EXAMPLES.py],
  jq: ['jq', '-cn', '-f', EXAMPLES.jq],
  node: [process.execPath, EXAMPLES.mjs],
};

/** null when python3 with orjson and jq are installed; otherwise why not (the tests skip with it). */
export function missingTools(): string | null {
  try {
    execFileSync('python3', ['-c', 'import orjson'], { stdio: 'ignore' });
  } catch {
    return 'python3 with orjson is not installed (pip install orjson)';
  }
  try {
    execFileSync('jq', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'jq is not installed';
  }
  return null;
}

export const IN = 'transfers';
export const OUT = 'transfer-outcomes';

/** Asserts two lists are equal, naming the first difference (a deepEqual of 100,000 lines is unreadable). */
export function sameList(got: string[], want: string[], what: string): void {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: first difference at #${i} (got ${got.length} records, want ${want.length}):\n  got  ${got[i]}\n  want ${want[i]}`);
  }
}

const transferCache = new Map<string, string[]>();
/** `n` generated transfers (seeded), cached per process: several tests use the same input. */
export async function transfers(n: number, seed: number): Promise<string[]> {
  const k = `${n}/${seed}`;
  if (!transferCache.has(k)) transferCache.set(k, await generateTransfers(n, seed));
  return transferCache.get(k)!;
}

/** The sequential reference's outcomes for these transfers, as JSON lines. */
export const expected = (lines: string[]): string[] => referenceOutcomes(lines.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));

/** A data dir with the input topic holding `values` (1 partition) and an empty output topic. */
export async function setup(dir: string, values: string[], extra: TopicInput[] = []): Promise<void> {
  await setupDataDir(dir, [{ topic: IN, partitions: 1, values }, ...extra], [{ topic: OUT, partitions: 1 }]);
}

/** `sluice exec` arguments: IN to OUT, --until-end, then the flags, then the program. */
export const execArgs = (job: string, program: string[], ...flags: string[]): string[] => ['exec', '--input', IN, '--output', OUT, '--job', job, '--until-end', ...flags, '--', ...program];

export interface ExecState {
  journal: number;
  outputs: number;
  snapshot?: { journal: number; outputs: number; journalOffset: number; state: unknown };
  skipped?: number[];
  ended?: boolean;
}

/**
 * The newest committed ["exec", 0] state of an exec job (from `<job>-changelog`), read
 * in-process: `sluice consume` would wait for a killed run's open transaction.
 */
export async function execState(dir: string, job: string): Promise<ExecState | undefined> {
  const log = await openFileLog({ dataDir: dir, readOnly: true });
  try {
    let last: ExecState | undefined;
    if (!(await log.listTopics()).some((x) => x.name === `${job}-changelog`)) return undefined; // not started yet
    for (let offset = 0; ; ) {
      const r = await log.read(`${job}-changelog`, 0, offset);
      for (const rec of r.records) {
        if (rec.key && rec.value && Buffer.from(rec.key).toString() === '["exec",0]') last = JSON.parse(Buffer.from(rec.value).toString()) as ExecState;
      }
      if (r.nextOffset >= r.highWatermark) return last;
      offset = r.nextOffset;
    }
  } finally {
    await log.close();
  }
}

/** The committed values of a topic (read_committed, through `sluice consume`), one JSON line each, in order. */
export async function committedValues(dataDir: string, topic: string): Promise<string[]> {
  const r = await sluice(['consume', topic], dataDir);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** The checkpoint count in a `sluice exec` summary line. */
export function execCheckpoints(run: Run): number {
  const m = /committed in (\d+) checkpoints/.exec(run.stderr);
  if (!m) throw new Error(`no exec summary line in: ${run.stderr}`);
  return Number(m[1]);
}

/** The pids of a process's children (Linux: /proc/PID/task/TID/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process has exited
  }
  return out;
}

function txnLogSize(dataDir: string): number {
  return statSync(join(dataDir, 'transactions', 'txn.log'), { throwIfNoEntry: false })?.size ?? -1;
}

export interface ChildKillOptions {
  dataDir: string;
  /** `exec ... --until-end -- PROGRAM`, with a --max-restarts above perLife. */
  args: string[];
  kills: number;
  seed: number;
  /** Child kills per runtime life (each restart backs off longer; the runtime is then stopped with SIGTERM and started again). */
  perLife?: number;
  /** Whether the input is all committed (the job is done). */
  done: () => Promise<boolean>;
  log?: (line: string) => void;
}

export interface ChildKillResult {
  kills: number;
  /** "restarting from the last commit" lines the runtime printed. */
  restarts: number;
  lives: number;
  stderr: string;
}

/**
 * Runs the exec job, SIGKILLing its child program `kills` times. In each life
 * of the runtime, up to `perLife` kills; each waits until the runtime has
 * restarted the program after the previous kill, then either strikes soon after
 * the restart (a third of the time: during the replay of the journal) or after
 * the next checkpoint (transaction-log growths) and 0-10 ms more (mid-run
 * or mid-checkpoint). After the last kill of a life and a checkpoint after its
 * restart, SIGTERM (a clean stop: restart backoff grows within one life) and a
 * new life. Ends when a life exits 0 with all input committed.
 */
export async function childKillLoop(o: ChildKillOptions): Promise<ChildKillResult> {
  const rnd = prng(o.seed);
  const perLife = o.perLife ?? 3;
  const res: ChildKillResult = { kills: 0, restarts: 0, lives: 0, stderr: '' };
  for (;;) {
    if (res.lives > o.kills * 3 + 20) throw new Error(`the job did not finish after ${res.lives} lives`);
    res.lives++;
    const { child, done } = spawnSluice(o.args, o.dataDir);
    let size = txnLogSize(o.dataDir);
    let kills = 0; // this life
    let restarts = 0; // this life
    let wait = 1;
    let timer: NodeJS.Timeout | undefined;
    let stopping = false;
    const strike = (ms: number) => {
      timer = setTimeout(() => {
        const pids = childPids(child.pid!);
        if (pids.length === 0) {
          timer = undefined; // between programs: try at the next checkpoint
          wait = 1;
          return;
        }
        for (const p of pids) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // exited meanwhile
          }
        }
        kills++;
        res.kills++;
        o.log?.(`child kill ${res.kills} (life ${res.lives}): pid ${pids.join(',')}`);
        // timer stays set until the restart is seen
      }, ms);
    };
    child.stderr!.on('data', (d: Buffer) => {
      for (const m of d.toString('utf8').matchAll(/restarting from the last commit in (\d+) ms/g)) {
        restarts++;
        if (restarts !== kills) continue;
        timer = undefined;
        wait = 1;
        if (kills < perLife && res.kills < o.kills && rnd() < 1 / 3) strike(Number(m[1]) + rnd() * 40);
      }
    });
    const poll = setInterval(() => {
      const now = txnLogSize(o.dataDir);
      if (now === size) return;
      size = now;
      if (timer || stopping || restarts < kills || --wait > 0) return;
      if (kills >= perLife || res.kills >= o.kills) {
        if (kills > 0) {
          stopping = true;
          child.kill('SIGTERM');
        }
        return;
      }
      strike(rnd() * 10);
    }, 1);
    const hang = setTimeout(() => child.kill('SIGKILL'), 300_000);
    const r = await done;
    clearInterval(poll);
    clearTimeout(timer);
    clearTimeout(hang);
    res.stderr += r.stderr;
    res.restarts += restarts;
    if (r.code !== 0) throw new Error(`sluice ${o.args.join(' ')} failed (code ${r.code}, signal ${r.signal}) after ${res.kills} child kills: ${r.stderr}`);
    if (!stopping || (await o.done())) {
      if (!(await o.done())) throw new Error(`the job exited 0 but its input is not all committed`);
      if (res.kills < o.kills) throw new Error(`the job finished after only ${res.kills} child kills (of ${o.kills}); give it more input`);
      return res;
    }
  }
}

/**
 * Polls `cond` every 250 ms until it holds. Polling, not waiting for a file to
 * grow: a transaction's records become visible to a read-only reader slightly
 * after its decision reaches txn.log, so a quiet job's last commit would be
 * missed. `timeoutMs` is a last resort that fails naming what did not happen.
 */
export async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting (${timeoutMs / 1000} s) for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `sluice exec` arguments in follow mode (no --until-end): IN to OUT, the flags, then the program. */
export const followArgs = (job: string, program: string[], ...flags: string[]): string[] => ['exec', '--input', IN, '--output', OUT, '--job', job, ...flags, '--', ...program];
