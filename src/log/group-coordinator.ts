// Membership and partition assignment for consumer groups, independent of
// storage and transport: the embedded log uses it in-process, and the broker
// runs the same object for members in other processes (heartbeats become
// requests). Every change of membership starts a new generation; a commit for
// a partition the member no longer owns is refused, and so is one that names
// the generation its records were read under when the partition has been
// reassigned since: a member that missed a rebalance cannot overwrite the new
// owner's progress, nor commit output for records someone else processed.

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

interface Owner {
  memberId: string;
  /** The generation from which this member has owned the partition without a break. */
  since: number;
}

interface GroupState {
  generation: number;
  members: Map<string, Member>;
  /** `${topic}/${partition}` -> its owner. */
  owners: Map<string, Owner>;
}

const tpKey = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

export class GroupCoordinator {
  /** Groups with at least one member: a group is forgotten when its last member leaves or expires. */
  private groups = new Map<string, GroupState>();
  /**
   * One counter for every group, starting from the clock: a group forgotten and
   * formed again, or a coordinator restarted (a broker restart), never hands
   * out a generation again, so one named by a zombie can never pass for a new one.
   */
  private lastGeneration = Date.now();
  private readonly partitionCount: (topic: string) => number;
  private readonly now: () => number;

  constructor(partitionCount: (topic: string) => number, now: () => number = Date.now) {
    this.partitionCount = partitionCount;
    this.now = now;
  }

  join(group: string, topics: string[], memberId: string = randomUUID(), sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS): { memberId: string; assignment: Assignment } {
    let g = this.groups.get(group);
    if (g) this.expire(group, g);
    g = this.groups.get(group);
    if (!g) {
      g = { generation: 0, members: new Map(), owners: new Map() };
      this.groups.set(group, g);
    }
    // A join under a known id is a new incarnation (a restarted process): what it gets, it owns from now on.
    for (const [k, o] of g.owners) if (o.memberId === memberId) g.owners.delete(k);
    g.members.set(memberId, { id: memberId, topics: [...new Set(topics)].sort(), sessionTimeoutMs, lastSeen: this.now(), partitions: [] });
    this.rebalance(g);
    return { memberId, assignment: this.assignmentOf(g, memberId) };
  }

  /** Refreshes the member's session and returns its current assignment. */
  heartbeat(group: string, memberId: string): Assignment {
    const g = this.groups.get(group);
    if (g) this.expire(group, g);
    const m = g?.members.get(memberId);
    if (!g || !m) {
      throw new SluiceError(ErrorCodes.REBALANCED, `member ${memberId} of group ${group} missed its session timeout and was removed; rejoin the group`, { group, memberId });
    }
    m.lastSeen = this.now();
    return this.assignmentOf(g, memberId);
  }

  leave(group: string, memberId: string): void {
    const g = this.groups.get(group);
    if (g?.members.delete(memberId)) this.changed(group, g);
  }

  /**
   * Throws REBALANCED unless `memberId` owns every partition in `tps` now and,
   * given the generation its records were read under, has owned each since
   * then without a break. `outcome` says what the refusal means for the caller.
   */
  checkOwnership(group: string, memberId: string, tps: TopicPartition[], generation?: number, outcome = 'its offsets were not committed'): void {
    const g = this.groups.get(group);
    const current = g ? `generation ${g.generation}` : 'the group has no members';
    const next = 'Heartbeat for the current assignment (join again if the member was removed) and carry on from the group\'s committed offsets.';
    for (const tp of tps) {
      const o = g?.owners.get(tpKey(tp));
      const details = { group, memberId, topic: tp.topic, partition: tp.partition };
      if (o?.memberId !== memberId) {
        throw new SluiceError(ErrorCodes.REBALANCED, `member ${memberId} of group ${group} no longer owns ${tpKey(tp)} (${current}); ${outcome}. ${next}`, details);
      }
      if (generation !== undefined && (generation < o.since || generation > g!.generation)) {
        throw new SluiceError(
          ErrorCodes.REBALANCED,
          `member ${memberId} of group ${group} read ${tpKey(tp)} under generation ${generation}, but owns it only since generation ${o.since} (it was reassigned or the member joined again meanwhile, so another member may have processed those records); ${outcome}. ${next}`,
          { ...details, generation },
        );
      }
    }
  }

  members(group: string): string[] {
    return [...(this.groups.get(group)?.members.keys() ?? [])];
  }

  /** Groups with members. */
  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * Expires silent members of every group (a group's own joins and heartbeats
   * expire only its members; a group whose members all died would never be
   * looked at again). Returns how many groups have members left.
   */
  sweep(): number {
    for (const [group, g] of this.groups) this.expire(group, g);
    return this.groups.size;
  }

  private expire(group: string, g: GroupState): void {
    const now = this.now();
    let changed = false;
    for (const [id, m] of g.members) {
      if (now - m.lastSeen > m.sessionTimeoutMs) {
        g.members.delete(id);
        changed = true;
      }
    }
    if (changed) this.changed(group, g);
  }

  private changed(group: string, g: GroupState): void {
    if (g.members.size === 0) this.groups.delete(group);
    else this.rebalance(g);
  }

  /** Round-robin over each topic's partitions among the members subscribed to it, in sorted order: deterministic. */
  private rebalance(g: GroupState): void {
    g.generation = ++this.lastGeneration;
    const members = [...g.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const m of members) m.partitions = [];
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    let turn = 0;
    for (const topic of topics) {
      const subscribers = members.filter((m) => m.topics.includes(topic));
      const n = this.partitionCount(topic);
      for (let p = 0; p < n; p++) subscribers[turn++ % subscribers.length]!.partitions.push({ topic, partition: p });
    }
    const owners = new Map<string, Owner>();
    for (const m of members) {
      for (const tp of m.partitions) {
        const before = g.owners.get(tpKey(tp));
        owners.set(tpKey(tp), { memberId: m.id, since: before?.memberId === m.id ? before.since : g.generation });
      }
    }
    g.owners = owners;
  }

  private assignmentOf(g: GroupState, memberId: string): Assignment {
    return { generation: g.generation, partitions: [...(g.members.get(memberId)?.partitions ?? [])] };
  }
}
