// Generates the enrichment example's inputs, deterministic for a seed.
//
// generateHistory: one morning of API requests and user changes, interleaved
// in the order they arrive — what a job reading both topics would see:
// - users user-00..user-05 exist before it starts; user-06..user-09 sign up
//   during it. A sign-up's row reaches the users topic 0-3 minutes after the
//   user's first request (sometimes 12-20: too late for billing's 10 minutes);
// - a few plan changes, and two deletions (a tombstone) after which
//   in-flight requests still arrive; one deleted user signs up again;
// - requests arrive 0-30 s after they were made, 5% up to 4 minutes.
// A user change is stamped with the time it was written (its arrival), as
// `sluice produce` stamps records.
//
// generateSteps: a morning in four steps, for run.sh. As a command, writes
// them; run.sh produces them one at a time, each followed by a run:
//
//   node --import tsx examples/enrichment/generate.ts DIR [requests] [seed]
//
//   DIR/users-1.jsonl     the users table at the start, one row per line (key: userId)
//   DIR/requests-2.jsonl  requests, in time order
//   DIR/users-3.jsonl     plan changes and sign-ups, in order
//   DIR/deleted-3.jsonl   then these users are deleted: {"userId":...,"deleted":true}, for produce --tombstone-field
//   DIR/requests-4.jsonl  more requests

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seeded } from '../stock-tracker/generate.ts';
import { MINUTE, type ApiRequest, type Plan, type User } from './app.ts';
import type { Entry } from './reference.ts';

export const START = Date.UTC(2024, 2, 1, 8);
export const SPAN_MS = 4 * 60 * MINUTE;
const PLANS: Plan[] = ['free', 'pro', 'enterprise'];
const MODELS = ['llama-3-8b', 'mistral-7b', 'qwen2-7b'];
const id = (n: number) => `user-${String(n).padStart(2, '0')}`;

interface Arrival {
  at: number;
  entry: Entry;
}

export function generateHistory(count: number, seed: number): Entry[] {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const plan = () => PLANS[Math.floor(random() * PLANS.length)]!;
  const arrivals: Arrival[] = [];
  const change = (at: number, userId: string, row: User | null) => arrivals.push({ at, entry: { user: userId, row, ts: at } });
  /** When each user can make requests: [from, to) intervals. */
  const active = new Map<string, [number, number][]>();

  for (let n = 0; n < 6; n++) {
    change(START - 60 * MINUTE + n, id(n), { userId: id(n), plan: plan() });
    active.set(id(n), [[START, START + SPAN_MS]]);
  }
  const signUp = (userId: string, at: number) => {
    change(at + (random() < 0.15 ? between(12 * MINUTE, 20 * MINUTE) : between(0, 3 * MINUTE)), userId, { userId, plan: plan() });
    return at;
  };
  for (let n = 6; n < 10; n++) active.set(id(n), [[signUp(id(n), between(START, START + SPAN_MS / 2)), START + SPAN_MS]]);
  for (let i = 0; i < 4; i++) {
    const userId = id(between(0, 6));
    change(between(START, START + SPAN_MS), userId, { userId, plan: plan() });
  }
  // Deleted users' requests stop a minute after the tombstone: those in flight meet no row.
  for (const n of [1, 2]) {
    const at = between(START + SPAN_MS / 4, START + SPAN_MS / 2);
    change(at, id(n), null);
    active.set(id(n), [[START, at + MINUTE]]);
  }
  const again = between(START + (3 * SPAN_MS) / 4, START + SPAN_MS);
  active.get(id(2))!.push([signUp(id(2), again), START + SPAN_MS]);

  const users = [...active.keys()];
  for (let i = 0; i < count; ) {
    const userId = users[Math.floor(random() ** 1.5 * users.length)]!;
    const [from, to] = active.get(userId)![Math.floor(random() * active.get(userId)!.length)]!;
    const ts = between(from, to);
    const request: ApiRequest = { ts, userId, modelId: MODELS[Math.floor(random() * MODELS.length)]!, requestId: `r-${String(i++).padStart(7, '0')}` };
    arrivals.push({ at: ts + (random() < 0.05 ? between(0, 4 * MINUTE) : between(0, 30_000)), entry: { request } });
  }
  // Array#sort is stable: changes of one user keep their order when they arrive at the same ms.
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.entry);
}

/** What run.sh produces, step by step; each step is followed by a run to the end of its input. */
export interface Steps {
  users1: User[];
  requests2: ApiRequest[];
  users3: User[];
  deleted3: string[];
  requests4: ApiRequest[];
}

/**
 * The same morning in four steps: ten users (user-09 signs up only in step 3:
 * its earlier requests are of an unknown user, and so are a few with a user id
 * that never existed); requests over two hours; three plan changes, the
 * sign-up, and two users deleted; requests over two more hours, of which the
 * deleted users' are only a handful still in flight.
 */
export function generateSteps(count: number, seed: number): Steps {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const plan = () => PLANS[Math.floor(random() * PLANS.length)]!;
  const ids = Array.from({ length: 10 }, (_, n) => id(n));
  let n = 0;
  const requests = (k: number, from: number, users: string[]) =>
    Array.from({ length: k }, () => between(from, from + SPAN_MS / 2))
      .sort((a, b) => a - b)
      .map((ts): ApiRequest => {
        const userId = random() < 0.002 ? 'user-99' : users[Math.floor(random() ** 1.5 * users.length)]!;
        return { ts, userId, modelId: MODELS[Math.floor(random() * MODELS.length)]!, requestId: `r-${String(n++).padStart(7, '0')}` };
      });
  const half = Math.floor(count / 2);
  const deleted3 = [id(1), id(2)];
  const changed = Array.from({ length: 3 }, () => ids[between(3, 9)]!);
  return {
    users1: ids.slice(0, 9).map((userId) => ({ userId, plan: plan() })),
    requests2: requests(half, START, ids),
    users3: [...changed, id(9)].map((userId) => ({ userId, plan: plan() })),
    deleted3,
    requests4: [...requests(count - half - 6, START + SPAN_MS / 2, ids.filter((u) => !deleted3.includes(u))), ...requests(6, START + SPAN_MS / 2, deleted3)]
      .sort((a, b) => a.ts - b.ts),
  };
}

/** The steps as the job sees them: each input in order, the end of input after each run. */
export function stepEntries(s: Steps): Entry[] {
  const end: Entry = { end: true };
  const rows = (users: User[]): Entry[] => users.map((u) => ({ user: u.userId, row: u, ts: 0 }));
  return [
    ...rows(s.users1),
    end,
    ...s.requests2.map((request) => ({ request })),
    end,
    ...rows(s.users3),
    ...s.deleted3.map((user) => ({ user, row: null, ts: 0 })),
    end,
    ...s.requests4.map((request) => ({ request })),
    end,
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: generate.ts DIR [requests] [seed]\n');
    process.exit(2);
  }
  const steps = generateSteps(Number(process.argv[3] ?? 5000), Number(process.argv[4] ?? 7));
  const lines = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r)) + '\n').join('');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'users-1.jsonl'), lines(steps.users1));
  writeFileSync(join(dir, 'requests-2.jsonl'), lines(steps.requests2));
  writeFileSync(join(dir, 'users-3.jsonl'), lines(steps.users3));
  writeFileSync(join(dir, 'deleted-3.jsonl'), lines(steps.deleted3.map((userId) => ({ userId, deleted: true }))));
  writeFileSync(join(dir, 'requests-4.jsonl'), lines(steps.requests4));
}
