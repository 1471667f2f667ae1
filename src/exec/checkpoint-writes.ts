// What an exec job contributes to each checkpoint (runtime/checkpoint-loop.ts):
// each program instance its output lines (keyed, partitioned) and the journal
// records of the inputs fed since the last checkpoint, with its new counts
// (and snapshot) in the changelog; the input source its rotation and offsets;
// under --protocol the journal trim, once the snapshots are durable.
// Taking an instance's pending lines is what assigns them to this checkpoint:
// lines the programs write while it commits belong to the next.

import type { SourceCheckpoint } from '../dataflow/io.ts';
import type { Log, TransactionWrite } from '../log/log.ts';
import type { Partitioner } from '../partitioner.ts';
import type { CheckpointParticipant, Contribution } from '../runtime/checkpoint-loop.ts';
import { changelogTopic } from '../runtime/state-changelog.ts';
import { instanceKey, SOURCE_KEY } from './exec-state.ts';
import { journalTopic, type ExecResult, type ResolvedExecOptions } from './exec-options.ts';
import type { Instance, InstanceState } from './instance.ts';
import type { JournalTrimmer } from './journal-trim.ts';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const decoder = new TextDecoder();

export interface ProgramCheckpoint {
  o: ResolvedExecOptions;
  partitioner: Partitioner;
  outputPartitions: number;
  /** The programs were given the end of their input, and all they wrote is in this checkpoint. */
  ended: boolean;
  /** Counted once the checkpoint is durable. */
  result: ExecResult;
}

/**
 * One program instance in a checkpoint. `snapshot` (--protocol): its state,
 * answered for this checkpoint, covering every input fed so far.
 */
export function programParticipant(c: ProgramCheckpoint, inst: Instance, snapshot?: { state: unknown }): CheckpointParticipant {
  let inputs = 0;
  let outputs = 0;
  return {
    prepare: async (): Promise<Contribution> => {
      const { o } = c;
      const stateless = o.mode === 'stateless';
      const taken = { inputs: inst.pendingInputs, keys: inst.pendingKeys, outputs: inst.pendingOutputs };
      inst.pendingInputs = [];
      inst.pendingKeys = [];
      inst.pendingOutputs = [];
      inputs = taken.inputs.length;
      outputs = taken.outputs.length;
      const writes: TransactionWrite[] = [];
      if (!stateless && inputs > 0) {
        writes.push({ topic: journalTopic(o.job), partition: inst.index, records: taken.inputs.map((l, j) => ({ key: taken.keys[j] ?? null, value: l })) });
      }
      writes.push(...outputWrites(c, taken.outputs));
      const next: InstanceState = {
        journal: inst.committed.journal + (stateless ? 0 : inputs),
        outputs: inst.committed.outputs + outputs,
      };
      if (snapshot) {
        // Everything fed so far is in the state: a restart replays only journal records after this point.
        const end = await journalEnd(o.log, o.job, inst.index, inputs);
        next.snapshot = { journal: next.journal, outputs: next.outputs, journalOffset: end, state: snapshot.state };
      } else if (inst.committed.snapshot) next.snapshot = inst.committed.snapshot;
      if (inst.committed.skipped) next.skipped = inst.committed.skipped;
      if (c.ended) next.ended = true;
      writes.push({ topic: changelogTopic(o.job), partition: 0, records: [{ key: instanceKey(inst.index), value: utf8(JSON.stringify(next)) }] });
      inst.committed = next;
      return { writes };
    },
    committed: () => {
      c.result.inputs += inputs;
      c.result.outputs += outputs;
    },
  };
}

/**
 * The input rotation in a checkpoint: where the source stands after the last
 * batch fed (its resume state in the changelog, its offsets in the group).
 * After the programs, so its changelog record follows theirs.
 */
export function sourceParticipant(c: ProgramCheckpoint, processed: SourceCheckpoint | undefined): CheckpointParticipant {
  return {
    prepare: () => ({
      writes: [{ topic: changelogTopic(c.o.job), partition: 0, records: [{ key: SOURCE_KEY, value: utf8(JSON.stringify(processed?.state ?? null)) }] }],
      offsets: processed?.offsets ? [processed.offsets] : [],
    }),
    committed: () => {
      c.result.checkpoints++;
    },
  };
}

/**
 * --protocol: trims each instance's journal to its new snapshot. After the
 * programs' participants (their committed states then hold the snapshots),
 * and only once the checkpoint is durable: until then a restart needs the
 * journal before them.
 */
export function trimParticipant(trimmer: JournalTrimmer, instances: readonly Instance[]): CheckpointParticipant {
  let trimTo: (number | undefined)[] = [];
  return {
    prepare: () => {
      trimTo = instances.map((i) => i.committed.snapshot?.journalOffset);
      return {};
    },
    committed: () => trimmer.trim(trimTo),
  };
}

/** An instance's output lines, one write per output partition, in partition order. */
function outputWrites(c: ProgramCheckpoint, lines: Uint8Array[]): TransactionWrite[] {
  const byPartition = new Map<number, TransactionWrite>();
  for (const line of lines) {
    const key = outputKey(c.o.outputKeyField, line);
    const p = c.partitioner.partition(key, c.outputPartitions);
    let w = byPartition.get(p);
    if (!w) byPartition.set(p, (w = { topic: c.o.output, partition: p, records: [] }));
    w.records.push({ key, value: line });
  }
  return [...byPartition.values()].sort((a, b) => a.partition - b.partition);
}

/** The journal offset after the records this checkpoint appends (their offsets are assigned in order). */
async function journalEnd(log: Log, job: string, instance: number, appending: number): Promise<number> {
  return (await log.endOffsets(journalTopic(job)))[instance]!.endOffset + appending;
}

function outputKey(field: string | undefined, line: Uint8Array): Uint8Array | null {
  if (!field) return null;
  const v = (JSON.parse(decoder.decode(line)) as Record<string, unknown> | null)?.[field];
  return v === undefined || v === null ? null : utf8(typeof v === 'string' ? v : JSON.stringify(v));
}
