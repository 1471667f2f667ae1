// Sessionization: a website's clicks become visits — per user, a run of clicks
// with no pause of 30 minutes or more — each reported once, when it is over.
//
//   in   clicks         {"ts":1709287200000,"userId":"ada","page":"/pricing"}
//   out  user-sessions  {"userId":"ada","start":"2024-03-01T10:00:00.000Z","end":"2024-03-01T10:36:00.000Z","clicks":3,"pages":["/","/docs","/pricing"]}
//
// start and end are the session's first and last click; pages are the pages
// visited, each once, in the order first visited. A session is over when the
// watermark passes its last click + 30 minutes + the allowed lateness (10
// minutes): only then is its result final.
//
// Clicks come from browsers and arrive out of order: the watermark trails the
// newest click by a minute, and a session waits 10 minutes more for
// stragglers. A straggler can bridge two sessions — clicks at 10:00 and 10:36
// are two visits until a delayed click from 10:20 shows they were one — and
// the sessions merge (their accumulators with `merge`). A click arriving after
// its session is over is dropped and counted (`late-dropped`) — or, if it is
// late only for the session and not for its own 30 minutes, it starts a new
// one: the price of reporting sessions at all before time has ended.

import { Application, json, session, topicSink, topicSource, type Aggregator, type Sink, type Source, type WindowResult } from '../../src/index.ts';

export interface Click {
  /** ms since the epoch. */
  ts: number;
  userId: string;
  page: string;
}

export interface Session {
  userId: string;
  /** First and last click, ISO-8601 UTC. */
  start: string;
  end: string;
  clicks: number;
  pages: string[];
}

export interface SessionIO {
  clicks: Source;
  sessions: Sink;
}

export const MINUTE = 60_000;
export const GAP_MS = 30 * MINUTE;
export const MAX_OUT_OF_ORDER_MS = MINUTE;
export const ALLOWED_LATENESS_MS = 10 * MINUTE;

/** Saved in checkpoints, so plain JSON: pages as [page, first visit] pairs (no object keys like "__proto__"). */
interface Visit {
  first: number;
  last: number;
  clicks: number;
  pages: [string, number][];
}

function visitPage(pages: [string, number][], page: string, ts: number): [string, number][] {
  const i = pages.findIndex(([p]) => p === page);
  if (i < 0) return [...pages, [page, ts]];
  if (pages[i]![1] <= ts) return pages;
  return pages.map((e, j) => (j === i ? [page, ts] : e));
}

// Clicks are added in arrival order and sessions merged in any order, so
// every field is order-independent: min, max, sum, earliest visit per page.
export const visits: Aggregator<Click, Visit, Omit<Session, 'userId'>> = {
  init: () => ({ first: 0, last: 0, clicks: 0, pages: [] }),
  add: (v, c) => ({
    first: v.clicks === 0 ? c.ts : Math.min(v.first, c.ts),
    last: v.clicks === 0 ? c.ts : Math.max(v.last, c.ts),
    clicks: v.clicks + 1,
    pages: visitPage(v.pages, c.page, c.ts),
  }),
  merge: (a, b) => {
    if (a.clicks === 0 || b.clicks === 0) return a.clicks === 0 ? b : a;
    return {
      first: Math.min(a.first, b.first),
      last: Math.max(a.last, b.last),
      clicks: a.clicks + b.clicks,
      pages: b.pages.reduce((ps, [p, ts]) => visitPage(ps, p, ts), a.pages),
    };
  },
  result: (v) => ({
    start: new Date(v.first).toISOString(),
    end: new Date(v.last).toISOString(),
    clicks: v.clicks,
    pages: [...v.pages].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([p]) => p),
  }),
};

function checked(c: Click): Click {
  if (c === null || typeof c !== 'object') throw new Error('a click must be a JSON object');
  if (!Number.isFinite(c.ts)) throw new Error(`"ts" must be ms since the epoch, got ${JSON.stringify(c.ts)}`);
  if (typeof c.userId !== 'string' || c.userId === '') throw new Error('a click needs a non-empty string "userId"');
  if (typeof c.page !== 'string') throw new Error('a click needs a string "page"');
  return c;
}

export function build(io: SessionIO): Application {
  const app = new Application('sessions', { partitions: 8 });
  app
    .pipeline('clicks')
    .from(io.clicks, json<Click>(), { name: 'clicks', timestamp: (c) => checked(c).ts, watermark: { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS } })
    .keyBy((c) => c.userId)
    .window(session(GAP_MS), { allowedLatenessMs: ALLOWED_LATENESS_MS })
    .aggregate(visits, { name: 'visits' })
    .map((w: WindowResult<Omit<Session, 'userId'>>): Session => ({ userId: w.key, ...w.value }))
    .to(io.sessions, json<Session>(), { name: 'user-sessions' });
  return app;
}

export default function sessions(): Application {
  return build({ clicks: topicSource({ topic: 'clicks' }), sessions: topicSink({ topic: 'user-sessions' }) });
}
