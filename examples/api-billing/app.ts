// API request billing for "Emily" (MLE Technologies), a start-up that hosts
// models and charges per API request. Each request is recorded as an event:
//
//   in   api-requests     {"ts":1706745599000,"userId":"user-03","modelId":"mistral-7b","requestId":"r-0000042"}
//   out  usage-hourly     {"userId":"user-03","modelId":"mistral-7b","start":"2024-01-31T23:00:00.000Z","end":"2024-02-01T00:00:00.000Z","requests":17,"kind":"final","revision":1}
//   out  usage-daily      the same, per UTC day
//   out  billing-monthly  {"userId":"user-03","month":"2024-01","requests":5210,"kind":"final","revision":1}
//
// Events arrive out of order, some late, some twice (a client retries, a
// collector re-sends). So, in order:
// 1. Dedupe by requestId: a request seen again within an hour is dropped. The
//    horizon bounds the state (one entry per request of the last hour of event
//    time) — duplicates are re-sends, which come minutes apart, not days.
// 2. The dashboard: requests per user per model per hour and per UTC day.
//    Freshness beats completeness there: a window's final result comes when
//    the watermark passes its end, a late request is dropped (and counted,
//    `late-dropped`), and while a window is open an early result goes out at
//    most once a minute (wall clock) per user and model.
// 3. Billing: requests per user per calendar month (UTC). Completeness beats
//    freshness: a month's final result comes when the watermark passes its
//    end, and a request arriving up to 35 days after that (a phone that was
//    offline) corrects it — a new result with the next revision. The bill
//    is the last revision.
//
// The watermark trails the newest request by 5 minutes: requests up to 5
// minutes out of order are not late at all.

import { Application, json, calendar, topicSink, topicSource, tumbling, type Sink, type Source, type WindowResult } from '../../src/index.ts';

export interface ApiRequest {
  /** When the request was made: ms since the epoch, UTC. */
  ts: number;
  userId: string;
  modelId: string;
  requestId: string;
}

export interface Usage {
  userId: string;
  modelId: string;
  /** The window [start, end), ISO-8601 UTC. */
  start: string;
  end: string;
  requests: number;
  kind: WindowResult<number>['kind'];
  revision: number;
}

export interface Bill {
  userId: string;
  /** YYYY-MM, UTC. */
  month: string;
  requests: number;
  kind: WindowResult<number>['kind'];
  revision: number;
}

export interface BillingIO {
  requests: Source;
  hourly: Sink;
  daily: Sink;
  monthly: Sink;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const DEDUPE_WITHIN_MS = HOUR;
export const MAX_OUT_OF_ORDER_MS = 5 * MINUTE;
/** How long after a month closes a late request still corrects its bill. */
export const BILLING_RETAIN_MS = 35 * DAY;
/** Dashboard early results: at most this often (wall clock) per user and model. */
export const EARLY_EVERY_MS = MINUTE;

/** A request without all four fields cannot be billed: it is refused (dead-lettered with the reason). */
function checked(r: ApiRequest): ApiRequest {
  if (r === null || typeof r !== 'object') throw new Error('an API request must be a JSON object');
  if (!Number.isFinite(r.ts)) throw new Error(`"ts" must be ms since the epoch, got ${JSON.stringify(r.ts)}`);
  for (const f of ['userId', 'modelId', 'requestId'] as const) {
    if (typeof r[f] !== 'string' || r[f] === '') throw new Error(`an API request needs a non-empty string "${f}"`);
  }
  return r;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The window key is [userId, modelId] as JSON: any ids, no separator to escape. */
function usage(w: WindowResult<number>): Usage {
  const [userId, modelId] = JSON.parse(w.key) as [string, string];
  return { userId, modelId, start: iso(w.start), end: iso(w.end), requests: w.value, kind: w.kind, revision: w.revision };
}

function bill(w: WindowResult<number>): Bill {
  return { userId: w.key, month: iso(w.start).slice(0, 7), requests: w.value, kind: w.kind, revision: w.revision };
}

export function build(io: BillingIO): Application {
  const app = new Application('api-billing', { partitions: 8 });
  const requests = app
    .pipeline('billing')
    .from(io.requests, json<ApiRequest>(), {
      name: 'api-requests',
      timestamp: (r) => checked(r).ts,
      watermark: { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS },
    })
    .dedupe((r) => r.requestId, DEDUPE_WITHIN_MS, { name: 'dedupe' });

  const dashboard = { late: 'drop', emit: { early: { everyMs: EARLY_EVERY_MS } } } as const;
  const perModel = requests.keyBy((r) => JSON.stringify([r.userId, r.modelId]));
  // Outputs are keyed by user: one user's records stay in order in one topic partition.
  const byUser = { key: (v: { userId: string }) => v.userId };
  perModel
    .window(tumbling(HOUR), dashboard)
    .count({ name: 'hourly' })
    .map(usage)
    .to(io.hourly, json<Usage>(), { name: 'usage-hourly', ...byUser });
  perModel
    .window(tumbling(DAY), dashboard)
    .count({ name: 'daily' })
    .map(usage)
    .to(io.daily, json<Usage>(), { name: 'usage-daily', ...byUser });

  requests
    .keyBy((r) => r.userId)
    .window(calendar('month'), { late: 'correct', retainMs: BILLING_RETAIN_MS })
    .count({ name: 'monthly' })
    .map(bill)
    .to(io.monthly, json<Bill>(), { name: 'billing-monthly', ...byUser });
  return app;
}

export default function apiBilling(): Application {
  return build({
    requests: topicSource({ topic: 'api-requests' }),
    hourly: topicSink({ topic: 'usage-hourly' }),
    daily: topicSink({ topic: 'usage-daily' }),
    monthly: topicSink({ topic: 'billing-monthly' }),
  });
}
