// What a stateful function sees besides the event and its state.

export interface EmitOptions {
  /** Output key; default: the current key. */
  key?: string | null;
  /** Output event time; default: the input event's timestamp. */
  timestamp?: number;
  /** A named side output (read with `.sideOutput(name)`); default: the main output. */
  to?: string;
}

export interface ProcessContext<O> {
  /** The key of the current event (as given by keyBy). */
  readonly key: string;
  /** The state partition the key belongs to. */
  readonly partition: number;
  /** Event time of the current event, ms. */
  readonly timestamp: number;
  /** Emits to the main output. */
  emit(value: O, options?: Omit<EmitOptions, 'to'>): void;
  /** Emits to the side output `options.to`, whose type is independent of the main output's. */
  emit<U>(value: U, options: EmitOptions & { to: string }): void;
}
