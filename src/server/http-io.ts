// The HTTP API's plumbing: JSON responses, the error body every failure gets,
// bounded body reading and query parsing. Nothing here knows about routes.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, isSluiceError } from '../errors.ts';

/**
 * A failure that exists only at the HTTP layer (no route, no token, wrong
 * method); the log's own failures stay SluiceErrors and are mapped by status().
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

const STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  BAD_INPUT: 400,
  OFFSET_OUT_OF_RANGE: 400,
  UNKNOWN_TOPIC: 404,
  UNKNOWN_PARTITION: 404,
  TOPIC_EXISTS: 409,
  TOO_LARGE: 413,
  READ_ONLY: 403,
  // The log is closing: the broker is shutting down, so another try may succeed elsewhere or later.
  CLOSED: 503,
};

export interface ErrorBody {
  status: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
  headers: Record<string, string>;
}

export function errorBody(e: unknown): ErrorBody {
  if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message, details: e.details, headers: e.headers };
  if (isSluiceError(e)) {
    let message = e.message;
    const topic = e.details.topic;
    // The log's hint names the CLI; an HTTP client is better served by the HTTP way.
    if (e.code === 'UNKNOWN_TOPIC' && typeof topic === 'string') {
      message = `unknown topic ${topic}; create it with POST /topics {"name":${JSON.stringify(topic)},"partitions":N}`;
    }
    return { status: STATUS[e.code] ?? 500, code: e.code, message, details: { ...e.details }, headers: {} };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { status: 500, code: ErrorCodes.INTERNAL, message: `internal error: ${message}; see the broker's log`, details: {}, headers: {} };
}

/** A complete JSON response. `json` may be pre-rendered text (records are, to keep values byte-exact). */
export function sendJson(res: ServerResponse, status: number, value: unknown, json?: string, headers: Record<string, string> = {}): void {
  const body = json ?? JSON.stringify(value);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, e: unknown): void {
  const b = errorBody(e);
  if (res.headersSent) {
    // Too late for a status: cutting the connection is the only honest signal left.
    res.destroy();
    return;
  }
  const headers = { ...b.headers };
  // An unread body is left behind (too large, or not read before the token was checked): the
  // connection is closed rather than made to take the rest, which an unauthenticated client could stream forever.
  if (b.status === 413 || b.status === 401) headers['Connection'] = 'close';
  sendJson(res, b.status, { error: { code: b.code, message: b.message, details: b.details } }, undefined, headers);
}

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'TOO_LARGE', `the request body exceeds the limit of ${limit} bytes; split it into smaller requests`, { limit });
}

/**
 * The whole body, refusing more than `limit` bytes. Reads with listeners, not
 * an async iterator: leaving an iterator early destroys the socket, and the
 * client would get a reset instead of the 413.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const done = (e?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (e !== undefined) reject(e);
    };
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        req.pause();
        done(tooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, n));
    };
    // 'close' before 'end': the client went away mid-body.
    const onClose = () => done(new HttpError(400, 'BAD_INPUT', 'the client closed the connection before sending the whole body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('close', onClose);
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(body: Uint8Array, what: string): string {
  try {
    return decoder.decode(body);
  } catch {
    throw new HttpError(400, 'BAD_INPUT', `${what} is not valid UTF-8`);
  }
}

/** A JSON request body (POST /topics): an object, or a 400 saying what was wrong. */
export function jsonObject(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(utf8(body, 'the body'));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'BAD_INPUT', `the body is not valid JSON (${(e as Error).message}); send a JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'BAD_INPUT', 'the body must be a JSON object');
  return v as Record<string, unknown>;
}

/** Refuses query parameters outside `allowed`, so a typo (max_records) is an error, not silently ignored. */
export function checkParams(q: URLSearchParams, allowed: readonly string[]): void {
  for (const k of q.keys()) {
    if (!allowed.includes(k)) {
      throw new HttpError(400, 'INVALID_ARGUMENT', `unknown query parameter ${JSON.stringify(k)}; this endpoint takes ${allowed.join(', ')}`, { parameter: k });
    }
  }
}

/** An integer query parameter in [min, max], or `dflt` when absent. */
export function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const s = q.get(name);
  if (s === null) return dflt;
  const v = Number(s);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new HttpError(400, 'INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(s)}`, { parameter: name });
  }
  return v;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers['authorization'];
  const m = h === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m ? m[1] : undefined;
}
