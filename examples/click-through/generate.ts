// Generates searches and the clicks on their results, in the order they
// arrive. Deterministic for a seed.
//
//   node --import tsx examples/click-through/generate.ts [count] [seed] > events.jsonl
//
// `count` searches over 12 hours from 2024-03-01 08:00 UTC; each query has
// its own chance of a click. A clicked search gets 1-3 clicks: most within 5
// minutes, some within the hour, some around its end (55-70 minutes: about
// a third are too late to count). 2% of the clicks are on searches not in
// the data. Every event arrives 0-2 minutes after it happened — within the
// watermark's delay, so none is late and the job's results equal the brute
// force's (reference.ts).

import { pathToFileURL } from 'node:url';
import { HOUR, MAX_OUT_OF_ORDER_MS, MINUTE, type Search, type SearchEvent } from './app.ts';
import { seeded } from '../stock-tracker/generate.ts';

/** Queries and the chance that a search for one gets a click. */
export const QUERIES: [string, number][] = [
  ['oat milk', 0.7],
  ['espresso machine', 0.5],
  ['sluice docs', 0.85],
  ['weather', 0.2],
  ['cheap flights', 0.4],
  ['stream processing', 0.6],
];
export const START = Date.UTC(2024, 2, 1, 8);
export const SPAN_MS = 12 * HOUR;

export function generateEvents(count: number, seed: number, spanMs = SPAN_MS): SearchEvent[] {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const arrivals: { at: number; e: SearchEvent }[] = [];
  const arrive = (e: SearchEvent) => arrivals.push({ at: e.ts + between(0, MAX_OUT_OF_ORDER_MS), e });
  for (let i = 0; i < count; i++) {
    const [query, chance] = QUERIES[Math.floor(random() * QUERIES.length)]!;
    const search: Search = { type: 'search', ts: START + between(0, spanMs - 1), searchId: `s-${String(i).padStart(7, '0')}`, query };
    arrive(search);
    const n = random() >= chance ? 0 : random() < 0.7 ? 1 : between(2, 3);
    for (let k = 0; k < n; k++) {
      const kind = random();
      const delay = kind < 0.8 ? between(1000, 5 * MINUTE) : kind < 0.95 ? between(5 * MINUTE, 55 * MINUTE) : between(55 * MINUTE, 70 * MINUTE);
      const searchId = random() < 0.02 ? `s-elsewhere-${i}` : search.searchId;
      arrive({ type: 'click', ts: search.ts + delay, searchId, url: `https://example.com/${query.replaceAll(' ', '-')}/${between(1, 10)}` });
    }
  }
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.e);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const events = generateEvents(Number(process.argv[2] ?? 5000), Number(process.argv[3] ?? 7));
  process.stdout.write(events.map((e) => JSON.stringify(e) + '\n').join(''));
}
