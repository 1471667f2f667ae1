// `sluice exec`: an unmodified program as an exactly-once stream processor.
//
// Input records are read from topics in a deterministic rotation, written to
// the program's stdin as JSON lines, and *recorded* in the journal topic
// `<job>-journal` (one partition per instance) in the order they were fed.
// Each checkpoint commits, in one transaction: the program's output lines
// since the last checkpoint, the journal records of the inputs fed meanwhile,
// the instance's counts (inputs fed, outputs committed) in `<job>-changelog`,
// and the input topics' offsets (checkpoint-writes.ts). After any crash the
// program is started afresh and fed the journal — the same inputs in the same
// order — and the first `outputs` lines it writes are dropped: for a
// deterministic program they are exactly those already committed. Then it
// goes on with new input. The program is started (and fed its journal) only
// when there is something for it to do: new input, or the end of input it was
// not yet given.
//
// --stateless: no journal; the program is restarted at each checkpoint (its
// stdin closed, its outputs collected until it exits), so every input before a
// checkpoint is known to be fully processed. --protocol: the program hands
// over its state at each checkpoint and gets it back on restart, so recovery
// replays nothing (docs/exec.md).

import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { Partitioner } from '../partitioner.ts';
import { TopicSource } from '../connectors/topic-source.ts';
import type { SourceBatch, SourceCheckpoint } from '../dataflow/io.ts';
import { ensureChangelog } from '../runtime/state-changelog.ts';
import { CheckpointLoop, CheckpointSchedule, raceTimeout } from '../runtime/checkpoint-loop.ts';
import { failureOf } from './child.ts';
import { programParticipant, sourceParticipant, trimParticipant, type ProgramCheckpoint } from './checkpoint-writes.ts';
import { readExecState, type SavedExec } from './exec-state.ts';
import { journalTopic, resolveExecOptions, type ExecOptions, type ExecResult, type ResolvedExecOptions } from './exec-options.ts';
import { joinLines, linesOf, originKey } from './input-lines.ts';
import { Instance } from './instance.ts';
import { replayJournal } from './journal.ts';
import { JOURNAL_SEGMENT_BYTES, JournalTrimmer } from './journal-trim.ts';
import { findPoison, passOver, poisonError } from './poison.ts';

export { journalTopic, type ExecMode, type ExecOptions, type ExecResult, type OnError } from './exec-options.ts';

export class ExecJob {
  private readonly o: ResolvedExecOptions;
  private instances: Instance[] = [];
  /** Whether the programs of this life were started (and fed their journal). */
  private started = false;
  private saved: SavedExec = { instances: new Map(), source: undefined };
  private source: TopicSource | null = null;
  /** The exactly-once checkpoints, shared with the dataflow job (runtime/checkpoint-loop.ts). */
  private checkpoints: CheckpointLoop | null = null;
  private processed: SourceCheckpoint | undefined;
  private checkpointId = 0;
  private failure: SluiceError | null = null;
  /** Wakes the loop: a failing program, an output line, a stop. */
  private wake: (() => void) | null = null;
  private outputPartitions = 1;
  private readonly partitioner = new Partitioner();
  private result: ExecResult = { inputs: 0, outputs: 0, checkpoints: 0, restarts: 0, skipped: 0 };
  /** Checkpoints taken while the programs ran (not those after a failure): a life that took one was a success. */
  private lifeCheckpoints = 0;
  private trimmer: JournalTrimmer | null = null;

  constructor(options: ExecOptions) {
    this.o = resolveExecOptions(options);
    if (this.o.instances > 1 && !this.o.partitionBy) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, '--instances above 1 needs --partition-by FIELD: each instance gets the records whose FIELD hashes to it');
    }
    if (this.o.mode === 'stateless' && this.o.onError !== 'fail') {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `--on-error ${this.o.onError} needs the journal: it cannot be used with --stateless`);
    }
  }

  async run(): Promise<ExecResult> {
    const { log, job } = this.o;
    this.outputPartitions = (await log.getTopic(this.o.output)).config.partitions;
    if (this.o.mode !== 'stateless') {
      try {
        await log.createTopic(journalTopic(job), { partitions: this.o.instances, file: { segmentBytes: JOURNAL_SEGMENT_BYTES } });
      } catch (e) {
        if (!(e instanceof SluiceError && e.code === ErrorCodes.TOPIC_EXISTS)) throw e;
        const n = (await log.getTopic(journalTopic(job))).config.partitions;
        if (n !== this.o.instances) {
          throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `job ${job} ran with --instances ${n}; its journal cannot be split differently. Use --instances ${n}, or a new --job name.`);
        }
      }
    }
    if (this.o.mode === 'protocol') this.trimmer = new JournalTrimmer(log, journalTopic(job), this.o.progress);
    await ensureChangelog(log, job);
    this.checkpoints = new CheckpointLoop(log, `sluice-exec:${job}`);
    await this.checkpoints.fence();
    for (let attempt = 0; ; attempt++) {
      const checkpointsBefore = this.lifeCheckpoints;
      try {
        await this.recover();
        await this.loop();
        await this.finish();
        return this.result;
      } catch (e) {
        const err = await this.afterFailure(e);
        // Stopped on purpose (SIGINT/SIGTERM) while the program was failing: what is committed stays.
        if (this.o.signal?.aborted && err.code === ErrorCodes.EXEC_FAILED) return this.result;
        // The log's failures (I/O, damage, fenced) are not the program's: no restart helps.
        if (err.code !== ErrorCodes.EXEC_FAILED) throw err;
        // A life that committed something was a success: the next failure starts the count (and backoff) over.
        if (this.lifeCheckpoints > checkpointsBefore) attempt = 0;
        const kind = failureOf(err);
        // Fails the same way on every restart: not worth one.
        if (kind === 'spawn' || kind === 'early-exit') throw err;
        if ((kind === 'crash' || kind === 'not-json') && (kind === 'not-json' || this.o.onError !== 'fail' || attempt >= this.o.maxRestarts)) {
          const skipped = await this.poisonInput(err);
          if (skipped) {
            attempt = -1;
            continue;
          }
          if (kind === 'not-json') throw err;
        }
        if (attempt >= this.o.maxRestarts) {
          throw new SluiceError(ErrorCodes.EXEC_FAILED, `${err.message}; gave up after ${attempt} restarts. Nothing committed is lost: fix the program and run again, it resumes from the last commit.`, err.details, { cause: err });
        }
        this.result.restarts++;
        const backoff = Math.min(5000, 100 * 2 ** attempt);
        this.o.progress(`${err.message}; restarting from the last commit in ${backoff} ms\n`);
        await sleep(backoff, undefined, { signal: this.o.signal }).catch(() => {}); // a stop ends the wait
        if (this.o.signal?.aborted) return this.result;
      }
    }
  }

  /**
   * After a life failed: its programs stopped, and — when a program failed —
   * what it was fed and what it wrote committed, so nothing it did is lost
   * (for a deterministic program that is a consistent point: replaying those
   * inputs gives those outputs first). Returns the error to act on.
   */
  private async afterFailure(e: unknown): Promise<SluiceError> {
    let err = e instanceof SluiceError ? e : new SluiceError(ErrorCodes.EXEC_FAILED, (e as Error).message, {}, { cause: e });
    const programFailed = err.code === ErrorCodes.EXEC_FAILED && failureOf(err) !== 'spawn' && this.o.mode !== 'stateless' && this.started;
    try {
      await this.checkpoints!.settle();
      if (programFailed) {
        this.stopChildren();
        await this.checkpoint({ alive: false });
        await this.checkpoints!.settle();
      }
    } catch (commitError) {
      err = commitError instanceof SluiceError ? commitError : new SluiceError(ErrorCodes.IO_ERROR, (commitError as Error).message, {}, { cause: commitError });
    } finally {
      this.checkpoints!.drop();
      this.stopChildren();
    }
    if (failureOf(err) === 'early-exit') {
      const inst = this.instances.find((i) => i.failure !== null);
      if (inst) return new SluiceError(err.code, `${err.message} (${inst.fed} inputs were fed to it)`, err.details, { cause: err });
    }
    if (err.code === ErrorCodes.FENCED) {
      return new SluiceError(ErrorCodes.FENCED, `another instance of job ${this.o.job} took over (its commits fence this one's); this one stops. Nothing committed is lost: run one instance of a job at a time`, err.details, { cause: err });
    }
    return err;
  }

  /**
   * The program failed (crashed, or wrote a line that is not JSON): looks for
   * the input it fails on. Fails naming it (--on-error fail), or passes over it
   * and returns true.
   */
  private async poisonInput(err: SluiceError): Promise<boolean> {
    const failed = this.instances.find((i) => i.failure !== null) ?? this.instances[0]!;
    const state = (await readExecState(this.o.log, this.o.job)).instances.get(failed.index) ?? { journal: 0, outputs: 0 };
    const poison = await findPoison(this.o, failed.index, failed.label, state, err);
    if (!poison) return false;
    if (this.o.onError === 'fail') throw poisonError(this.o, failed.index, failed.label, poison);
    await passOver(this.o, (body) => this.checkpoints!.commit(body), failed.index, failed.label, state, poison);
    this.result.skipped++;
    return true;
  }

  /** Starts from the last commit: counts and snapshots from the changelog; the programs start when needed. */
  private async recover(): Promise<void> {
    const { log, job } = this.o;
    this.saved = await readExecState(log, job);
    this.failure = null;
    this.started = false;
    this.instances = [];
    for (let i = 0; i < this.o.instances; i++) {
      const committed = this.saved.instances.get(i) ?? { journal: 0, outputs: 0 };
      const inst = new Instance(i, this.o.instances > 1 ? `${job}#${i}` : job, committed, this.o.mode === 'protocol');
      inst.onOutput = () => this.wake?.();
      this.instances.push(inst);
    }
    this.source = new TopicSource(this.o.inputs, job, 'beginning');
    await this.source.open({ log, job, untilEnd: this.o.untilEnd, maxBatchRecords: 1000, guarantee: 'exactly-once' });
    if (this.saved.source !== undefined) this.source.restore(this.saved.source);
    this.processed = this.source.checkpoint();
  }

  /** Starts the programs and feeds each its journal (restoring its snapshot first, --protocol). */
  private async start(signal: AbortSignal | undefined): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const inst of this.instances) {
      this.startChild(inst);
      if (this.o.mode === 'stateless') continue;
      const committed = inst.committed;
      const snap = committed.snapshot;
      if (snap) await inst.child!.write(JSON.stringify({ sluice: 'restore', state: snap.state }) + '\n');
      inst.dropCommitted(committed.outputs - (snap?.outputs ?? 0));
      const child = inst.child!;
      inst.fed += await replayJournal(this.o.log, {
        topic: journalTopic(this.o.job),
        partition: inst.index,
        fromOffset: snap?.journalOffset ?? 0,
        count: committed.journal - (snap?.journal ?? 0),
        skipped: new Set(committed.skipped ?? []),
        label: inst.label,
        write: (lines) => child.write(lines, true),
        progress: this.o.progress,
        bar: this.o.progressBar,
        signal,
      });
      this.check();
    }
  }

  private startChild(inst: Instance): void {
    inst.start(this.o.command, this.o.args, (e) => this.fail(e), this.o.hangTimeoutMs);
  }

  private fail(e: SluiceError): void {
    this.failure ??= e;
    this.wake?.();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * Feeds the programs and checkpoints every commit interval. Feeding never
   * holds up a checkpoint: while a slow program's stdin is full the loop
   * waits for room, the next checkpoint, a failure or a stop, whichever
   * comes first (what was handed to a pipe is journaled like what the program
   * has read: a restart replays both).
   */
  private async loop(): Promise<void> {
    const source = this.source!;
    const stop = new AbortController();
    const onAbort = () => {
      stop.abort();
      this.wake?.();
    };
    this.o.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.o.signal?.aborted) stop.abort();
    // Due by the commit interval alone, and only while something awaits a checkpoint; otherwise the next output line wakes the loop.
    const schedule = new CheckpointSchedule(this.o.commitIntervalMs, Infinity);
    const dirty = () => this.instances.some((i) => i.uncommitted);
    // One batch is always being fetched while the previous one is fed: the program is not left
    // waiting for input while the log is read.
    let pending: Promise<SourceBatch | null> | null = null;
    // The programs' stdin is full: resolves when they can take more.
    let room: Promise<void> | null = null;
    try {
      for (;;) {
        this.check();
        if (stop.signal.aborted) return;
        pending ??= source.next(stop.signal);
        const woken = new Promise<'wake'>((resolve) => (this.wake = () => resolve('wake')));
        const input = room ? room.then(() => 'room' as const) : pending.then((batch) => ({ batch }));
        const got = await raceTimeout<'room' | 'wake' | { batch: SourceBatch | null }>([input, woken], schedule.dueIn(Date.now(), dirty()));
        this.wake = null;
        this.check();
        if (got === 'room') room = null;
        else if (got !== 'wake' && got !== 'timeout') {
          pending = null;
          if (!got.batch) return; // stopping, or the input has ended (--until-end)
          await this.start(stop.signal);
          if (stop.signal.aborted) return; // the batch was not fed: its position was not taken
          room = this.feed(got.batch);
          pending = source.next(stop.signal);
        }
        if (schedule.due(Date.now(), dirty())) {
          await this.checkpoint({ alive: true, rotate: this.o.mode === 'stateless' });
          this.lifeCheckpoints++;
          schedule.taken();
        }
      }
    } finally {
      this.o.signal?.removeEventListener('abort', onAbort);
      this.wake = null;
      // A batch fetched ahead and never fed is simply not done: its position was not taken.
    }
  }

  /** Hands a batch to the programs; resolves when their stdin can take more. */
  private feed(batch: SourceBatch): Promise<void> {
    const n = this.instances.length;
    const { topic, partition, lines, offsets } = linesOf(batch, n, this.o.withMeta, this.o.partitionBy);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const inst = this.instances[i]!;
      const mine = lines[i]!;
      if (mine.length === 0) continue;
      for (const l of mine) inst.pendingInputs.push(l);
      inst.fed += mine.length;
      if (this.o.mode !== 'stateless') for (const off of offsets[i]!) inst.pendingKeys.push(originKey(topic, partition, off));
      writes.push(inst.child!.write(joinLines(mine)));
    }
    this.processed = batch.checkpoint;
    // A program that failed rejects its write; the failure itself reaches the loop through fail().
    return Promise.all(writes).then(
      () => {},
      () => {},
    );
  }

  /**
   * One transaction: outputs, journal, counts (and snapshots), input offsets.
   * `rotate` (stateless): end each program first, so all it was fed is done.
   * `alive: false`: the programs have stopped (after a failure): commit what
   * they were fed and wrote, with no new snapshot. `ended`: the programs were
   * given the end of their input and everything they wrote is in this one.
   */
  private async checkpoint(how: { alive: boolean; rotate?: boolean; ended?: boolean }): Promise<void> {
    const checkpoints = this.checkpoints!;
    await checkpoints.settle();
    const id = ++this.checkpointId;
    const snapshots = new Map<number, { state: unknown }>();
    if (how.alive && this.o.mode === 'protocol') {
      for (const inst of this.instances) snapshots.set(inst.index, { state: await inst.requestState(id) });
    } else if (how.rotate) {
      // Rotate: end each program so every input fed so far is fully processed, then start anew.
      for (const inst of this.instances) {
        const e = await inst.child!.end();
        if (e) throw e;
        this.startChild(inst);
      }
    }
    // Only once every program answered: a failure before leaves all their lines for the commit after it.
    if (how.alive) this.check();
    const c: ProgramCheckpoint = { o: this.o, partitioner: this.partitioner, outputPartitions: this.outputPartitions, ended: how.ended ?? false, result: this.result };
    const participants = [...this.instances.map((inst) => programParticipant(c, inst, snapshots.get(inst.index))), sourceParticipant(c, this.processed)];
    if (this.trimmer) participants.push(trimParticipant(this.trimmer, this.instances));
    // Committed while the programs go on being fed (pipelining); the next checkpoint waits for it.
    await checkpoints.take(participants);
  }

  /** The input has ended (--until-end) or the job is stopping: commit what the programs wrote. */
  private async finish(): Promise<void> {
    const ending = this.o.untilEnd && !this.o.signal?.aborted;
    // Stopping --stateless: what the running copy was fed is not known to be done; the next run redoes it.
    if (this.o.mode === 'stateless' && !ending) return this.stopChildren();
    if (!this.started) {
      // No new input. Stopping, or end of input already given to a program whose every line is
      // committed: nothing to do. Otherwise (a run that stopped or crashed before the end) the
      // program still has to be given the end of its input.
      if (!ending || this.instances.every((i) => i.committed.ended)) return;
      await this.start(this.o.signal);
    }
    if (ending && this.o.mode !== 'protocol') {
      // End of input: let the programs finish, so what they write at EOF is committed too.
      for (const inst of this.instances) {
        const e = await inst.child!.end();
        if (e) throw e;
      }
    }
    if (ending || this.instances.some((i) => i.uncommitted)) await this.checkpoint({ alive: this.o.mode === 'protocol' || !ending, ended: ending });
    await this.checkpoints!.settle();
    this.stopChildren();
  }

  private stopChildren(): void {
    for (const inst of this.instances) inst.child?.kill();
  }
}
