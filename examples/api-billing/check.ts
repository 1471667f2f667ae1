// Compares what the billing job wrote with the batch reference (reference.ts)
// and prints a summary: the dashboard's final counts, and every bill.
//
//   node --import tsx examples/api-billing/check.ts requests.jsonl hourly.jsonl daily.jsonl monthly.jsonl
//
// Exits 1 if anything differs.

import { readFileSync } from 'node:fs';
import type { ApiRequest, Bill, Usage } from './app.ts';
import { referenceBilling, sorted, type BillCount, type UsageCount } from './reference.ts';

const files = process.argv.slice(2);
if (files.length !== 4) {
  process.stderr.write('usage: check.ts REQUESTS.jsonl HOURLY.jsonl DAILY.jsonl MONTHLY.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const [requests, hourly, daily, monthly] = [read<ApiRequest>(files[0]!), read<Usage>(files[1]!), read<Usage>(files[2]!), read<Bill>(files[3]!)];
const ref = referenceBilling(requests);
let ok = true;

console.log(`${requests.length} requests: ${ref.duplicates} duplicates, ${ref.unique} unique`);
console.log(`  late for their hour ${ref.lateHourly}, for their day ${ref.lateDaily}, for their month ${ref.corrections} (corrections)`);

/** Final dashboard counts, without kind and revision: early results come and go with the wall clock. */
function dashboard(name: string, got: Usage[], want: UsageCount[], late: number): void {
  const finals = sorted(got.filter((u) => u.kind === 'final').map(({ userId, modelId, start, end, requests }) => ({ userId, modelId, start, end, requests })));
  const same = JSON.stringify(finals) === JSON.stringify(want);
  ok &&= same;
  const early = got.filter((u) => u.kind === 'early').length;
  console.log(
    same
      ? `${name}: ${finals.length} final counts (and ${early} early results), each the window's unique requests less the ${late} that came late`
      : `MISMATCH in ${name}: ${finals.length} final counts, the reference has ${want.length}`,
  );
}
dashboard('usage-hourly', hourly, ref.hourly, ref.lateHourly);
dashboard('usage-daily', daily, ref.daily, ref.lateDaily);

// A bill is the last revision of its (user, month): later revisions replace earlier ones.
const last = new Map<string, Bill>();
for (const b of monthly) {
  const id = `${b.userId} ${b.month}`;
  if ((last.get(id)?.revision ?? 0) < b.revision) last.set(id, b);
}
const bills: BillCount[] = sorted([...last.values()].map(({ userId, month, requests }) => ({ userId, month, requests })));
const corrections = monthly.filter((b) => b.kind === 'correction').length;
const same = JSON.stringify(bills) === JSON.stringify(ref.monthly) && corrections === ref.corrections;
ok &&= same;
console.log(
  same
    ? `billing-monthly: ${bills.length} bills after ${corrections} corrections, each equal to the user's unique requests that month`
    : `MISMATCH in billing-monthly: ${bills.length} bills and ${corrections} corrections; the reference has ${ref.monthly.length} and ${ref.corrections}`,
);
const months = [...new Set(bills.map((b) => b.month))].sort();
console.log(`  ${'user'.padEnd(8)} ${months.map((m) => m.padStart(8)).join(' ')}`);
for (const user of [...new Set(bills.map((b) => b.userId))].sort()) {
  const row = months.map((m) => String(bills.find((b) => b.userId === user && b.month === m)?.requests ?? '-').padStart(8));
  console.log(`  ${user.padEnd(8)} ${row.join(' ')}`);
}
if (!ok) process.exit(1);
