// An application: named pipelines plus job-wide options. Its name is the job's
// identity: the consumer group of its topic sources, its dead-letter topic,
// and (with checkpoints) the key of its saved state.

import { partitionForStringKey } from '../partitioner.ts';
import type { Node, PartitionFunction, ProcessNode } from './graph.ts';
import { Pipeline } from './pipeline.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

export type ErrorPolicy = 'dead-letter' | 'stop';

export interface ApplicationOptions {
  /** Default number of state partitions for keyBy. */
  partitions: number;
  /**
   * A record that cannot be decoded, or whose processing throws: `dead-letter`
   * writes it to the dead-letter topic with the error in its headers and goes
   * on; `stop` fails the job with a clear message. Nothing is dropped silently.
   */
  onError: ErrorPolicy;
  /** Default: `<name>-dead-letters`. */
  deadLetterTopic?: string;
}

const APPLICATION = Symbol.for('sluice.application');

export class Application {
  readonly name: string;
  readonly options: ApplicationOptions;
  readonly pipelines: Pipeline[] = [];
  readonly [APPLICATION] = true;
  private nodeIds = 0;

  constructor(name: string, options: Partial<ApplicationOptions> = {}) {
    if (!/^[A-Za-z0-9._-]{1,150}$/.test(name)) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `invalid application name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-'`);
    }
    this.name = name;
    this.options = { partitions: 8, onError: 'dead-letter', ...options };
  }

  pipeline(name: string): Pipeline {
    if (this.pipelines.some((p) => p.name === name)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `application ${this.name} already has a pipeline named ${name}`);
    const p = new Pipeline(this, name);
    this.pipelines.push(p);
    return p;
  }

  get deadLetterTopic(): string {
    return this.options.deadLetterTopic ?? `${this.name}-dead-letters`;
  }

  /** murmur2 of the key's UTF-8 bytes, the same hash the log uses for topic partitions. */
  readonly defaultPartitioner: PartitionFunction = partitionForStringKey;

  /** @internal */
  nextNodeId(): number {
    return ++this.nodeIds;
  }

  nodes(): Node[] {
    return this.pipelines.flatMap((p) => p.nodes);
  }

  processNodes(): ProcessNode[] {
    return this.nodes().filter((n): n is ProcessNode => n.kind === 'process');
  }

  /** Throws on a graph that cannot run: a pipeline without a source or a sink, duplicate operator names. */
  validate(): void {
    if (this.pipelines.length === 0) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `application ${this.name} has no pipelines`);
    for (const p of this.pipelines) {
      if (p.sources().length === 0) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `pipeline ${p.name} has no source: start it with .from(source, codec)`);
      if (!p.nodes.some((n) => n.kind === 'sink')) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `pipeline ${p.name} has no sink: end it with .to(sink, codec)`);
    }
    const names = new Set<string>();
    for (const n of this.processNodes()) {
      if (names.has(n.name)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `two stateful operators are named ${n.name}; give each a unique { name }`);
      names.add(n.name);
    }
  }
}

/** True for an Application, even one created by another copy of this module (an app importing 'sluice' from elsewhere). */
export function isApplication(x: unknown): x is Application {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[APPLICATION] === true;
}
