// Executes an application's graph on batches, synchronously: a source batch is
// decoded and pushed through every operator down to the sinks' output buffers
// in one call. No I/O happens here; the job (job.ts) and the test driver feed
// it and drain its outputs. One engine = one task: it owns the keyed state of
// every stateful operator for the partitions it runs.
//
// Events move as arrays. Stateless operators reuse event objects in place where
// only one downstream reads them; fan-out copies them, so branches never see
// each other's changes.

import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { SinkRecord, SourceBatch } from '../../dataflow/io.ts';
import type { Application, ErrorPolicy } from '../../dataflow/application.ts';
import type { Event, KeyByNode, MergeNode, Node, ProcessNode, SinkNode, SourceNode } from '../../dataflow/graph.ts';
import { eventTime } from './event-time.ts';
import { EventClock } from './event-clock.ts';
import { Operator, type Emitted } from './operator.ts';
import { addCounters, type CounterSet } from './counters.ts';
import { deadLetter, utf8, type DeadLetter, type FailedAt, type Stage } from './dead-letters.ts';
import type { StateChange } from './keyed-state.ts';
import type { Stages } from './stages.ts';
import { groupKey, recordKey } from './key-check.ts';

/** A copy of `e` carrying `value`. Spelled out (not `{ ...e }`) so every event has one hidden class. */
function derive(e: Event, value: unknown): Event {
  return { value, key: e.key, partition: e.partition, timestamp: e.timestamp, watermark: e.watermark, headers: e.headers, seq: e.seq, origin: e.origin, position: e.position };
}

export class Engine {
  readonly app: Application;
  readonly onError: ErrorPolicy;
  /** Encoded outputs per sink node, waiting to be written. */
  readonly outputs = new Map<SinkNode, SinkRecord[]>();
  readonly deadLetters: DeadLetter[] = [];
  /** The stateful operators, upstream before downstream (the graph's creation order). */
  readonly operators = new Map<ProcessNode, Operator>();
  /** The job's event-time watermark, from the sources' event times. */
  readonly clock: EventClock;
  /** Processing time; the test driver substitutes its virtual clock. */
  now: () => number = Date.now;
  /** Counters for progress reports. */
  recordsIn = 0;
  recordsOut = 0;
  /**
   * When set, keyed events leave this engine at every keyBy instead of flowing
   * on: the job hands them to the worker that owns their partition, whose
   * engine continues with pushKeyed(). Unset, one engine runs the whole graph.
   */
  keyedRouter: ((node: KeyByNode, events: Event[]) => void) | null = null;
  /** Told each time the watermark advances (the job forwards it to the workers). */
  onWatermark: ((watermark: number) => void) | null = null;
  private readonly byId = new Map<number, Node>();
  /** Events waiting at merge nodes for the rest of the current push (flushMerges). */
  private readonly held = new Map<MergeNode, Event[]>();
  /** Numbers source events in the order they enter (Event.seq). */
  private seq = 0;
  /** Each operator's keyBy: the stage it belongs to. */
  private readonly stageOf = new Map<ProcessNode, number>();
  /** Counters restored from the last checkpoint (the operators count from zero on top). */
  private savedCounters: CounterSet = {};

  constructor(app: Application, onError: ErrorPolicy = app.options.onError, now: () => number = Date.now) {
    app.validate();
    this.app = app;
    this.onError = onError;
    this.now = now;
    const sources: SourceNode[] = [];
    for (const n of app.nodes()) {
      this.byId.set(n.id, n);
      if (n.kind === 'sink') this.outputs.set(n, []);
      if (n.kind === 'source') sources.push(n);
      if (n.kind === 'keyBy') for (const c of n.children) if (c.node.kind === 'process') this.stageOf.set(c.node, n.id);
      if (n.kind === 'process') this.operators.set(n, new Operator(n, () => this.now(), (err, e) => this.fail('process', n, err, e)));
    }
    // By this.now(): under the test driver its virtual clock, by which a source yet to deliver goes idle.
    this.clock = new EventClock(sources, this.now());
  }

  /** Decodes a source batch and runs it through the graph. */
  pushSource(node: SourceNode, batch: SourceBatch): void {
    const events: Event[] = [];
    const recs = batch.records;
    this.recordsIn += recs.length;
    const extract = node.timestamp;
    const now = this.now();
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      let value: unknown;
      try {
        if (!node.withRecordKey) value = node.codec.decode(r.value);
        else {
          if (r.key === null) throw new TypeError('a table record needs a key (the table key); this one has none');
          value = { key: Buffer.from(r.key).toString('utf8'), value: r.value === null ? null : node.codec.decode(r.value) };
        }
      } catch (e) {
        this.fail('decode', node, e, { origin: batch.origin, position: batch.position + i, timestamp: r.timestamp }, r.value);
        continue;
      }
      let timestamp = r.timestamp;
      if (extract === 'processing') timestamp = now;
      else if (extract) {
        try {
          timestamp = eventTime(extract(value, r.timestamp), 'the timestamp extractor');
        } catch (e) {
          this.fail('decode', node, e, { origin: batch.origin, position: batch.position + i, timestamp: r.timestamp }, r.value);
          continue;
        }
      }
      events.push({ value, key: null, partition: -1, timestamp, watermark: 0, headers: r.headers, seq: this.seq++, origin: batch.origin, position: batch.position + i });
    }
    const moved = this.clock.stamp(node, batch.origin, events, now);
    this.forward(node, events, undefined);
    // Before the watermark moves: merged branches are judged by the watermark they were stamped with.
    this.flushMerges();
    if (moved) this.advance(this.clock.watermark);
  }

  /** Continues keyed events (routed here by partition) downstream of the keyBy node `nodeId`. */
  pushKeyed(nodeId: number, events: Event[]): void {
    const node = this.byId.get(nodeId);
    if (node?.kind !== 'keyBy') throw new Error(`internal: node ${nodeId} is not a keyBy node`);
    this.forward(node, events, undefined);
    this.flushMerges();
  }

  /** Moves every operator's watermark to `watermark`, firing the event-time timers that become due. */
  advance(watermark: number): void {
    for (const op of this.operators.values()) {
      if (watermark > op.watermark) this.emitted(op.node, op.advance(watermark));
    }
    this.flushMerges();
    this.onWatermark?.(watermark);
  }

  /** Workers: operators of stages fed by other stages move only with the aligned watermark (see stages.ts). */
  alignStages(stages: Stages): void {
    for (const [node, op] of this.operators) {
      const producers = stages.producers.get(this.stageOf.get(node) ?? -1) ?? [];
      op.followStamps = producers.length === 1 && producers[0] === 'main';
    }
  }

  /** Workers: moves the watermark of the operators right after keyBy `keyById` (one stage, see stages.ts). */
  advanceStage(keyById: number, watermark: number): void {
    for (const op of this.operators.values()) {
      if (this.stageOf.get(op.node) === keyById && watermark > op.watermark) this.emitted(op.node, op.advance(watermark));
    }
    this.flushMerges();
  }

  /** Wall-clock housekeeping: idle source partitions, processing-time timers. */
  tick(now: number = this.now()): void {
    if (this.clock.tick(now)) this.advance(this.clock.watermark);
    for (const op of this.operators.values()) this.emitted(op.node, op.tick(now));
    this.flushMerges();
  }

  /** A source ended for good (bounded input): it no longer holds the watermark back. */
  endSource(node: SourceNode): void {
    if (this.clock.end(node)) this.advance(this.clock.watermark);
  }

  node(id: number): Node | undefined {
    return this.byId.get(id);
  }

  /**
   * The keys whose state or timers changed since the last call, for a
   * checkpoint: each with both, as one changelog record rewrites both.
   */
  takeStateChanges(): StateChange[] {
    const out: StateChange[] = [];
    for (const [node, op] of this.operators) {
      const operator = node.name;
      const timers = Array.from({ length: node.partitions }, () => new Map<string, string>());
      for (const c of op.timers.takeChanges()) timers[c.partition]!.set(c.key, c.json);
      for (let p = 0; p < node.partitions; p++) {
        const dirty = op.state.dirty[p]!;
        const changedTimers = timers[p]!;
        for (const key of dirty) {
          const t = changedTimers.get(key);
          if (t !== undefined) changedTimers.delete(key);
          const c = op.state.change(operator, p, key, t ?? op.timers.keyJson(p, key), t !== undefined);
          if (c) out.push(c);
        }
        dirty.clear();
        for (const [key, t] of changedTimers) out.push(op.state.change(operator, p, key, t, true)!);
      }
    }
    return out;
  }

  /** Puts back a key's saved state and timers. An operator that no longer exists (the app changed) is skipped. */
  restore(change: StateChange): void {
    const op = this.operatorNamed(change.operator);
    if (!op) return;
    if (change.state !== '') op.state.restore(change.partition, change.key, change.state);
    if (change.timers !== '') op.timers.restore(change.partition, change.key, change.timers);
  }

  /** The names of the tables whose rows tableRows() answers. */
  tableNames(): string[] {
    return [...this.operators.keys()].filter((n) => n.table).map((n) => n.name);
  }

  /** A table's rows (all, or one key's): for interactive queries. */
  tableRows(name: string, key?: string): [string, unknown][] {
    const op = this.operatorNamed(name);
    if (!op?.node.table) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no table named ${name}; tables: ${this.tableNames().join(', ') || 'none'}`);
    const rows: [string, unknown][] = key === undefined ? op.state.entries() : [[key, op.state.lookup(key)]];
    return rows.flatMap(([k, row]) => (row !== null && typeof row === 'object' && 'v' in row ? [[k, row.v] as [string, unknown]] : []));
  }

  operatorNamed(name: string): Operator | undefined {
    for (const op of this.operators.values()) if (op.node.name === name) return op;
    return undefined;
  }

  /** operator → counter → total, including what the last checkpoint saved. */
  counters(): CounterSet {
    const out = structuredClone(this.savedCounters);
    for (const op of this.operators.values()) addCounters(out, op.node.name, op.counters);
    return out;
  }

  restoreCounters(saved: CounterSet): void {
    this.savedCounters = structuredClone(saved);
  }

  /** Takes the pending outputs of every sink (and leaves the buffers empty). */
  takeOutputs(): [SinkNode, SinkRecord[]][] {
    const out: [SinkNode, SinkRecord[]][] = [];
    for (const [node, recs] of this.outputs) {
      if (recs.length === 0) continue;
      out.push([node, recs.splice(0, recs.length)]);
    }
    return out;
  }

  takeDeadLetters(): DeadLetter[] {
    return this.deadLetters.splice(0, this.deadLetters.length);
  }

  private forward(from: Node, events: Event[], port: string | undefined): void {
    if (events.length === 0) return;
    const targets = from.children.filter((c) => c.port === port);
    for (let t = 0; t < targets.length; t++) {
      // The last reader may mutate the originals; earlier ones get copies.
      const batch = t === targets.length - 1 ? events : events.map((e) => derive(e, e.value));
      this.run(targets[t]!.node, batch);
    }
  }

  /**
   * Sends on what merges hold, earliest merge first (a merge feeding another
   * fills it before its turn), each in source order: a stable sort by seq
   * keeps what one source event produced in the order it was produced.
   */
  private flushMerges(): void {
    while (this.held.size > 0) {
      let first: MergeNode | null = null;
      for (const n of this.held.keys()) if (first === null || n.id < first.id) first = n;
      const events = this.held.get(first!)!;
      this.held.delete(first!);
      events.sort((a, b) => a.seq - b.seq);
      this.forward(first!, events, undefined);
    }
  }

  private emitted(node: ProcessNode, out: Emitted): void {
    this.forward(node, out.main, undefined);
    if (out.side) for (const [port, list] of out.side) this.forward(node, list, port);
  }

  private run(node: Node, events: Event[]): void {
    switch (node.kind) {
      case 'map': {
        let k = 0;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          try {
            e.value = node.fn(e.value, e);
            events[k++] = e;
          } catch (err) {
            this.fail('process', node, err, e);
          }
        }
        events.length = k;
        return this.forward(node, events, undefined);
      }
      case 'filter': {
        const out: Event[] = [];
        for (const e of events) {
          try {
            if (node.fn(e.value, e)) out.push(e);
          } catch (err) {
            this.fail('process', node, err, e);
          }
        }
        return this.forward(node, out, undefined);
      }
      case 'flatMap': {
        const out: Event[] = [];
        for (const e of events) {
          // The first value travels in the input event itself (as map does): one event object fewer per input.
          // Its value is replaced only once fn is done, since a generator may still read it.
          let first: unknown;
          let any = false;
          try {
            for (const v of node.fn(e.value, e)) {
              if (any) out.push(derive(e, v));
              else {
                any = true;
                first = v;
                out.push(e);
              }
            }
          } catch (err) {
            this.fail('process', node, err, e);
          }
          if (any) e.value = first;
        }
        return this.forward(node, out, undefined);
      }
      case 'keyBy': {
        let k = 0;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          try {
            const key = groupKey(node.name, node.keyFn(e.value));
            const p = node.partitionFn(key, node.partitions);
            if (!Number.isInteger(p) || p < 0 || p >= node.partitions) {
              throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `partitioner returned ${p} for key ${JSON.stringify(key)}; it must be an integer in [0, ${node.partitions})`);
            }
            e.key = key;
            e.partition = p;
            events[k++] = e;
          } catch (err) {
            this.fail('process', node, err, e);
          }
        }
        events.length = k;
        if (this.keyedRouter) return this.keyedRouter(node, events);
        return this.forward(node, events, undefined);
      }
      case 'process':
        return this.emitted(node, this.operators.get(node)!.process(events));
      case 'merge': {
        // Held until everything upstream has run for this push (flushMerges), then sent on in source order.
        const held = this.held.get(node);
        if (held) for (const e of events) held.push(e);
        else this.held.set(node, events);
        return;
      }
      case 'sink':
        return this.runSink(node, events);
      case 'source':
        throw new Error('internal: a source node has no inputs');
    }
  }

  private runSink(node: SinkNode, events: Event[]): void {
    const out = this.outputs.get(node)!;
    for (const e of events) {
      try {
        const key = node.key ? recordKey(node.name, node.key(e.value, e)) : e.key;
        out.push({ key: key === null ? null : typeof key === 'string' ? utf8(key) : key, value: node.codec.encode(e.value), timestamp: e.timestamp, headers: e.headers });
      } catch (err) {
        this.fail('encode', node, err, e);
      }
    }
    this.recordsOut += events.length;
  }

  /** A record that failed at `stage`: to the dead letters, or (onError 'stop') thrown. */
  private fail(stage: Stage, node: Node, err: unknown, at: FailedAt, raw?: Uint8Array | null): void {
    this.deadLetters.push(deadLetter(this.onError, this.app.name, stage, node.name, err, at, raw));
  }
}
