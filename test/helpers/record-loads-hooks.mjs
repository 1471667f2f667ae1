// The hooks of record-loads.mjs; they run on node's loader thread.
import { appendFileSync } from 'node:fs';

const out = process.env.SLUICE_RECORD_LOADS;

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (out) appendFileSync(out, `${result.url}\n`);
  return result;
}
