// Interactive queries over HTTP: a running job answers reads of its tables
// from its own process, where the rows are (`sluice run APP --http
// HOST:PORT`). The broker cannot answer them: it holds the log, not the
// jobs' state. What is served is what the job has processed — possibly ahead
// of its last checkpoint, as Job.lookup/scan are (docs/tables-and-joins.md).
//
//   GET /health                    {"ok":true}, without a token
//   GET /status                    the job's progress and event time per source partition (JSON)
//   GET /metrics                   the same for Prometheus (job-metrics.ts)
//   GET /tables                    {"tables":["users",...]}
//   GET /tables/NAME?limit=N       {"table","rows":[{"key","value"}],"truncated"}
//   GET /tables/NAME/KEY           {"table","key","value"}; 404 NOT_FOUND without a row

import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { tokenChecker } from './auth.ts';
import { isLoopback, parseHostPort, type HostPort } from './broker.ts';
import { JobMetrics } from '../runtime/job-metrics.ts';
import type { JobStatus } from '../runtime/job.ts';
import { bearer, checkParams, HttpError, intParam, sendError, sendJson } from './http-io.ts';

/** What the server reads: a Job (tables(), lookup, scan, status). */
export interface QueryableJob {
  readonly app: { readonly name: string };
  status(): JobStatus;
  tables(): string[];
  lookup(table: string, key: string): Promise<unknown>;
  scan(table: string): Promise<Map<string, unknown>>;
}

export interface QueryServerOptions {
  /** HOST:PORT; port 0 picks a free one (see address). */
  listen: string;
  /** Required of every request but /health (`Authorization: Bearer <token>`); mandatory beyond loopback. */
  token?: string;
}

const DEFAULT_LIMIT = 10_000;

export class QueryServer {
  readonly address: HostPort;
  private readonly server: http.Server;

  private constructor(server: http.Server, address: HostPort) {
    this.server = server;
    this.address = address;
  }

  static async start(job: QueryableJob, o: QueryServerOptions): Promise<QueryServer> {
    const at = parseHostPort(o.listen, '--http');
    if (!isLoopback(at.host) && o.token === undefined) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `binding table queries to ${at.host} exposes the job's state beyond this machine: give --http-token (or bind to 127.0.0.1)`);
    }
    const handle = handler(job, tokenChecker(o.token), new JobMetrics(job.app.name, () => job.status()));
    const server = http.createServer((req, res) => {
      handle(req, res).catch((e: unknown) => sendError(res, e));
    });
    const address = await new Promise<HostPort>((resolve, reject) => {
      server.once('error', (e) => reject(new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot serve table queries on ${o.listen}: ${e.message}`, {}, { cause: e })));
      server.listen(at.port, at.host, () => {
        const a = server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
    return new QueryServer(server, address);
  }

  get url(): string {
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    return `http://${host}:${this.address.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function handler(job: QueryableJob, allowed: (token: string | undefined) => boolean, metrics: JobMetrics) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sluice');
    let path: string[];
    try {
      path = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'BAD_INPUT', `the path ${url.pathname} is not valid percent-encoding`);
    }
    if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed: table queries are read-only (GET)`, {}, { Allow: 'GET' });
    const [first, table, key] = path;
    if (first === 'health' && path.length === 1) return sendJson(res, 200, { ok: true });
    if (!allowed(bearer(req))) {
      throw new HttpError(401, 'UNAUTHORIZED', 'missing or wrong token: send the header "Authorization: Bearer <token>" with the token given to --http-token', {}, {
        'WWW-Authenticate': 'Bearer realm="sluice"',
      });
    }
    if (first === 'status' && path.length === 1) {
      checkParams(url.searchParams, []);
      return sendJson(res, 200, { job: job.app.name, ...statusJson(job.status()) });
    }
    if (first === 'metrics' && path.length === 1) {
      const m = await metrics.render();
      res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(m.body) });
      res.end(m.body);
      return;
    }
    if (first !== 'tables' || path.length > 3) {
      throw new HttpError(404, 'NOT_FOUND', `no such endpoint: GET ${url.pathname}; try GET /tables, /tables/NAME, /tables/NAME/KEY, /status or /metrics`);
    }
    const tables = job.tables();
    if (table === undefined) {
      checkParams(url.searchParams, []);
      return sendJson(res, 200, { tables });
    }
    if (!tables.includes(table)) {
      throw new HttpError(404, 'UNKNOWN_TABLE', `job ${job.app.name} has no table named ${JSON.stringify(table)}; its tables: ${tables.join(', ') || 'none'} (a table's name is its name option)`, { table });
    }
    if (key === undefined) {
      checkParams(url.searchParams, ['limit']);
      const limit = intParam(url.searchParams, 'limit', DEFAULT_LIMIT, 0, 1_000_000);
      const rows: { key: string; value: unknown }[] = [];
      const all = await job.scan(table);
      for (const [k, value] of all) {
        if (rows.length === limit) break;
        rows.push({ key: k, value });
      }
      return sendJson(res, 200, { table, rows, truncated: all.size > rows.length });
    }
    checkParams(url.searchParams, []);
    const value = await job.lookup(table, key);
    if (value === undefined) throw new HttpError(404, 'NOT_FOUND', `table ${table} has no row for key ${JSON.stringify(key)}`, { table, key });
    return sendJson(res, 200, { table, key, value });
  };
}

/** -Infinity and Infinity, which JSON lacks, as null (no event time yet) and "end" (bounded input ended). */
function statusJson(s: JobStatus): Omit<JobStatus, 'watermark'> & { watermark: number | 'end' | null } {
  return { ...s, watermark: s.watermark === Infinity ? 'end' : Number.isFinite(s.watermark) ? s.watermark : null };
}
