// An in-memory Log for unit tests of code that sits on the Log interface
// (producer, consumer). It follows the contract in src/log/log.ts, plus test
// hooks: `truncateStart` (simulates retention) and a `reads` counter.

import { SluiceError } from '../../src/errors.ts';
import type {
  ProducerIdentity,
  TransactionResult,
  AppendResult,
  Assignment,
  GroupMember,
  JoinOptions,
  Log,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  TopicInfo,
  TopicPartition,
  TopicPartitionOffset,
} from '../../src/log/log.ts';
import { DEFAULT_TOPIC_CONFIG } from '../../src/log/log.ts';
import type { LogRecord, ProducerRecord } from '../../src/record.ts';

interface Part {
  start: number;
  records: LogRecord[]; // records[i].offset === start + i
  waiters: Set<() => void>;
}

interface Topic {
  info: TopicInfo;
  parts: Part[];
}

class MemMember implements GroupMember {
  readonly group: string;
  readonly memberId: string;
  readonly topics: string[];
  readonly #log: MemoryLog;
  constructor(log: MemoryLog, group: string, memberId: string, topics: string[]) {
    this.#log = log;
    this.group = group;
    this.memberId = memberId;
    this.topics = topics;
  }
  heartbeat(): Promise<Assignment> {
    return Promise.resolve(this.assignment());
  }
  assignment(): Assignment {
    return this.#log.assignmentOf(this.group, this.memberId);
  }
  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    return this.#log.memberCommit(this, offsets);
  }
  leave(): Promise<void> {
    this.#log.leave(this.group, this.memberId);
    return Promise.resolve();
  }
}

export class MemoryLog implements Log {
  readonly readOnly = false;
  readonly #topics = new Map<string, Topic>();
  #incarnations = 0;
  readonly #committed = new Map<string, Map<string, number>>();
  readonly #members = new Map<string, { generation: number; members: MemMember[] }>();
  reads = 0;
  closed = false;
  #ids = 0;

  #topic(name: string): Topic {
    const t = this.#topics.get(name);
    if (!t) throw new SluiceError('UNKNOWN_TOPIC', `unknown topic ${name}`, { topic: name });
    return t;
  }
  #part(topic: string, partition: number): Part {
    const p = this.#topic(topic).parts[partition];
    if (!p) throw new SluiceError('UNKNOWN_PARTITION', `unknown partition ${topic}/${partition}`, { topic, partition });
    return p;
  }

  createTopic(name: string, config: Partial<TopicConfig> = {}): Promise<TopicInfo> {
    if (this.#topics.has(name)) return Promise.reject(new SluiceError('TOPIC_EXISTS', `topic ${name} exists`));
    const info = { name, id: String(++this.#incarnations), config: { ...DEFAULT_TOPIC_CONFIG, ...config } };
    const parts = Array.from({ length: info.config.partitions }, () => ({ start: 0, records: [], waiters: new Set<() => void>() }));
    this.#topics.set(name, { info, parts });
    return Promise.resolve(info);
  }
  deleteTopic(name: string): Promise<void> {
    this.#topic(name);
    this.#topics.delete(name);
    return Promise.resolve();
  }
  listTopics(): Promise<TopicInfo[]> {
    return Promise.resolve([...this.#topics.values()].map((t) => t.info));
  }
  async getTopic(name: string): Promise<TopicInfo> {
    return this.#topic(name).info;
  }
  async describeTopic(name: string): Promise<TopicDescription> {
    const t = this.#topic(name);
    const partitions = t.parts.map((p, i) => ({
      partition: i,
      startOffset: p.start,
      endOffset: p.start + p.records.length,
      sizeBytes: p.records.reduce((n, r) => n + (r.value?.length ?? 0), 0),
      segments: 1,
    }));
    const groups = [];
    for (const [group, offs] of this.#committed) {
      const ps = partitions
        .filter((p) => offs.has(`${name}/${p.partition}`))
        .map((p) => {
          const c = offs.get(`${name}/${p.partition}`)!;
          return { partition: p.partition, committed: c, lag: Math.max(0, p.endOffset - c) };
        });
      if (ps.length > 0) groups.push({ group, partitions: ps });
    }
    return { ...t.info, partitions, groups };
  }

  async append(topic: string, partition: number, records: ProducerRecord[]): Promise<AppendResult> {
    const p = this.#part(topic, partition);
    const base = p.start + p.records.length;
    const now = Date.now();
    records.forEach((r, i) =>
      p.records.push({ offset: base + i, timestamp: r.timestamp ?? now, key: r.key, value: r.value, headers: r.headers ?? {} }),
    );
    const ws = [...p.waiters];
    p.waiters.clear();
    for (const w of ws) w();
    return { baseOffset: base, lastOffset: base + records.length - 1 };
  }

  async read(topic: string, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadResult> {
    this.reads++;
    const p = this.#part(topic, partition);
    const end = p.start + p.records.length;
    if (offset < p.start || offset > end) {
      throw new SluiceError('OFFSET_OUT_OF_RANGE', `offset ${offset} out of range [${p.start}, ${end}]`, { topic, partition, offset });
    }
    const max = options.maxRecords ?? 500;
    const records = p.records.slice(offset - p.start, offset - p.start + max);
    return { records, nextOffset: offset + records.length, highWatermark: end, startOffset: p.start };
  }

  waitFor(topic: string, partition: number, offset: number, signal?: AbortSignal): Promise<void> {
    const p = this.#part(topic, partition);
    if (p.start + p.records.length > offset || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        p.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      p.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Number of pending waitFor calls on a partition (to prove waiters are released). */
  waiters(topic: string, partition: number): number {
    return this.#part(topic, partition).waiters.size;
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    const p = this.#part(topic, partition);
    const r = p.records.find((x) => x.timestamp >= timestamp);
    return r ? r.offset : p.start + p.records.length;
  }

  /** Test hook: drop records below `offset`, as retention would. */
  truncateStart(topic: string, partition: number, offset: number): void {
    const p = this.#part(topic, partition);
    p.records = p.records.slice(offset - p.start);
    p.start = offset;
  }

  async commitOffsets(group: string, offsets: TopicPartitionOffset[]): Promise<void> {
    let m = this.#committed.get(group);
    if (!m) this.#committed.set(group, (m = new Map()));
    for (const o of offsets) m.set(`${o.topic}/${o.partition}`, o.offset);
  }
  async committedOffsets(group: string): Promise<TopicPartitionOffset[]> {
    const m = this.#committed.get(group) ?? new Map<string, number>();
    return [...m].map(([k, offset]) => {
      const i = k.lastIndexOf('/');
      return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset };
    });
  }
  async listGroups(): Promise<string[]> {
    return [...new Set([...this.#committed.keys(), ...this.#members.keys()])];
  }

  async joinGroup(group: string, options: JoinOptions): Promise<GroupMember> {
    let g = this.#members.get(group);
    if (!g) this.#members.set(group, (g = { generation: 0, members: [] }));
    const member = new MemMember(this, group, options.memberId ?? `m${++this.#ids}`, options.topics);
    g.members.push(member);
    g.generation++;
    return member;
  }

  leave(group: string, memberId: string): void {
    const g = this.#members.get(group);
    if (!g) return;
    g.members = g.members.filter((m) => m.memberId !== memberId);
    g.generation++;
  }

  assignmentOf(group: string, memberId: string): Assignment {
    const g = this.#members.get(group);
    if (!g) return { generation: 0, partitions: [] };
    const all: TopicPartition[] = [];
    const topics = [...new Set(g.members.flatMap((m) => m.topics))].sort();
    for (const t of topics) {
      const n = this.#topics.get(t)?.parts.length ?? 0;
      for (let p = 0; p < n; p++) all.push({ topic: t, partition: p });
    }
    const idx = g.members.findIndex((m) => m.memberId === memberId);
    if (idx < 0) throw new SluiceError('REBALANCED', `member ${memberId} is not in group ${group}`);
    return { generation: g.generation, partitions: all.filter((_, i) => i % g.members.length === idx) };
  }

  async memberCommit(member: MemMember, offsets: TopicPartitionOffset[]): Promise<void> {
    const owned = this.assignmentOf(member.group, member.memberId).partitions;
    for (const o of offsets) {
      if (!owned.some((tp) => tp.topic === o.topic && tp.partition === o.partition)) {
        throw new SluiceError('REBALANCED', `${o.topic}/${o.partition} is not assigned to ${member.memberId}`);
      }
    }
    await this.commitOffsets(member.group, offsets);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  initProducer(): Promise<ProducerIdentity> {
    return Promise.reject(new Error('MemoryLog (a test double) has no transactions; use the file log'));
  }

  commitTransaction(): Promise<TransactionResult> {
    return Promise.reject(new Error('MemoryLog (a test double) has no transactions; use the file log'));
  }
}
