// Compares the job's click-throughs and rates with brute force (reference.ts)
// and prints a summary: each query's click-through rate over the whole span.
//
//   node --import tsx examples/click-through/check.ts events.jsonl click-throughs.jsonl click-rates.jsonl
//
// Exits 1 if they differ.

import { readFileSync } from 'node:fs';
import type { ClickThrough, QueryRate, SearchEvent } from './app.ts';
import { referenceClickThroughs, referenceRates, sorted } from './reference.ts';

const files = process.argv.slice(2);
if (files.length !== 3) {
  process.stderr.write('usage: check.ts EVENTS.jsonl CLICK-THROUGHS.jsonl CLICK-RATES.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const events = read<SearchEvent>(files[0]!);
const throughs = sorted(read<ClickThrough>(files[1]!));
const rates = sorted(read<QueryRate>(files[2]!));
const searches = events.filter((e) => e.type === 'search').length;

const clickedSearches = new Set(throughs.map((c) => c.searchId)).size;
console.log(`${searches} searches, ${events.length - searches} clicks: ${throughs.length} click-throughs on ${clickedSearches} searches; ${rates.length} hourly rates`);
const total = new Map<string, { searches: number; clicked: number }>();
for (const r of rates) {
  const t = total.get(r.query) ?? { searches: 0, clicked: 0 };
  total.set(r.query, { searches: t.searches + r.searches, clicked: t.clicked + r.clicked });
}
for (const [query, t] of [...total].sort(([, a], [, b]) => b.clicked / b.searches - a.clicked / a.searches)) {
  console.log(`  ${query.padEnd(20)} ${String(t.clicked).padStart(5)} of ${String(t.searches).padStart(5)} searches clicked  ${((100 * t.clicked) / t.searches).toFixed(1).padStart(5)}%`);
}
const sameThroughs = JSON.stringify(throughs) === JSON.stringify(referenceClickThroughs(events));
const sameRates = JSON.stringify(rates) === JSON.stringify(referenceRates(events));
if (!sameThroughs || !sameRates) {
  console.log(`MISMATCH with brute force in ${sameThroughs ? '' : 'click-throughs '}${sameRates ? '' : 'rates'}`);
  process.exit(1);
}
console.log('every click-through and hourly rate equals brute force (examples/click-through/reference.ts)');
