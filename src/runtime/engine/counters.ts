// Operator counters (late events dropped, duplicates, unmatched...) as the job
// reports and checkpoints them: operator -> counter -> total. Each engine
// (the main thread's, each worker's) keeps its own; a report sums them.

export type CounterSet = Record<string, Record<string, number>>;

/** Adds one operator's counters into `into`. */
export function addCounters(into: CounterSet, operator: string, counters: Iterable<[string, number]>): void {
  for (const [name, n] of counters) {
    const op = (into[operator] ??= {});
    op[name] = (op[name] ?? 0) + n;
  }
}

/** Sums counter sets (the main thread's and each worker's). */
export function sumCounters(...sets: CounterSet[]): CounterSet {
  const out: CounterSet = {};
  for (const set of sets) for (const [op, counters] of Object.entries(set)) addCounters(out, op, Object.entries(counters));
  return out;
}
