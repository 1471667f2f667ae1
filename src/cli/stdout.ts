// Writing to stdout when stdout may be a slow pipe or one whose reader left
// (`sluice consume ... | head`). write() returning false means "wait for drain"
// (backpressure reaches the consumer, so memory stays bounded); EPIPE means the
// reader is gone, which is a normal way for a pipeline to end, not an error.

export class Output {
  readonly #stream: NodeJS.WritableStream;
  #gone = false;
  #error: Error | null = null;
  readonly #waiters = new Set<() => void>();

  constructor(stream: NodeJS.WritableStream = process.stdout) {
    this.#stream = stream;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.#gone = true;
      else this.#error = e;
      this.#wakeAll();
    });
    stream.on('close', () => {
      this.#gone = true;
      this.#wakeAll();
    });
  }

  /** The reader went away (EPIPE): stop producing output. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Writes a chunk; resolves when the stream can take more. Returns false if the reader is gone. */
  async write(chunk: string): Promise<boolean> {
    if (this.#error) throw this.#error;
    if (this.#gone) return false;
    if (this.#stream.write(chunk)) return !this.#gone;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#stream.off('drain', done);
        this.#waiters.delete(done);
        resolve();
      };
      this.#waiters.add(done);
      this.#stream.on('drain', done);
    });
    if (this.#error) throw this.#error;
    return !this.#gone;
  }

  /** Resolves once everything written so far has been handed to the OS (or the reader left). */
  flush(): Promise<void> {
    if (this.#gone || this.#error) return Promise.resolve();
    return new Promise((resolve) => {
      this.#stream.write('', () => resolve());
    });
  }

  #wakeAll(): void {
    for (const w of [...this.#waiters]) w();
  }
}
