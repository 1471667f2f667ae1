// Sources and sinks for applications run only by the TestDriver, which replaces
// their I/O: any real use of them is a test bug, so every method throws.
import type { Sink, Source } from '../../src/dataflow/io.ts';

const unused = (what: string) => () => Promise.reject(new Error(`${what} is a placeholder for the TestDriver and cannot do I/O`));

export function placeholderSource(name: string): Source {
  return { name, open: unused(name), next: unused(name), commit: unused(name), close: unused(name) };
}

export function placeholderSink(name: string): Sink {
  return { name, open: unused(name), write: unused(name), flush: unused(name), close: unused(name) };
}
