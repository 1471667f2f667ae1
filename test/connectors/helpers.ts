// Shared by the connector tests: the runtime's side of the contract (a
// SourceContext, draining a source), and small byte helpers.

import type { Log } from '../../src/log/log.ts';
import type { Source, SourceBatch, SourceContext, SinkContext } from '../../src/dataflow/io.ts';

export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
export const text = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('utf8'));

/** Connectors that do not touch the log still need one in their context; this one fails loudly if used. */
export const noLog = new Proxy({} as Log, {
  get(_t, prop) {
    if (prop === 'then') return undefined;
    throw new Error(`this connector was not expected to use the log (called ${String(prop)})`);
  },
});

export function sourceCtx(o: Partial<SourceContext> = {}): SourceContext {
  return { log: noLog, job: 'test-job', untilEnd: false, maxBatchRecords: 1000, guarantee: 'at-least-once', ...o };
}

export function sinkCtx(o: Partial<SinkContext> = {}): SinkContext {
  return { log: noLog, job: 'test-job', guarantee: 'at-least-once', ...o };
}

/** Pulls batches until `count` records arrived (or the source ends); fails after `timeoutMs` so a broken source cannot hang the suite. */
export async function take(source: Source, count: number, timeoutMs = 20_000): Promise<SourceBatch[]> {
  const out: SourceBatch[] = [];
  let n = 0;
  const signal = AbortSignal.timeout(timeoutMs);
  while (n < count) {
    const b = await source.next(signal);
    if (b === null) {
      if (signal.aborted) throw new Error(`timed out after ${n} of ${count} records`);
      break;
    }
    out.push(b);
    n += b.records.length;
  }
  return out;
}

/** Every batch to the end of a bounded source. */
export async function drain(source: Source, timeoutMs = 20_000): Promise<SourceBatch[]> {
  return take(source, Infinity, timeoutMs);
}

export const values = (batches: SourceBatch[]): (string | null)[] => batches.flatMap((b) => b.records.map((r) => text(r.value)));

/** A 4-byte big-endian length prefix and the payload. */
export function frame(payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? utf8(payload) : payload;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(p.length, 0);
  return Buffer.concat([h, p]);
}

/** Polls `cond` every few ms until it holds (fails after `timeoutMs`): waiting for an effect without asserting on time. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const tick = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));
