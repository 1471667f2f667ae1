// Messages between a job's main thread and its worker threads (--workers N).
// The main thread runs sources and everything before each keyBy; workers run
// what follows a keyBy for the state partitions they own (partition % N) and
// send back encoded sink records. A worker handles messages in order and one
// at a time, so replying to a barrier proves everything sent before it is done.

import type { DeadLetter } from '../engine/dead-letters.ts';
import type { EventColumns, PackedRecords } from './worker-codec.ts';
import type { StateChange } from '../engine/keyed-state.ts';

export type ToWorker =
  | { t: 'events'; node: number; events: EventColumns }
  | { t: 'barrier'; id: number; snapshot: boolean }
  | { t: 'restore'; states: StateChange[] }
  /** The watermark of the stage after keyBy `node` (stages.ts). */
  | { t: 'watermark'; node: number; watermark: number }
  | { t: 'tick'; now: number }
  | { t: 'query'; id: number; table: string; key?: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'out'; outputs: [sinkNode: number, records: PackedRecords][]; dead: DeadLetter[]; recordsOut: number }
  | { t: 'keyed'; node: number; events: EventColumns }
  /** This worker's stage `from` passed `watermark`, and sent everything it routed to keyBy `to` before it. */
  | { t: 'passed'; from: number; to: number; watermark: number }
  | { t: 'barrier'; id: number; states: StateChange[]; counters: Record<string, Record<string, number>> }
  | { t: 'query'; id: number; rows: [string, unknown][] }
  | { t: 'error'; message: string; code?: string; details?: Record<string, unknown> };

export interface WorkerSetup {
  appFile: string;
  index: number;
  workers: number;
  onError?: 'dead-letter' | 'stop';
}
