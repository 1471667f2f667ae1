// What one exec checkpoint writes, in one transaction: each instance's output
// lines (keyed, partitioned) and journal records since the last checkpoint,
// its new counts (and snapshot) in the changelog, the source's rotation, and
// the input offsets. Taking the pending lines here is what assigns them to
// this checkpoint: lines the programs write while it commits belong to the next.

import type { SourceCheckpoint } from '../dataflow/io.ts';
import type { Log, TransactionOffsets, TransactionWrite } from '../log/log.ts';
import type { Partitioner } from '../partitioner.ts';
import { changelogTopic } from '../runtime/state-changelog.ts';
import { instanceKey, SOURCE_KEY } from './exec-state.ts';
import { journalTopic, type ResolvedExecOptions } from './exec-options.ts';
import type { Instance, InstanceState } from './instance.ts';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const decoder = new TextDecoder();

export interface CheckpointInput {
  o: ResolvedExecOptions;
  instances: Instance[];
  /** --protocol: each instance's state, answered for this checkpoint. */
  snapshots: Map<number, unknown>;
  processed: SourceCheckpoint | undefined;
  partitioner: Partitioner;
  outputPartitions: number;
  ended: boolean;
}

export interface CheckpointWrites {
  writes: TransactionWrite[];
  offsets: TransactionOffsets[];
  inputs: number;
  outputs: number;
}

export async function checkpointWrites(c: CheckpointInput): Promise<CheckpointWrites> {
  const { o } = c;
  const stateless = o.mode === 'stateless';
  const writes: TransactionWrite[] = [];
  const outputsByPartition = new Map<number, TransactionWrite>();
  const changelog: TransactionWrite = { topic: changelogTopic(o.job), partition: 0, records: [] };
  let outputs = 0;
  let inputs = 0;
  for (const inst of c.instances) {
    const taken = { inputs: inst.pendingInputs, keys: inst.pendingKeys, outputs: inst.pendingOutputs };
    inst.pendingInputs = [];
    inst.pendingKeys = [];
    inst.pendingOutputs = [];
    for (const line of taken.outputs) {
      const key = outputKey(o.outputKeyField, line);
      const p = c.partitioner.partition(key, c.outputPartitions);
      let w = outputsByPartition.get(p);
      if (!w) outputsByPartition.set(p, (w = { topic: o.output, partition: p, records: [] }));
      w.records.push({ key, value: line });
    }
    outputs += taken.outputs.length;
    inputs += taken.inputs.length;
    if (!stateless && taken.inputs.length > 0) {
      writes.push({ topic: journalTopic(o.job), partition: inst.index, records: taken.inputs.map((l, j) => ({ key: taken.keys[j] ?? null, value: l })) });
    }
    const next: InstanceState = {
      journal: inst.committed.journal + (stateless ? 0 : taken.inputs.length),
      outputs: inst.committed.outputs + taken.outputs.length,
    };
    if (c.snapshots.has(inst.index)) {
      // Everything fed so far is in the state: a restart replays only journal records after this point.
      const end = await journalEnd(o.log, o.job, inst.index, taken.inputs.length);
      next.snapshot = { journal: next.journal, outputs: next.outputs, journalOffset: end, state: c.snapshots.get(inst.index) };
    } else if (inst.committed.snapshot) next.snapshot = inst.committed.snapshot;
    if (inst.committed.skipped) next.skipped = inst.committed.skipped;
    if (c.ended) next.ended = true;
    changelog.records.push({ key: instanceKey(inst.index), value: utf8(JSON.stringify(next)) });
    inst.committed = next;
  }
  changelog.records.push({ key: SOURCE_KEY, value: utf8(JSON.stringify(c.processed?.state ?? null)) });
  writes.push(...[...outputsByPartition.values()].sort((a, b) => a.partition - b.partition), changelog);
  return { writes, offsets: c.processed?.offsets ? [c.processed.offsets] : [], inputs, outputs };
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
