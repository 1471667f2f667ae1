// Expires the silent members of every group, once a second, while any group
// has members. Members' own joins and heartbeats expire only their own
// group's, so a group whose members all died would otherwise be held forever
// and its partitions never move (group-coordinator.ts). The timer stops when
// no group has members left, and does not keep the process alive.

import type { GroupCoordinator } from './group-coordinator.ts';

const GROUP_SWEEP_MS = 1000;

export class GroupSweeper {
  private readonly coordinator: GroupCoordinator;
  private timer: NodeJS.Timeout | null = null;

  constructor(coordinator: GroupCoordinator) {
    this.coordinator = coordinator;
  }

  /** Whether the sweep runs (it stops by itself once no group has members). */
  get running(): boolean {
    return this.timer !== null;
  }

  /** Starts sweeping, unless it already runs: called at each join. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.coordinator.sweep() > 0) return;
      this.stop();
    }, GROUP_SWEEP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
