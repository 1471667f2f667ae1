// Compares what the enrichment job wrote over run.sh's four steps with the
// reference replay of those steps (reference.ts), and prints a summary.
//
//   node --import tsx examples/enrichment/check.ts DIR
//
// DIR holds the steps written by generate.ts and what run.sh read back:
// requests-with-plan.jsonl and billed-requests.jsonl (`sluice consume`),
// state.json (`sluice state enrichment`) and time.json (`sluice time enrichment --json`).
// Exits 1 if anything differs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiRequest, BilledRequest, Plan, RequestWithPlan, User } from './app.ts';
import { stepEntries, type Steps } from './generate.ts';
import { byRequestId, replay } from './reference.ts';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: check.ts DIR\n');
  process.exit(2);
}
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
const rows = <T>(file: string) => lines(file).map((l) => JSON.parse(l) as T);
const steps: Steps = {
  users1: rows<User>(join(dir, 'users-1.jsonl')),
  requests2: rows<ApiRequest>(join(dir, 'requests-2.jsonl')),
  users3: rows<User>(join(dir, 'users-3.jsonl')),
  deleted3: rows<{ userId: string }>(join(dir, 'deleted-3.jsonl')).map((d) => d.userId),
  requests4: rows<ApiRequest>(join(dir, 'requests-4.jsonl')),
};
const ref = replay(stepEntries(steps));
const withPlan = rows<RequestWithPlan>(join(dir, 'requests-with-plan.jsonl'));
const billed = rows<BilledRequest>(join(dir, 'billed-requests.jsonl'));
// A table's state per key is { v: row }: see `sluice state enrichment`.
const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, Record<string, { v: User }>>;
const users = new Map(Object.entries(state['users'] ?? {}).map(([k, row]) => [k, row.v]));
const time = JSON.parse(readFileSync(join(dir, 'time.json'), 'utf8')) as { counters: Record<string, Record<string, number>> };

let ok = true;
const same = (what: string, a: unknown, b: unknown) => {
  const equal = JSON.stringify(a) === JSON.stringify(b);
  if (!equal) console.log(`MISMATCH in ${what}`);
  ok &&= equal;
};
same('requests-with-plan', byRequestId(withPlan), byRequestId(ref.withPlan));
same('billed-requests', byRequestId(billed), byRequestId(ref.billed));
same('the users table', [...users].sort(), [...ref.users].sort());
same('the unmatched counter', time.counters['billing-join']?.['unmatched'] ?? 0, ref.unmatched);

const requests = steps.requests2.length + steps.requests4.length;
console.log(`${steps.users1.length} users, then ${steps.requests2.length} requests, then ${steps.users3.length} changes and ${steps.deleted3.length} deletions, then ${steps.requests4.length} requests`);
const perPlan = new Map<Plan | null, { requests: number; billed: number; micros: number }>();
const of = (plan: Plan | null) => perPlan.get(plan) ?? perPlan.set(plan, { requests: 0, billed: 0, micros: 0 }).get(plan)!;
for (const r of withPlan) of(r.plan).requests++;
for (const r of billed) {
  of(r.plan).billed++;
  of(r.plan).micros += r.priceMicros;
}
console.log(`  ${'plan'.padEnd(10)} ${'requests'.padStart(8)} ${'billed'.padStart(8)}  revenue`);
for (const [plan, p] of [...perPlan].sort(([a], [b]) => String(a).localeCompare(String(b)))) {
  console.log(`  ${String(plan).padEnd(10)} ${String(p.requests).padStart(8)} ${String(p.billed).padStart(8)}  $${(p.micros / 1e6).toFixed(2)}`);
}
console.log(
  ok
    ? `requests-with-plan: ${withPlan.length} of ${requests} requests, ${perPlan.get(null)?.requests ?? 0} of unknown users; billed-requests: ${billed.length}, ${ref.unmatched} unmatched; users table: ${users.size} rows — all equal to the reference replay`
    : 'the job and the reference replay differ',
);
if (!ok) process.exit(1);
