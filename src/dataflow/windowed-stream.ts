// keyBy(...).window(spec, options) and its aggregations. Each aggregation is
// one stateful operator (window-operator.ts) emitting WindowResult values.

import type { KeyedStream, Stream } from './stream.ts';
import { operatorName, type OperatorOptions } from './graph.ts';
import { windowFunctions } from './window-operator.ts';
import { aggregators, type Aggregator, type WindowOptions, type WindowResult, type WindowSpec } from './windows.ts';

export class WindowedStream<T> {
  private readonly keyed: KeyedStream<T>;
  private readonly spec: WindowSpec;
  private readonly options: WindowOptions;

  /** @internal */
  constructor(keyed: KeyedStream<T>, spec: WindowSpec, options: WindowOptions) {
    this.keyed = keyed;
    this.spec = spec;
    this.options = options;
  }

  /** Any aggregation: `init`, `add`, optional `merge` (required for sessions) and `result`. */
  aggregate<A, R = A>(aggregator: Aggregator<T, A, R>, options?: OperatorOptions | string): Stream<WindowResult<R>> {
    const f = windowFunctions(this.spec, aggregator as Aggregator<unknown, unknown, unknown>, this.options);
    return this.keyed.process(f.init, f.fn as never, { name: operatorName(options) ?? this.options.name, onTimer: f.onTimer as never });
  }

  count(options?: OperatorOptions | string): Stream<WindowResult<number>> {
    return this.aggregate(aggregators.count<T>(), options);
  }

  sum(fn: (value: T) => number, options?: OperatorOptions | string): Stream<WindowResult<number>> {
    return this.aggregate(aggregators.sum(fn), options);
  }

  min(fn: (value: T) => number, options?: OperatorOptions | string): Stream<WindowResult<number | null>> {
    return this.aggregate(aggregators.min(fn), options);
  }

  max(fn: (value: T) => number, options?: OperatorOptions | string): Stream<WindowResult<number | null>> {
    return this.aggregate(aggregators.max(fn), options);
  }

  avg(fn: (value: T) => number, options?: OperatorOptions | string): Stream<WindowResult<number | null>> {
    return this.aggregate(aggregators.avg(fn), options);
  }

  /** `fn` should be associative: session windows merge with it. */
  reduce(fn: (a: T, b: T) => T, options?: OperatorOptions | string): Stream<WindowResult<T | null>> {
    return this.aggregate(aggregators.reduce(fn), options);
  }
}
