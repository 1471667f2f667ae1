// Click-through rate: a search engine's searches joined with the clicks on
// their results within an hour (a stream-stream join), and per query and
// hour of search time the share of searches that got a click. Searches and
// clicks are events of one topic, keyed by searchId:
//
//   in   search-events   {"type":"search","ts":1709287200000,"searchId":"s-0000042","query":"oat milk"}
//                        {"type":"click","ts":1709287231000,"searchId":"s-0000042","url":"https://example.com/oat-milk/3"}
//   out  click-throughs  {"searchId":"s-0000042","query":"oat milk","url":"https://example.com/oat-milk/3","searchTs":1709287200000,"clickTs":1709287231000}
//   out  click-rates     {"query":"oat milk","start":"2024-03-01T10:00:00.000Z","end":"2024-03-01T11:00:00.000Z","searches":40,"clicked":29,"rate":0.725}
//
// A click-through is a click at most an hour after its search (the same ms
// and exactly an hour count; a search clicked three times makes three). The
// rates count each search in the hour it was made: `clicked` is the searches
// with at least one click-through — once, however many. A search's fate is
// known only once its hour is over, so `leftJoin`: it emits a search with
// null once its interval closed without a click, and that is how unclicked
// searches are counted at all.
//
// Events arrive out of order by up to 2 minutes (the watermark's delay): not
// late. A click that arrives after the watermark passed it is dropped (and
// counted, `late-dropped`); its search then counts as unclicked. A rate comes
// out when the watermark passes the end of its hour plus an hour — the last
// searches' clicks may come that much later.
//
// One topic for both, split in two with filters, rather than two topics: what
// is late depends on the order events arrive in, and one topic's partitions
// have one order, the same when the job replays them after a crash; two
// topics would be merged in whatever order their records happen to arrive.

import { Application, json, topicSink, topicSource, tumbling, type Aggregator, type ProcessContext, type Sink, type Source, type WindowResult } from '../../src/index.ts';

export interface Search {
  type: 'search';
  /** ms since the epoch. */
  ts: number;
  searchId: string;
  query: string;
}

export interface Click {
  type: 'click';
  ts: number;
  searchId: string;
  url: string;
}

export type SearchEvent = Search | Click;

export interface ClickThrough {
  searchId: string;
  query: string;
  url: string;
  searchTs: number;
  clickTs: number;
}

export interface QueryRate {
  query: string;
  /** The hour [start, end) of search time, ISO-8601 UTC. */
  start: string;
  end: string;
  searches: number;
  /** Searches with at least one click-through. */
  clicked: number;
  /** clicked / searches. */
  rate: number;
}

export interface ClickThroughIO {
  events: Source;
  clickThroughs: Sink;
  rates: Sink;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const MAX_OUT_OF_ORDER_MS = 2 * MINUTE;

interface Joined {
  search: Search;
  click: Click | null;
}

interface Outcome {
  query: string;
  clicked: boolean;
}

function checked(e: SearchEvent): SearchEvent {
  if (e === null || typeof e !== 'object') throw new Error('an event must be a JSON object');
  if (e.type !== 'search' && e.type !== 'click') throw new Error(`"type" must be search or click, got ${JSON.stringify((e as { type: unknown }).type)}`);
  if (!Number.isFinite(e.ts)) throw new Error(`"ts" must be ms since the epoch, got ${JSON.stringify(e.ts)}`);
  if (typeof e.searchId !== 'string' || e.searchId === '') throw new Error('an event needs a non-empty string "searchId"');
  if (e.type === 'search' && typeof e.query !== 'string') throw new Error('a search needs a string "query"');
  if (e.type === 'click' && typeof e.url !== 'string') throw new Error('a click needs a string "url"');
  return e;
}

/**
 * The first result of the join for a search decides it: its first click, or
 * null when its hour closed without one. It is re-timed to the search, so the
 * rate windows are hours of search time.
 */
function firstResult(j: Joined, st: { seen?: 1 }, ctx: ProcessContext<Outcome>): void {
  if (st.seen) return; // a further click on a search already counted
  st.seen = 1;
  ctx.emit({ query: j.search.query, clicked: j.click !== null }, { timestamp: j.search.ts });
  // The join sends nothing more for the search once the watermark passes its hour.
  ctx.timer(j.search.ts + HOUR + 1);
}

const rates: Aggregator<Outcome, { searches: number; clicked: number }, Omit<QueryRate, 'query' | 'start' | 'end'>> = {
  init: () => ({ searches: 0, clicked: 0 }),
  add: (a, o) => ({ searches: a.searches + 1, clicked: a.clicked + (o.clicked ? 1 : 0) }),
  merge: (a, b) => ({ searches: a.searches + b.searches, clicked: a.clicked + b.clicked }),
  result: (a) => ({ ...a, rate: a.clicked / a.searches }),
};

const iso = (ms: number) => new Date(ms).toISOString();

export function build(io: ClickThroughIO): Application {
  const app = new Application('click-through', { partitions: 8 });
  const p = app.pipeline('click-through');
  const events = p.from(io.events, json<SearchEvent>(), {
    name: 'search-events',
    timestamp: (e) => checked(e).ts,
    watermark: { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS },
  });
  const searches = events.filter((e): e is Search => e.type === 'search', { name: 'searches' });
  const clicks = events.filter((e): e is Click => e.type === 'click', { name: 'clicks' });

  const joined = searches.leftJoin(clicks, {
    key: (s) => s.searchId,
    otherKey: (c) => c.searchId,
    within: { before: 0, after: HOUR },
    fn: (search, click): Joined => ({ search, click }),
    name: 'click-through',
  });
  joined
    .flatMap(({ search, click }): ClickThrough[] => (click === null ? [] : [{ searchId: search.searchId, query: search.query, url: click.url, searchTs: search.ts, clickTs: click.ts }]), { name: 'clicked' })
    .to(io.clickThroughs, json<ClickThrough>(), { name: 'click-throughs' });

  joined
    .keyBy((j) => j.search.searchId)
    .process(() => ({}), firstResult, { name: 'per-search', onTimer: (_t, _st, ctx) => ctx.clearState() })
    .keyBy((o) => o.query)
    // A search's result comes when its first click does, or when its hour closes: up to an hour late for its window.
    .window(tumbling(HOUR), { allowedLatenessMs: HOUR })
    .aggregate(rates, { name: 'hourly-rates' })
    .map((w: WindowResult<Omit<QueryRate, 'query' | 'start' | 'end'>>): QueryRate => ({ query: w.key, start: iso(w.start), end: iso(w.end), ...w.value }))
    .to(io.rates, json<QueryRate>(), { name: 'click-rates' });
  return app;
}

export default function clickThrough(): Application {
  return build({
    events: topicSource({ topic: 'search-events' }),
    clickThroughs: topicSink({ topic: 'click-throughs' }),
    rates: topicSink({ topic: 'click-rates' }),
  });
}
