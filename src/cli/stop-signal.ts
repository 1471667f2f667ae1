// Graceful stop for long-running commands: the first SIGINT/SIGTERM aborts the
// signal handed to `fn` (finish the batch in hand, commit, exit 0); a second one
// exits at once with 130, for when the graceful path is stuck (a reader that
// stopped reading, a program that hangs).

export async function untilStopped<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
