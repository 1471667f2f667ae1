// Retries that cannot duplicate: an append whose acknowledgement is lost and
// whose broker then stays away longer than the client's reconnect window fails
// saying that its outcome is unknown and how to check; retrying the same
// records with the same client, after the outage and a broker restart, is
// answered from the first attempt instead of appended twice. Real broker
// processes (SIGKILLed), and a TCP proxy in between that loses the ack.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameReader, REQUEST_TYPES, encodeFrame, type Frame } from '../../src/protocol/frames.ts';
import { openRemoteLog, type RemoteLog } from '../../src/log/remote/remote-log.ts';
import type { ProducerRecord } from '../../src/record.ts';
import { readAll } from '../helpers/read-all.ts';
import { scope, startBroker, type BrokerProcess } from './helpers.ts';

const T = 'payments';

/**
 * Forwards connections to `target`, frame by frame. In 'lose-acks' mode every reply but hello's is
 * swallowed (`onDropped` runs: the broker carried the request out); in 'blackhole' mode every
 * request but hello is, so it never reaches the broker.
 */
class Proxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  mode: 'forward' | 'lose-acks' | 'blackhole' = 'forward';
  onDropped: (() => void) | null = null;
  private readonly target: () => number;

  constructor(target: () => number) {
    this.target = target;
  }

  /** Pipes whole frames from `from` to `to`, except those `drop` refuses. */
  private relay(from: net.Socket, to: net.Socket, drop: (f: Frame) => boolean): void {
    const reader = new FrameReader();
    from.on('data', (d: Buffer) => {
      for (const f of reader.push(d)) {
        if (drop(f)) continue;
        for (const b of encodeFrame(f.kind, f.type, f.id, f.json, f.blob)) to.write(b);
      }
    });
  }

  async start(port = 0): Promise<void> {
    const server = net.createServer((client) => {
      // Accepted just as the proxy stopped: it is gone, and so is this connection.
      if (this.server !== server) return client.destroy();
      const upstream = net.connect(this.target(), '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      this.relay(client, upstream, (f) => this.mode === 'blackhole' && f.type !== REQUEST_TYPES.hello);
      this.relay(upstream, client, (f) => {
        if (this.mode !== 'lose-acks' || f.type === REQUEST_TYPES.hello) return false;
        this.onDropped?.();
        return true;
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Gone: nothing listens on the port, every connection is cut. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) {
      const closed = new Promise((r) => s.close(r));
      for (const x of this.sockets) x.destroy();
      await closed;
    }
  }
}

const records = (from: number, n: number): ProducerRecord[] => Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`k${from + i}`), value: Buffer.from(JSON.stringify({ n: from + i })) }));

/** A broker, the proxy in front of it, and a client through the proxy that retries for 300 ms only; topic T exists. */
async function world(t: TestContext): Promise<{ broker: BrokerProcess; proxy: Proxy; client: RemoteLog }> {
  const s = scope(t);
  const w = { broker: await startBroker(s.dir()) } as { broker: BrokerProcess; proxy: Proxy; client: RemoteLog };
  s.defer(() => w.broker.stop());
  w.proxy = new Proxy(() => w.broker.port);
  await w.proxy.start();
  s.defer(() => w.proxy.stop());
  w.client = await openRemoteLog({ url: `sluice://127.0.0.1:${w.proxy.port}`, retryForMs: 300 });
  s.defer(() => w.client.close());
  await w.client.createTopic(T, { partitions: 1 });
  return w;
}

test('an append whose ack was lost, then an outage longer than the retries and a broker restart: the retry is answered from the first attempt', { timeout: 120_000 }, async (t) => {
  const w = await world(t);
  const { proxy, client } = w;
  await client.append(T, 0, records(0, 10));

  // The broker appends the batch and acknowledges it; the ack is lost, the broker dies, and
  // nothing is reachable for longer than the client retries.
  proxy.mode = 'lose-acks';
  const landed = new Promise<void>((r) => (proxy.onDropped = r));
  const batch = records(10, 50);
  const first = client.append(T, 0, batch);
  await landed;
  await proxy.stop();
  await w.broker.stop('SIGKILL');
  const e = await first.then(
    () => assert.fail('the append cannot be acknowledged'),
    (x: unknown) => x as { code: string; message: string; details: Record<string, unknown> },
  );
  assert.equal(e.code, 'UNAVAILABLE');
  assert.match(e.message, /whether the append of 50 records to payments\/0 happened is unknown/);
  assert.match(e.message, /sluice consume payments --from-offset 0:10 --with-meta/);
  assert.equal(e.details['outcome'], 'unknown');

  w.broker = await startBroker(w.broker.dataDir, { port: w.broker.port });
  proxy.mode = 'forward';
  await proxy.start(proxy.port);
  const retried = await client.append(T, 0, batch);
  assert.deepEqual(retried, { baseOffset: 10, lastOffset: 59 }, 'the first attempt\'s offsets');
  const after = await client.append(T, 0, records(60, 5));
  assert.deepEqual(after, { baseOffset: 60, lastOffset: 64 });
  const all = await readAll(client, T, 0);
  assert.deepEqual(all.map((r) => JSON.parse(Buffer.from(r.value!).toString()).n), Array.from({ length: 65 }, (_, i) => i), 'each record once, in order');
});

test('after an unknown outcome, an append that never arrived is appended on retry, and other records are never taken for a retry', { timeout: 120_000 }, async (t) => {
  const { proxy, client } = await world(t);
  await client.append(T, 0, records(1000, 1));

  // Never reaches the broker: the same records again are appended once.
  proxy.mode = 'blackhole';
  const lost = client.append(T, 0, records(0, 3));
  // Cut once the request is surely on its way into the hole: after the client has written it.
  await new Promise((r) => setImmediate(r));
  await proxy.stop();
  await assert.rejects(lost, { code: 'UNAVAILABLE', message: /unknown/ });
  proxy.mode = 'lose-acks';
  await proxy.start(proxy.port);
  const landed = new Promise<void>((r) => (proxy.onDropped = r));
  const second = client.append(T, 0, records(0, 3));
  await landed;
  await proxy.stop();
  await assert.rejects(second, { code: 'UNAVAILABLE', message: /unknown/ });

  // The caller gives up on those and sends something else of the same size: appended, not swallowed.
  proxy.mode = 'forward';
  await proxy.start(proxy.port);
  assert.deepEqual(await client.append(T, 0, records(100, 3)), { baseOffset: 4, lastOffset: 6 });
  const all = await readAll(client, T, 0);
  assert.deepEqual(all.map((r) => JSON.parse(Buffer.from(r.value!).toString()).n), [1000, 0, 1, 2, 100, 101, 102]);
});
