// The shared log suite (test/log/suite/) on the remote implementation: a
// broker (in this process, on a free port, over a real socket) serving a data
// dir, and the RemoteLog client talking to it. The same tests as the embedded
// file log (test/log/file-log-suite.test.ts): one suite, two implementations.

import type { TestContext } from 'node:test';
import { Broker } from '../../src/server/broker.ts';
import { openRemoteLog } from '../../src/log/remote/remote-log.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logSuite, type LogFactory } from '../log/suite/index.ts';

interface Opened {
  dataDir: string;
  broker: Broker;
}

const opened = new WeakMap<TestContext, Opened>();

function state(t: TestContext): Opened {
  const s = opened.get(t);
  if (!s) throw new Error('call open(t) first');
  return s;
}

const start = (dataDir: string) => Broker.start({ dataDir, listen: '127.0.0.1:0', http: null, token: 'suite-token' });

const remoteFactory: LogFactory = {
  name: 'remote log',
  async open(t) {
    // Not tmpDir(t): its cleanup hook would run before ours (hooks run in the order added), and the
    // broker must stop before its data dir goes.
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-remote-suite-'));
    const s: Opened = { dataDir, broker: await start(dataDir) };
    opened.set(t, s);
    t.after(async () => {
      await s.broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    return openRemoteLog({ url: s.broker.url(), token: 'suite-token' });
  },
  async reopen(t) {
    // A restart: the test closed its client; the broker goes down and comes back on the same data.
    const s = state(t);
    await s.broker.close();
    s.broker = await start(s.dataDir);
    return openRemoteLog({ url: s.broker.url(), token: 'suite-token' });
  },
  openReader(t) {
    return openRemoteLog({ url: state(t).broker.url(), token: 'suite-token' });
  },
  async maintain(t, now) {
    await state(t).broker.log.maintain(now);
  },
};

logSuite(remoteFactory);
