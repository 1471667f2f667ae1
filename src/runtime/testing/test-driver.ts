// Runs an application's graph with no I/O, like Kafka Streams' TopologyTestDriver:
// feed values to a named input, read what each named output received, inspect
// keyed state. Inputs are encoded with the source's codec and outputs decoded
// with the sink's, so codecs are tested too. Time is virtual: records get the
// driver's clock as their timestamp unless given one.

import type { SinkRecord } from '../../dataflow/io.ts';
import type { Decoder, Encoder } from '../../codec.ts';
import type { Application } from '../../dataflow/application.ts';
import type { SinkNode, SourceNode } from '../../dataflow/graph.ts';
import type { Headers } from '../../record.ts';
import { Engine } from '../engine/engine.ts';
import type { DeadLetter } from '../engine/dead-letters.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface TestInput {
  key?: string | null;
  /** Which partition of the input the records come from (each has its own watermark); default 0. */
  partition?: number;
  timestamp?: number;
  headers?: Headers;
}

export interface TestOutputRecord<T> {
  key: string | null;
  value: T;
  timestamp: number;
  headers: Headers;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Inputs are encoded with the source's codec, so it must be a full codec (or use sendRaw). */
function encodeWith(node: SourceNode, value: unknown): Uint8Array | null {
  const c = node.codec as Partial<Encoder<unknown>>;
  if (typeof c.encode !== 'function') throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `input ${node.name} has a decoder without encode(); feed it bytes with sendRaw()`);
  return c.encode(value);
}

/** Outputs are decoded with the sink's codec; an encoder-only sink yields its bytes as text. */
function decodeWith(node: SinkNode, bytes: Uint8Array | null): unknown {
  const c = node.codec as Partial<Decoder<unknown>>;
  if (typeof c.decode === 'function') return c.decode(bytes);
  return bytes && decoder.decode(bytes);
}

export class TestDriver {
  readonly app: Application;
  private readonly engine: Engine;
  private readonly inputs = new Map<string, SourceNode>();
  private readonly sinksByName = new Map<string, SinkNode[]>();
  private readonly received = new Map<SinkNode, SinkRecord[]>();
  private readonly deadLetters: DeadLetter[] = [];
  private positions = new Map<SourceNode, number>();
  /** The virtual clock, ms. */
  now: number;

  constructor(app: Application, options: { startTime?: number } = {}) {
    this.app = app;
    this.now = options.startTime ?? 0;
    this.engine = new Engine(app, undefined, () => this.now);
    for (const n of app.nodes()) {
      if (n.kind === 'source') {
        if (this.inputs.has(n.name)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `two inputs are named ${n.name}; name them with from(source, codec, { name })`);
        this.inputs.set(n.name, n);
      }
      if (n.kind === 'sink') {
        this.sinksByName.set(n.name, [...(this.sinksByName.get(n.name) ?? []), n]);
        this.received.set(n, []);
      }
    }
  }

  /** Feeds values (as one batch) to the input named `input`. */
  send<T>(input: string, values: T[], options: TestInput = {}): this {
    return this.sendRecords(
      input,
      values.map((value) => ({ value, ...options })),
    );
  }

  /** Feeds records with their own keys and timestamps. */
  sendRecords<T>(input: string, records: (TestInput & { value: T })[]): this {
    const node = this.input(input);
    this.push(
      node,
      records.map((r) => ({ ...r, value: encodeWith(node, r.value) })),
    );
    return this;
  }

  private input(name: string): SourceNode {
    const node = this.inputs.get(name);
    if (!node) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no input named ${name}; inputs: ${[...this.inputs.keys()].join(', ')}`);
    return node;
  }

  private push(node: SourceNode, records: (TestInput & { value: Uint8Array | null })[]): void {
    // One batch per run of records from the same partition, as a source would deliver them.
    for (let i = 0; i < records.length; ) {
      const partition = records[i]!.partition ?? 0;
      let j = i + 1;
      while (j < records.length && (records[j]!.partition ?? 0) === partition) j++;
      this.pushBatch(node, partition, records.slice(i, j));
      i = j;
    }
    this.collect();
  }

  private pushBatch(node: SourceNode, partition: number, records: (TestInput & { value: Uint8Array | null })[]): void {
    const position = this.positions.get(node) ?? 0;
    this.positions.set(node, position + records.length);
    this.engine.pushSource(node, {
      origin: `test:${node.name}/${partition}`,
      position,
      records: records.map((r) => ({
        key: r.key == null ? null : encoder.encode(r.key),
        value: r.value,
        timestamp: r.timestamp ?? this.now,
        headers: r.headers ?? {},
      })),
    });
  }

  /** Feeds raw bytes (strings as UTF-8), bypassing the input's codec: for testing undecodable input. */
  sendRaw(input: string, values: (Uint8Array | string | null)[], options: TestInput = {}): this {
    const node = this.input(input);
    this.push(
      node,
      values.map((v) => ({ value: typeof v === 'string' ? encoder.encode(v) : v, ...options })),
    );
    return this;
  }

  /**
   * Moves the virtual clock (processing time) forward: processing-time timers
   * fire, and input partitions quiet for their idle timeout stop holding the
   * watermark back.
   */
  advanceTime(ms: number): this {
    this.now += ms;
    this.engine.tick(this.now);
    this.collect();
    return this;
  }

  /** Declares the partitions an input will deliver from: each holds the watermark back until it has data or goes idle. */
  declarePartitions(input: string, partitions: number): this {
    const node = this.input(input);
    this.engine.clock.declareOrigins(
      node,
      Array.from({ length: partitions }, (_, p) => `test:${node.name}/${p}`),
      this.now,
    );
    return this;
  }

  /** Ends an input, as a bounded source ends: once every input has ended, event time ends and every window closes. */
  endInput(input?: string): this {
    const nodes = input === undefined ? [...this.inputs.values()] : [this.input(input)];
    for (const n of nodes) this.engine.endSource(n);
    this.collect();
    return this;
  }

  /** The event-time watermark (-Infinity before any event). */
  get watermark(): number {
    return this.engine.clock.watermark;
  }

  /** Operator counters, e.g. `{ hourly: { 'late-dropped': 3 } }`. */
  counters(): Record<string, Record<string, number>> {
    return this.engine.counters();
  }

  /** Everything the output named `name` received so far, decoded with its codec; clears it. */
  output<T = unknown>(name: string): T[] {
    return this.outputRecords<T>(name).map((r) => r.value);
  }

  outputRecords<T = unknown>(name: string): TestOutputRecord<T>[] {
    const nodes = this.sinksByName.get(name);
    if (!nodes) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no output named ${name}; outputs: ${[...this.sinksByName.keys()].join(', ')}`);
    const out: TestOutputRecord<T>[] = [];
    for (const n of nodes) {
      for (const r of this.received.get(n)!.splice(0)) {
        out.push({ key: r.key && decoder.decode(r.key), value: decodeWith(n, r.value) as T, timestamp: r.timestamp, headers: r.headers ?? {} });
      }
    }
    return out;
  }

  /** State of the stateful operator `operator`: of one key, or all keys as a Map. */
  state<S = unknown>(operator: string): Map<string, S>;
  state<S = unknown>(operator: string, key: string): S | undefined;
  state<S = unknown>(operator: string, key?: string): Map<string, S> | S | undefined {
    const store = this.operator(operator).state;
    if (key !== undefined) return store.lookup(key) as S | undefined;
    return new Map(store.entries()) as Map<string, S>;
  }

  /**
   * The timers the stateful operator `operator` holds: how many keys have one,
   * and the next one due (event time first, else processing time) — to check
   * that a job's timers, like its state, do not outlive what needs them.
   */
  timers(operator: string): { keys: number; next: number | undefined } {
    const { timers } = this.operator(operator);
    return { keys: timers.keys, next: timers.next('event') ?? timers.next('processing') };
  }

  private operator(name: string): NonNullable<ReturnType<Engine['operatorNamed']>> {
    const op = this.engine.operatorNamed(name);
    if (!op) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no stateful operator named ${name}; operators: ${[...this.engine.operators.keys()].map((n) => n.name).join(', ')}`);
    return op;
  }

  /** The rows of the table named `table`. */
  table<V = unknown>(table: string): Map<string, V> {
    return new Map(this.engine.tableRows(table) as [string, V][]);
  }

  /** Records that went to the dead-letter topic (value bytes as text, headers with the reason). */
  deadLettered(): { value: string | null; headers: Headers }[] {
    return this.deadLetters.splice(0).map((d) => ({ value: d.value && decoder.decode(d.value), headers: d.headers }));
  }

  private collect(): void {
    for (const [node, recs] of this.engine.takeOutputs()) this.received.get(node)!.push(...recs);
    this.deadLetters.push(...this.engine.takeDeadLetters());
    // Snapshot as a job's checkpoint would: state that would not survive JSON fails here, in the
    // test, and the changed-key sets do not grow with every key the test ever touched.
    this.engine.takeStateChanges();
  }
}
