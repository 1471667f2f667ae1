// What the broker does for each request type: a thin mapping onto the Log
// it owns. Requests are validated here (the client may be anything: a fuzzer
// too), so a bad request is an INVALID_ARGUMENT error for that request, never
// a crash or a write of garbage.

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { GroupMember, Isolation, Log, ProducerIdentity, TopicPartitionOffset, TransactionMember, TransactionOffsets, TransactionWrite } from '../log/log.ts';
import { DEFAULT_SESSION_TIMEOUT_MS } from '../log/group-coordinator.ts';
import type { LogRecord } from '../record.ts';
import { decodeRecords, encodeRecords, type RequestName } from '../protocol/frames.ts';
import type { ResponseOf } from '../protocol/messages.ts';

export interface Reply {
  json: unknown;
  blob?: Buffer;
}

/** A reply the compiler checks against the request's response shape (protocol/messages.ts). */
function ok<N extends RequestName>(_request: N, json: ResponseOf<N>, blob?: Buffer): Reply {
  return blob === undefined ? { json } : { json, blob };
}

/** Per-connection state the handlers need. */
export interface Session {
  /** Pending waitFor requests, by request id, so `cancel` can end them. */
  waits: Map<number, AbortController>;
}

export interface HandlerHooks {
  recordsIn?(topic: string, records: number, bytes: number): void;
  recordsOut?(topic: string, records: number, bytes: number): void;
  /** The clock for members' sessions (tests); Date.now by default. */
  now?(): number;
}

/** A group member held for a client elsewhere, and when that client was last heard from. */
interface RemoteMember {
  member: GroupMember;
  sessionTimeoutMs: number;
  lastSeen: number;
}

/** How often members whose clients went silent are looked for. */
const SWEEP_EVERY_MS = 1000;

/** The longest a waitFor request may park on the broker; clients re-ask. */
export const MAX_WAIT_MS = 30_000;
/** Records per append or per transaction write: a hard limit with a clear error. */
export const MAX_BATCH_RECORDS = 100_000;

type Fields = Record<string, unknown>;

function bad(message: string): never {
  throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, message);
}

/** Field `k` of `j`, which is whatever the client sent where an object belongs: null or a number too. */
function field(j: unknown, k: string): unknown {
  return typeof j === 'object' && j !== null ? (j as Fields)[k] : undefined;
}

function str(j: Fields, k: string): string {
  const v = field(j, k);
  if (typeof v !== 'string' || v === '') bad(`field ${k} must be a non-empty string`);
  return v;
}

function int(j: Fields, k: string, min = 0): number {
  const v = field(j, k);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`field ${k} must be an integer >= ${min}`);
  return v;
}

function optInt(j: Fields, k: string, min = 0): number | undefined {
  return j[k] === undefined ? undefined : int(j, k, min);
}

function isolationOf(j: Fields): Isolation | undefined {
  const v = j['isolation'];
  if (v === undefined || v === 'read_committed' || v === 'read_uncommitted') return v;
  return bad(`field isolation must be read_committed or read_uncommitted`);
}

function offsetsOf(v: unknown): TopicPartitionOffset[] {
  if (!Array.isArray(v)) bad('offsets must be an array');
  return v.map((o: Fields) => ({ topic: str(o, 'topic'), partition: int(o, 'partition'), offset: int(o, 'offset') }));
}

/** A transaction's offsets for one group: `{ group, offsets, member?: { memberId, generation? } }`. */
function groupOffsetsOf(g: unknown, i: number): TransactionOffsets {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) bad(`offsets[${i}] must be an object { group, offsets, member? }`);
  const entry: TransactionOffsets = { group: str(g as Fields, 'group'), offsets: offsetsOf(field(g, 'offsets')) };
  const m = field(g, 'member');
  if (m === undefined) return entry;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) bad(`offsets[${i}].member must be an object { memberId, generation? } (leave it out to commit without a membership check)`);
  const memberId = field(m, 'memberId');
  if (typeof memberId !== 'string' || memberId === '') bad(`offsets[${i}].member.memberId must be a non-empty string`);
  const member: TransactionMember = { memberId };
  const generation = field(m, 'generation');
  if (generation !== undefined) {
    if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) bad(`offsets[${i}].member.generation must be an integer >= 0 (an assignment's generation)`);
    member.generation = generation;
  }
  return { ...entry, member };
}

function producerOf(v: unknown): ProducerIdentity {
  const p = (v ?? {}) as Fields;
  return { transactionalId: str(p, 'transactionalId'), producerId: int(p, 'producerId'), epoch: int(p, 'epoch') };
}

function count(j: Fields): number {
  const n = int(j, 'count');
  if (n > MAX_BATCH_RECORDS) throw new SluiceError(ErrorCodes.TOO_LARGE, `${n} records in one request exceed the limit of ${MAX_BATCH_RECORDS}; split the batch`);
  return n;
}

const bytesOf = (records: { key: Uint8Array | null; value: Uint8Array | null }[]) => records.reduce((n, r) => n + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0);

export class Handlers {
  private readonly log: Log;
  private readonly hooks: HandlerHooks;
  /**
   * Members of consumer groups whose clients are elsewhere: the broker holds their GroupMember.
   * A client that dies (kill -9) never leaves, so members silent for their session timeout
   * are dropped by a sweep: without it the map would grow with every crashed consumer.
   */
  private readonly members = new Map<string, RemoteMember>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(log: Log, hooks: HandlerHooks = {}) {
    this.log = log;
    this.hooks = hooks;
    this.now = hooks.now ?? Date.now;
  }

  /** Members held for remote clients: live ones, and expired ones until the next sweep. */
  get memberCount(): number {
    return this.members.size;
  }

  /**
   * Drops members not heard from for their session timeout, so this map stays bounded by
   * the live members, and makes them leave. (The file log's coordinator expires them on its
   * own sweep too, by the same heartbeats; the leave is for any other Log and for tests'
   * clocks, and is a no-op for a member already gone.)
   */
  sweep(): void {
    const now = this.now();
    for (const [k, r] of this.members) {
      if (now - r.lastSeen <= r.sessionTimeoutMs) continue;
      this.members.delete(k);
      r.member.leave().catch(() => {});
    }
    if (this.members.size === 0) this.stopSweeping();
  }

  /** Stops the sweep timer; members are left to the log, which is closing too. */
  close(): void {
    this.stopSweeping();
  }

  private stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private hold(m: GroupMember, sessionTimeoutMs: number | undefined): void {
    this.members.set(`${m.group}\0${m.memberId}`, { member: m, sessionTimeoutMs: sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS, lastSeen: this.now() });
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
      this.sweeper.unref();
    }
  }

  async handle(name: RequestName, json: unknown, blob: Buffer, session: Session, id: number): Promise<Reply> {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(`the fields of a ${name} request must be a JSON object`);
    const j = json as Fields;
    const log = this.log;
    switch (name) {
      case 'hello':
        return ok(name, { ok: true });
      case 'createTopic': {
        const config = j['config'] ?? {};
        if (typeof config !== 'object' || config === null || Array.isArray(config)) bad('field config must be an object (a partial TopicConfig)');
        return ok(name, await log.createTopic(str(j, 'name'), config));
      }
      case 'deleteTopic':
        await log.deleteTopic(str(j, 'name'));
        return ok(name, {});
      case 'listTopics':
        return ok(name, await log.listTopics());
      case 'getTopic':
        return ok(name, await log.getTopic(str(j, 'name')));
      case 'describeTopic':
        return ok(name, await log.describeTopic(str(j, 'name')));
      case 'endOffsets':
        return ok(name, await log.endOffsets(str(j, 'topic')));
      case 'append': {
        const topic = str(j, 'topic');
        const records = decodeRecords(blob, count(j), false);
        const p = j['producer'] as Fields | undefined;
        const producer = p === undefined ? undefined : { producerId: int(p, 'producerId'), epoch: int(p, 'epoch'), sequence: int(p, 'sequence') };
        const r = await log.append(topic, int(j, 'partition'), records, producer ? { producer } : undefined);
        this.hooks.recordsIn?.(topic, records.length, bytesOf(records));
        return ok(name, r);
      }
      case 'read': {
        const topic = str(j, 'topic');
        const r = await log.read(topic, int(j, 'partition'), int(j, 'offset'), { maxRecords: optInt(j, 'maxRecords', 1), maxBytes: optInt(j, 'maxBytes', 1), isolation: isolationOf(j) });
        this.hooks.recordsOut?.(topic, r.records.length, bytesOf(r.records));
        return ok(name, { count: r.records.length, nextOffset: r.nextOffset, highWatermark: r.highWatermark, startOffset: r.startOffset }, encodeRecords(r.records as LogRecord[], true));
      }
      case 'readBatches': {
        const topic = str(j, 'topic');
        const r = await log.readBatches(topic, int(j, 'partition'), int(j, 'offset'), { maxRecords: optInt(j, 'maxRecords', 1), maxBytes: optInt(j, 'maxBytes', 1), isolation: isolationOf(j) });
        this.hooks.recordsOut?.(topic, r.records, r.batches.length);
        const blob = Buffer.from(r.batches.buffer, r.batches.byteOffset, r.batches.byteLength);
        return ok(name, { records: r.records, nextOffset: r.nextOffset, highWatermark: r.highWatermark, startOffset: r.startOffset }, blob);
      }
      case 'deleteRecords':
        return ok(name, { startOffset: await log.deleteRecords(str(j, 'topic'), int(j, 'partition'), int(j, 'offset')) });
      case 'waitFor': {
        const ac = new AbortController();
        session.waits.set(id, ac);
        const timer = setTimeout(() => ac.abort(), Math.min(optInt(j, 'timeoutMs') ?? MAX_WAIT_MS, MAX_WAIT_MS));
        try {
          await log.waitFor(str(j, 'topic'), int(j, 'partition'), int(j, 'offset'), ac.signal, isolationOf(j));
          return ok(name, { ready: !ac.signal.aborted });
        } finally {
          clearTimeout(timer);
          session.waits.delete(id);
        }
      }
      case 'cancel':
        session.waits.get(int(j, 'id'))?.abort();
        return ok(name, {});
      case 'offsetForTimestamp':
        return ok(name, { offset: await log.offsetForTimestamp(str(j, 'topic'), int(j, 'partition'), int(j, 'timestamp', Number.MIN_SAFE_INTEGER)) });
      case 'commitOffsets':
        await log.commitOffsets(str(j, 'group'), offsetsOf(j['offsets']));
        return ok(name, {});
      case 'committedOffsets':
        return ok(name, await log.committedOffsets(str(j, 'group')));
      case 'listGroups':
        return ok(name, await log.listGroups());
      case 'joinGroup': {
        const topics = j['topics'];
        if (!Array.isArray(topics) || topics.some((t) => typeof t !== 'string')) bad('field topics must be an array of strings');
        const sessionTimeoutMs = optInt(j, 'sessionTimeoutMs', 1);
        const m = await log.joinGroup(str(j, 'group'), { topics: topics as string[], memberId: j['memberId'] === undefined ? undefined : str(j, 'memberId'), sessionTimeoutMs });
        this.hold(m, sessionTimeoutMs);
        return ok(name, { memberId: m.memberId, assignment: m.assignment() });
      }
      case 'heartbeat': {
        const r = this.member(j);
        try {
          const assignment = await r.member.heartbeat();
          r.lastSeen = this.now();
          return ok(name, assignment);
        } catch (e) {
          this.drop(r); // expired: it must join again
          throw e;
        }
      }
      case 'memberCommit':
        await this.member(j).member.commit(offsetsOf(j['offsets']));
        return ok(name, {});
      case 'leaveGroup': {
        const r = this.member(j);
        this.drop(r);
        await r.member.leave();
        return ok(name, {});
      }
      case 'initProducer':
        return ok(name, await log.initProducer(str(j, 'transactionalId')));
      case 'commitTransaction': {
        const writesJson = j['writes'];
        if (!Array.isArray(writesJson)) bad('field writes must be an array');
        const counts = writesJson.map((w: Fields) => count(w));
        const all = decodeRecords(blob, counts.reduce((a, b) => a + b, 0), false);
        let at = 0;
        const writes: TransactionWrite[] = writesJson.map((w: Fields, i) => {
          const records = all.slice(at, (at += counts[i]!));
          return { topic: str(w, 'topic'), partition: int(w, 'partition'), records };
        });
        const groups = j['offsets'];
        if (!Array.isArray(groups)) bad('field offsets must be an array');
        const offsets = groups.map(groupOffsetsOf);
        const r = await log.commitTransaction(producerOf(j['producer']), int(j, 'sequence', 1), { writes, offsets });
        for (const w of writes) this.hooks.recordsIn?.(w.topic, w.records.length, bytesOf(w.records));
        return ok(name, r);
      }
    }
  }

  /** Only this very entry: a rejoin under the same id may have replaced it meanwhile. */
  private drop(r: RemoteMember): void {
    const k = `${r.member.group}\0${r.member.memberId}`;
    if (this.members.get(k) === r) this.members.delete(k);
  }

  private member(j: Fields): RemoteMember {
    const group = str(j, 'group');
    const memberId = str(j, 'memberId');
    const m = this.members.get(`${group}\0${memberId}`);
    if (!m) throw new SluiceError(ErrorCodes.REBALANCED, `member ${memberId} of group ${group} is not in the group (it expired, left, or the broker restarted); rejoin the group`, { group, memberId });
    return m;
  }
}
