// File-log-only behaviour: the data dir's lock, and what readers in other
// processes see of a write that is not yet fsynced. Everything the Log
// interface promises is tested on every implementation in test/log/suite/
// (run on this log by file-log-suite.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { isSluiceError } from '../../src/errors.ts';
import type { LogRecord } from '../../src/record.ts';

const b = (s: string) => Buffer.from(s);
const str = (r: LogRecord) => (r.value ? Buffer.from(r.value).toString() : null);

async function withLog(fn: (log: FileLog, dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-filelog-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    await fn(log, dir);
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a second writer on the same data dir fails fast with LOCKED; a read-only opener does not', async () => {
  await withLog(async (log, dir) => {
    await log.createTopic('t');
    await log.append('t', 0, [{ key: null, value: b('x') }]);
    await assert.rejects(openFileLog({ dataDir: dir }), (e) => isSluiceError(e, 'LOCKED'));
    const ro = await openFileLog({ dataDir: dir, readOnly: true });
    assert.deepEqual((await ro.read('t', 0, 0)).records.map(str), ['x']);
    await assert.rejects(ro.append('t', 0, [{ key: null, value: b('y') }]), (e) => isSluiceError(e, 'READ_ONLY'));
    await ro.close();
  });
});

test('readers in other processes see a batch only once the writer acknowledged it (after fsync)', async () => {
  const { setIo, realIo } = await import('../../src/log/file/io.ts');
  await withLog(async (log, dir) => {
    await log.createTopic('t');
    await log.append('t', 0, [{ key: null, value: b('first') }]);
    const reader = await openFileLog({ dataDir: dir, readOnly: true });
    let releaseSync: (() => void) | undefined;
    const syncStarted = new Promise<void>((started) => {
      setIo({
        ...realIo,
        fdatasync: async (fd) => {
          started();
          await new Promise<void>((r) => (releaseSync = r));
          return realIo.fdatasync(fd);
        },
      });
    });
    try {
      const pending = log.append('t', 0, [{ key: null, value: b('second') }]);
      await syncStarted; // written to the file, not yet fsynced nor acknowledged
      assert.deepEqual((await reader.read('t', 0, 0)).records.map(str), ['first']);
      releaseSync!();
      await pending;
      assert.deepEqual((await reader.read('t', 0, 0)).records.map(str), ['first', 'second']);
    } finally {
      releaseSync?.(); // never leave the writer's fsync hanging, even when an assertion failed
      setIo(realIo);
      await reader.close();
    }
  });
});

test('a tailer woken by deleteTopic reads UNKNOWN_TOPIC, not a reopened copy of the topic being deleted', async (t) => {
  const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-delete-tail-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('d');
    const woken = log.waitFor('d', 0, 0);
    const deleting = log.deleteTopic('d');
    await woken;
    // What an SSE stream does next: read again, while the delete is still being decided.
    await assert.rejects(log.read('d', 0, 0), (e: unknown) => isSluiceError(e, 'UNKNOWN_TOPIC'));
    await deleting;
    assert.deepEqual(await log.listTopics(), []);
  } finally {
    await log.close();
  }
});
