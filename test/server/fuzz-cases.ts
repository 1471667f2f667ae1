// What the protocol fuzzer (fuzz.test.ts) sends, and what the broker must
// answer. Each generator makes one part: the bytes of a frame (or of a broken
// one) and the expected outcome, predicted from the protocol's rules, so
// every reply is checked rather than merely survived.
//
// Nothing here can change the golden topic: requests to it are reads, or
// writes with at least one field the broker must refuse. Writes that may
// succeed go to the scratch topic, and the test accounts for each of them.

import assert from 'node:assert/strict';
import { encodeRecords, decodeRecords, HEADER_BYTES, REQUEST_TYPES, type Frame } from '../../src/protocol/frames.ts';
import { timestampError, type LogRecord, type ProducerRecord } from '../../src/record.ts';

export const GOLDEN = 'golden';
export const SCRATCH = 'scratch';
export const MAX_FRAME = 1024 * 1024;

export type Rand = () => number;
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const bytes = (r: Rand, n: number) => Buffer.from(Array.from({ length: n }, () => int(r, 0, 255)));
const J = (v: unknown) => Buffer.from(JSON.stringify(v));
export const flip = (b: Buffer, at: number, bit: number) => void (b[at] = b[at]! ^ (1 << bit));

/** An append the broker acknowledged: its records must be at base..last. */
export interface Accepted {
  p: number;
  base: number;
  last: number;
  records: ProducerRecord[];
}

export interface Ctx {
  r: Rand;
  /** Expected contents of the golden topic, per partition. */
  golden: LogRecord[][];
  /** Appends acknowledged on the scratch topic. */
  accepted: Accepted[];
  /** Next request id within the case being generated. */
  id: number;
  /** Tags of scratch records sent after a fatal frame: they must never be appended. */
  never: Set<string>;
}

export interface Expect {
  id: number;
  /** Error codes allowed; with `ok` too, either outcome is fine. */
  codes?: string[];
  // Each case knows the shape of its reply and checks it field by field; typing every shape buys nothing here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ok?: (json: any, blob: Buffer) => void;
}

export interface Part {
  bytes: Buffer;
  expects: Expect[];
  /** This frame breaks the connection: one error frame with this id and code, then the broker closes it. */
  fatal?: { id: number; code: string };
}

export function frame(o: { kind?: number; type: number; version?: number; id: number; json?: Buffer; blob?: Buffer; length?: number; jsonLen?: number }): Buffer {
  const json = o.json ?? J({});
  const blob = o.blob ?? Buffer.alloc(0);
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt32BE(o.length ?? HEADER_BYTES - 4 + json.length + blob.length, 0);
  head[4] = o.kind ?? 1;
  head[5] = o.type;
  head[6] = o.version ?? 1;
  head.writeUInt32BE(o.id >>> 0, 7);
  head.writeUInt32BE(o.jsonLen ?? json.length, 11);
  return Buffer.concat([head, json, blob]);
}

type Name = keyof typeof REQUEST_TYPES;
/** The first request type code no request has. */
const UNUSED_TYPE = Math.max(...Object.values(REQUEST_TYPES)) + 1;
const req = (name: Name, id: number, json: unknown, blob?: Buffer) => frame({ type: REQUEST_TYPES[name], id, json: J(json), blob });
const nextId = (c: Ctx) => (c.id = (c.id + 1) >>> 0 || 1);

export function randomRecords(r: Rand, n: number, tag = ''): ProducerRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const rec: ProducerRecord = {
      key: r() < 0.2 ? null : bytes(r, int(r, 0, 12)),
      value: r() < 0.1 ? null : Buffer.concat([Buffer.from(tag ? `${tag}:${i}:` : ''), bytes(r, int(r, 0, 60))]),
    };
    if (r() < 0.5) rec.timestamp = int(r, 0, 2e12);
    if (r() < 0.3) rec.headers = { h: `v${int(r, 0, 99)}`, 'ü': '✓' };
    return rec;
  });
}

export function sameRecords(got: LogRecord[], want: (ProducerRecord | LogRecord)[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} records, expected ${want.length}`);
  const b = (x: Uint8Array | null) => (x === null ? null : Buffer.from(x).toString('hex'));
  got.forEach((g, i) => {
    const w = want[i]!;
    assert.deepEqual([b(g.key), b(g.value), JSON.stringify(g.headers)], [b(w.key), b(w.value), JSON.stringify(w.headers ?? {})], `${what}: record ${i}`);
    if (w.timestamp !== undefined && !Number.isNaN(w.timestamp)) assert.equal(g.timestamp, w.timestamp, `${what}: timestamp of record ${i}`);
  });
}

// ---- parts the broker answers, leaving the connection open --------------------

function validRead(c: Ctx): Part {
  const p = int(c.r, 0, c.golden.length - 1);
  const all = c.golden[p]!;
  const offset = int(c.r, 0, all.length);
  const json: Record<string, unknown> = { topic: GOLDEN, partition: p, offset };
  const max = c.r() < 0.5 ? int(c.r, 1, 20) : undefined;
  if (max !== undefined) json['maxRecords'] = max;
  // Not below ~8 KiB: a smaller maxBytes can return no records from an offset that has some (the file
  // log's reader counts the batches it skips from the index entry toward the limit), a bug reported apart.
  if (c.r() < 0.3) json['maxBytes'] = int(c.r, 16 * 1024, 64 * 1024);
  if (c.r() < 0.3) json['isolation'] = pick(c.r, ['read_committed', 'read_uncommitted']);
  const id = nextId(c);
  return {
    bytes: req('read', id, json),
    expects: [
      {
        id,
        ok: (j: { count: number; nextOffset: number; highWatermark: number }, blob) => {
          assert.equal(j.highWatermark, all.length, 'read: high watermark');
          if (offset < all.length) assert.ok(j.count >= 1 && j.count <= (max ?? Infinity), `read ${JSON.stringify(json)} of ${all.length}: ${j.count} records`);
          else assert.equal(j.count, 0);
          assert.equal(j.nextOffset, offset + j.count);
          const got = decodeRecords(blob, j.count, true);
          got.forEach((g, i) => assert.equal(g.offset, offset + i));
          sameRecords(got, all.slice(offset, offset + j.count), `read ${p}@${offset}`);
        },
      },
    ],
  };
}

function validOther(c: Ctx): Part {
  const id = nextId(c);
  const p = int(c.r, 0, c.golden.length - 1);
  const end = c.golden[p]!.length;
  const one = (name: Name, json: unknown, e: Omit<Expect, 'id'>): Part => ({ bytes: req(name, id, json), expects: [{ id, ...e }] });
  const err = (name: Name, json: unknown, code: string) => one(name, json, { codes: [code] });
  const choices: (() => Part)[] = [
    () => one('hello', {}, { ok: (j) => assert.deepEqual(j, { ok: true }) }),
    () => one('getTopic', { name: GOLDEN }, { ok: (j) => assert.equal(j.config.partitions, c.golden.length) }),
    () => one('describeTopic', { name: GOLDEN }, { ok: (j) => assert.deepEqual(j.partitions.map((x: { endOffset: number }) => x.endOffset), c.golden.map((g) => g.length)) }),
    () => one('endOffsets', { topic: GOLDEN }, { ok: (j) => assert.deepEqual(j, c.golden.map((g, partition) => ({ partition, startOffset: 0, endOffset: g.length }))) }),
    () => one('listTopics', {}, { ok: (j) => assert.ok(j.some((x: { name: string }) => x.name === GOLDEN)) }),
    () => one('offsetForTimestamp', { topic: GOLDEN, partition: p, timestamp: int(c.r, -5, 3e12) }, { ok: (j) => assert.ok(j.offset >= 0 && j.offset <= end) }),
    () => one('waitFor', { topic: GOLDEN, partition: p, offset: int(c.r, 0, end - 1) }, { ok: (j) => assert.deepEqual(j, { ready: true }) }),
    () => one('waitFor', { topic: GOLDEN, partition: p, offset: end, timeoutMs: int(c.r, 0, 20) }, { ok: (j) => assert.deepEqual(j, { ready: false }) }),
    () => one('committedOffsets', { group: 'fz-nobody' }, { ok: (j) => assert.deepEqual(j, []) }),
    () => one('joinGroup', { group: `fz-g${int(c.r, 0, 3)}`, topics: [GOLDEN], sessionTimeoutMs: int(c.r, 1, 3000) }, { ok: (j) => assert.equal(typeof j.memberId, 'string') }),
    () => err('read', { topic: 'fz-missing', partition: 0, offset: 0 }, 'UNKNOWN_TOPIC'),
    () => err('read', { topic: GOLDEN, partition: int(c.r, c.golden.length, 50), offset: 0 }, 'UNKNOWN_PARTITION'),
    () => err('read', { topic: GOLDEN, partition: p, offset: end + int(c.r, 1, 1e9) }, 'OFFSET_OUT_OF_RANGE'),
    () => err('getTopic', { name: 'fz-missing' }, 'UNKNOWN_TOPIC'),
    () => err('deleteTopic', { name: 'fz-missing' }, 'UNKNOWN_TOPIC'),
    () => err('createTopic', { name: GOLDEN, config: {} }, 'TOPIC_EXISTS'),
    () => err('createTopic', { name: pick(c.r, ['', '.', '..', 'a/b', '.x', 'x'.repeat(201), 'ü', '../golden']), config: {} }, 'INVALID_ARGUMENT'),
    () => err(pick(c.r, ['heartbeat', 'leaveGroup'] as const), { group: 'fz-g0', memberId: 'ghost' }, 'REBALANCED'),
    () => err('memberCommit', { group: 'fz-g0', memberId: 'ghost', offsets: [] }, 'REBALANCED'),
    () => err('append', { topic: GOLDEN, partition: int(c.r, c.golden.length, 9), count: 1 }, 'UNKNOWN_PARTITION'),
    () => err('commitTransaction', { producer: { transactionalId: 'fz-ghost', producerId: 999, epoch: 0 }, sequence: 1, writes: [], offsets: [] }, 'FENCED'),
  ];
  const part = pick(c.r, choices)();
  // Appends to golden that must fail carry a valid record, so only the refusal keeps it out.
  if (part.bytes[5] === REQUEST_TYPES.append) {
    const json = JSON.parse(part.bytes.subarray(HEADER_BYTES).toString()) as unknown;
    return { ...part, bytes: req('append', id, json, encodeRecords(randomRecords(c.r, 1), false)) };
  }
  return part;
}

/** A field of a valid request with a value of the wrong type or out of its domain: INVALID_ARGUMENT. */
const BAD: Record<string, unknown[]> = {
  str: [null, 5, '', [], {}, true],
  int: [null, '1', 1.5, -1, 2 ** 60, [], {}, true],
  ts: [null, '1', 1.5, 2 ** 60, [], true],
  arr: [null, 5, 'x', {}],
  topics: [null, GOLDEN, [5], [null], {}],
  iso: ['committed', 5, null],
  obj: [null, 5, 'x', [], {}],
  elem: [null, 5, 'x', [], {}],
  bool: ['yes', 1, null],
  fsync: ['sometimes', 5, null, { intervalMs: 0 }],
};

type Template = { name: Name; json: () => Record<string, unknown>; fields: [path: string, kind: string][]; blob?: boolean };
const TEMPLATES: Template[] = [
  { name: 'read', json: () => ({ topic: GOLDEN, partition: 0, offset: 0, maxRecords: 5, maxBytes: 100, isolation: 'read_committed' }), fields: [['topic', 'str'], ['partition', 'int'], ['offset', 'int'], ['maxRecords', 'int'], ['maxBytes', 'int'], ['isolation', 'iso']] },
  { name: 'append', blob: true, json: () => ({ topic: GOLDEN, partition: 0, count: 1, producer: { producerId: 1, epoch: 0, sequence: 0 } }), fields: [['topic', 'str'], ['partition', 'int'], ['count', 'int'], ['producer', 'obj'], ['producer.producerId', 'int'], ['producer.sequence', 'int']] },
  { name: 'waitFor', json: () => ({ topic: GOLDEN, partition: 0, offset: 0, timeoutMs: 5 }), fields: [['topic', 'str'], ['partition', 'int'], ['offset', 'int'], ['timeoutMs', 'int'], ['isolation', 'iso']] },
  { name: 'offsetForTimestamp', json: () => ({ topic: GOLDEN, partition: 0, timestamp: 0 }), fields: [['topic', 'str'], ['partition', 'int'], ['timestamp', 'ts']] },
  { name: 'commitOffsets', json: () => ({ group: 'fz-g0', offsets: [{ topic: GOLDEN, partition: 0, offset: 1 }] }), fields: [['group', 'str'], ['offsets', 'arr'], ['offsets.0', 'elem'], ['offsets.0.topic', 'str'], ['offsets.0.partition', 'int'], ['offsets.0.offset', 'int']] },
  { name: 'committedOffsets', json: () => ({ group: 'fz-g0' }), fields: [['group', 'str']] },
  { name: 'joinGroup', json: () => ({ group: 'fz-g1', topics: [GOLDEN], memberId: 'm', sessionTimeoutMs: 100 }), fields: [['group', 'str'], ['topics', 'topics'], ['memberId', 'str'], ['sessionTimeoutMs', 'int']] },
  { name: 'memberCommit', json: () => ({ group: 'fz-g1', memberId: 'm', offsets: [] }), fields: [['group', 'str'], ['memberId', 'str']] },
  { name: 'initProducer', json: () => ({ transactionalId: 'fz-p' }), fields: [['transactionalId', 'str']] },
  {
    name: 'commitTransaction',
    blob: true,
    json: () => ({ producer: { transactionalId: 'fz-ghost', producerId: 1, epoch: 0 }, sequence: 1, writes: [{ topic: GOLDEN, partition: 0, count: 1 }], offsets: [{ group: 'fz-g0', offsets: [], member: { memberId: 'm', generation: 1 } }] }),
    fields: [
      ['producer', 'obj'], ['producer.transactionalId', 'str'], ['producer.epoch', 'int'], ['sequence', 'int'], ['writes', 'arr'], ['writes.0', 'elem'], ['writes.0.topic', 'str'], ['writes.0.partition', 'int'], ['writes.0.count', 'int'],
      ['offsets', 'arr'], ['offsets.0', 'elem'], ['offsets.0.group', 'str'], ['offsets.0.member', 'obj'], ['offsets.0.member.memberId', 'str'], ['offsets.0.member.generation', 'int'],
    ],
  },
  { name: 'createTopic', json: () => ({ name: 'fz-never', config: { partitions: 1, file: {} } }), fields: [['name', 'str'], ['config.partitions', 'int'], ['config.file.segmentBytes', 'int'], ['config.compact', 'bool'], ['config.file.fsync', 'fsync'], ['config.segmentBytes', 'int'], ['config.fsync', 'fsync']] },
  { name: 'getTopic', json: () => ({ name: GOLDEN }), fields: [['name', 'str']] },
  { name: 'deleteTopic', json: () => ({ name: GOLDEN }), fields: [['name', 'str']] },
  { name: 'cancel', json: () => ({ id: 1 }), fields: [['id', 'int']] },
];

function wrongType(c: Ctx): Part {
  const t = pick(c.r, TEMPLATES);
  const json = t.json();
  const [path, kind] = pick(c.r, t.fields);
  const keys = path.split('.');
  let at: Record<string, unknown> = json;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const bad = pick(c.r, BAD[kind]!);
  // A missing required field is as wrong as a wrong one (optional fields get a value instead).
  if (bad === null && c.r() < 0.3 && kind !== 'iso' && !['maxRecords', 'maxBytes', 'timeoutMs', 'memberId', 'sessionTimeoutMs', 'producer', 'member', 'generation'].includes(keys.at(-1)!) && !path.startsWith('config.')) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = bad;
  const id = nextId(c);
  const blob = t.blob ? encodeRecords(randomRecords(c.r, 1), false) : undefined;
  return { bytes: req(t.name, id, json, blob), expects: [{ id, codes: ['INVALID_ARGUMENT'] }] };
}

function nonObject(c: Ctx): Part {
  const id = nextId(c);
  const json = J(pick(c.r, [null, 0, 17, 'x', [], [{}], true, false, 1.5]));
  return { bytes: frame({ type: int(c.r, 1, 20), id, json }), expects: [{ id, codes: ['INVALID_ARGUMENT'] }] };
}

function badVersion(c: Ctx): Part {
  const id = nextId(c);
  const version = pick(c.r, [0, 2, 3, int(c.r, 4, 255)]);
  return { bytes: frame({ type: int(c.r, 1, 20), version, id, json: J({ topic: GOLDEN, name: GOLDEN, partition: 0, offset: 0 }) }), expects: [{ id, codes: ['PROTOCOL_ERROR'] }] };
}

/** Appends whose count does not match their records, or is over the limit: refused, golden untouched. */
function wrongCount(c: Ctx): Part {
  const id = nextId(c);
  const n = int(c.r, 1, 4);
  const records = encodeRecords(randomRecords(c.r, n), false);
  const [count, code] = c.r() < 0.8 ? [pick(c.r, [0, n - 1, n + 1, n + int(c.r, 2, 1000)]), 'PROTOCOL_ERROR'] : [int(c.r, 100_001, 2 ** 31), 'TOO_LARGE'];
  if (count === 0 || count === n) return wrongCount(c);
  return { bytes: req('append', id, { topic: GOLDEN, partition: int(c.r, 0, 1), count }, records), expects: [{ id, codes: [code] }] };
}

/** Header values must be strings; a record that says otherwise is refused as a whole append. */
function badHeaders(c: Ctx): Part {
  const id = nextId(c);
  const rec = encodeRecords([{ key: null, value: Buffer.from('v'), headers: { h: 'x' } }], false);
  const h = J(pick(c.r, [{ h: 5 }, { h: null }, { h: { x: 'y' } }, { h: ['y'] }, { h: true }]));
  const blob = Buffer.concat([rec.subarray(0, rec.length - 4 - 9), Buffer.from([0, 0, 0, h.length]), h]);
  return { bytes: req('append', id, { topic: GOLDEN, partition: 0, count: 1 }, blob), expects: [{ id, codes: ['PROTOCOL_ERROR', 'INVALID_ARGUMENT'] }] };
}

/** Mutates the records part of a scratch append: refused, or appended exactly as the broker decodes it. */
function scratchAppend(c: Ctx): Part {
  const id = nextId(c);
  const p = int(c.r, 0, 1);
  const n = int(c.r, 1, 5);
  const records = randomRecords(c.r, n);
  let blob = encodeRecords(records, false);
  const how = c.r();
  if (how < 0.3) {
    // valid
  } else if (how < 0.75) {
    blob = Buffer.from(blob);
    for (let k = int(c.r, 1, 3); k > 0; k--) flip(blob, int(c.r, 0, blob.length - 1), int(c.r, 0, 7));
  } else if (how < 0.9) {
    blob = blob.subarray(0, int(c.r, 0, blob.length - 1));
  } else {
    blob = Buffer.concat([blob, bytes(c.r, int(c.r, 1, 20))]);
  }
  let want: ProducerRecord[] | null = null;
  try {
    want = decodeRecords(blob, n, false);
  } catch {
    // refused, below
  }
  const e: Expect = { id, codes: ['PROTOCOL_ERROR'] };
  if (want !== null) {
    const w = want;
    const valid = w.every((x) => Object.values(x.headers ?? {}).every((v) => typeof v === 'string'));
    // A flipped bit in a timestamp can make it fractional, negative or past 8.64e15: refused as the log refuses it.
    const badTime = valid && timestampError(w) !== null;
    e.codes = !valid ? ['PROTOCOL_ERROR'] : badTime ? ['INVALID_ARGUMENT'] : [];
    if (valid && !badTime) e.ok = (j: { baseOffset: number; lastOffset: number }) => void c.accepted.push({ p, base: j.baseOffset, last: j.lastOffset, records: w });
  }
  return { bytes: req('append', id, { topic: SCRATCH, partition: p, count: n }, blob), expects: [e] };
}

/** A frame close to the size limit, delivered in pieces: appended whole. */
export function bigAppend(c: Ctx): Part {
  const id = nextId(c);
  const records: ProducerRecord[] = [{ key: null, value: bytes(c.r, MAX_FRAME - 4096) }];
  return { bytes: req('append', id, { topic: SCRATCH, partition: 0, count: 1 }, encodeRecords(records, false)), expects: [{ id, ok: (j) => void c.accepted.push({ p: 0, base: j.baseOffset, last: j.lastOffset, records }) }] };
}

/** A waitFor parked at the end of golden, then cancelled on the same connection. */
function waitCancel(c: Ctx): Part {
  const w = nextId(c);
  const x = nextId(c);
  const p = int(c.r, 0, 1);
  return {
    bytes: Buffer.concat([req('waitFor', w, { topic: GOLDEN, partition: p, offset: c.golden[p]!.length, timeoutMs: 30_000 }), req('cancel', x, { id: w })]),
    expects: [
      { id: w, ok: (j) => assert.deepEqual(j, { ready: false }) },
      { id: x, ok: (j) => assert.deepEqual(j, {}) },
    ],
  };
}

export const OPEN_PARTS: [weight: number, gen: (c: Ctx) => Part][] = [
  [14, validRead],
  [12, validOther],
  [22, wrongType],
  [6, nonObject],
  [5, badVersion],
  [8, wrongCount],
  [3, badHeaders],
  [14, scratchAppend],
  [2, waitCancel],
];

// ---- frames that break the connection ----------------------------------------

export function fatalPart(c: Ctx): Part {
  const id = nextId(c);
  const body = J({ topic: GOLDEN, partition: 0, offset: 0 });
  const choices: (() => Part)[] = [
    () => ({ bytes: Buffer.concat([u32(int(c.r, 0, HEADER_BYTES - 5)), bytes(c.r, int(c.r, 0, 30))]), expects: [], fatal: { id: 0, code: 'PROTOCOL_ERROR' } }),
    () => ({ bytes: Buffer.concat([u32(pick(c.r, [MAX_FRAME + 1, int(c.r, MAX_FRAME + 1, 2 ** 32 - 1), 2 ** 32 - 1])), bytes(c.r, int(c.r, 0, 30))]), expects: [], fatal: { id: 0, code: 'TOO_LARGE' } }),
    () => ({ bytes: frame({ kind: pick(c.r, [0, int(c.r, 4, 255)]), type: 8, id, json: body }), expects: [], fatal: { id: 0, code: 'PROTOCOL_ERROR' } }),
    () => ({ bytes: frame({ kind: pick(c.r, [2, 3]), type: 8, id, json: body }), expects: [], fatal: { id, code: 'PROTOCOL_ERROR' } }),
    () => ({ bytes: frame({ type: pick(c.r, [0, UNUSED_TYPE, int(c.r, UNUSED_TYPE + 1, 255)]), id, json: body }), expects: [], fatal: { id, code: 'PROTOCOL_ERROR' } }),
    () => ({ bytes: frame({ type: 8, id, json: body, jsonLen: body.length + int(c.r, 1, 2 ** 31) }), expects: [], fatal: { id: 0, code: 'PROTOCOL_ERROR' } }),
    () => {
      const whole = J({ topic: GOLDEN, partition: 0, offset: 0, name: GOLDEN, group: 'g' });
      const json = pick(c.r, [whole.subarray(0, int(c.r, 0, whole.length - 1)), Buffer.concat([Buffer.from('{'), bytes(c.r, int(c.r, 0, 20)).map((b) => (b === 0x7d ? 0 : b))])]);
      return { bytes: frame({ type: int(c.r, 1, 20), id, json }), expects: [], fatal: { id: 0, code: 'PROTOCOL_ERROR' } };
    },
  ];
  return pick(c.r, choices)();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A scratch append sent after a fatal frame: must never be executed. */
export function neverPart(c: Ctx): Part {
  const id = nextId(c);
  const tag = `never-${c.never.size}`;
  c.never.add(tag);
  return { bytes: req('append', id, { topic: SCRATCH, partition: int(c.r, 0, 1), count: 1 }, encodeRecords(randomRecords(c.r, 1, tag), false)), expects: [] };
}

/** Random bytes behind a random length: whatever the broker makes of them, it says so with a protocol error. */
export function garbage(c: Ctx): { bytes: Buffer; fatal: { id: number; code: string } | null } {
  const len = pick(c.r, [int(c.r, 0, 10), int(c.r, 11, 200), int(c.r, MAX_FRAME + 1, 2 ** 32 - 1), int(c.r, 0, 2 ** 32 - 1)]);
  const tail = bytes(c.r, int(c.r, 0, 250));
  const fatal = len > MAX_FRAME ? { id: 0, code: 'TOO_LARGE' } : len < HEADER_BYTES - 4 ? { id: 0, code: 'PROTOCOL_ERROR' } : null;
  return { bytes: Buffer.concat([u32(len), tail]), fatal };
}

export function weighted<T>(r: Rand, table: [number, T][]): T {
  let x = r() * table.reduce((n, [w]) => n + w, 0);
  for (const [w, v] of table) if ((x -= w) < 0) return v;
  return table.at(-1)![1];
}

/** True when `f` is the error frame `e` allows, or its accepted response. */
export function checkReply(e: Expect, f: Frame): void {
  if (f.kind === 3) {
    const code = (f.json as { code?: string }).code ?? '?';
    assert.ok(e.codes?.includes(code), `request ${e.id}: error ${code} (${(f.json as { message?: string }).message}); expected ${e.ok ? 'success' : ''}${e.codes?.join('/') ?? ''}`);
  } else {
    assert.equal(f.kind, 2, `request ${e.id}: a response`);
    assert.ok(e.ok, `request ${e.id} succeeded (${JSON.stringify(f.json)}); expected ${e.codes?.join('/')}`);
    e.ok(f.json, f.blob);
  }
}
