// How a graph splits into stages at its keyBy nodes, for moving watermarks
// across repartitioning with --workers. The main thread runs everything up to
// the first keyBy ("main"); each keyBy starts a stage that the workers run for
// their partitions, up to the next keyBy. A stage's watermark may advance only
// to the minimum of what every producer feeding it has passed — otherwise a
// window would learn that time moved on before the events a worker re-routed
// to it (stamped with the older watermark) arrived, and would call them late.

import type { Application } from '../../dataflow/application.ts';
import type { Node } from '../../dataflow/graph.ts';

export type Producer = 'main' | number;

export interface Stages {
  /** keyBy id → the keyBy ids its stage feeds. */
  next: Map<number, number[]>;
  /** keyBy id → who feeds it: 'main' (the sources' stage) and/or upstream keyBy stages. */
  producers: Map<number, Producer[]>;
}

/** The keyBy nodes reachable from `from`'s children without passing through another keyBy. */
function keyBysAfter(from: Node): number[] {
  const found = new Set<number>();
  const seen = new Set<Node>();
  const walk = (n: Node) => {
    for (const { node } of n.children) {
      if (node.kind === 'keyBy') found.add(node.id);
      else if (!seen.has(node)) {
        seen.add(node);
        walk(node);
      }
    }
  };
  walk(from);
  return [...found];
}

export function stagesOf(app: Application): Stages {
  const next = new Map<number, number[]>();
  const producers = new Map<number, Producer[]>();
  const feed = (k: number, p: Producer) => {
    const list = producers.get(k) ?? [];
    if (!list.includes(p)) list.push(p);
    producers.set(k, list);
  };
  for (const n of app.nodes()) {
    if (n.kind === 'source') for (const k of keyBysAfter(n)) feed(k, 'main');
    if (n.kind === 'keyBy') {
      const ks = keyBysAfter(n);
      next.set(n.id, ks);
      for (const k of ks) feed(k, n.id);
    }
  }
  return { next, producers };
}
