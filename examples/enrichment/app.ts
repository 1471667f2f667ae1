// Enrichment: Emily's API requests (see examples/api-billing) joined with her
// users table, to price each request by the user's plan.
//
//   in   api-requests        {"ts":1709287200000,"userId":"user-03","modelId":"mistral-7b","requestId":"r-0000042"}
//   in   users (compacted)   key user-03: {"userId":"user-03","plan":"pro"}, or a tombstone (null) when deleted
//   out  requests-with-plan  {...the request, "plan":"pro"}      every request; "plan": null for an unknown user
//   out  billed-requests     {...the request, "plan":"pro","priceMicros":400}
//
// The users topic is a table's changelog (created with --compact): the record
// key is the user id, the value the user's current row, a tombstone deletes
// the user. Sluice keeps the table's rows in state and joins each request with
// its user's row *as it is when the request is processed* — a later plan
// change does not re-price earlier requests.
//
// Two joins, for two needs:
// - requests-with-plan (dashboards): a left join that decides at once. A
//   request whose user is not in the table (yet, or any more) comes out with
//   "plan": null.
// - billed-requests: an inner join that waits. A new user's row reaches the
//   users topic a little after their first requests (the sign-up service is
//   slower than the API gateway), so a request with no row waits until the
//   watermark passes its ts + 10 minutes. If the row arrives by then the
//   request is billed at that plan; if not, it is dropped and counted
//   (`unmatched`, in `sluice run`'s summary and `sluice time enrichment`).
//
// Which row a request sees depends on the order in which requests and user
// changes reach the join. Within a topic partition that order is fixed, but a
// job reads its two topics side by side and processes their batches as they
// come: across the two topics the order is not replay-deterministic. run.sh
// therefore loads the users before the requests that must see them, in
// separate runs; the tests drive both orders explicitly (test/examples/enrichment.test.ts).

import { Application, json, topicSink, topicSource, type Sink, type Source } from '../../src/index.ts';
import type { ApiRequest } from '../api-billing/app.ts';

export type { ApiRequest };
export type Plan = 'free' | 'pro' | 'enterprise';

export interface User {
  userId: string;
  plan: Plan;
}

export interface RequestWithPlan extends ApiRequest {
  plan: Plan | null;
}

export interface BilledRequest extends ApiRequest {
  plan: Plan;
  priceMicros: number;
}

export interface EnrichmentIO {
  requests: Source;
  users: Source;
  withPlan: Sink;
  billed: Sink;
}

export const MINUTE = 60_000;
/** How long (event time) a request waits for its user's row before it is not billed. */
export const WAIT_MS = 10 * MINUTE;
export const MAX_OUT_OF_ORDER_MS = 5 * MINUTE;
/** Price of one request, in millionths of a dollar: enterprise pays less per request, for volume. */
export const PRICE_MICROS: Record<Plan, number> = { free: 0, pro: 400, enterprise: 250 };

/** A row with a plan we have no price for cannot be billed: the request is dead-lettered with the reason. */
export function priceOf(plan: Plan): number {
  const price = Object.hasOwn(PRICE_MICROS, plan) ? PRICE_MICROS[plan] : undefined;
  if (price === undefined) throw new Error(`no price for plan ${JSON.stringify(plan)}`);
  return price;
}

function checked(r: ApiRequest): ApiRequest {
  if (r === null || typeof r !== 'object' || !Number.isFinite(r.ts)) throw new Error('an API request needs a numeric "ts"');
  if (typeof r.userId !== 'string' || r.userId === '') throw new Error('an API request needs a non-empty string "userId"');
  return r;
}

export function build(io: EnrichmentIO): Application {
  const app = new Application('enrichment', { partitions: 4 });
  const p = app.pipeline('enrich');
  const requests = p.from(io.requests, json<ApiRequest>(), {
    name: 'api-requests',
    timestamp: (r) => checked(r).ts,
    watermark: { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS },
  });
  // The table's input is addressed by its source's name ('users'); its rows by the table's name.
  const users = p.table(io.users, json<User>(), { name: 'users' });
  const byUser = { key: (r: ApiRequest) => r.userId };

  requests
    .leftJoin(users, { key: (r) => r.userId, fn: (r, user): RequestWithPlan => ({ ...r, plan: user?.plan ?? null }), name: 'plan-lookup' })
    .to(io.withPlan, json<RequestWithPlan>(), { name: 'requests-with-plan', ...byUser });

  requests
    .join(users, {
      key: (r) => r.userId,
      fn: (r, user): BilledRequest => ({ ...r, plan: user.plan, priceMicros: priceOf(user.plan) }),
      waitMs: WAIT_MS,
      name: 'billing-join',
    })
    .to(io.billed, json<BilledRequest>(), { name: 'billed-requests', ...byUser });
  return app;
}

export default function enrichment(): Application {
  return build({
    requests: topicSource({ topic: 'api-requests' }),
    users: topicSource({ topic: 'users' }),
    withPlan: topicSink({ topic: 'requests-with-plan' }),
    billed: topicSink({ topic: 'billed-requests' }),
  });
}
