// Records → JSON lines. Every output line must be valid JSON on one line, even
// for records that were not produced as JSON (the API can append any bytes):
//   JSON value on one line  → as stored (no re-serialisation, no precision loss)
//   JSON value over lines   → re-serialised onto one line
//   UTF-8 text, not JSON    → a JSON string of that text
//   not UTF-8               → a JSON string of its base64 (flagged in --with-meta)
//   null (tombstone)        → null

import type { ConsumerRecord } from './consumer.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

export interface Rendered {
  json: string;
  base64: boolean;
}

export function renderValue(b: Uint8Array | null): Rendered {
  if (b === null) return { json: 'null', base64: false };
  let text: string;
  try {
    text = decoder.decode(b);
  } catch {
    return { json: JSON.stringify(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')), base64: true };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { json: JSON.stringify(text), base64: false };
  }
  // Unicode line separators are legal inside JSON and not line breaks for JSON-lines readers.
  if (text.includes('\n') || text.includes('\r')) return { json: JSON.stringify(parsed), base64: false };
  return { json: text.trim(), base64: false };
}

/** A key as a string: UTF-8 text, or base64 when it is not UTF-8. */
export function renderKey(b: Uint8Array | null): Rendered {
  if (b === null) return { json: 'null', base64: false };
  try {
    return { json: JSON.stringify(decoder.decode(b)), base64: false };
  } catch {
    return { json: JSON.stringify(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')), base64: true };
  }
}

export function renderRecords(records: readonly ConsumerRecord[], withMeta: boolean): string {
  let out = '';
  for (const r of records) {
    const v = renderValue(r.value);
    if (!withMeta) {
      out += v.json + '\n';
      continue;
    }
    const k = renderKey(r.key);
    out +=
      `{"topic":${JSON.stringify(r.topic)},"partition":${r.partition},"offset":${r.offset},` +
      `"key":${k.json},"timestamp":${r.timestamp},"headers":${JSON.stringify(r.headers)},"value":${v.json}` +
      (k.base64 ? ',"keyEncoding":"base64"' : '') +
      (v.base64 ? ',"valueEncoding":"base64"' : '') +
      '}\n';
  }
  return out;
}
