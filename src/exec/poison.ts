// A poison input: one the program fails on every time it is fed (it crashes,
// or writes a line that is not JSON). After a failure, everything the program
// was fed is in the journal (exec-job.ts commits it), so the input is found
// by trying journal prefixes on fresh copies of the program: feed the first k
// inputs, close stdin, see whether it fails. The smallest failing k names
// input k-1. Tries start at the end and step back by doubling, then bisect:
// the input that killed the program is usually among the last fed, and each
// try replays up to the whole journal, so few tries matter more than even
// halves.
//
// Then --on-error decides: fail naming the input (topic, partition, offset);
// skip it (its journal offset is recorded in the instance's committed state,
// so replays skip it too); or skip it and write it to `<job>-dead-letters`
// with the reason in its headers, as the job runtime does (sluice.error,
// sluice.origin, sluice.position...).

import { ErrorCodes, isSluiceError, SluiceError, where } from '../errors.ts';
import type { TransactionBody, TransactionWrite } from '../log/log.ts';
import { topicOrigin } from '../connectors/topic-source.ts';
import { changelogTopic } from '../runtime/state-changelog.ts';
import { Child, failureOf } from './child.ts';
import { instanceKey } from './exec-state.ts';
import { deadLetterTopic, journalTopic, type ResolvedExecOptions } from './exec-options.ts';
import { parseOriginKey, type InputOrigin } from './input-lines.ts';
import type { InstanceState } from './instance.ts';
import { replayJournal } from './journal.ts';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

export interface Poison {
  /** Its record in the journal partition of the instance. */
  journalOffset: number;
  /** Where it came from; null for a journal written before origins were recorded. */
  origin: InputOrigin | null;
  value: Uint8Array | null;
  /** How the program fails on it (without the instance's label). */
  reason: string;
}

/** Finds the input the program fails on, or null when its failure does not follow from its input. */
export async function findPoison(o: ResolvedExecOptions, index: number, label: string, state: InstanceState, failure: SluiceError): Promise<Poison | null> {
  if (o.mode === 'stateless') return null;
  const topic = journalTopic(o.job);
  const snap = state.snapshot;
  const from = snap?.journalOffset ?? 0;
  const count = state.journal - (snap?.journal ?? 0);
  const skipped = new Set(state.skipped ?? []);
  // The journal records a fresh program's replay reads (skipped ones included), and the offsets of those it is fed.
  const all: number[] = [];
  await replayJournal(o.log, { topic, partition: index, fromOffset: from, count, label, write: async () => {}, onRecord: (off) => all.push(off) });
  const offsets = all.filter((off) => !skipped.has(off));
  if (offsets.length === 0) return null;
  const countBefore = (upTo: number): number => {
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]! < upTo) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  o.progress(`${failure.message}; looking for the input it fails on among the ${offsets.length.toLocaleString('en-US')} in its journal\n`);
  let tries = 0;
  const fails = async (k: number): Promise<SluiceError | null> => {
    tries++;
    const child = new Child({ command: o.command, args: o.args, label, quiet: true, hangTimeoutMs: o.hangTimeoutMs, onLine: () => {}, onExit: () => {} });
    try {
      if (snap) await child.write(JSON.stringify({ sluice: 'restore', state: snap.state }) + '\n');
      const upTo = k === 0 ? from : offsets[k - 1]! + 1;
      await replayJournal(o.log, { topic, partition: index, fromOffset: from, count: countBefore(upTo), skipped, label, write: (lines) => child.write(lines, true) });
    } catch (e) {
      if (!(isSluiceError(e, ErrorCodes.EXEC_FAILED))) {
        child.kill();
        throw e;
      }
    }
    const e = await child.end();
    const kind = failureOf(e);
    return kind === 'crash' || kind === 'not-json' ? e : null;
  };
  let reason = await fails(offsets.length);
  if (!reason || (await fails(0))) return null;
  // fails(hi) holds, fails(lo) does not.
  let hi = offsets.length;
  let lo = 0;
  for (let step = 1; hi - step > lo; step *= 2) {
    const e = await fails(hi - step);
    if (!e) {
      lo = hi - step;
      break;
    }
    hi -= step;
    reason = e;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const e = await fails(mid);
    if (e) {
      hi = mid;
      reason = e;
    } else lo = mid;
  }
  const journalOffset = offsets[hi - 1]!;
  const r = await o.log.read(topic, index, journalOffset, { maxRecords: 1 });
  const rec = r.records.find((x) => x.offset === journalOffset);
  const poison: Poison = {
    journalOffset,
    origin: parseOriginKey(rec?.key ?? null),
    value: rec?.value ?? null,
    reason: (reason.message.startsWith(`${label}: `) ? reason.message.slice(label.length + 2) : reason.message).replace(/\.$/, ''),
  };
  o.progress(`${label}: found it: ${describe(o, index, poison, true)} (${tries} tries)\n`);
  return poison;
}

function describe(o: ResolvedExecOptions, index: number, p: Poison, withJournal = false): string {
  const journal = where(journalTopic(o.job), index, p.journalOffset);
  if (!p.origin) return `the input at ${journal}`;
  return `the input ${where(p.origin.topic, p.origin.partition, p.origin.offset)}${withJournal ? ` (journal ${journal})` : ''}`;
}

/** --on-error fail: the job stops, naming the input. */
export function poisonError(o: ResolvedExecOptions, index: number, label: string, p: Poison): SluiceError {
  return new SluiceError(
    ErrorCodes.EXEC_FAILED,
    `${label}: the program fails on ${describe(o, index, p)} every time (${p.reason}). The outputs before it are committed; fix the program and run again (it resumes at that input), or pass over such inputs with --on-error skip or --on-error dead-letter`,
    { ...(p.origin ?? {}), journalOffset: p.journalOffset, failure: 'poison' },
  );
}

/** --on-error skip or dead-letter: records the input as skipped (and dead-letters it) in one transaction. */
export async function passOver(o: ResolvedExecOptions, commit: (body: TransactionBody) => Promise<void>, index: number, label: string, state: InstanceState, p: Poison): Promise<void> {
  const next: InstanceState = { ...state, skipped: [...(state.skipped ?? []), p.journalOffset] };
  delete next.ended;
  const writes: TransactionWrite[] = [{ topic: changelogTopic(o.job), partition: 0, records: [{ key: instanceKey(index), value: utf8(JSON.stringify(next)) }] }];
  if (o.onError === 'dead-letter') {
    const topic = deadLetterTopic(o.job);
    try {
      await o.log.createTopic(topic, { partitions: 1 });
    } catch (e) {
      if (!isSluiceError(e, ErrorCodes.TOPIC_EXISTS)) throw e;
    }
    const headers: Record<string, string> = { 'sluice.error': p.reason, 'sluice.stage': 'exec', 'sluice.operator': label, 'sluice.job': o.job, 'sluice.journal': where(journalTopic(o.job), index, p.journalOffset) };
    if (p.origin) {
      headers['sluice.origin'] = topicOrigin(p.origin);
      headers['sluice.position'] = String(p.origin.offset);
    }
    writes.unshift({ topic, partition: 0, records: [{ key: null, value: p.value, headers }] });
  }
  await commit({ writes, offsets: [] });
  o.progress(`${label}: passed over ${describe(o, index, p)} (--on-error ${o.onError}${o.onError === 'dead-letter' ? `: written to ${deadLetterTopic(o.job)}` : ''})\n`);
}
