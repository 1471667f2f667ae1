// A sink that hands each batch to a function: for tests and for embedding a
// job in a larger program. The function's promise is awaited, so a slow
// callback slows the job like any other sink.

import type { Sink, SinkContext, SinkRecord } from '../dataflow/io.ts';
import { invalid } from './options.ts';

export type SinkCallback = (records: SinkRecord[]) => void | Promise<void>;

class CallbackSink implements Sink {
  readonly name = 'callback';
  readonly #fn: SinkCallback;

  constructor(fn: SinkCallback) {
    this.#fn = fn;
  }

  async open(_ctx: SinkContext): Promise<void> {}

  async write(records: SinkRecord[]): Promise<void> {
    if (records.length > 0) await this.#fn(records);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

export function callbackSink(fn: SinkCallback): Sink {
  if (typeof fn !== 'function') throw invalid('callbackSink', `expects a function, got ${typeof fn}`);
  return new CallbackSink(fn);
}
