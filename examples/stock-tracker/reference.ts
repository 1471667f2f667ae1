// The stock tracker's answers computed the slow, obvious way, for tests: the
// level after an event is the sum of that product's changes up to and
// including it; an alert is due when the level before the event was at or
// above the threshold and the level after it is below.

import { thresholdOf, type StockAlert, type StockChange, type StockLevel, type Thresholds } from './app.ts';

export function referenceStock(events: readonly StockChange[], thresholds: Thresholds): { levels: StockLevel[]; alerts: StockAlert[] } {
  const levels: StockLevel[] = [];
  const alerts: StockAlert[] = [];
  events.forEach((e, i) => {
    let before = 0;
    for (let j = 0; j < i; j++) if (events[j]!.product === e.product) before += events[j]!.change;
    const level = before + e.change;
    levels.push({ product: e.product, change: e.change, level });
    const threshold = thresholdOf(e.product, thresholds);
    if (before >= threshold && level < threshold) alerts.push({ product: e.product, level, threshold });
  });
  return { levels, alerts };
}
