// Stock tracker: a stream of stock changes per product (deliveries positive,
// sales negative, in whole units) becomes a running stock level per product,
// plus an alert when a product's level falls below its threshold.
//
//   in   stock-changes  {"product":"espresso-beans","change":-3}
//   out  stock-levels   {"product":"espresso-beans","change":-3,"level":17}
//   out  stock-alerts   {"product":"espresso-beans","level":17,"threshold":20}
//
// Levels start at 0. An alert fires when an event takes a level from at or
// above the threshold to below it — crossing down, not every event while
// low; it re-arms once the level is back at or above the threshold. A change
// that is not a whole number, or an event without a product, is refused (it
// goes to the dead-letter topic with the reason) and leaves the level alone.
//
// Keyed by product: each product's events are processed in order in one of
// the job's state partitions; both outputs are keyed by product too.

import { Application, jsonOf, topicSink, topicSource, type ProcessContext, type Sink, type Source } from '../../src/index.ts';

export interface StockChange {
  product: string;
  change: number;
}

export interface StockLevel {
  product: string;
  change: number;
  level: number;
}

export interface StockAlert {
  product: string;
  level: number;
  threshold: number;
}

export interface StockIO {
  changes: Source;
  levels: Sink;
  alerts: Sink;
}

export interface Thresholds {
  /** Per product; a product not listed uses `defaultThreshold`. */
  thresholds?: Record<string, number>;
  defaultThreshold?: number;
}

/** The thresholds `sluice run` uses. */
export const THRESHOLDS: Required<Thresholds> = {
  thresholds: { 'espresso-beans': 20, 'oat-milk': 12, 'paper-cups': 100 },
  defaultThreshold: 10,
};

export function thresholdOf(product: string, t: Thresholds): number {
  const own = t.thresholds !== undefined && Object.hasOwn(t.thresholds, product) ? t.thresholds[product] : undefined;
  return own ?? t.defaultThreshold ?? THRESHOLDS.defaultThreshold;
}

function check(e: StockChange): void {
  if (e === null || typeof e !== 'object' || typeof e.product !== 'string' || e.product === '') {
    throw new Error('a stock change needs a non-empty string "product"');
  }
  if (!Number.isSafeInteger(e.change)) throw new Error(`"change" must be a whole number of units, got ${JSON.stringify(e.change)}`);
}

export function build(io: StockIO, thresholds: Thresholds = THRESHOLDS): Application {
  const app = new Application('stock-tracker', { partitions: 8 });
  const levels = app
    .pipeline('stock')
    .from(io.changes, jsonOf<StockChange>(), { name: 'stock-changes' })
    .keyBy((e) => (typeof e?.product === 'string' ? e.product : ''))
    .process(
      () => ({ level: 0 }),
      (e, s, ctx: ProcessContext<StockLevel | StockAlert>) => {
        check(e);
        const before = s.level;
        s.level += e.change;
        ctx.emit({ product: e.product, change: e.change, level: s.level });
        const threshold = thresholdOf(e.product, thresholds);
        if (before >= threshold && s.level < threshold) {
          ctx.emit({ product: e.product, level: s.level, threshold }, { to: 'alerts' });
        }
      },
      { name: 'stock-levels' },
    );
  levels.to(io.levels, jsonOf<StockLevel | StockAlert>(), { name: 'stock-levels' });
  levels.sideOutput<StockAlert>('alerts').to(io.alerts, jsonOf<StockAlert>(), { name: 'stock-alerts' });
  return app;
}

export default function stockTracker(): Application {
  return build({
    changes: topicSource({ topic: 'stock-changes' }),
    levels: topicSink({ topic: 'stock-levels' }),
    alerts: topicSink({ topic: 'stock-alerts' }),
  });
}
