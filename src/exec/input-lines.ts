// Input records as the lines a program is fed (and the journal keeps), and
// which instance each goes to.

import type { SourceBatch } from '../dataflow/io.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { partitionForStringKey } from '../partitioner.ts';
import { looksLikeJson } from './json-line.ts';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const decoder = new TextDecoder();
const NEWLINE = Buffer.from('\n');

/** A batch split per instance: each instance's lines and their input offsets, in input order. */
export interface FedLines {
  topic: string;
  partition: number;
  lines: Uint8Array[][];
  offsets: number[][];
}

export function linesOf(batch: SourceBatch, instances: number, withMeta: boolean, partitionBy: string | undefined): FedLines {
  const lines: Uint8Array[][] = Array.from({ length: instances }, () => []);
  const offsets: number[][] = Array.from({ length: instances }, () => []);
  if (!batch.topicPartition) throw new SluiceError(ErrorCodes.INTERNAL, `exec reads topics; a batch from ${batch.origin} names no topic partition`);
  const { topic, partition } = batch.topicPartition;
  for (let j = 0; j < batch.records.length; j++) {
    const r = batch.records[j]!;
    // The stored bytes go to the program (and the journal) as they are when they are a JSON line.
    let line: Uint8Array;
    if (!withMeta && r.value !== null && looksLikeJson(r.value)) line = r.value;
    else {
      const text = r.value === null ? 'null' : decoder.decode(r.value);
      const value = looksLikeJson(utf8(text)) ? text : JSON.stringify(text);
      line = utf8(
        withMeta
          ? `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":${batch.position + j},"key":${r.key === null ? 'null' : JSON.stringify(decoder.decode(r.key))},"timestamp":${r.timestamp},"headers":${JSON.stringify(r.headers)},"value":${value}}`
          : value,
      );
    }
    const i = instances === 1 ? 0 : instanceFor(line, instances, withMeta, partitionBy!);
    lines[i]!.push(line);
    offsets[i]!.push(batch.position + j);
  }
  return { topic, partition, lines, offsets };
}

function instanceFor(line: Uint8Array, instances: number, withMeta: boolean, partitionBy: string): number {
  const parsed = JSON.parse(decoder.decode(line)) as Record<string, unknown> | null;
  const v = withMeta ? (parsed?.['value'] as Record<string, unknown> | null) : parsed;
  const field = v?.[partitionBy];
  const key = typeof field === 'string' ? field : JSON.stringify(field ?? null);
  return partitionForStringKey(key, instances);
}

/** The lines, each followed by a newline, as one buffer for one write. */
export function joinLines(lines: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const l of lines) parts.push(l, NEWLINE);
  return Buffer.concat(parts);
}

/**
 * A journal record's key says where its input came from, `topic/partition@offset`
 * (topic names hold no `/` or `@`), so an input the program fails on can be
 * named even after its journal record was committed.
 */
export function originKey(topic: string, partition: number, offset: number): Buffer {
  return utf8(`${topic}/${partition}@${offset}`);
}

export interface InputOrigin {
  topic: string;
  partition: number;
  offset: number;
}

export function parseOriginKey(key: Uint8Array | null): InputOrigin | null {
  if (key === null) return null;
  const m = /^([^/@]+)\/(\d+)@(\d+)$/.exec(decoder.decode(key));
  return m ? { topic: m[1]!, partition: Number(m[2]), offset: Number(m[3]) } : null;
}
