// Click-throughs and rates computed by brute force over all the events, for
// tests and run.sh: every search against every click. Equal to the job's
// results when no event is late (the generator makes none).

import { HOUR, type Click, type ClickThrough, type QueryRate, type Search, type SearchEvent } from './app.ts';

const matches = (s: Search, c: Click) => c.searchId === s.searchId && c.ts >= s.ts && c.ts <= s.ts + HOUR;

const split = (events: readonly SearchEvent[]) => ({
  searches: events.filter((e): e is Search => e.type === 'search'),
  clicks: events.filter((e): e is Click => e.type === 'click'),
});

export function referenceClickThroughs(events: readonly SearchEvent[]): ClickThrough[] {
  const { searches, clicks } = split(events);
  const out: ClickThrough[] = [];
  for (const s of searches) {
    for (const c of clicks) {
      if (matches(s, c)) out.push({ searchId: s.searchId, query: s.query, url: c.url, searchTs: s.ts, clickTs: c.ts });
    }
  }
  return sorted(out);
}

export function referenceRates(events: readonly SearchEvent[]): QueryRate[] {
  const { searches, clicks } = split(events);
  const rows = new Map<string, QueryRate>();
  for (const s of searches) {
    const start = Math.floor(s.ts / HOUR) * HOUR;
    const id = JSON.stringify([s.query, start]);
    const row = rows.get(id) ?? { query: s.query, start: new Date(start).toISOString(), end: new Date(start + HOUR).toISOString(), searches: 0, clicked: 0, rate: 0 };
    row.searches++;
    if (clicks.some((c) => matches(s, c))) row.clicked++;
    row.rate = row.clicked / row.searches;
    rows.set(id, row);
  }
  return sorted([...rows.values()]);
}

/** Rows in one canonical order (by their JSON), so results from anywhere compare with deepEqual. */
export function sorted<T>(rows: T[]): T[] {
  return rows
    .map((r) => [JSON.stringify(r), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r);
}
