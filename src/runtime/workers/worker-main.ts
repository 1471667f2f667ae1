// Entry point of a worker thread: loads the same application file as the main
// thread (so it builds the same graph, with the same node ids) and runs the
// part of it downstream of keyBy nodes for the events the main thread routes
// here. Keyed events that meet another keyBy go back to the main thread, which
// routes them to their partition's owner.

import { parentPort, workerData } from 'node:worker_threads';
import { isSluiceError } from '../../errors.ts';
import { Engine } from '../engine/engine.ts';
import { loadApplication } from '../../dataflow/load-app.ts';
import { stagesOf } from '../engine/stages.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.ts';
import { fromColumns, packRecords, toColumns, type PackedRecords } from './worker-codec.ts';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const send = (m: FromWorker) => port.postMessage(m);

try {
  const app = await loadApplication(setup.appFile);
  const engine = new Engine(app, setup.onError);
  const stages = stagesOf(app);
  engine.alignStages(stages);
  engine.keyedRouter = (node, events) => send({ t: 'keyed', node: node.id, events: toColumns(events) });
  const flush = () => {
    const outputs = engine.takeOutputs().map(([node, records]) => [node.id, packRecords(records)] as [number, PackedRecords]);
    const message: FromWorker = { t: 'out', outputs, dead: engine.takeDeadLetters(), recordsOut: engine.recordsOut - reported };
    reported = engine.recordsOut;
    port.postMessage(message, outputs.map(([, p]) => p.bytes));
  };
  let reported = 0;
  port.on('message', (m: ToWorker) => {
    try {
      switch (m.t) {
        case 'barrier':
          return send({ t: 'barrier', id: m.id, states: m.snapshot ? engine.takeStateChanges() : [], counters: engine.counters() });
        case 'restore':
          for (const c of m.states) engine.restore(c);
          return;
        case 'watermark':
          engine.advanceStage(m.node, m.watermark);
          flush();
          for (const to of stages.next.get(m.node) ?? []) send({ t: 'passed', from: m.node, to, watermark: m.watermark });
          return;
        case 'query':
          return send({ t: 'query', id: m.id, rows: engine.tableRows(m.table, m.key) });
        case 'tick':
          engine.tick(m.now);
          return flush();
        case 'events':
          engine.pushKeyed(m.node, fromColumns(m.events));
          return flush();
      }
    } catch (e) {
      send({ t: 'error', message: (e as Error).message, code: isSluiceError(e) ? e.code : undefined, details: isSluiceError(e) ? e.details : undefined });
    }
  });
  send({ t: 'ready' });
} catch (e) {
  send({ t: 'error', message: `worker ${setup.index} could not load ${setup.appFile}: ${(e as Error).message}` });
}
