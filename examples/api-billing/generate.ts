// Generates API requests as JSON lines, in the order they *arrive* — which is
// not the order they were made. Deterministic for a seed.
//
//   node --import tsx examples/api-billing/generate.ts [count] [seed] > requests.jsonl
//
// Requests are spread over 45 days from 2024-01-20 (two month ends); a few
// heavy users make most of them. Each arrives after a delay:
// - most within 2 minutes (inside the watermark's 5 minutes: not late);
// - 5% within 2-50 minutes: stragglers, often late for their hour;
// - 2% within 1-20 days: a client that was offline. Late for the dashboard,
//   but inside billing's 35-day correction horizon, so every bill is exact.
// 5% of the prompt requests arrive twice, the copy up to 10 minutes after the
// original: well inside the dedupe's one-hour horizon, so every duplicate is
// caught. (A copy arriving after the watermark passed the original plus the
// horizon would be counted twice — the price of bounded dedupe state.)

import { pathToFileURL } from 'node:url';
import { DAY, MINUTE, type ApiRequest } from './app.ts';
import { seeded } from '../stock-tracker/generate.ts';

export const MODELS = ['llama-3-8b', 'mistral-7b', 'qwen2-7b', 'phi-3-mini', 'gemma-2-9b'];
export const START = Date.UTC(2024, 0, 20);
export const SPAN_MS = 45 * DAY;

export interface GenerateOptions {
  users?: number;
  start?: number;
  spanMs?: number;
}

export function generateRequests(count: number, seed: number, options: GenerateOptions = {}): ApiRequest[] {
  const { users = 12, start = START, spanMs = SPAN_MS } = options;
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const arrivals: { at: number; request: ApiRequest }[] = [];
  for (let i = 0; i < count; i++) {
    const request: ApiRequest = {
      ts: start + Math.floor(random() * spanMs),
      // Squaring skews towards low numbers: user-00 is the heaviest user.
      userId: `user-${String(Math.floor(random() ** 2 * users)).padStart(2, '0')}`,
      modelId: MODELS[Math.floor(random() * MODELS.length)]!,
      requestId: `r-${String(i).padStart(7, '0')}`,
    };
    const kind = random();
    const delay = kind < 0.02 ? between(DAY, 20 * DAY) : kind < 0.07 ? between(2 * MINUTE, 50 * MINUTE) : between(0, 2 * MINUTE);
    arrivals.push({ at: request.ts + delay, request });
    if (delay < 2 * MINUTE && random() < 0.05) arrivals.push({ at: request.ts + delay + between(0, 10 * MINUTE), request: { ...request } });
  }
  // Array#sort is stable: a copy arriving at the same ms as its original stays after it.
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.request);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2] ?? 20_000);
  const seed = Number(process.argv[3] ?? 7);
  process.stdout.write(generateRequests(count, seed).map((r) => JSON.stringify(r) + '\n').join(''));
}
