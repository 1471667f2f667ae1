// One stateful operator (a process node) at run time: its keyed state, its
// timers, its watermark, its counters and the context its functions see.
//
// The operator's watermark follows the stamps on the events it receives
// (event-clock.ts). Before an event with a newer stamp is processed, the
// event-time timers it makes due fire; what they emit is stamped with the
// watermark *before* the advance, so a downstream window receives an upstream
// window's result before it learns that time moved on (as a Flink operator
// emits a window's result ahead of the watermark that closed it).

import type { EmitOptions, ProcessContext } from '../../dataflow/context.ts';
import type { Event, ProcessNode, TimeDomain } from '../../dataflow/graph.ts';
import { EMPTY_HEADERS } from '../../record.ts';
import { eventTime } from './event-time.ts';
import { KeyedState } from './keyed-state.ts';
import { unwrap } from './state-tracking.ts';
import { Timers, type DueTimer } from './timers.ts';

export interface Emitted {
  main: Event[];
  side: Map<string, Event[]> | null;
}

type Ctx = ProcessContext<unknown> & { key: string; partition: number; timestamp: number; watermark: number };

export class Operator {
  readonly node: ProcessNode;
  readonly state: KeyedState;
  readonly timers: Timers;
  watermark = -Infinity;
  /**
   * Whether the stamps on arriving events move the watermark. Not for a
   * worker's operator fed through a re-partitioning by several threads: an
   * event's stamp says nothing of events another thread has yet to send, so
   * only the aligned watermark (stages.ts) may move it.
   */
  followStamps = true;
  readonly counters = new Map<string, number>();
  private readonly fail: (err: unknown, at: Event) => void;
  private main: Event[] = [];
  private side: Map<string, Event[]> | null = null;
  /** The event being processed (or a stand-in for a timer): emitted events copy its envelope. */
  private current: Event;
  /** The seq of the event being processed: what timers it makes due emit carries it too. */
  private seq = 0;
  /** Watermark stamped on what is emitted now. */
  private stampWatermark = -Infinity;
  private readonly ctx: Ctx;
  /** Whether the current call's state was created for it, declared unchanged, cleared. */
  private fresh = false;
  private unchanged = false;
  private cleared = false;
  /** Origin of what timers emit. */
  private readonly timerOrigin: string;

  constructor(node: ProcessNode, now: () => number, fail: (err: unknown, at: Event) => void) {
    this.node = node;
    this.state = new KeyedState(node);
    this.timers = new Timers(node.partitions);
    this.fail = fail;
    this.timerOrigin = `timer:${node.name}`;
    this.current = this.timerEvent({ partition: 0, key: '', time: 0 });
    // The current key's partition and key are passed as they are: these run for every event.
    this.ctx = {
      key: '',
      partition: 0,
      timestamp: 0,
      watermark: -Infinity,
      get now() {
        return now();
      },
      emit: (value: unknown, options?: EmitOptions) => this.emit(value, options),
      timer: (time: number) => this.timers.set('event', this.ctx.partition, this.ctx.key, time),
      processingTimer: (time: number) => this.timers.set('processing', this.ctx.partition, this.ctx.key, time),
      deleteTimer: (time: number, domain: TimeDomain = 'event') => this.timers.delete(domain, this.ctx.partition, this.ctx.key, time),
      clearState: () => {
        this.cleared = true;
        this.state.delete(this.ctx.partition, this.ctx.key, this.fresh);
      },
      unchanged: () => {
        this.unchanged = true;
      },
      count: (counter: string, by = 1) => {
        this.counters.set(counter, (this.counters.get(counter) ?? 0) + by);
      },
    };
  }

  /** Runs the operator's function on each event; returns what it emitted (and what due timers emitted). */
  process(events: Event[]): Emitted {
    const { node, ctx } = this;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      this.seq = e.seq;
      if (this.followStamps && e.watermark > this.watermark) this.advanceTo(e.watermark);
      // A timer the previous event set for a time the watermark already passed fires before the next event, as at a batch boundary.
      else if (i > 0) this.fireDue('event', this.watermark);
      this.stampWatermark = this.watermark;
      this.current = e;
      ctx.key = e.key ?? '';
      ctx.partition = e.partition < 0 ? 0 : e.partition;
      ctx.timestamp = e.timestamp;
      ctx.watermark = this.watermark;
      const mark = this.main.length;
      try {
        node.fn(e.value, this.getState(ctx.partition, ctx.key), ctx);
      } catch (err) {
        this.main.length = mark; // outputs of a failed call are not emitted
        this.fail(err, e);
      }
      this.afterCall(ctx.partition, ctx.key);
    }
    // Timers set during the batch for times the watermark already passed fire now, not at its next move.
    this.fireDue('event', this.watermark);
    return this.take();
  }

  /** The watermark moved on without an event reaching this operator. */
  advance(watermark: number): Emitted {
    this.seq = Infinity; // after every event of the batch
    if (watermark > this.watermark) this.advanceTo(watermark);
    return this.take();
  }

  /** Fires processing-time timers due at `now`. */
  tick(now: number): Emitted {
    this.seq = Infinity;
    this.stampWatermark = this.watermark;
    this.fireDue('processing', now);
    return this.take();
  }

  private advanceTo(watermark: number): void {
    this.stampWatermark = this.watermark;
    this.watermark = watermark;
    this.fireDue('event', watermark);
  }

  private fireDue(domain: TimeDomain, upTo: number): void {
    const onTimer = this.node.onTimer;
    if (!onTimer) return;
    const { ctx } = this;
    let due: DueTimer | undefined;
    while ((due = this.timers.popDue(domain, upTo))) {
      const e = this.timerEvent(due);
      this.current = e;
      ctx.key = due.key;
      ctx.partition = due.partition;
      ctx.timestamp = due.time;
      ctx.watermark = this.watermark;
      const mark = this.main.length;
      try {
        onTimer({ time: due.time, domain }, this.getState(due.partition, due.key), ctx);
      } catch (err) {
        this.main.length = mark;
        this.fail(err, e);
      }
      this.afterCall(due.partition, due.key);
    }
  }

  private getState(partition: number, key: string): unknown {
    const s = this.state.get(partition, key);
    this.fresh = this.state.created;
    this.unchanged = false;
    this.cleared = false;
    return s;
  }

  /**
   * The state handed to a call is marked changed after it, unless the call
   * said it was not (ctx.unchanged) or deleted it (clearState marks what it must).
   * A call that threw is marked too: it may have mutated the state before throwing.
   */
  private afterCall(partition: number, key: string): void {
    if (!this.cleared && (!this.unchanged || this.fresh)) this.state.changed(partition, key);
  }

  private timerEvent(due: DueTimer): Event {
    return {
      value: { timer: due.time, key: due.key },
      key: due.key,
      partition: due.partition,
      timestamp: due.time,
      watermark: this.watermark,
      headers: EMPTY_HEADERS,
      origin: this.timerOrigin,
      position: due.time,
      seq: this.seq,
    };
  }

  private emit(value: unknown, options: EmitOptions | undefined): void {
    const cur = this.current;
    const out: Event = {
      // A part of a tracked state is emitted as itself, not as its proxy (which postMessage to a worker cannot clone).
      value: unwrap(value),
      key: options?.key === undefined ? (this.node.global ? null : this.ctx.key) : options.key,
      partition: cur.partition,
      timestamp: options?.timestamp === undefined ? this.ctx.timestamp : eventTime(options.timestamp, 'emit'),
      watermark: this.stampWatermark,
      headers: cur.headers,
      origin: cur.origin,
      position: cur.position,
      seq: cur.seq,
    };
    if (options?.to === undefined) this.main.push(out);
    else {
      this.side ??= new Map();
      let list = this.side.get(options.to);
      if (!list) this.side.set(options.to, (list = []));
      list.push(out);
    }
  }

  private take(): Emitted {
    const out = { main: this.main, side: this.side };
    this.main = [];
    this.side = null;
    return out;
  }
}
