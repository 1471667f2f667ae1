// The transaction part of the protocol fuzz (fuzz.test.ts): commitTransaction
// frames by hand for a registered producer, valid, with mutated or miscounted
// records, out-of-turn sequences, replays, stale epochs. One at a time, since
// each outcome decides the next valid sequence. The transaction topic must
// end up holding exactly the acknowledged commits (read_committed), and the
// group offsets those commits carried.

import assert from 'node:assert/strict';
import { decodeRecords, encodeRecords, REQUEST_TYPES } from '../../src/protocol/frames.ts';
import type { Log, ProducerIdentity } from '../../src/log/log.ts';
import type { RemoteLog } from '../../src/log/remote/remote-log.ts';
import { timestampError, type ProducerRecord } from '../../src/record.ts';
import { GOLDEN, checkReply, flip, frame, int, pick, randomRecords, sameRecords, type Expect, type Rand } from './fuzz-cases.ts';
import { prng } from '../helpers/crash-records.ts';
import { RawConn } from './helpers.ts';

export const TXN = 'txn';
const TXN_ID = 'fz-txn';
const GROUP = 'fz-txn-group';

interface Commit {
  base: number;
  last: number;
  records: ProducerRecord[];
}

export class TxnFuzzer {
  private readonly client: RemoteLog;
  private producer!: ProducerIdentity;
  private sequence = 0;
  private readonly commits: Commit[] = [];
  private lastAppended: unknown = null;
  private groupOffset: number | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(client: RemoteLog) {
    this.client = client;
  }

  get committed(): number {
    return this.commits.length;
  }

  async init(): Promise<void> {
    this.producer = await this.client.initProducer(TXN_ID);
    this.sequence = 0;
    this.lastAppended = null;
  }

  /** One case, with its own seeded generator; cases run one after another whatever the caller's concurrency. */
  step(port: number, seed: number): Promise<void> {
    const run = this.chain.then(() => this.run(port, prng(seed)));
    this.chain = run.catch(() => {});
    return run;
  }

  private async run(port: number, r: Rand): Promise<void> {
    const how = pick(r, ['valid', 'valid', 'mutated', 'mutated', 'count', 'ahead', 'replay', 'epoch', 'reinit'] as const);
    const records = randomRecords(r, int(r, 1, 4));
    const groupOffset = int(r, 0, 1000);
    const send = (producer: ProducerIdentity, sequence: number, count: number, e: Omit<Expect, 'id'>, blob = encodeRecords(records, false)) =>
      this.send(port, int(r, 1, 2 ** 32 - 1), { producer, sequence, writes: [{ topic: TXN, partition: 0, count }], offsets: [{ group: GROUP, offsets: [{ topic: GOLDEN, partition: 0, offset: groupOffset }] }] }, e, blob);
    if (how === 'reinit') {
      const stale = this.producer;
      await this.init();
      assert.equal(this.producer.epoch, stale.epoch + 1, 'registering again bumps the epoch');
      return send(stale, 1, records.length, { codes: ['FENCED'] });
    }
    let blob = encodeRecords(records, false);
    let count = records.length;
    let producer = this.producer;
    let sequence = this.sequence + 1;
    const e: Omit<Expect, 'id'> = {};
    if (how === 'count') {
      count = pick(r, [0, count - 1, count + 1, count + 50]);
      if (count === records.length) count++;
      e.codes = ['PROTOCOL_ERROR'];
    } else if (how === 'ahead') {
      sequence += int(r, 1, 5);
      e.codes = ['INVALID_ARGUMENT'];
    } else if (how === 'epoch') {
      producer = pick(r, [
        { ...producer, epoch: producer.epoch + 1 },
        { ...producer, producerId: producer.producerId + 1 },
      ]);
      e.codes = ['FENCED'];
    } else if (how === 'replay') {
      if (this.sequence === 0) return;
      // The last commit again, whatever the body: its first result, nothing written twice.
      const before = this.lastAppended;
      return send(producer, this.sequence, count, { ok: (j) => assert.deepEqual(j.appended, before, 'a replayed commit answers with its first result') });
    } else if (how === 'mutated') {
      blob = Buffer.from(blob);
      for (let k = int(r, 1, 3); k > 0; k--) flip(blob, int(r, 0, blob.length - 1), int(r, 0, 7));
    }
    let decoded: ProducerRecord[] | null = null;
    try {
      decoded = decodeRecords(blob, count, false);
      if (decoded.some((x) => Object.values(x.headers ?? {}).some((v) => typeof v !== 'string'))) decoded = null;
    } catch {
      // refused, below
    }
    if (decoded === null) e.codes = ['PROTOCOL_ERROR'];
    // A flipped bit in a timestamp can make it fractional, negative or past 8.64e15: refused, nothing written.
    else if (timestampError(decoded) !== null) e.codes = ['INVALID_ARGUMENT'];
    else if (how === 'valid' || how === 'mutated') {
      const want = decoded;
      e.ok = (j: { appended: { topic: string; partition: number; baseOffset: number; lastOffset: number }[] }) => {
        assert.equal(j.appended.length, 1);
        const a = j.appended[0]!;
        assert.deepEqual([a.topic, a.partition, a.lastOffset - a.baseOffset + 1], [TXN, 0, want.length]);
        this.commits.push({ base: a.baseOffset, last: a.lastOffset, records: want });
        this.sequence = sequence;
        this.lastAppended = j.appended;
        this.groupOffset = groupOffset;
      };
    }
    return send(producer, sequence, count, e, blob);
  }

  private async send(port: number, id: number, json: unknown, e: Omit<Expect, 'id'>, blob: Buffer): Promise<void> {
    const conn = await RawConn.open(port);
    try {
      conn.write(frame({ type: REQUEST_TYPES.commitTransaction, id, json: Buffer.from(JSON.stringify(json)), blob }));
      checkReply({ id, ...e }, await conn.reply(id));
    } finally {
      conn.destroy();
    }
  }

  /** The topic holds the acknowledged commits, each where its acknowledgement said, and the group their last offset. */
  async verify(log: Log, what: string): Promise<void> {
    const got = [];
    for (let offset = 0; ; ) {
      const res = await log.read(TXN, 0, offset, { maxRecords: 500, isolation: 'read_committed' });
      got.push(...res.records);
      if (res.nextOffset >= res.highWatermark) break;
      offset = res.nextOffset;
    }
    assert.equal(got.length, this.commits.reduce((n, c) => n + c.records.length, 0), `${what}: the transaction topic holds the committed records only`);
    for (const c of this.commits) {
      sameRecords(got.filter((x) => x.offset >= c.base && x.offset <= c.last), c.records, `${what}: commit at ${c.base}`);
    }
    const offsets = await log.committedOffsets(GROUP);
    assert.deepEqual(offsets, this.groupOffset === null ? [] : [{ topic: GOLDEN, partition: 0, offset: this.groupOffset }], `${what}: the group's offset is the last commit's`);
  }
}
