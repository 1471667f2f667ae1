// The billing job's answers computed in one batch over the whole stream, the
// slow, obvious way, for tests and run.sh. The stream is one partition's, in
// arrival order.
//
// What is late is decided as the job decides it: the watermark before a
// request is the newest `ts` seen before it minus MAX_OUT_OF_ORDER_MS, and a
// request is late for a window when that watermark has reached the window's
// end. So:
// - dashboard (hourly, daily): a window's final count is its unique requests
//   minus those that arrived late for it; the late ones are counted apart;
// - billing: a (user, month)'s last revision counts every unique request —
//   the ones that arrived after the month closed are corrections.

import { BILLING_RETAIN_MS, DAY, DEDUPE_WITHIN_MS, HOUR, MAX_OUT_OF_ORDER_MS, type ApiRequest } from './app.ts';

/** A count with no kind or revision: what a window's final (or last) result must say. */
export interface UsageCount {
  userId: string;
  modelId: string;
  start: string;
  end: string;
  requests: number;
}

export interface BillCount {
  userId: string;
  month: string;
  requests: number;
}

export interface Reference {
  /** Requests the dedupe drops (another copy seen within its horizon). */
  duplicates: number;
  /** Distinct requestIds in the stream. */
  unique: number;
  hourly: UsageCount[];
  daily: UsageCount[];
  /** Unique requests that arrived after their hour (day) closed: dropped by the dashboard. */
  lateHourly: number;
  lateDaily: number;
  monthly: BillCount[];
  /** Unique requests that arrived after their month closed, within the retention: one correction each. */
  corrections: number;
  /** ...and after the retention: lost to billing. */
  lateMonthly: number;
}

/** The watermark stamped on each request: the newest ts before it minus the allowed disorder. */
export function watermarks(events: readonly { ts: number }[], maxOutOfOrderMs = MAX_OUT_OF_ORDER_MS): number[] {
  let newest = -Infinity;
  return events.map((e) => {
    const w = newest - maxOutOfOrderMs;
    newest = Math.max(newest, e.ts);
    return w;
  });
}

const iso = (ms: number) => new Date(ms).toISOString();
const monthOf = (ts: number) => iso(ts).slice(0, 7);
const monthEnd = (ts: number) => {
  const d = new Date(ts);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

function tally<T>(into: Map<string, T & { requests: number }>, id: string, make: () => T): void {
  const row = into.get(id) ?? { ...make(), requests: 0 };
  row.requests++;
  into.set(id, row);
}

export function referenceBilling(events: readonly ApiRequest[]): Reference {
  const stamps = watermarks(events);
  // Dedupe with its horizon: a copy is dropped while the watermark is short of
  // the first copy's ts plus the horizon; after that it would count again.
  const firstSeen = new Map<string, number>();
  const kept: { r: ApiRequest; w: number }[] = [];
  events.forEach((r, i) => {
    const w = stamps[i]!;
    const first = firstSeen.get(r.requestId);
    if (first !== undefined && w < first + DEDUPE_WITHIN_MS) return;
    firstSeen.set(r.requestId, r.ts);
    kept.push({ r, w });
  });

  const perWindow = (size: number) => {
    const counts = new Map<string, UsageCount>();
    let late = 0;
    for (const { r, w } of kept) {
      const start = Math.floor(r.ts / size) * size;
      if (w >= start + size) late++;
      else tally(counts, JSON.stringify([r.userId, r.modelId, start]), () => ({ userId: r.userId, modelId: r.modelId, start: iso(start), end: iso(start + size) }));
    }
    return { counts: sorted([...counts.values()]), late };
  };
  const hourly = perWindow(HOUR);
  const daily = perWindow(DAY);

  // Billing counts every distinct request: the truth, independent of the dedupe's horizon.
  const bills = new Map<string, BillCount>();
  const billed = new Set<string>();
  for (const r of events) {
    if (billed.has(r.requestId)) continue;
    billed.add(r.requestId);
    tally(bills, JSON.stringify([r.userId, monthOf(r.ts)]), () => ({ userId: r.userId, month: monthOf(r.ts) }));
  }
  let corrections = 0;
  let lateMonthly = 0;
  for (const { r, w } of kept) {
    const end = monthEnd(r.ts);
    if (w >= end + BILLING_RETAIN_MS) lateMonthly++;
    else if (w >= end) corrections++;
  }

  return {
    duplicates: events.length - kept.length,
    unique: billed.size,
    hourly: hourly.counts,
    daily: daily.counts,
    lateHourly: hourly.late,
    lateDaily: daily.late,
    monthly: sorted([...bills.values()]),
    corrections,
    lateMonthly,
  };
}

/** Rows in one canonical order (by their JSON), so results from anywhere compare with deepEqual. */
export function sorted<T>(rows: T[]): T[] {
  return rows
    .map((r) => [JSON.stringify(r), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r);
}
