// Executes an application's graph on batches, synchronously: a source batch is
// decoded and pushed through every operator down to the sinks' output buffers
// in one call. No I/O happens here; the job (job.ts) and the test driver feed
// it and drain its outputs. One engine = one task: it owns the keyed state of
// every stateful operator for the partitions it runs.
//
// Events move as arrays. Stateless operators reuse event objects in place where
// only one downstream reads them; fan-out copies them, so branches never see
// each other's changes.

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { SinkRecord, SourceBatch } from '../connectors/connector.ts';
import type { Application, ErrorPolicy } from '../dataflow/application.ts';
import type { EmitOptions, ProcessContext } from '../dataflow/context.ts';
import type { Event, KeyByNode, Node, ProcessNode, SinkNode, SourceNode } from '../dataflow/graph.ts';
import type { Headers } from '../record.ts';
import { KeyedState } from './keyed-state.ts';

/** Buffer.from is several times faster than TextEncoder#encode for short strings (see codec.ts). */
const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** A record that could not be decoded or processed, bound for the dead-letter topic. */
export interface DeadLetter {
  value: Uint8Array | null;
  headers: Headers;
  timestamp: number;
}

export type Stage = 'decode' | 'process' | 'encode';

/** A copy of `e` carrying `value`. Spelled out (not `{ ...e }`) so every event has one hidden class. */
function derive(e: Event, value: unknown): Event {
  return { value, key: e.key, partition: e.partition, timestamp: e.timestamp, headers: e.headers, origin: e.origin, position: e.position };
}

export class Engine {
  readonly app: Application;
  readonly onError: ErrorPolicy;
  /** Encoded outputs per sink node, waiting to be written. */
  readonly outputs = new Map<SinkNode, SinkRecord[]>();
  readonly deadLetters: DeadLetter[] = [];
  readonly states = new Map<ProcessNode, KeyedState>();
  /** Counters for progress reports. */
  recordsIn = 0;
  recordsOut = 0;
  /**
   * When set, keyed events leave this engine at every keyBy instead of flowing
   * on: the job hands them to the worker that owns their partition, whose
   * engine continues with pushKeyed(). Unset, one engine runs the whole graph.
   */
  keyedRouter: ((node: KeyByNode, events: Event[]) => void) | null = null;
  private readonly byId = new Map<number, Node>();

  constructor(app: Application, onError: ErrorPolicy = app.options.onError) {
    app.validate();
    this.app = app;
    this.onError = onError;
    for (const n of app.nodes()) {
      this.byId.set(n.id, n);
      if (n.kind === 'sink') this.outputs.set(n, []);
      if (n.kind === 'process') this.states.set(n, new KeyedState(n));
    }
  }

  /** Decodes a source batch and runs it through the graph. */
  pushSource(node: SourceNode, batch: SourceBatch): void {
    const events: Event[] = [];
    const recs = batch.records;
    this.recordsIn += recs.length;
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      let value: unknown;
      try {
        value = node.codec.decode(r.value);
      } catch (e) {
        this.fail('decode', node, e, { origin: batch.origin, position: batch.position + i, timestamp: r.timestamp }, r.value);
        continue;
      }
      let timestamp = r.timestamp;
      if (node.timestamp) {
        try {
          timestamp = node.timestamp(value, r.timestamp);
        } catch (e) {
          this.fail('decode', node, e, { origin: batch.origin, position: batch.position + i, timestamp: r.timestamp }, r.value);
          continue;
        }
      }
      events.push({ value, key: null, partition: -1, timestamp, headers: r.headers, origin: batch.origin, position: batch.position + i });
    }
    this.forward(node, events, undefined);
  }

  /** Continues keyed events (routed here by partition) downstream of the keyBy node `nodeId`. */
  pushKeyed(nodeId: number, events: Event[]): void {
    const node = this.byId.get(nodeId);
    if (node?.kind !== 'keyBy') throw new Error(`internal: node ${nodeId} is not a keyBy node`);
    this.forward(node, events, undefined);
  }

  node(id: number): Node | undefined {
    return this.byId.get(id);
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
          try {
            for (const v of node.fn(e.value, e)) out.push(derive(e, v));
          } catch (err) {
            this.fail('process', node, err, e);
          }
        }
        return this.forward(node, out, undefined);
      }
      case 'keyBy': {
        let k = 0;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          try {
            const key = String(node.keyFn(e.value));
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
        return this.runProcess(node, events);
      case 'merge':
        return this.forward(node, events, undefined);
      case 'sink':
        return this.runSink(node, events);
      case 'source':
        throw new Error('internal: a source node has no inputs');
    }
  }

  private runProcess(node: ProcessNode, events: Event[]): void {
    const state = this.states.get(node)!;
    const main: Event[] = [];
    let side: Map<string, Event[]> | null = null;
    let current: Event = events[0]!;
    const ctx: ProcessContext<unknown> & { key: string; partition: number; timestamp: number } = {
      key: '',
      partition: 0,
      timestamp: 0,
      emit(value: unknown, options?: EmitOptions) {
        const out: Event = {
          value,
          key: options?.key === undefined ? (node.global ? null : current.key) : options.key,
          partition: current.partition,
          timestamp: options?.timestamp ?? current.timestamp,
          headers: current.headers,
          origin: current.origin,
          position: current.position,
        };
        if (options?.to === undefined) main.push(out);
        else {
          side ??= new Map();
          let list = side.get(options.to);
          if (!list) side.set(options.to, (list = []));
          list.push(out);
        }
      },
    };
    for (const e of events) {
      current = e;
      const key = e.key ?? '';
      ctx.key = key;
      ctx.partition = e.partition < 0 ? 0 : e.partition;
      ctx.timestamp = e.timestamp;
      const mark = main.length;
      try {
        node.fn(e.value, state.get(ctx.partition, key), ctx);
      } catch (err) {
        main.length = mark; // outputs of a failed call are not emitted
        this.fail('process', node, err, e);
      }
    }
    this.forward(node, main, undefined);
    if (side) for (const [port, list] of side as Map<string, Event[]>) this.forward(node, list, port);
  }

  private runSink(node: SinkNode, events: Event[]): void {
    const out = this.outputs.get(node)!;
    for (const e of events) {
      try {
        const key = node.key ? node.key(e.value, e) : e.key;
        out.push({ key: key === null ? null : utf8(key), value: node.codec.encode(e.value), timestamp: e.timestamp, headers: e.headers });
      } catch (err) {
        this.fail('encode', node, err, e);
      }
    }
    this.recordsOut += events.length;
  }

  /**
   * Handles a record that failed at `stage`: to the dead letters (with the
   * reason in its headers), or — if the application chose `stop` — by throwing.
   */
  private fail(stage: Stage, node: Node, err: unknown, at: { origin: string; position: number; timestamp: number; value?: unknown }, raw?: Uint8Array | null): void {
    const message = err instanceof Error ? err.message : String(err);
    const where = `${at.origin} at ${at.position}`;
    if (this.onError === 'stop') {
      throw new SluiceError(
        ErrorCodes.USER_FUNCTION_FAILED,
        `${stage === 'decode' ? 'cannot decode' : stage === 'encode' ? 'cannot encode' : 'operator failed on'} the record from ${where} in ${node.name}: ${message}. The job stopped (onError: 'stop'); fix the input or the code and restart: it resumes from its last commit.`,
        { stage, operator: node.name, origin: at.origin, position: at.position },
        { cause: err },
      );
    }
    let value: Uint8Array | null;
    if (raw !== undefined) value = raw;
    else {
      try {
        value = utf8(JSON.stringify(at.value) ?? 'null');
      } catch {
        value = utf8(String(at.value));
      }
    }
    this.deadLetters.push({
      value,
      timestamp: at.timestamp,
      headers: {
        'sluice.error': message,
        'sluice.stage': stage,
        'sluice.operator': node.name,
        'sluice.origin': at.origin,
        'sluice.position': String(at.position),
        'sluice.job': this.app.name,
      },
    });
  }
}
