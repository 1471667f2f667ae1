// The writer's background upkeep of its partitions: retention, then compaction
// if it is due (compaction.ts decides without reading), on a timer and after
// each segment roll. One run per partition at a time; a request during a run
// (a roll during a long compaction) is remembered and run after it, not lost
// until the next timer.

import type { Partition } from './partition.ts';
import { applyRetention } from './retention.ts';
import { compactPartition } from './compaction.ts';

export class Maintenance {
  private readonly partitions: () => Iterable<Partition>;
  private timer: NodeJS.Timeout | null = null;
  private readonly running = new Map<Partition, Promise<void>>();
  private readonly again = new Set<Partition>();
  private stopped = false;

  constructor(partitions: () => Iterable<Partition>) {
    this.partitions = partitions;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.all(), intervalMs);
    this.timer.unref();
  }

  /**
   * Runs retention and compaction on every partition at `now`, after any run in
   * progress (started by a roll) has finished, so that each really runs at `now`.
   */
  async all(now = Date.now()): Promise<void> {
    for (const p of [...this.partitions()]) {
      await this.running.get(p);
      await this.partition(p, now);
    }
  }

  /** Runs one partition's maintenance now, or right after the run in progress. */
  partition(p: Partition, now = Date.now()): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const running = this.running.get(p);
    if (running) {
      this.again.add(p);
      return running;
    }
    const run = this.run(p, now).finally(() => this.running.delete(p));
    this.running.set(p, run);
    return run;
  }

  private async run(p: Partition, now: number): Promise<void> {
    try {
      for (let at = now; ; at = Date.now()) {
        this.again.delete(p);
        applyRetention(p, at);
        if (p.config.compact) await compactPartition(p, at);
        if (!this.again.has(p) || this.stopped) break;
      }
    } catch (e) {
      process.emitWarning(`maintenance of ${p.topic}/${p.partition} failed: ${(e as Error).message}`);
    } finally {
      this.again.delete(p);
    }
  }

  /** Runs `fn` on a partition between maintenance runs, so the two never change its segments at once. */
  async between<T>(p: Partition, fn: () => T): Promise<T> {
    for (let running = this.running.get(p); running; running = this.running.get(p)) await running;
    return fn();
  }

  /** Stops the timer and waits for the runs in progress (they stop after their current pass). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopped = true;
    await Promise.all(this.running.values());
  }
}
