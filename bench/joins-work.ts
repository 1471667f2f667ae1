// The two join workloads of bench/joins.ts: their input (deterministic JSON
// lines, one topic per workload with a type field), the Sluice application,
// and the hand-written in-memory join that is the baseline. Both sides get
// the same input bytes, decode them with the same fatal UTF-8 decoder and
// JSON.parse, and produce the same output records (the key and the JSON value
// as bytes), so the comparison is of the joining, not of codecs.

import { Application, json, partitionForKey, topicSink, topicSource, type Sink, type Source } from '../src/index.ts';

export const T0 = Date.UTC(2025, 0, 1);
export const PARTITIONS = 4;

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');
// The JSON codec's decoder (src/codec.ts): fatal, so the loop checks the UTF-8 as the engine does.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const parse = (b: Uint8Array): unknown => JSON.parse(utf8.decode(b));

/** One input record: the topic key (the join key) and the JSON line. */
export interface Input {
  key: Uint8Array;
  value: Uint8Array;
  /** Event time (the record's timestamp). */
  ts: number;
}

/** What a join produces: the output record's key and value, as the sink would write them. */
export interface Output {
  key: Uint8Array;
  value: Uint8Array;
}

function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

// ---- stream-table: requests enriched with their user's plan ---------------------------------------

export interface User {
  type: 'user';
  userId: string;
  plan: string;
  name: string;
  country: string;
}

export interface Request {
  type: 'request';
  ts: number;
  userId: string;
  requestId: string;
  path: string;
  status: number;
}

export type EnrichmentEvent = User | Request;
export type Enriched = Request & { plan: string | null };

const PLANS = ['free', 'pro', 'enterprise'];
const PATHS = ['/v1/chat', '/v1/embed', '/v1/files', '/v1/models'];
const COUNTRIES = ['DE', 'FR', 'US', 'JP', 'BR', 'IN'];
const userId = (i: number) => `u${String(i).padStart(6, '0')}`;

/**
 * `users` user rows, then `requests` requests, each for a uniformly random user; 1 in 100 names a
 * user the table does not have, so the left join's null side is exercised too.
 */
export function enrichmentInput(users: number, requests: number): Input[] {
  const rnd = random(11);
  const out: Input[] = [];
  for (let i = 0; i < users; i++) {
    const u: User = { type: 'user', userId: userId(i), plan: PLANS[i % 3]!, name: `User ${i}`, country: COUNTRIES[i % 6]! };
    out.push({ key: enc(u.userId), value: enc(JSON.stringify(u)), ts: T0 });
  }
  for (let i = 0; i < requests; i++) {
    const known = rnd() >= 0.01;
    const r: Request = {
      type: 'request',
      ts: T0 + i,
      userId: userId(known ? Math.floor(rnd() * users) : users + Math.floor(rnd() * 100)),
      requestId: `r${String(i).padStart(7, '0')}`,
      path: PATHS[i % 4]!,
      status: rnd() < 0.98 ? 200 : 429,
    };
    out.push({ key: enc(r.userId), value: enc(JSON.stringify(r)), ts: r.ts });
  }
  return out;
}

/**
 * Adds the plan in place, as a hand-written join would (a spread copy costs as much as the JSON.parse
 * here): the cheaper the function, the more the runtime's own costs show in the ratio.
 */
function enrich(r: Request, user: User | null): Enriched {
  const e = r as Enriched;
  e.plan = user?.plan ?? null;
  return e;
}

/** The hand-written hash join: a Map of users, every request looked up in it as it comes. */
export function enrichmentLoop(input: Input[]): Output[] {
  const users = new Map<string, User>();
  const out: Output[] = [];
  for (let i = 0; i < input.length; i++) {
    const e = parse(input[i]!.value) as EnrichmentEvent;
    if (e.type === 'user') users.set(e.userId, e);
    else out.push({ key: enc(e.userId), value: enc(JSON.stringify(enrich(e, users.get(e.userId) ?? null))) });
  }
  return out;
}

/** Users and requests from one topic, so every run sees each user's row before its requests (one partition per user). */
export function enrichmentApp(name: string, input: Source, output: Sink): Application {
  const app = new Application(name, { partitions: PARTITIONS });
  const events = app.pipeline('enrich').from(input, json<EnrichmentEvent>(), { name: 'events' });
  const users = events.filter((e): e is User => e.type === 'user', { name: 'users-only' }).toTable((u) => u.userId, { name: 'users' });
  events
    .filter((e): e is Request => e.type === 'request', { name: 'requests-only' })
    .leftJoin(users, { key: (r) => r.userId, fn: (r, u) => enrich(r, u), name: 'enrich' })
    .to(output, json, { name: 'enriched' });
  return app;
}

// ---- stream-stream: searches left-joined with their clicks ----------------------------------------

export interface Search {
  type: 'search';
  ts: number;
  searchId: string;
  userId: string;
  query: string;
}

export interface Click {
  type: 'click';
  ts: number;
  searchId: string;
  url: string;
  pos: number;
}

export type SearchEvent = Search | Click;

export interface ClickThrough {
  searchId: string;
  query: string;
  searchTs: number;
  clickTs: number | null;
  url: string | null;
}

/** A click matches its search up to this long after it (and not before it). */
export const AFTER_MS = 60_000;
/** Events reach the topic up to this much later than their event time (the watermark's delay). */
export const DISORDER_MS = 2_000;
/** Event time between one search and the next: 500 searches per second, whatever their number. */
const MS_PER_SEARCH = 2;

/**
 * `searches` searches, one every MS_PER_SEARCH ms of event time, each with one click 0-120 s later
 * (so about half are clicked within AFTER_MS and the rest fall outside the interval), all in the
 * order they arrive: event time plus a delay below DISORDER_MS. No event is ever late.
 */
export function searchInput(searches: number): Input[] {
  const rnd = random(23);
  const events: { arrival: number; ts: number; line: string; key: string }[] = [];
  for (let i = 0; i < searches; i++) {
    const s: Search = { type: 'search', ts: T0 + i * MS_PER_SEARCH, searchId: `s${String(i).padStart(7, '0')}`, userId: userId(Math.floor(rnd() * 10_000)), query: `query ${i % 5000}` };
    const pos = 1 + Math.floor(rnd() * 10);
    const c: Click = { type: 'click', ts: s.ts + Math.floor(rnd() * 2 * AFTER_MS), searchId: s.searchId, url: `https://example.com/r/${i % 1000}/${pos}`, pos };
    for (const e of [s, c]) events.push({ arrival: e.ts + Math.floor(rnd() * DISORDER_MS), ts: e.ts, line: JSON.stringify(e), key: s.searchId });
  }
  events.sort((a, b) => a.arrival - b.arrival);
  return events.map((e) => ({ key: enc(e.key), value: enc(e.line), ts: e.ts }));
}

const clickThrough = (s: Search, c: Click | null): ClickThrough => ({ searchId: s.searchId, query: s.query, searchTs: s.ts, clickTs: c?.ts ?? null, url: c?.url ?? null });

interface Buffered {
  searches: { s: Search; matched: boolean }[];
  clicks: Click[];
}

/**
 * The hand-written interval join: per key, the searches and clicks that may still match, each
 * checked against the other side's buffer as it arrives; the watermark (largest event time seen
 * minus DISORDER_MS) lets go of what can match nothing more — a search with no click then comes
 * out with null — in arrival order, which is nearly expiry order; whatever the input leaves
 * buffered comes out at its end.
 */
export function intervalJoinLoop(input: Input[]): Output[] {
  const byKey = new Map<string, Buffered>();
  // Expiry queue, in arrival order: [watermark past which the entry is done, key, search or click].
  const expiry: { at: number; key: string; search: Search | null }[] = [];
  let head = 0;
  let maxTs = -Infinity;
  const out: Output[] = [];
  const emit = (s: Search, c: Click | null) => out.push({ key: enc(s.searchId), value: enc(JSON.stringify(clickThrough(s, c))) });
  const expire = (watermark: number) => {
    while (head < expiry.length && expiry[head]!.at < watermark) {
      const x = expiry[head++]!;
      const b = byKey.get(x.key)!;
      if (x.search) {
        const i = b.searches.findIndex((e) => e.s === x.search);
        if (!b.searches[i]!.matched) emit(x.search, null);
        b.searches.splice(i, 1);
      } else b.clicks.shift();
      if (b.searches.length === 0 && b.clicks.length === 0) byKey.delete(x.key);
    }
    if (head > 65_536) {
      expiry.splice(0, head);
      head = 0;
    }
  };
  for (let i = 0; i < input.length; i++) {
    const e = parse(input[i]!.value) as SearchEvent;
    let b = byKey.get(e.searchId);
    if (!b) byKey.set(e.searchId, (b = { searches: [], clicks: [] }));
    if (e.type === 'search') {
      let matched = false;
      for (const c of b.clicks) {
        if (c.ts >= e.ts && c.ts <= e.ts + AFTER_MS) {
          emit(e, c);
          matched = true;
        }
      }
      b.searches.push({ s: e, matched });
      expiry.push({ at: e.ts + AFTER_MS, key: e.searchId, search: e });
    } else {
      for (const x of b.searches) {
        if (e.ts >= x.s.ts && e.ts <= x.s.ts + AFTER_MS) {
          emit(x.s, e);
          x.matched = true;
        }
      }
      b.clicks.push(e);
      expiry.push({ at: e.ts, key: e.searchId, search: null });
    }
    if (e.ts > maxTs) expire((maxTs = e.ts) - DISORDER_MS);
  }
  expire(Infinity);
  return out;
}

/** Searches and clicks from one topic, split by type, left-joined within a minute. */
export function searchApp(name: string, input: Source, output: Sink): Application {
  const app = new Application(name, { partitions: PARTITIONS });
  const events = app.pipeline('click-through').from(input, json<SearchEvent>(), {
    name: 'events',
    timestamp: (e) => e.ts,
    // Never idle: the input is a backlog with data in every partition to the end (see bench/joins.ts).
    watermark: { maxOutOfOrderMs: DISORDER_MS, idleTimeoutMs: Infinity },
  });
  const searches = events.filter((e): e is Search => e.type === 'search', { name: 'searches' });
  const clicks = events.filter((e): e is Click => e.type === 'click', { name: 'clicks' });
  searches
    .leftJoin(clicks, { key: (s) => s.searchId, otherKey: (c) => c.searchId, within: { before: 0, after: AFTER_MS }, fn: clickThrough, name: 'click-through' })
    .to(output, json, { name: 'click-throughs' });
  return app;
}

// ---- shared -------------------------------------------------------------------------------------

export interface Workload {
  name: string;
  /** What is counted: "enrichments" or "events". */
  unit: string;
  /** Made when the workload's turn comes, and dropped after it: both at once would crowd the heap. */
  input: () => Input[];
  /** How many `unit` one run processes. */
  count: number;
  loop: (input: Input[]) => Output[];
  app: (name: string, input: Source, output: Sink) => Application;
}

export const inputTopic = (w: Workload): Source => topicSource({ topic: w.name });
export const outputTopic = (topic: string): Sink => topicSink({ topic });

/** The input split into the topic's partitions by key, as the producer does. */
export function byPartition(input: Input[]): Input[][] {
  const parts: Input[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const r of input) parts[partitionForKey(r.key, PARTITIONS)]!.push(r);
  return parts;
}

/**
 * An order-independent digest of output records (the job writes them across partitions): their
 * number, bytes, and the sums of two different 32-bit hashes of each key and value.
 */
export function digest(records: Iterable<{ key: Uint8Array | null; value: Uint8Array | null }>): string {
  let n = 0;
  let bytes = 0;
  let h1sum = 0;
  let h2sum = 0;
  for (const r of records) {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (const part of [r.key, r.value]) {
      if (part === null) {
        h1 = Math.imul(h1 ^ 0xff, 0x01000193);
        continue;
      }
      bytes += part.length;
      for (let i = 0; i < part.length; i++) {
        h1 = Math.imul(h1 ^ part[i]!, 0x01000193);
        h2 = Math.imul(h2 ^ part[i]!, 0x5bd1e995) ^ (h2 >>> 15);
      }
      h1 = Math.imul(h1 ^ 0xfe, 0x01000193);
    }
    n++;
    h1sum = (h1sum + (h1 >>> 0)) % 2 ** 48;
    h2sum = (h2sum + (h2 >>> 0)) % 2 ** 48;
  }
  return `${n} records, ${bytes} bytes, ${h1sum.toString(16)}/${h2sum.toString(16)}`;
}
