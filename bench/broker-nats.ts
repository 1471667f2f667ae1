// The NATS JetStream side of the broker benchmark, through the official JS
// client (`nats` 2.x), against a nats-server with JetStream file storage.
//
// JetStream (2.9) has no batch publish: every record is one message and one
// acknowledgement. The closest to Sluice's "1000 records per produce request"
// that the client allows is pipelining: `js.publish` returns a promise for the
// message's PubAck, so each publisher keeps up to WINDOW publishes outstanding;
// once the oldest BURST are acknowledged it publishes BURST more in one
// synchronous burst, which the client sends as one socket write (it flushes
// once per turn of the event loop; refilling one message per ack instead cost
// a write per message and ran ~30% slower). Each of the streams (one subject
// each: JetStream's unit of ordering, as a partition is Sluice's) has its own
// publisher, all on one connection, as Sluice's partitions share one RemoteLog
// connection. The connection sets `noAsyncTraces`, the client's documented
// switch against capturing a stack per request (it halved the client's CPU
// per publish here).
//
//   produce: per stream, js.publish(subject, 100-byte payload) with at most
//            WINDOW acks outstanding; every PubAck's sequence is checked, and
//            the stream's message count after
//   consume: per stream, a durable pull consumer (AckPolicy.None: no per-message
//            ack, as Sluice reads ack nothing) read with consumer.consume()
//            (the client keeps pull requests of max_messages in flight) until
//            every message has arrived, checking sequences and sizes
//   latency: single `await js.publish(...)`, one after another

import { AckPolicy, DeliverPolicy, StorageType, connect, type Consumer, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { Throughput } from './broker-sluice.ts';
import { now } from './util.ts';

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export async function connectNats(url: string): Promise<Nats> {
  const nc = await connect({ servers: url, noEcho: true, noAsyncTraces: true });
  // A PubAck may wait behind many others in a deep window: the default 5 s timeout is for single requests.
  const js = nc.jetstream({ timeout: 60_000 });
  return { nc, js, jsm: await nc.jetstreamManager() };
}

/** File storage, one subject per stream, nothing else changed from the server's defaults. */
export async function createStreams(n: Nats, prefix: string, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let s = 0; s < count; s++) {
    const name = `${prefix}-${s}`;
    await n.jsm.streams.add({ name, subjects: [`${name}.data`], storage: StorageType.File });
    names.push(name);
  }
  return names;
}

export async function deleteStreams(n: Nats, names: string[]): Promise<void> {
  for (const name of names) await n.jsm.streams.delete(name);
}

export async function natsProduce(n: Nats, streams: string[], payload: Uint8Array, perStream: number, window: number, burst: number): Promise<Throughput> {
  const publisher = async (stream: string): Promise<void> => {
    const subject = `${stream}.data`;
    const ring: Promise<{ seq: number }>[] = new Array(window);
    let sent = 0;
    let acked = 0;
    for (;;) {
      // Publish synchronously up to the window: the client coalesces what one
      // turn of the event loop publishes into one socket write.
      const until = Math.min(perStream, acked + window);
      for (; sent < until; sent++) ring[sent % window] = n.js.publish(subject, payload);
      if (acked === perStream) break;
      // Then wait for the oldest `burst` acks (they come in order) before refilling.
      const to = Math.min(sent, acked + burst);
      while (acked < to) {
        const { seq } = await ring[acked % window]!;
        if (seq !== ++acked) throw new Error(`stream ${stream}: PubAck sequence ${seq}, expected ${acked}`);
      }
    }
  };
  const t0 = now();
  await Promise.all(streams.map(publisher));
  const secs = (now() - t0) / 1000;
  for (const name of streams) {
    const { state } = await n.jsm.streams.info(name);
    if (state.messages !== perStream) throw new Error(`stream ${name} holds ${state.messages} messages, expected ${perStream}`);
  }
  return { records: streams.length * perStream, secs };
}

export async function natsConsume(n: Nats, streams: string[], perStream: number, valueBytes: number, maxMessages: number): Promise<Throughput> {
  const consumers: Consumer[] = [];
  for (const stream of streams) {
    await n.jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    consumers.push(await n.js.consumers.get(stream, 'bench'));
  }
  let records = 0;
  const loop = async (stream: string, i: number): Promise<void> => {
    const messages = await consumers[i]!.consume({ max_messages: maxMessages });
    let expected = 1;
    for await (const m of messages) {
      if (m.seq !== expected || m.data.length !== valueBytes) throw new Error(`stream ${stream}: message ${m.seq} (${m.data.length} bytes), expected ${expected}`);
      records++;
      if (expected++ === perStream) break; // leaving the loop stops the consumer
    }
    if (expected !== perStream + 1) throw new Error(`stream ${stream}: consumed ${expected - 1} messages, expected ${perStream}`);
  };
  const t0 = now();
  await Promise.all(streams.map(loop));
  const secs = (now() - t0) / 1000;
  if (records !== streams.length * perStream) throw new Error(`consumed ${records} messages, published ${streams.length * perStream}`);
  return { records, secs };
}

/** Latencies (ms) of `count` sequential publishes, each awaiting its PubAck, after `warmup` untimed ones. */
export async function natsLatency(n: Nats, stream: string, payload: Uint8Array, count: number, warmup: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = now();
    const ack = await n.js.publish(`${stream}.data`, payload);
    const ms = now() - t0;
    if (ack.seq !== i + 1) throw new Error(`latency publish ${i} got sequence ${ack.seq}`);
    if (i >= warmup) out.push(ms);
  }
  return out;
}
