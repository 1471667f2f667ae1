// The consumer: reads records from a topic's partitions on any Log, either all
// partitions (no group) or the ones a consumer group assigns to this member.
//
// Positions are "the next offset to hand out", per partition; `commit` stores
// exactly those, so a committed offset always means "everything before this was
// handed to the application" (at-least-once when the application commits after
// processing). `poll` is fair: each call starts at the next partition in turn.
// When nothing is readable, `poll` waits on `log.waitFor` for every partition it
// owns (no busy loop), and also wakes when the group's assignment changes.

import { SluiceError, isSluiceError, where } from '../errors.ts';
import type { LogRecord } from '../record.ts';
import { DEFAULT_SESSION_TIMEOUT_MS } from './group-coordinator.ts';
import type { GroupMember, Isolation, Log, PartitionOffsets, TopicPartition, TopicPartitionOffset } from './log.ts';

export type StartFrom =
  | 'beginning'
  | 'end'
  | { offsets: { topic?: string; partition: number; offset: number }[] }
  | { timestamp: number };

export interface ConsumerOptions {
  topic?: string;
  topics?: string[];
  /** Join this consumer group: read its assigned partitions from its committed offsets. */
  group?: string;
  /**
   * Where to start. Without a group: always applies (`offsets` also restricts
   * reading to the listed partitions). With a group: only for partitions the
   * group has no committed offset for. Default `beginning`.
   */
  from?: StartFrom;
  isolation?: Isolation;
  /** Most records one `poll` returns. Default 500. */
  maxRecords?: number;
  /** Stop at the end offsets as of start (or of assignment): `done` turns true there. */
  stopAtEnd?: boolean;
  heartbeatIntervalMs?: number;
  sessionTimeoutMs?: number;
  memberId?: string;
}

export interface ConsumerRecord extends LogRecord {
  topic: string;
  partition: number;
}

export interface PollOptions {
  signal?: AbortSignal;
  /** Wait for records when none is readable (default true). */
  wait?: boolean;
  /** Return at most this many records (and advance positions only past those). */
  maxRecords?: number;
}

interface PartitionState {
  topic: string;
  partition: number;
  position: number;
  /** With stopAtEnd: the end offset when this partition was picked up. */
  stopAt: number;
  /** Position last committed (or read from the group), to skip no-op commits. */
  committed: number | null;
  revoked: boolean;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class Consumer {
  readonly log: Log;
  readonly topics: readonly string[];
  readonly group: string | null;
  readonly #options: ConsumerOptions;
  readonly #maxRecords: number;
  #member: GroupMember | null = null;
  #generation = -1;
  #states: PartitionState[] = [];
  #cursor = 0;
  #heartbeat: NodeJS.Timeout | null = null;
  #heartbeating: Promise<void> | null = null;
  #heartbeatError: unknown = undefined;
  /** Aborted when the assignment changes, to wake a waiting poll. */
  #reassigned = new AbortController();
  #closed = false;

  private constructor(log: Log, options: ConsumerOptions) {
    this.log = log;
    const topics = options.topics ?? (options.topic !== undefined ? [options.topic] : []);
    if (topics.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'a consumer needs at least one topic');
    this.topics = [...new Set(topics)];
    this.group = options.group ?? null;
    this.#options = options;
    this.#maxRecords = options.maxRecords ?? 500;
  }

  /** Resolves once start positions are known (and the group joined, with a group). */
  static async open(log: Log, options: ConsumerOptions): Promise<Consumer> {
    const c = new Consumer(log, options);
    // Fail early, with UNKNOWN_TOPIC, before joining anything.
    const infos = await Promise.all(c.topics.map((t) => log.getTopic(t)));
    if (c.group === null) {
      const tps: TopicPartition[] = [];
      for (const info of infos) for (let p = 0; p < info.config.partitions; p++) tps.push({ topic: info.name, partition: p });
      const from = options.from;
      const only = from !== undefined && typeof from === 'object' && 'offsets' in from ? from.offsets : null;
      const wanted = only === null ? tps : tps.filter((tp) => only.some((o) => o.partition === tp.partition && (o.topic ?? c.topics[0]) === tp.topic));
      if (only !== null) {
        for (const o of only) {
          const t = o.topic ?? c.topics[0]!;
          if (!tps.some((tp) => tp.topic === t && tp.partition === o.partition)) {
            throw new SluiceError('UNKNOWN_PARTITION', `partition ${where(t, o.partition)} does not exist`, { topic: t, partition: o.partition });
          }
        }
      }
      c.#states = await c.#initStates(wanted, new Map());
    } else {
      const join: Parameters<Log['joinGroup']>[1] = { topics: [...c.topics] };
      if (options.memberId !== undefined) join.memberId = options.memberId;
      if (options.sessionTimeoutMs !== undefined) join.sessionTimeoutMs = options.sessionTimeoutMs;
      c.#member = await log.joinGroup(c.group, join);
      await c.#applyAssignment(c.#member.assignment());
      const every = options.heartbeatIntervalMs ?? Math.max(100, Math.floor((options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS) / 3));
      c.#heartbeat = setInterval(() => void c.heartbeat(), every);
      // The timer must not keep a process alive on its own; reads and waits do.
      c.#heartbeat.unref();
    }
    return c;
  }

  /** The partitions this consumer currently reads. */
  assignment(): TopicPartition[] {
    return this.#states.map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /** Next offset to hand out, per partition. */
  positions(): TopicPartitionOffset[] {
    return this.#states.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position }));
  }

  /** With stopAtEnd: every partition reached the end it had when picked up. */
  get done(): boolean {
    return this.#options.stopAtEnd === true && this.#states.every((s) => s.position >= s.stopAt);
  }

  /**
   * The next records across the partitions, starting each call at the next
   * partition in turn. Waits when nothing is readable (unless `wait: false`);
   * resolves with [] when `signal` aborts or, with stopAtEnd, when `done`.
   */
  async poll(options: PollOptions = {}): Promise<ConsumerRecord[]> {
    const { signal } = options;
    const limit = Math.max(1, options.maxRecords ?? this.#maxRecords);
    this.#checkOpen();
    while (true) {
      // close() wakes a waiting poll; it ends quietly rather than failing its caller.
      if (this.#closed) return [];
      if (this.#heartbeatError !== undefined) {
        const e = this.#heartbeatError;
        this.#heartbeatError = undefined;
        throw e;
      }
      if (signal?.aborted || this.done) return [];
      const out = await this.#readRound(limit);
      if (out.length > 0 || options.wait === false) return out;
      if (signal?.aborted || this.done) return [];
      await this.#waitForData(signal);
    }
  }

  /** Commits the positions of everything handed out so far (group members only; a no-op otherwise). */
  async commit(): Promise<void> {
    if (this.#member === null) return;
    const dirty = this.#states.filter((s) => !s.revoked && s.position !== s.committed);
    if (dirty.length === 0) return;
    const offsets = dirty.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position }));
    await this.#member.commit(offsets);
    for (let i = 0; i < dirty.length; i++) dirty[i]!.committed = offsets[i]!.offset;
  }

  /** Heartbeats now and applies any new assignment. Called on a timer; safe to call directly. */
  heartbeat(): Promise<void> {
    if (this.#member === null || this.#closed) return Promise.resolve();
    // One heartbeat at a time: a slow log must not pile them up.
    this.#heartbeating ??= this.#doHeartbeat().finally(() => {
      this.#heartbeating = null;
    });
    return this.#heartbeating;
  }

  /** Stops heartbeating and leaves the group. Does not commit: call `commit` first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#reassigned.abort();
    await this.#heartbeating?.catch(() => {});
    if (this.#member !== null) await this.#member.leave();
  }

  async #doHeartbeat(): Promise<void> {
    const member = this.#member!;
    try {
      await this.#applyAssignment(await member.heartbeat());
    } catch (err) {
      if (this.#closed) return;
      let e = err;
      if (isSluiceError(e, 'REBALANCED')) {
        // We were dropped from the group (e.g. missed heartbeats): rejoin as a new
        // member; uncommitted positions of partitions we lost are re-read by their new owner.
        try {
          this.#member = await this.log.joinGroup(member.group, { topics: [...this.topics], memberId: member.memberId });
          await this.#applyAssignment(this.#member.assignment());
          return;
        } catch (e2) {
          e = e2;
        }
      }
      this.#heartbeatError = e;
      this.#wake();
    }
  }

  async #applyAssignment(a: { generation: number; partitions: TopicPartition[] }): Promise<void> {
    if (a.generation === this.#generation) return;
    this.#generation = a.generation;
    const keep = new Map<string, PartitionState>();
    for (const s of this.#states) keep.set(key(s.topic, s.partition), s);
    const next: PartitionState[] = [];
    const added: TopicPartition[] = [];
    for (const tp of a.partitions) {
      const s = keep.get(key(tp.topic, tp.partition));
      if (s) {
        next.push(s);
        keep.delete(key(tp.topic, tp.partition));
      } else {
        added.push(tp);
      }
    }
    for (const s of keep.values()) s.revoked = true;
    let fresh: PartitionState[] = [];
    if (added.length > 0) {
      const committed = new Map<string, number>();
      for (const o of await this.log.committedOffsets(this.group!)) committed.set(key(o.topic, o.partition), o.offset);
      fresh = await this.#initStates(added, committed);
    }
    // A newer assignment may have been applied while we awaited; it wins.
    if (a.generation !== this.#generation) return;
    this.#states = [...next, ...fresh].sort((x, y) => (x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition));
    this.#wake();
  }

  async #initStates(tps: TopicPartition[], committed: Map<string, number>): Promise<PartitionState[]> {
    const byTopic = new Map<string, PartitionOffsets[]>();
    for (const t of new Set(tps.map((tp) => tp.topic))) byTopic.set(t, await this.log.endOffsets(t));
    const out: PartitionState[] = [];
    for (const tp of tps) {
      const info = byTopic.get(tp.topic)!.find((p) => p.partition === tp.partition);
      if (!info) throw new SluiceError('UNKNOWN_PARTITION', `partition ${where(tp.topic, tp.partition)} does not exist`, { ...tp });
      const c = committed.get(key(tp.topic, tp.partition));
      const position = c ?? (await this.#startOffset(tp, info.startOffset, info.endOffset));
      out.push({ ...tp, position, stopAt: info.endOffset, committed: c ?? null, revoked: false });
    }
    return out;
  }

  async #startOffset(tp: TopicPartition, start: number, end: number): Promise<number> {
    const from = this.#options.from ?? 'beginning';
    if (from === 'beginning') return start;
    if (from === 'end') return end;
    if ('timestamp' in from) return this.log.offsetForTimestamp(tp.topic, tp.partition, from.timestamp);
    const o = from.offsets.find((x) => x.partition === tp.partition && (x.topic ?? this.topics[0]) === tp.topic);
    if (o === undefined) return start;
    if (!Number.isInteger(o.offset) || o.offset < 0) throw new SluiceError('INVALID_ARGUMENT', `bad start offset ${o.offset} for ${where(tp.topic, tp.partition)}`);
    // Out-of-range starts are clamped by the first read (see #reset).
    return o.offset;
  }

  async #readRound(limit: number): Promise<ConsumerRecord[]> {
    const out: ConsumerRecord[] = [];
    const states = this.#states;
    const n = states.length;
    if (n === 0) return out;
    const first = this.#cursor % n;
    this.#cursor = first + 1;
    for (let i = 0; i < n && out.length < limit; i++) {
      const s = states[(first + i) % n]!;
      if (s.revoked) continue;
      const stopAt = this.#options.stopAtEnd === true ? s.stopAt : Infinity;
      if (s.position >= stopAt) continue;
      const budget = Math.min(limit - out.length, stopAt - s.position);
      let res;
      try {
        res = await this.log.read(s.topic, s.partition, s.position, this.#readOptions(budget));
      } catch (e) {
        if (!isSluiceError(e, 'OFFSET_OUT_OF_RANGE')) throw e;
        await this.#reset(s);
        continue;
      }
      // The partition may have been revoked while we read; its records are the new owner's now.
      if (s.revoked) continue;
      let taken = 0;
      for (const r of res.records) {
        if (taken >= budget || r.offset >= stopAt) break;
        if (r.offset < s.position) continue;
        // A new object rather than tagging the log's: a log may share or cache what it returns.
        out.push({ topic: s.topic, partition: s.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers });
        taken++;
      }
      if (taken === res.records.length) s.position = Math.min(Math.max(s.position, res.nextOffset), stopAt);
      else if (taken > 0) s.position = out[out.length - 1]!.offset + 1;
      // Stopping at the end: records past what this reader may see (a transaction still open, e.g.
      // left by a crashed job until it restarts) are not part of "the end as of now".
      if (this.#options.stopAtEnd === true && res.records.length === 0 && s.position >= res.highWatermark && res.highWatermark < s.stopAt) {
        s.stopAt = s.position;
      }
    }
    return out;
  }

  #readOptions(budget: number) {
    const o: { maxRecords: number; isolation?: Isolation } = { maxRecords: budget };
    if (this.#options.isolation !== undefined) o.isolation = this.#options.isolation;
    return o;
  }

  /** Retention removed our position (or it is past the end): go to the start (or end, for `from: 'end'`). */
  async #reset(s: PartitionState): Promise<void> {
    const info = (await this.log.endOffsets(s.topic)).find((p) => p.partition === s.partition);
    if (!info) throw new SluiceError('UNKNOWN_PARTITION', `partition ${where(s.topic, s.partition)} does not exist`);
    if (s.position < info.startOffset) s.position = info.startOffset;
    else if (s.position > info.endOffset) s.position = this.#options.from === 'end' ? info.endOffset : info.startOffset;
    else return;
    if (s.stopAt < s.position) s.stopAt = s.position;
  }

  async #waitForData(signal: AbortSignal | undefined): Promise<void> {
    const waiting = this.#states.filter((s) => !s.revoked && !(this.#options.stopAtEnd === true && s.position >= s.stopAt));
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const reassigned = this.#reassigned.signal;
    reassigned.addEventListener('abort', stop, { once: true });
    try {
      if (signal?.aborted || reassigned.aborted) return;
      // With nothing assigned we still wait: for an assignment or the caller's signal.
      const waits = waiting.map((s) => this.log.waitFor(s.topic, s.partition, s.position, ac.signal, this.#options.isolation));
      waits.push(new Promise<void>((resolve) => ac.signal.addEventListener('abort', () => resolve(), { once: true })));
      await Promise.race(waits);
    } finally {
      ac.abort();
      signal?.removeEventListener('abort', stop);
      reassigned.removeEventListener('abort', stop);
    }
  }

  #wake(): void {
    this.#reassigned.abort();
    this.#reassigned = new AbortController();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SluiceError('CLOSED', 'the consumer is closed');
  }
}
