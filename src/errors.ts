// Every error Sluice raises on purpose is a SluiceError with a stable `code`.
// Callers branch on `code`, never on message text; messages say what to do next.

export const ErrorCodes = {
  /** Bad CLI usage or an invalid option value. CLI exit code 2. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The named topic does not exist. CLI exit code 2. */
  UNKNOWN_TOPIC: 'UNKNOWN_TOPIC',
  TOPIC_EXISTS: 'TOPIC_EXISTS',
  UNKNOWN_PARTITION: 'UNKNOWN_PARTITION',
  /** An offset below the log start or above the end was requested. */
  OFFSET_OUT_OF_RANGE: 'OFFSET_OUT_OF_RANGE',
  /** A batch failed its checksum or framing in the middle of a segment. */
  CORRUPT_RECORD: 'CORRUPT_RECORD',
  /**
   * A file in a data dir is damaged in a way a crash cannot explain (not a torn
   * tail): the writer refuses to open it until `sluice repair` is run.
   */
  DAMAGED: 'DAMAGED',
  /** Another process holds the data dir's writer lock. */
  LOCKED: 'LOCKED',
  /** Input that cannot be decoded (e.g. a line that is not JSON). */
  BAD_INPUT: 'BAD_INPUT',
  /** A write or fsync failed; what was acknowledged before is safe. */
  IO_ERROR: 'IO_ERROR',
  /** The log (or a reader) was closed while an operation was pending. */
  CLOSED: 'CLOSED',
  /** The operation needs write access but the log was opened read-only. */
  READ_ONLY: 'READ_ONLY',
  /** A record or batch exceeds a hard limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** A producer was replaced by a newer instance (a higher epoch); the old one may not commit. */
  FENCED: 'FENCED',
  /** A program run by `sluice exec` failed: it exited, crashed, or wrote a line that is not JSON. */
  EXEC_FAILED: 'EXEC_FAILED',
  /** A user function (operator, codec, partitioner) threw, and the job's error policy is `stop`. */
  USER_FUNCTION_FAILED: 'USER_FUNCTION_FAILED',
  /** A consumer-group operation from a member that is no longer in the group's current generation. */
  REBALANCED: 'REBALANCED',
  /** The broker refused the client's token (or none was given where one is required). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A malformed or unsupported frame on the broker protocol; the connection is closed. */
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  /** The broker cannot be reached (connection refused, closed, timed out), after retries. */
  UNAVAILABLE: 'UNAVAILABLE',
  /**
   * A failure Sluice did not expect: a broken invariant (a bug), or an error
   * it does not classify, such as a plain exception in a broker's handler,
   * passed on to the client with this code. CLI exit code 1; please report it.
   */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorDetails {
  topic?: string;
  partition?: number;
  offset?: number;
  file?: string;
  line?: number;
  [k: string]: unknown;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
    this.details = details;
  }
}

// An app that `sluice run` loads may import its own copy of Sluice (its own
// node_modules, or src/ where the CLI runs dist/): that copy's SluiceError is
// another class, which instanceof misses. Every copy brands its prototype with
// the same registered symbol, so an error from any copy keeps its code.
const BRAND = Symbol.for('sluice.SluiceError');
Object.defineProperty(SluiceError.prototype, BRAND, { value: true });

export function isSluiceError(e: unknown, code?: ErrorCode): e is SluiceError {
  const branded = e instanceof SluiceError || (typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true);
  return branded && (code === undefined || (e as SluiceError).code === code);
}

/** Where in the log something is, for messages: `orders/3@1200`. */
export function where(topic: string, partition?: number, offset?: number): string {
  let s = topic;
  if (partition !== undefined) s += `/${partition}`;
  if (offset !== undefined) s += `@${offset}`;
  return s;
}
