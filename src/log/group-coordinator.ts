// Membership and partition assignment for consumer groups, independent of
// storage and transport: the embedded log uses it in-process, and the broker
// will run the same object for members in other processes (heartbeats become
// requests). Every change of membership starts a new generation; a commit from
// an older generation for a partition that moved is refused, so a member that
// missed a rebalance cannot overwrite the new owner's progress.

import { randomUUID } from 'node:crypto';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Assignment, TopicPartition } from './log.ts';

export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

interface Member {
  id: string;
  topics: string[];
  sessionTimeoutMs: number;
  lastSeen: number;
  partitions: TopicPartition[];
}

interface GroupState {
  generation: number;
  members: Map<string, Member>;
}

export class GroupCoordinator {
  private groups = new Map<string, GroupState>();
  private readonly partitionCount: (topic: string) => number;
  private readonly now: () => number;

  constructor(partitionCount: (topic: string) => number, now: () => number = Date.now) {
    this.partitionCount = partitionCount;
    this.now = now;
  }

  join(group: string, topics: string[], memberId: string = randomUUID(), sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS): { memberId: string; assignment: Assignment } {
    const g = this.state(group);
    this.expire(g);
    g.members.set(memberId, { id: memberId, topics: [...new Set(topics)].sort(), sessionTimeoutMs, lastSeen: this.now(), partitions: [] });
    this.rebalance(g);
    return { memberId, assignment: this.assignmentOf(g, memberId) };
  }

  /** Refreshes the member's session and returns its current assignment. */
  heartbeat(group: string, memberId: string): Assignment {
    const g = this.state(group);
    this.expire(g);
    const m = g.members.get(memberId);
    if (!m) {
      throw new SluiceError(ErrorCodes.REBALANCED, `member ${memberId} of group ${group} missed its session timeout and was removed; rejoin the group`, { group, memberId });
    }
    m.lastSeen = this.now();
    return this.assignmentOf(g, memberId);
  }

  leave(group: string, memberId: string): void {
    const g = this.groups.get(group);
    if (g?.members.delete(memberId)) this.rebalance(g);
  }

  /** Throws REBALANCED unless `memberId` currently owns every partition in `tps`. */
  checkOwnership(group: string, memberId: string, tps: TopicPartition[]): void {
    const g = this.state(group);
    const m = g.members.get(memberId);
    const owned = new Set(m?.partitions.map((tp) => `${tp.topic}/${tp.partition}`));
    for (const tp of tps) {
      if (!owned.has(`${tp.topic}/${tp.partition}`)) {
        throw new SluiceError(
          ErrorCodes.REBALANCED,
          `member ${memberId} of group ${group} no longer owns ${tp.topic}/${tp.partition} (generation ${g.generation}); its offsets were not committed. The new owner resumes from the last commit.`,
          { group, memberId, topic: tp.topic, partition: tp.partition },
        );
      }
    }
  }

  members(group: string): string[] {
    return [...(this.groups.get(group)?.members.keys() ?? [])];
  }

  private state(group: string): GroupState {
    let g = this.groups.get(group);
    if (!g) {
      g = { generation: 0, members: new Map() };
      this.groups.set(group, g);
    }
    return g;
  }

  private expire(g: GroupState): void {
    const now = this.now();
    let changed = false;
    for (const [id, m] of g.members) {
      if (now - m.lastSeen > m.sessionTimeoutMs) {
        g.members.delete(id);
        changed = true;
      }
    }
    if (changed) this.rebalance(g);
  }

  /** Round-robin over each topic's partitions among the members subscribed to it, in sorted order: deterministic. */
  private rebalance(g: GroupState): void {
    g.generation++;
    const members = [...g.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const m of members) m.partitions = [];
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    let turn = 0;
    for (const topic of topics) {
      const subscribers = members.filter((m) => m.topics.includes(topic));
      const n = this.partitionCount(topic);
      for (let p = 0; p < n; p++) subscribers[turn++ % subscribers.length]!.partitions.push({ topic, partition: p });
    }
  }

  private assignmentOf(g: GroupState, memberId: string): Assignment {
    return { generation: g.generation, partitions: [...(g.members.get(memberId)?.partitions ?? [])] };
  }
}
