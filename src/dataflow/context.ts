// What a stateful function sees besides the event and its state.

export interface EmitOptions {
  /** Output key; default: the current key. */
  key?: string | null;
  /** Output event time; default: the input event's timestamp (in onTimer: the timer's time). */
  timestamp?: number;
  /** A named side output (read with `.sideOutput(name)`); default: the main output. */
  to?: string;
}

export interface ProcessContext<O> {
  /** The key of the current event (as given by keyBy). */
  readonly key: string;
  /** The state partition the key belongs to. */
  readonly partition: number;
  /** Event time of the current event, ms (in onTimer: the timer's time). */
  readonly timestamp: number;
  /**
   * This operator's event-time watermark: no more events older than this are
   * expected. -Infinity until the first event; Infinity once bounded input ended.
   */
  readonly watermark: number;
  /** Processing time (the wall clock; the test driver's virtual clock in tests), ms. */
  readonly now: number;
  /** Emits to the main output. */
  emit(value: O, options?: Omit<EmitOptions, 'to'>): void;
  /** Emits to the side output `options.to`, whose type is independent of the main output's. */
  emit<U>(value: U, options: EmitOptions & { to: string }): void;
  /**
   * Calls the operator's onTimer for the current key once the watermark
   * reaches `time`. Setting the same time twice for a key sets one timer.
   * Timers are checkpointed with the state.
   */
  timer(time: number): void;
  /** Calls onTimer for the current key once the wall clock reaches `time`. */
  processingTimer(time: number): void;
  deleteTimer(time: number, domain?: 'event' | 'processing'): void;
  /** Forgets the current key's state: the next event for the key starts again from init(). */
  clearState(): void;
  /**
   * Declares that this call only read the key's state, so the next
   * checkpoint need not save it again. An optimisation for read-mostly state
   * (lookups): without it every call's state is saved as if changed. Declaring
   * a call unchanged that did change the state loses that change on recovery.
   * Ignored for a state the call created (from init).
   */
  unchanged(): void;
  /** Adds to one of the operator's counters (e.g. late events dropped); shown by `sluice time`. */
  count(counter: string, by?: number): void;
}
