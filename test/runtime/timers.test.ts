import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timers, type DueTimer } from '../../src/runtime/engine/timers.ts';
import type { TimeDomain } from '../../src/dataflow/graph.ts';

const DOMAINS: TimeDomain[] = ['event', 'processing'];

function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/**
 * The brute-force reference: per (domain, partition, key) the pending times in the order they were
 * set; a due timer is the smallest pending (time, key, partition) at or below `now`, found by
 * looking at every one.
 */
class Reference {
  readonly pending = new Map<string, { domain: TimeDomain; partition: number; key: string; times: number[] }>();
  readonly dirty = new Set<string>();

  private slot(domain: TimeDomain, partition: number, key: string) {
    const id = `${domain}/${partition}/${key}`;
    let s = this.pending.get(id);
    if (!s) this.pending.set(id, (s = { domain, partition, key, times: [] }));
    return s;
  }

  set(domain: TimeDomain, partition: number, key: string, time: number): void {
    const s = this.slot(domain, partition, key);
    if (s.times.includes(time)) return;
    s.times.push(time);
    this.dirty.add(`${partition}/${key}`);
  }

  delete(domain: TimeDomain, partition: number, key: string, time: number): void {
    const s = this.slot(domain, partition, key);
    const i = s.times.indexOf(time);
    if (i < 0) return;
    s.times.splice(i, 1);
    this.dirty.add(`${partition}/${key}`);
  }

  popDue(domain: TimeDomain, now: number): DueTimer | undefined {
    let best: DueTimer | undefined;
    for (const s of this.pending.values()) {
      if (s.domain !== domain) continue;
      for (const time of s.times) {
        if (time > now) continue;
        const c = { time, key: s.key, partition: s.partition };
        if (!best || before(c, best)) best = c;
      }
    }
    if (best) this.delete(domain, best.partition, best.key, best.time);
    return best;
  }

  /** Earliest pending time. */
  earliest(domain: TimeDomain): number | undefined {
    let min: number | undefined;
    for (const s of this.pending.values()) if (s.domain === domain) for (const t of s.times) if (min === undefined || t < min) min = t;
    return min;
  }

  keyJson(partition: number, key: string): string {
    const e = this.pending.get(`event/${partition}/${key}`)?.times ?? [];
    const p = this.pending.get(`processing/${partition}/${key}`)?.times ?? [];
    return e.length + p.length > 0 ? JSON.stringify({ e, p }) : '';
  }

  /** Every key with timers: what a checkpoint that took every change holds. */
  saved(): { partition: number; key: string; json: string }[] {
    const seen = new Map<string, { partition: number; key: string }>();
    for (const s of this.pending.values()) if (s.times.length > 0) seen.set(`${s.partition}/${s.key}`, s);
    return [...seen.values()].map((s) => ({ partition: s.partition, key: s.key, json: this.keyJson(s.partition, s.key) }));
  }

  get keys(): number {
    return this.saved().length;
  }
}

function before(a: DueTimer, b: DueTimer): boolean {
  if (a.time !== b.time) return a.time < b.time;
  if (a.key !== b.key) return a.key < b.key;
  return a.partition < b.partition;
}

interface Pattern {
  name: string;
  /** A key for the next timer. */
  key: (rnd: () => number) => string;
  /** A time for the next timer, given the clock of its domain. */
  time: (rnd: () => number, clock: number) => number;
}

const PATTERNS: Pattern[] = [
  {
    // Windows: many keys, a timer each at one of a few window ends.
    name: 'many keys, same times',
    key: (rnd) => `k${Math.floor(rnd() * 300)}`,
    time: (rnd, clock) => (Math.floor(clock / 1000) + Math.floor(rnd() * 3)) * 1000,
  },
  {
    // Joins: a key per event, each timer at its own time (some ties), in nearly increasing order.
    name: 'distinct times',
    key: (rnd) => `s${Math.floor(rnd() * 5000)}`,
    time: (rnd, clock) => clock + Math.floor(rnd() * 60_000),
  },
  {
    // Both at once, with times event-time sized (not small integers), and few keys holding many times.
    name: 'mixed',
    key: (rnd) => (rnd() < 0.5 ? `u${Math.floor(rnd() * 4)}` : `v${Math.floor(rnd() * 1000)}`),
    time: (rnd, clock) => 1_735_689_600_000 + (rnd() < 0.5 ? Math.floor(clock / 500) * 500 + 500 : clock + Math.floor(rnd() * 5000)),
  },
  {
    // Past and present times, fractions, negatives: timers set for times already due.
    name: 'due at once',
    key: (rnd) => ['', 'a', 'b', 'ab', 'b\u00e9', '\u{1f600}'][Math.floor(rnd() * 6)]!,
    time: (rnd, clock) => clock - 50 + Math.floor(rnd() * 100) + (rnd() < 0.2 ? 0.5 : 0),
  },
];

/** Random sets, deletes, firing (with timers set and deleted while firing), checkpoints and restores, against the reference. */
function check(seed: number, pattern: Pattern, ops: number): void {
  const rnd = random(seed);
  const partitions = 1 + Math.floor(rnd() * 3);
  let timers = new Timers(partitions);
  const ref = new Reference();
  const clock: Record<TimeDomain, number> = { event: Math.floor(rnd() * 1000) - 500, processing: 0 };
  const domain = (): TimeDomain => DOMAINS[rnd() < 0.8 ? 0 : 1]!;
  const partition = () => Math.floor(rnd() * partitions);
  const where = (i: number, what: string) => `seed ${seed}, ${pattern.name}, op ${i}: ${what}`;
  // Every (domain, partition, key, time) set so far: deletes pick among them, hit or miss.
  const setSoFar: [TimeDomain, number, string, number][] = [];
  const set = (d: TimeDomain, p: number, k: string, t: number) => {
    timers.set(d, p, k, t);
    ref.set(d, p, k, t);
    setSoFar.push([d, p, k, t]);
  };
  const del = () => {
    const x = setSoFar[Math.floor(rnd() * setSoFar.length)];
    if (!x) return;
    timers.delete(...x);
    ref.delete(...x);
  };
  for (let i = 0; i < ops; i++) {
    const r = rnd();
    if (r < 0.45) {
      const d = domain();
      set(d, partition(), pattern.key(rnd), pattern.time(rnd, clock[d]));
    } else if (r < 0.6) del();
    else if (r < 0.85) {
      // The clock moves on and whatever is due fires; each firing may set and delete timers.
      const d = domain();
      const now = (clock[d] += Math.floor(rnd() * 1500));
      for (let n = 0; ; n++) {
        const want = ref.popDue(d, now);
        const got = timers.popDue(d, now);
        assert.deepEqual(got && { time: got.time, key: got.key, partition: got.partition }, want, where(i, `firing ${n} at ${now}`));
        if (!want) break;
        const changes = rnd() < 0.3 ? Math.floor(rnd() * 4) : 0;
        for (let c = 0; c < changes; c++) {
          const s = rnd();
          // The same key at the same time (back in place), another key at the time being fired, an earlier or a later time.
          if (s < 0.25) set(d, want.partition, want.key, want.time);
          else if (s < 0.5) set(d, partition(), pattern.key(rnd), want.time);
          else if (s < 0.7) set(d, partition(), pattern.key(rnd), want.time - 1 - Math.floor(rnd() * 10));
          else if (s < 0.85) set(rnd() < 0.5 ? d : domain(), partition(), pattern.key(rnd), pattern.time(rnd, clock[d]));
          else del();
        }
      }
    } else if (r < 0.93) {
      // A checkpoint: the changed keys' timers, exactly the reference's.
      const got = timers.takeChanges();
      const want = [...ref.dirty].map((id) => {
        const slash = id.indexOf('/');
        const p = Number(id.slice(0, slash));
        const key = id.slice(slash + 1);
        return { partition: p, key, json: ref.keyJson(p, key) };
      });
      const order = (a: { partition: number; key: string }, b: { partition: number; key: string }) => a.partition - b.partition || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
      assert.deepEqual(got.sort(order), want.sort(order), where(i, 'takeChanges'));
      ref.dirty.clear();
      assert.equal(timers.changed(0).size, 0, where(i, 'changed after takeChanges'));
    } else if (r < 0.97) {
      // A restart: a fresh Timers restored from what a checkpoint holds, keys in any order.
      const saved = ref.saved();
      for (let j = saved.length - 1; j > 0; j--) {
        const k = Math.floor(rnd() * (j + 1));
        [saved[j], saved[k]] = [saved[k]!, saved[j]!];
      }
      timers = new Timers(partitions);
      for (const s of saved) timers.restore(s.partition, s.key, s.json);
      ref.dirty.clear();
      assert.equal(timers.keys, ref.keys, where(i, 'keys after restore'));
    } else {
      // One key restored over the timers it has: nothing changes, duplicate queue entries are skipped.
      const s = ref.saved()[0];
      if (s) {
        timers.restore(s.partition, s.key, s.json);
        ref.dirty.delete(`${s.partition}/${s.key}`);
      }
    }
    for (const d of DOMAINS) {
      const earliest = ref.earliest(d);
      const next = timers.next(d);
      // next() may name a deleted timer's time, never one later than the earliest pending.
      if (earliest === undefined) continue;
      assert.ok(next !== undefined && next <= earliest, where(i, `next(${d}) ${next}, earliest pending ${earliest}`));
    }
  }
  for (const d of DOMAINS) {
    for (;;) {
      const want = ref.popDue(d, Infinity);
      const got = timers.popDue(d, Infinity);
      assert.deepEqual(got && { time: got.time, key: got.key, partition: got.partition }, want, `seed ${seed}, ${pattern.name}: the rest of ${d}`);
      if (!want) break;
    }
  }
  assert.equal(timers.keys, 0);
}

for (const pattern of PATTERNS) {
  test(`timers fire in (time, key, partition) order like the brute-force reference: ${pattern.name}`, () => {
    for (let seed = 1; seed <= 30; seed++) check(seed, pattern, 1200);
  });
}

test('a key with more timers than fit in an array keeps them in the order they were set', () => {
  const timers = new Timers(1);
  const times = Array.from({ length: 100 }, (_, i) => (i * 37) % 100);
  for (const t of times) timers.set('event', 0, 'k', t);
  timers.set('processing', 0, 'k', 5);
  for (const t of [3, 50, 99]) timers.delete('event', 0, 'k', t);
  const left = times.filter((t) => t !== 3 && t !== 50 && t !== 99);
  assert.equal(timers.keyJson(0, 'k'), JSON.stringify({ e: left, p: [5] }));
  const fired: number[] = [];
  for (let due; (due = timers.popDue('event', 60)); ) fired.push(due.time);
  assert.deepEqual(fired, left.filter((t) => t <= 60).sort((a, b) => a - b));
  assert.equal(timers.keyJson(0, 'k'), JSON.stringify({ e: left.filter((t) => t > 60), p: [5] }));
});

test('timers need finite times', () => {
  const timers = new Timers(1);
  assert.throws(() => timers.set('event', 0, 'k', NaN), RangeError);
  assert.throws(() => timers.set('event', 0, 'k', Infinity), RangeError);
  assert.throws(() => timers.restore(1, 'k', '{"e":[1],"p":[]}'), RangeError);
});
