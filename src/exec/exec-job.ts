// `sluice exec`: an unmodified program as an exactly-once stream processor.
//
// Input records are read from topics in a deterministic rotation, written to
// the program's stdin as JSON lines, and *recorded* in the journal topic
// `<job>-journal` (one partition per instance) in the order they were fed.
// Each checkpoint commits, in one transaction: the program's output lines
// since the last checkpoint, the journal records of the inputs fed meanwhile,
// the instance's counts (inputs fed, outputs committed) in `<job>-changelog`,
// and the input topics' offsets. After any crash the program is started
// afresh and fed the journal — the same inputs in the same order — and the
// first `outputs` lines it writes are dropped: for a deterministic program
// they are exactly those already committed. Then it goes on with new input.
//
// --stateless: no journal; the program is restarted at each checkpoint (its
// stdin closed, its outputs collected until it exits), so every input before a
// checkpoint is known to be fully processed. --protocol: the program hands
// over its state at each checkpoint and gets it back on restart, so recovery
// replays nothing (docs/exec.md).

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log, TransactionWrite, ProducerIdentity } from '../log/log.ts';
import { partitionForStringKey, Partitioner } from '../partitioner.ts';
import { TopicSource } from '../connectors/topic-source.ts';
import type { SourceBatch, SourceCheckpoint } from '../dataflow/io.ts';
import { changelogTopic, ensureChangelog, readChangelogLatest } from '../runtime/state-changelog.ts';
import { Instance, type InstanceState } from './instance.ts';
import { replayJournal } from './journal.ts';
import { looksLikeJson } from './json-line.ts';

export type ExecMode = 'replay' | 'stateless' | 'protocol';

export interface ExecOptions {
  log: Log;
  job: string;
  inputs: string[];
  output: string;
  command: string;
  args: string[];
  mode?: ExecMode;
  instances?: number;
  /** With instances > 1: the input field whose hash picks the instance. */
  partitionBy?: string;
  /** The output record key: this field of each output line. */
  outputKeyField?: string;
  /** Feed `{topic, partition, offset, key, timestamp, headers, value}` instead of the value. */
  withMeta?: boolean;
  untilEnd?: boolean;
  signal?: AbortSignal;
  commitIntervalMs?: number;
  /** Restarts of a failing program (with backoff) before the job gives up. */
  maxRestarts?: number;
  /** A program the runtime waits on that reads and writes nothing this long hangs: killed, restarted. */
  hangTimeoutMs?: number;
  /** Progress lines (replay) go here; default stderr. */
  progress?: (line: string) => void;
  /** A replay progress bar (carriage returns): only for a terminal. Default: whether stderr is one. */
  progressBar?: boolean;
}

export interface ExecResult {
  inputs: number;
  outputs: number;
  checkpoints: number;
  restarts: number;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const decoder = new TextDecoder();

export function journalTopic(job: string): string {
  return `${job}-journal`;
}

export class ExecJob {
  private readonly o: Required<Omit<ExecOptions, 'partitionBy' | 'outputKeyField' | 'signal' | 'progress'>> &
    Pick<ExecOptions, 'partitionBy' | 'outputKeyField' | 'signal'> & { progress: (line: string) => void };
  private instances: Instance[] = [];
  private source: TopicSource | null = null;
  private producer: ProducerIdentity | null = null;
  private sequence = 0;
  private processed: SourceCheckpoint | undefined;
  private checkpointId = 0;
  private failure: SluiceError | null = null;
  private wakeOnFailure: (() => void) | null = null;
  private outputPartitions = 1;
  private readonly partitioner = new Partitioner();
  private result: ExecResult = { inputs: 0, outputs: 0, checkpoints: 0, restarts: 0 };

  constructor(options: ExecOptions) {
    this.o = {
      mode: 'replay',
      instances: 1,
      withMeta: false,
      untilEnd: false,
      commitIntervalMs: options.mode === 'stateless' ? 1000 : 100,
      maxRestarts: 5,
      hangTimeoutMs: 60_000,
      progress: (line) => process.stderr.write(line),
      progressBar: process.stderr.isTTY === true,
      ...options,
    } as typeof this.o;
    if (this.o.instances > 1 && !this.o.partitionBy) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, '--instances above 1 needs --partition-by FIELD: each instance gets the records whose FIELD hashes to it');
    }
  }

  async run(): Promise<ExecResult> {
    const { log, job } = this.o;
    this.outputPartitions = (await log.getTopic(this.o.output)).config.partitions;
    if (this.o.mode !== 'stateless') {
      try {
        await log.createTopic(journalTopic(job), { partitions: this.o.instances });
      } catch (e) {
        if (!(e instanceof SluiceError && e.code === ErrorCodes.TOPIC_EXISTS)) throw e;
        const n = (await log.getTopic(journalTopic(job))).config.partitions;
        if (n !== this.o.instances) {
          throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `job ${job} ran with --instances ${n}; its journal cannot be split differently. Use --instances ${n}, or a new --job name.`);
        }
      }
    }
    await ensureChangelog(log, job);
    this.producer = await log.initProducer(`sluice-exec:${job}`);
    for (let attempt = 0; ; attempt++) {
      const checkpointsBefore = this.result.checkpoints;
      try {
        await this.recover();
        await this.loop();
        await this.finish();
        return this.result;
      } catch (e) {
        this.inFlight = null;
        this.stopChildren();
        // Stopped on purpose (SIGINT/SIGTERM) while the program was failing: what is committed stays.
        if (this.o.signal?.aborted) return this.result;
        // A life that committed something was a success: the next failure starts the count (and backoff) over.
        if (this.result.checkpoints > checkpointsBefore) attempt = 0;
        const err = e instanceof SluiceError ? e : new SluiceError(ErrorCodes.EXEC_FAILED, (e as Error).message, {}, { cause: e });
        if (err.code !== ErrorCodes.EXEC_FAILED || attempt >= this.o.maxRestarts) {
          if (err.code === ErrorCodes.EXEC_FAILED && attempt >= this.o.maxRestarts) {
            throw new SluiceError(ErrorCodes.EXEC_FAILED, `${err.message}; gave up after ${attempt} restarts. Nothing committed is lost: fix the program and run again, it resumes from the last commit.`, err.details, { cause: err });
          }
          throw err;
        }
        this.result.restarts++;
        const backoff = Math.min(5000, 100 * 2 ** attempt);
        this.o.progress(`${job}: ${err.message}; restarting from the last commit in ${backoff} ms\n`);
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  }

  /** Starts from the last commit: counts and snapshots from the changelog, programs fed their journal. */
  private async recover(): Promise<void> {
    const { log, job } = this.o;
    const saved = await readExecState(log, job);
    this.failure = null;
    this.instances = [];
    for (let i = 0; i < this.o.instances; i++) {
      const committed = saved.instances.get(i) ?? { journal: 0, outputs: 0 };
      const inst = new Instance(i, this.o.instances > 1 ? `${job}#${i}` : job, committed, this.o.mode === 'protocol');
      inst.start(this.o.command, this.o.args, (e) => this.fail(e), this.o.hangTimeoutMs);
      this.instances.push(inst);
      if (this.o.mode === 'stateless') continue;
      const snap = committed.snapshot;
      if (snap) await inst.child!.write(JSON.stringify({ sluice: 'restore', state: snap.state }) + '\n');
      inst.discard = committed.outputs - (snap?.outputs ?? 0);
      await replayJournal(log, journalTopic(job), i, snap?.journalOffset ?? 0, committed.journal - (snap?.journal ?? 0), inst, this.o.progress, this.o.progressBar);
    }
    this.source = new TopicSource(this.o.inputs, job, 'beginning');
    await this.source.open({ log, job, untilEnd: this.o.untilEnd, maxBatchRecords: 1000, guarantee: 'exactly-once' });
    if (saved.source !== undefined) this.source.restore(saved.source);
    this.processed = this.source.checkpoint();
  }

  private fail(e: SluiceError): void {
    this.failure ??= e;
    this.wakeOnFailure?.();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private async loop(): Promise<void> {
    const source = this.source!;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    this.o.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.o.signal?.aborted) stop.abort();
    let last = Date.now();
    let fed = 0;
    // One batch is always being fetched while the previous one is fed: the program is not left
    // waiting for input while the log is read.
    let pending: Promise<SourceBatch | null> | null = null;
    try {
      for (;;) {
        this.check();
        pending ??= source.next(stop.signal);
        let timer: NodeJS.Timeout | undefined;
        const wake = new Promise<'tick'>((resolve) => {
          // Due checkpoint (only when something awaits one) or a failing program.
          if (fed > 0) timer = setTimeout(() => resolve('tick'), Math.max(0, last + this.o.commitIntervalMs - Date.now()));
          this.wakeOnFailure = () => resolve('tick');
        });
        const got = await Promise.race([pending.then((batch) => ({ batch })), wake]);
        clearTimeout(timer);
        this.check();
        if (got !== 'tick') {
          pending = null;
          if (!got.batch) return; // stopping, or the input has ended (--until-end)
          await this.feed(got.batch, () => {
            if (!stop.signal.aborted) pending = source.next(stop.signal);
          });
          fed += got.batch.records.length;
        }
        if (fed > 0 && Date.now() - last >= this.o.commitIntervalMs) {
          await this.checkpoint(this.o.mode === 'stateless');
          fed = 0;
          last = Date.now();
        }
      }
    } finally {
      this.o.signal?.removeEventListener('abort', onAbort);
      this.wakeOnFailure = null;
      // A batch fetched ahead and never fed is simply not done: its position was not taken.
    }
  }

  /** Feeds a batch to the programs; `fetchNext` runs once the lines are handed over, before waiting for the pipes. */
  private async feed(batch: SourceBatch, fetchNext: () => void): Promise<void> {
    const n = this.instances.length;
    const lines: Uint8Array[][] = Array.from({ length: n }, () => []);
    const [topic, partition] = batch.origin.slice('topic:'.length).split('/') as [string, string];
    for (let j = 0; j < batch.records.length; j++) {
      const r = batch.records[j]!;
      // The stored bytes go to the program (and the journal) as they are when they are a JSON line.
      let line: Uint8Array;
      if (!this.o.withMeta && r.value !== null && looksLikeJson(r.value)) line = r.value;
      else {
        const text = r.value === null ? 'null' : decoder.decode(r.value);
        const value = looksLikeJson(utf8(text)) ? text : JSON.stringify(text);
        line = utf8(
          this.o.withMeta
            ? `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":${batch.position + j},"key":${r.key === null ? 'null' : JSON.stringify(decoder.decode(r.key))},"timestamp":${r.timestamp},"headers":${JSON.stringify(r.headers)},"value":${value}}`
            : value,
        );
      }
      lines[n === 1 ? 0 : this.instanceFor(line)]!.push(line);
    }
    const writes: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const inst = this.instances[i]!;
      const mine = lines[i]!;
      if (mine.length === 0) continue;
      for (const l of mine) inst.pendingInputs.push(l);
      writes.push(inst.child!.write(joinLines(mine)));
    }
    this.result.inputs += batch.records.length;
    this.processed = batch.checkpoint;
    fetchNext();
    await Promise.all(writes);
  }

  private instanceFor(line: Uint8Array): number {
    const parsed = JSON.parse(decoder.decode(line)) as Record<string, unknown> | null;
    const v = this.o.withMeta ? (parsed?.['value'] as Record<string, unknown> | null) : parsed;
    const field = v?.[this.o.partitionBy!];
    const key = typeof field === 'string' ? field : JSON.stringify(field ?? null);
    return partitionForStringKey(key, this.instances.length);
  }

  /**
   * One transaction: outputs, journal, counts (and snapshots), input offsets.
   * `rotate` (stateless): end each program first, so all it was fed is done.
   */
  private async checkpoint(rotate = false): Promise<void> {
    await this.settle();
    const id = ++this.checkpointId;
    const snapshots = new Map<number, unknown>();
    if (this.o.mode === 'protocol') {
      for (const inst of this.instances) snapshots.set(inst.index, await inst.requestState(id));
    } else if (rotate) {
      // Rotate: end each program so every input fed so far is fully processed, then start anew.
      for (const inst of this.instances) {
        const e = await inst.child!.end();
        if (e) throw e;
        inst.start(this.o.command, this.o.args, (err) => this.fail(err), this.o.hangTimeoutMs);
      }
    }
    this.check();
    // Take what this checkpoint covers now: lines the programs write while it commits belong to the next.
    const taken = this.instances.map((inst) => {
      const t = { inputs: inst.pendingInputs, outputs: inst.pendingOutputs };
      inst.pendingInputs = [];
      inst.pendingOutputs = [];
      return t;
    });
    const writes: TransactionWrite[] = [];
    const outputsByPartition = new Map<number, TransactionWrite>();
    const changelog: TransactionWrite = { topic: changelogTopic(this.o.job), partition: 0, records: [] };
    let outputs = 0;
    for (const inst of this.instances) {
      const { inputs, outputs: lines } = taken[inst.index]!;
      for (const line of lines) {
        const key = this.outputKey(line);
        const p = this.partitioner.partition(key, this.outputPartitions);
        let w = outputsByPartition.get(p);
        if (!w) outputsByPartition.set(p, (w = { topic: this.o.output, partition: p, records: [] }));
        w.records.push({ key, value: line });
      }
      outputs += lines.length;
      if (this.o.mode !== 'stateless' && inputs.length > 0) {
        writes.push({ topic: journalTopic(this.o.job), partition: inst.index, records: inputs.map((l) => ({ key: null, value: l })) });
      }
      const next: InstanceState = {
        journal: inst.committed.journal + (this.o.mode === 'stateless' ? 0 : inputs.length),
        outputs: inst.committed.outputs + lines.length,
      };
      if (snapshots.has(inst.index)) {
        // Everything fed so far is in the state: a restart replays only journal records after this point.
        const end = await this.journalEnd(inst.index, inputs.length);
        next.snapshot = { journal: next.journal, outputs: next.outputs, journalOffset: end, state: snapshots.get(inst.index) };
      } else if (inst.committed.snapshot) next.snapshot = inst.committed.snapshot;
      changelog.records.push({ key: utf8(JSON.stringify(['exec', inst.index])), value: utf8(JSON.stringify(next)) });
      inst.committed = next;
    }
    changelog.records.push({ key: utf8(JSON.stringify(['source', 'exec'])), value: utf8(JSON.stringify(this.processed?.state ?? null)) });
    writes.push(...[...outputsByPartition.values()].sort((a, b) => a.partition - b.partition), changelog);
    // Written while the programs go on being fed (pipelining); the next checkpoint waits for it.
    const commit = this.o.log.commitTransaction(this.producer!, ++this.sequence, { writes, offsets: this.processed?.offsets ? [this.processed.offsets] : [] });
    commit.catch(() => {}); // reported by settle()
    this.inFlight = commit.then(() => {
      this.result.outputs += outputs;
      this.result.checkpoints++;
    });
    // Awaited by settle(), unless the loop fails first and drops it: never an unhandled rejection.
    this.inFlight.catch(() => {});
  }

  private inFlight: Promise<void> | null = null;

  /** Waits for the commit in flight (and throws its failure). */
  private async settle(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = null;
    await pending;
  }

  /** The journal offset after the records this checkpoint appends (their offsets are assigned in order). */
  private async journalEnd(instance: number, appending: number): Promise<number> {
    const d = await this.o.log.describeTopic(journalTopic(this.o.job));
    return d.partitions[instance]!.endOffset + appending;
  }

  private outputKey(line: Uint8Array): Uint8Array | null {
    const f = this.o.outputKeyField;
    if (!f) return null;
    const v = (JSON.parse(decoder.decode(line)) as Record<string, unknown> | null)?.[f];
    return v === undefined || v === null ? null : utf8(typeof v === 'string' ? v : JSON.stringify(v));
  }

  /** The input has ended (--until-end) or the job is stopping: commit what the programs wrote. */
  private async finish(): Promise<void> {
    if (this.o.untilEnd && !this.o.signal?.aborted && this.o.mode !== 'protocol') {
      // End of input: let the programs finish, so what they write at EOF is committed too.
      for (const inst of this.instances) {
        const e = await inst.child!.end();
        if (e) throw e;
      }
    }
    await this.checkpoint();
    await this.settle();
    this.stopChildren();
  }

  private stopChildren(): void {
    for (const inst of this.instances) inst.child?.kill();
  }
}

const NEWLINE = Buffer.from('\n');

/** The lines, each followed by a newline, as one buffer for one write. */
function joinLines(lines: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const l of lines) parts.push(l, NEWLINE);
  return Buffer.concat(parts);
}

interface SavedExec {
  instances: Map<number, InstanceState>;
  source: unknown;
}

/** The committed counts, snapshots and source position of an exec job. */
async function readExecState(log: Log, job: string): Promise<SavedExec> {
  const out: SavedExec = { instances: new Map(), source: undefined };
  for (const [k, v] of await readChangelogLatest(log, job)) {
    if (v === '') continue;
    const key = JSON.parse(k) as unknown[];
    if (key[0] === 'exec') out.instances.set(Number(key[1]), JSON.parse(v) as InstanceState);
    else if (key[0] === 'source') out.source = JSON.parse(v) as unknown;
  }
  return out;
}
