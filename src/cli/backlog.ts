// How many records a running job's topic sources have yet to read (end
// offsets minus the sources' positions), for its progress line: what tells a
// job working through a long backlog from one that is keeping up. Measured in
// the background, at most every `everyMs`, so the progress line never waits on the log.

import type { Application } from '../dataflow/application.ts';
import type { Source, SourceCheckpoint } from '../dataflow/io.ts';
import type { Log } from '../log/log.ts';

const MIN_MS = 200;

function topicSources(app: Application): Source[] {
  return app.nodes().flatMap((n) => (n.kind === 'source' && n.source.name.startsWith('topic ') && typeof n.source.checkpoint === 'function' ? [n.source] : []));
}

export class Backlog {
  readonly #log: Log;
  readonly #sources: Source[];
  readonly #timer: NodeJS.Timeout | null;
  #busy = false;
  /** Records left to read, as of the last measurement; null before one, or with no topic sources. */
  value: number | null = null;

  constructor(app: Application, log: Log, everyMs: number) {
    this.#log = log;
    this.#sources = topicSources(app);
    this.#timer = everyMs <= 0 || this.#sources.length === 0 ? null : setInterval(() => void this.#measure(), Math.max(MIN_MS, everyMs));
    this.#timer?.unref();
  }

  async #measure(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      let left = 0;
      for (const s of this.#sources) {
        const positions = (s.checkpoint!() as SourceCheckpoint).offsets?.offsets ?? [];
        const byTopic = new Map<string, Map<number, number>>();
        for (const p of positions) {
          let m = byTopic.get(p.topic);
          if (!m) byTopic.set(p.topic, (m = new Map()));
          m.set(p.partition, p.offset);
        }
        for (const [topic, at] of byTopic) {
          for (const e of await this.#log.endOffsets(topic)) left += Math.max(0, e.endOffset - (at.get(e.partition) ?? e.startOffset));
        }
      }
      this.value = left;
    } catch {
      // A measurement is a nicety: a failed one (the job closing the log) leaves the last value.
    } finally {
      this.#busy = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
