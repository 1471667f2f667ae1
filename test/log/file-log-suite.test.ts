// The shared log suite (test/log/suite/) on the embedded file log. The
// file-only tests (segment files, corruption, fault injection, locks, other
// processes, crashes) live in the other test/log/*.test.ts files.

import type { TestContext } from 'node:test';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { logSuite, type LogFactory } from './suite/index.ts';

interface Opened {
  dataDir: string;
  /** The writer most recently opened for the test (open or reopen). */
  writer: FileLog;
}

const opened = new WeakMap<TestContext, Opened>();

function state(t: TestContext): Opened {
  const s = opened.get(t);
  if (!s) throw new Error('call open(t) first');
  return s;
}

const fileLogFactory: LogFactory = {
  name: 'file log',
  async open(t) {
    const dataDir = tmpDir(t, 'sluice-suite-');
    const writer = await openFileLog({ dataDir });
    opened.set(t, { dataDir, writer });
    return writer;
  },
  async reopen(t) {
    const s = state(t);
    s.writer = await openFileLog({ dataDir: s.dataDir });
    return s.writer;
  },
  openReader(t) {
    return openFileLog({ dataDir: state(t).dataDir, readOnly: true });
  },
  async maintain(t, now) {
    // maintain() waits for background maintenance a segment roll started, then runs at `now`.
    await state(t).writer.maintain(now);
  },
};

logSuite(fileLogFactory);
