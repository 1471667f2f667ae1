// The bank-transfer program as a plain sequential loop, the way the 1978-style
// essay writes it: read transfers in order, keep balances in memory, decide.
// The streaming app (app.ts) must give exactly these answers, in this order.
//
// A transfer is approved when its source is the "sweep" account (deposits:
// it may always send, its balance goes negative) or when the source's balance
// covers the amount; an approved transfer debits the source and credits the
// target. Balances start at 0. Amounts are numbers with 2 decimals and are
// added and subtracted as doubles, in input order: the same operations in the
// same order give bit-identical balances in both programs.

export interface Transfer {
  source: string;
  target: string;
  amount: number;
}

export type Outcome = Transfer & { outcome: 'approve' | 'deny' };

export const SWEEP = 'sweep';

export function referenceOutcomes(transfers: readonly Transfer[]): Outcome[] {
  const balances = new Map<string, number>();
  const out: Outcome[] = [];
  for (const t of transfers) {
    const have = balances.get(t.source) ?? 0;
    if (t.source === SWEEP || have >= t.amount) {
      balances.set(t.source, have - t.amount);
      balances.set(t.target, (balances.get(t.target) ?? 0) + t.amount);
      out.push({ ...t, outcome: 'approve' });
    } else {
      out.push({ ...t, outcome: 'deny' });
    }
  }
  return out;
}
