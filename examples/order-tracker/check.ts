// Compares the order tracker's output with the reference and prints each
// product's busiest 5 minutes.
//
//   node --import tsx examples/order-tracker/check.ts orders.jsonl activity.jsonl
//
// Exits 1 if they differ.

import { readFileSync } from 'node:fs';
import type { Activity, Order } from './app.ts';
import { latest, referenceActivity } from './reference.ts';

const [ordersFile, activityFile] = process.argv.slice(2);
if (ordersFile === undefined || activityFile === undefined) {
  process.stderr.write('usage: check.ts ORDERS.jsonl ACTIVITY.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const orders = read<Order>(ordersFile);
const activity = read<Activity>(activityFile);
const ref = referenceActivity(orders);
const expected = ref.perOrder.flat();

// Per window (product and asOf), its results revision by revision. (The topic
// is keyed by product, so each product's results keep the job's order; the
// windows one order updates come out in no particular order among themselves.)
const byWindow = (rows: Activity[]) => {
  const out = new Map<string, Activity[]>();
  for (const a of rows) out.set(`${a.productId} ${a.asOf}`, [...(out.get(`${a.productId} ${a.asOf}`) ?? []), a]);
  return out;
};
const got = byWindow(activity);
const want = byWindow(expected);
const differ = [...new Set([...got.keys(), ...want.keys()])].filter((w) => JSON.stringify(got.get(w)) !== JSON.stringify(want.get(w)));
const products = [...new Set(orders.map((o) => o.productId))].sort();
console.log(`${orders.length} orders, ${ref.late} late (dropped); ${activity.length} results, ${activity.length - (orders.length - ref.late)} of them revisions for orders that came out of order`);
console.log(`busiest 5 minutes per product:`);
const last = [...latest(activity).values()];
for (const p of products) {
  const top = last.filter((a) => a.productId === p).reduce<Activity | null>((m, a) => (m === null || a.orders > m.orders ? a : m), null);
  if (top) console.log(`  ${p.padEnd(16)} ${String(top.orders).padStart(3)} orders, ${String(top.qty).padStart(3)} units, up to ${top.asOf}`);
}
if (differ.length > 0) {
  console.log(`MISMATCH: ${differ.length} windows differ from the reference, e.g. ${differ[0]}`);
  process.exit(1);
}
console.log(`all ${want.size} windows: every revision equals the reference's (examples/order-tracker/reference.ts)`);
