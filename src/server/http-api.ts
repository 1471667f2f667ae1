// The broker's HTTP API: JSON over plain HTTP for tools, scripts and
// browsers that will not speak the binary protocol: topics, producing,
// reading (one batch, long-poll, or Server-Sent Events), consumer groups,
// health and Prometheus metrics. docs/http-api.md is the reference.
//
// The caller owns the server (http or https, the address, TLS); this module
// only handles requests, so the same handler runs in the broker and in tests.
// Every failure is `{ error: { code, message, details } }` with a status that
// fits: see http-io.ts.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log, TopicConfigInput, TopicInfo } from '../log/log.ts';
import { FILE_FIELDS, TOPIC_CONFIG_FIELDS, parseFsyncPolicy, topicConfigJson, validateTopicName } from '../log/topic-config.ts';
import { Partitioner } from '../partitioner.ts';
import { tokenChecker } from './auth.ts';
import type { BrokerMetrics } from './metrics.ts';
import { bearer, HttpError, jsonObject, readBody, sendError, sendJson } from './http-io.ts';
import { handleProduce } from './http-produce.ts';
import { Streams, handleRecords, handleStream, partitionParam } from './http-consume.ts';

export interface HttpApiOptions {
  log: Log;
  metrics: BrokerMetrics;
  /** When set, every endpoint but GET /health needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body accepted; default 16 MiB. */
  maxBodyBytes?: number;
  /** How often an idle event stream gets a comment line; default 15 s. */
  sseHeartbeatMs?: number;
}

export interface HttpApi {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every event stream and long-poll (long-polls answer with what they have); new streams get 503. */
  closeStreams(): void;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;
// The file settings may also come flat (segmentBytes beside partitions), as
// before they moved under `file`: accepted on create for one release.
const CONFIG_FIELDS = TOPIC_CONFIG_FIELDS.filter((k) => !(FILE_FIELDS as readonly string[]).includes(k));

/** A topic as `sluice topic list` prints it: the config's fields beside its name, fsync as text (`interval:100`). */
function topicJson(t: TopicInfo): Record<string, unknown> {
  return { name: t.name, ...topicConfigJson(t.config) };
}

/** fsync as text, `interval:100`, where the Log takes an object. */
function fsyncField(v: unknown, field: string): unknown {
  if (v === undefined) return v;
  if (typeof v !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', `${field} must be "always", "never" or "interval:<ms>"`, { field });
  return parseFsyncPolicy(v);
}

/** POST /topics body → name and config; unknown fields are refused so a typo is not silently a default. */
function createRequest(body: Record<string, unknown>): { name: string; config: TopicConfigInput } {
  const { name, ...config } = body;
  if (typeof name !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'give the topic a name: {"name": "orders", "partitions": 3}');
  for (const k of Object.keys(config)) {
    if (!TOPIC_CONFIG_FIELDS.includes(k)) {
      throw new HttpError(400, 'INVALID_ARGUMENT', `unknown field ${JSON.stringify(k)}; a topic takes name, ${CONFIG_FIELDS.join(', ')}`, { field: k });
    }
  }
  // resolveTopicConfig (in createTopic) checks each value, the file ones too, and names the bad one.
  config['fsync'] = fsyncField(config['fsync'], 'fsync');
  const file = config['file'];
  if (typeof file === 'object' && file !== null && !Array.isArray(file)) {
    config['file'] = { ...file, fsync: fsyncField((file as Record<string, unknown>)['fsync'], 'file.fsync') };
  }
  return { name, config };
}

/** Path segments, decoded: `/topics/a%2Fb` is the topic `a/b` (which validation then refuses). */
function segments(pathname: string): string[] {
  try {
    return pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', `the path ${pathname} is not validly percent-encoded`);
  }
}

/** A topic name from the URL, checked before it gets anywhere near a file path. */
function topicParam(s: string): string {
  validateTopicName(s);
  return s;
}

function methodNotAllowed(method: string, allowed: string[]): HttpError {
  return new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not supported here; use ${allowed.join(' or ')}`, { allowed }, { Allow: allowed.join(', ') });
}

function notFound(method: string, path: string): HttpError {
  return new HttpError(
    404,
    'NOT_FOUND',
    `no such endpoint: ${method} ${path}; see docs/http-api.md (e.g. GET /topics, POST /topics/NAME/records, GET /topics/NAME/partitions/0/records)`,
  );
}

export function createHttpApi(o: HttpApiOptions): HttpApi {
  const { log, metrics } = o;
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const heartbeatMs = o.sseHeartbeatMs ?? 15_000;
  const allowed = tokenChecker(o.token);
  const partitioner = new Partitioner(Math.floor(Math.random() * 1024));
  const streams = new Streams();

  async function groupJson(group: string): Promise<unknown> {
    // Only names the log lists reach committedOffsets: a URL segment is never used as a path unchecked.
    if (!(await log.listGroups()).includes(group)) {
      throw new HttpError(404, 'NOT_FOUND', `no consumer group ${JSON.stringify(group)}; GET /groups lists the groups that have committed offsets`, { group });
    }
    const offsets = await log.committedOffsets(group);
    const lag: { topic: string; partition: number; committed: number | null; endOffset: number; lag: number }[] = [];
    for (const topic of [...new Set(offsets.map((x) => x.topic))].sort()) {
      let d;
      try {
        d = await log.describeTopic(topic);
      } catch (e) {
        if (e instanceof SluiceError && e.code === ErrorCodes.UNKNOWN_TOPIC) continue; // deleted meanwhile
        throw e;
      }
      const g = d.groups.find((x) => x.group === group);
      for (const p of g?.partitions ?? []) {
        const endOffset = d.partitions.find((x) => x.partition === p.partition)?.endOffset ?? 0;
        lag.push({ topic, partition: p.partition, committed: p.committed, endOffset, lag: p.lag });
      }
    }
    return { group, offsets, lag };
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://sluice');
    const path = segments(url.pathname);
    const [first, name, third, p, fifth] = path;
    const n = path.length;
    // After closeStreams (a shutdown), no connection is kept alive for another request.
    if (streams.closing) res.setHeader('Connection', 'close');

    if (first === 'health' && n === 1) {
      if (method !== 'GET') throw methodNotAllowed(method, ['GET']);
      return sendJson(res, 200, { ok: true });
    }
    // Same answer for a missing and a wrong token, and before routing, so nothing
    // about the API (which routes or topics exist) is told to an unauthenticated client.
    if (!allowed(bearer(req))) {
      throw new HttpError(401, 'UNAUTHORIZED', 'missing or wrong token: send the header "Authorization: Bearer <token>" with the token sluice serve was given', {}, {
        'WWW-Authenticate': 'Bearer realm="sluice"',
      });
    }

    if (first === 'metrics' && n === 1) {
      if (method !== 'GET') throw methodNotAllowed(method, ['GET']);
      const m = await metrics.render();
      res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(m.body) });
      res.end(m.body);
      return;
    }

    if (first === 'topics') {
      if (n === 1) {
        if (method === 'GET') return sendJson(res, 200, (await log.listTopics()).map(topicJson));
        if (method === 'POST') {
          const { name: topic, config } = createRequest(jsonObject(await readBody(req, maxBody)));
          const t = await log.createTopic(topic, config);
          return sendJson(res, 201, topicJson(t), undefined, { Location: `/topics/${encodeURIComponent(t.name)}` });
        }
        throw methodNotAllowed(method, ['GET', 'POST']);
      }
      const topic = topicParam(name!);
      if (n === 2) {
        if (method === 'GET') {
          const d = await log.describeTopic(topic);
          return sendJson(res, 200, {
            name: d.name,
            config: topicConfigJson(d.config),
            partitions: d.partitions,
            groups: d.groups.map((g) => ({ group: g.group, lag: g.partitions.reduce((s, x) => s + x.lag, 0), partitions: g.partitions })),
          });
        }
        if (method === 'DELETE') {
          await log.deleteTopic(topic);
          return sendJson(res, 200, { deleted: topic });
        }
        throw methodNotAllowed(method, ['GET', 'DELETE']);
      }
      if (n === 3 && third === 'records') {
        if (method !== 'POST') throw methodNotAllowed(method, ['POST']);
        return handleProduce(req, res, log, metrics, partitioner, topic, maxBody);
      }
      if (n === 5 && third === 'partitions' && (fifth === 'records' || fifth === 'stream')) {
        if (method !== 'GET') throw methodNotAllowed(method, ['GET']);
        const partition = partitionParam(p!);
        if (fifth === 'records') return handleRecords(req, res, url.searchParams, log, metrics, streams, topic, partition);
        return handleStream(req, res, url.searchParams, log, metrics, streams, topic, partition, { heartbeatMs });
      }
    }

    if (first === 'groups' && n <= 2) {
      if (method !== 'GET') throw methodNotAllowed(method, ['GET']);
      if (n === 1) return sendJson(res, 200, (await log.listGroups()).map((group) => ({ group })));
      return sendJson(res, 200, await groupJson(name!));
    }

    throw notFound(method, url.pathname);
  }

  return {
    handle(req, res) {
      dispatch(req, res).catch((e: unknown) => sendError(res, e));
    },
    closeStreams() {
      streams.closeAll();
    },
  };
}
