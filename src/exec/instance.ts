// One instance of an exec job: its program, the inputs fed to it and the
// outputs read from it since the last checkpoint, and what has been committed.
//
// The committed position of an instance is two counts: inputs fed since its
// state's life began (the journal) and outputs committed. Recovery starts the
// program afresh, feeds it the journal, and drops the first `outputs` lines it
// writes: for a deterministic program those are exactly the lines already
// committed. With --protocol, a saved state replaces the journal before it.

import { Child } from './child.ts';
import type { SluiceError } from '../errors.ts';

export interface InstanceState {
  /** Inputs recorded in the journal for this instance. */
  journal: number;
  /** Outputs committed. */
  outputs: number;
  /** --protocol: the program's state at a checkpoint, and the counts then. */
  snapshot?: { journal: number; outputs: number; journalOffset: number; state: unknown };
  /** Journal offsets of inputs the program fails on, passed over (--on-error skip/dead-letter): replay skips them too. */
  skipped?: number[];
  /**
   * --until-end: the program was given the end of its input after the
   * journal's inputs, and every line it wrote was committed. A run with no new
   * input then has nothing to do (docs/exec.md, "A restart with nothing new").
   */
  ended?: boolean;
}

export const CONTROL_FIELD = 'sluice';
const CONTROL_MARK = Buffer.from(`"${CONTROL_FIELD}"`);

export class Instance {
  readonly index: number;
  readonly label: string;
  committed: InstanceState;
  /** Input lines (without newline) fed since the last checkpoint, for the journal. */
  pendingInputs: Uint8Array[] = [];
  /** Where each of pendingInputs came from (journal record keys, input-lines.ts). */
  pendingKeys: Uint8Array[] = [];
  /** Output lines (without newline) read since the last checkpoint. */
  pendingOutputs: Uint8Array[] = [];
  /** Lines still to drop while replaying (already committed before the crash). */
  discard = 0;
  /** Inputs fed to this life of the program (replayed or new), for messages. */
  fed = 0;
  child: Child | null = null;
  failure: SluiceError | null = null;
  private readonly protocol: boolean;
  /** Called at each output line kept: a job with nothing uncommitted sleeps until then. */
  onOutput: (() => void) | null = null;
  private controlWaiter: { id: number; resolve: (state: unknown) => void } | null = null;

  constructor(index: number, label: string, committed: InstanceState, protocol: boolean) {
    this.index = index;
    this.label = label;
    this.committed = committed;
    this.protocol = protocol;
  }

  start(command: string, args: string[], onFailure: (e: SluiceError) => void, hangTimeoutMs?: number): void {
    this.failure = null;
    this.fed = 0;
    this.child = new Child({
      command,
      args,
      hangTimeoutMs,
      label: this.label,
      onLine: (line) => this.onLine(line),
      onExit: (e) => {
        if (e) {
          this.failure = e;
          onFailure(e);
        }
      },
    });
  }

  private onLine(line: Uint8Array): void {
    if (this.protocol && Buffer.from(line.buffer, line.byteOffset, line.length).includes(CONTROL_MARK)) {
      const msg = JSON.parse(new TextDecoder().decode(line)) as Record<string, unknown>;
      if (msg !== null && typeof msg === 'object' && CONTROL_FIELD in msg) {
        const w = this.controlWaiter;
        if (msg[CONTROL_FIELD] === 'state' && w && msg['id'] === w.id) {
          this.controlWaiter = null;
          w.resolve(msg['state'] ?? null);
        }
        return;
      }
    }
    if (this.discard > 0) {
      this.discard--;
      return;
    }
    this.pendingOutputs.push(line);
    this.onOutput?.();
  }

  /** The first `n` lines the program writes (after any control lines) are already committed: drop them. */
  dropCommitted(n: number): void {
    if (this.protocol) this.discard = n;
    else this.child!.skip = n;
  }

  /** Whether anything was fed or written since the last checkpoint. */
  get uncommitted(): boolean {
    return this.pendingInputs.length > 0 || this.pendingOutputs.length > 0;
  }

  /** --protocol: asks the program for its state; resolves once it answered (after flushing its outputs). */
  requestState(id: number): Promise<unknown> {
    return this.child!.watched(new Promise((resolve, reject) => {
      this.controlWaiter = { id, resolve };
      this.child!.write(JSON.stringify({ [CONTROL_FIELD]: 'checkpoint', id }) + '\n').catch(reject);
      void this.child!.waitForExit().then((e) => {
        if (this.controlWaiter?.id === id) reject(e ?? new Error(`${this.label}: the program exited before answering checkpoint ${id}`));
      });
    }));
  }
}
