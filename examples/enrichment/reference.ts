// The enrichment job's answers by replaying one interleaving of the two inputs
// — user changes and requests, in the order the job processes them — the slow,
// obvious way: a Map of users, a list of waiting requests, and the watermark
// computed as the job computes it (docs/time.md):
//
// - each input has one partition; its watermark is the newest timestamp seen
//   there (requests: less MAX_OUT_OF_ORDER_MS; user changes: their record
//   timestamp, exactly), and the job's is the minimum of the two — so it stays
//   at -Infinity until both inputs have delivered — and never goes back;
// - an event sees the watermark as it was before it; a waiting request gives
//   up once that watermark reaches its ts + WAIT_MS;
// - when every input ends, event time ends: the watermark is Infinity, and
//   stays so in later runs of the same job (so a run.sh run waits for nothing).

import { MAX_OUT_OF_ORDER_MS, WAIT_MS, priceOf, type ApiRequest, type BilledRequest, type RequestWithPlan, type User } from './app.ts';

export type Entry =
  /** A change of the users table at `ts`: the user's new row, or null when deleted. */
  | { user: string; row: User | null; ts: number }
  | { request: ApiRequest }
  /** Every input ended (the end of a bounded run, TestDriver.endInput()). */
  | { end: true };

export interface Reference {
  /** The left join's output, one per request, in request order. */
  withPlan: RequestWithPlan[];
  /** The inner join's output, in the order the job emits it. */
  billed: BilledRequest[];
  /** Requests not billed: their user had no row WAIT_MS after them (event time). */
  unmatched: number;
  /** Requests still waiting for their user after the last entry. */
  waiting: number;
  /** The users table after the last entry. */
  users: Map<string, User>;
}

export function replay(entries: readonly Entry[]): Reference {
  const users = new Map<string, User>();
  const waiting = new Map<string, ApiRequest[]>();
  const out: Reference = { withPlan: [], billed: [], unmatched: 0, waiting: 0, users };
  let watermark = -Infinity;
  let newestChange = -Infinity;
  let newestRequest = -Infinity;
  const bill = (r: ApiRequest, u: User) => out.billed.push({ ...r, plan: u.plan, priceMicros: priceOf(u.plan) });

  /** Waiting requests give up once the watermark reaches their ts + WAIT_MS. */
  const expire = () => {
    for (const [userId, list] of waiting) {
      const keep = list.filter((r) => r.ts + WAIT_MS > watermark);
      out.unmatched += list.length - keep.length;
      if (keep.length > 0) waiting.set(userId, keep);
      else waiting.delete(userId);
    }
  };

  for (const e of entries) {
    expire();
    if ('end' in e) {
      watermark = Infinity;
      expire();
      continue;
    }
    if ('user' in e) {
      newestChange = Math.max(newestChange, e.ts);
      if (e.row === null) users.delete(e.user);
      else {
        users.set(e.user, e.row);
        for (const r of waiting.get(e.user) ?? []) bill(r, e.row);
        waiting.delete(e.user);
      }
    } else {
      const r = e.request;
      newestRequest = Math.max(newestRequest, r.ts);
      const u = users.get(r.userId);
      out.withPlan.push({ ...r, plan: u?.plan ?? null });
      if (u) bill(r, u);
      else if (r.ts + WAIT_MS > watermark) waiting.set(r.userId, [...(waiting.get(r.userId) ?? []), r]);
      else out.unmatched++;
    }
    watermark = Math.max(watermark, Math.min(newestChange, newestRequest - MAX_OUT_OF_ORDER_MS));
  }
  out.waiting = [...waiting.values()].reduce((n, l) => n + l.length, 0);
  return out;
}

/** Rows in one canonical order (by requestId): the job's outputs come per key, interleaved across partitions. */
export function byRequestId<T extends { requestId: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
}
