// Entry point of a worker thread: loads the same application file as the main
// thread (so it builds the same graph, with the same node ids) and runs the
// part of it downstream of keyBy nodes for the events the main thread routes
// here. Keyed events that meet another keyBy go back to the main thread, which
// routes them to their partition's owner.

import { parentPort, workerData } from 'node:worker_threads';
import { isSluiceError } from '../errors.ts';
import { Engine } from './engine.ts';
import { loadApplication } from './load-app.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.ts';
import { fromColumns, packRecords, toColumns, type PackedRecords } from './worker-codec.ts';
import type { StateChange } from './state-changelog.ts';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const send = (m: FromWorker) => port.postMessage(m);

try {
  const app = await loadApplication(setup.appFile);
  const engine = new Engine(app, setup.onError);
  engine.keyedRouter = (node, events) => send({ t: 'keyed', node: node.id, events: toColumns(events) });
  const byName = new Map([...engine.states].map(([n, s]) => [n.name, s]));
  const takeChanges = (): StateChange[] =>
    [...engine.states].flatMap(([node, store]) => store.takeChanges().map((c) => ({ operator: node.name, partition: c.partition, key: c.key, json: c.json })));
  port.on('message', (m: ToWorker) => {
    try {
      if (m.t === 'barrier') return send({ t: 'barrier', id: m.id, states: m.snapshot ? takeChanges() : [] });
      if (m.t === 'restore') {
        for (const c of m.states) byName.get(c.operator)?.restore(c.partition, c.key, c.json);
        return;
      }
      const before = engine.recordsOut;
      engine.pushKeyed(m.node, fromColumns(m.events));
      const outputs = engine.takeOutputs().map(([node, records]) => [node.id, packRecords(records)] as [number, PackedRecords]);
      const message: FromWorker = { t: 'out', outputs, dead: engine.takeDeadLetters(), recordsOut: engine.recordsOut - before };
      port.postMessage(message, outputs.map(([, p]) => p.bytes));
    } catch (e) {
      send({ t: 'error', message: (e as Error).message, code: isSluiceError(e) ? e.code : undefined, details: isSluiceError(e) ? e.details : undefined });
    }
  });
  send({ t: 'ready' });
} catch (e) {
  send({ t: 'error', message: `worker ${setup.index} could not load ${setup.appFile}: ${(e as Error).message}` });
}
