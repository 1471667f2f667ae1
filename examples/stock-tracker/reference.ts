// The stock tracker's answers from a plain sequential loop over the events,
// for tests and run.sh: one map of rows, each event applied in turn.

import type { OrderOutcome, StockEvent, StockRow } from './app.ts';

export interface StockReference {
  outcomes: OrderOutcome[];
  /** Every change of a row, in order: what the stock table's changelog holds. */
  levels: StockRow[];
  alerts: StockRow[];
  /** The final rows: the stock table at the end. */
  table: Map<string, StockRow>;
}

export function referenceStock(events: readonly StockEvent[]): StockReference {
  const out: StockReference = { outcomes: [], levels: [], alerts: [], table: new Map() };
  for (const e of events) {
    const old = out.table.get(e.product) ?? { product: e.product, stock: 0, reorderLevel: 0 };
    let row = old;
    if (e.type === 'delivery') row = { ...old, stock: old.stock + e.qty };
    if (e.type === 'reorder-level') row = { ...old, reorderLevel: e.reorderLevel };
    if (e.type === 'order') {
      const accepted = old.stock >= e.qty;
      if (accepted) row = { ...old, stock: old.stock - e.qty };
      out.outcomes.push({ orderId: e.orderId, product: e.product, qty: e.qty, outcome: accepted ? 'accepted' : 'rejected', stock: row.stock });
    }
    if (row.stock === old.stock && row.reorderLevel === old.reorderLevel) continue;
    out.table.set(e.product, row);
    out.levels.push(row);
    if (row.stock < row.reorderLevel && old.stock >= old.reorderLevel) out.alerts.push(row);
  }
  return out;
}
