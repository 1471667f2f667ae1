// TopicConfig's two forms: the file log's settings nested under `file` (what is
// written now) and flat beside the portable fields (what every topic.json
// before held, and what createTopic still accepts, deprecated, for one
// release). A data dir from before must open, keep its settings and keep
// working across restarts, without its topic.json being rewritten.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { isSluiceError } from '../../src/errors.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import type { TopicConfigInput } from '../../src/log/log.ts';
import { readAll } from '../helpers/read-all.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const utf8 = (s: string) => Buffer.from(s);
const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString());

// A topic.json exactly as releases before the `file` section wrote it (flat,
// fsync an object), with settings that differ from every default.
const OLD_TOPIC_JSON = `{
  "id": "0b6f4e9a-5c1d-4f8e-9a61-3f1c2d4e5a6b",
  "partitions": 2,
  "retentionMs": 3600000,
  "retentionBytes": null,
  "compact": false,
  "deleteRetentionMs": 60000,
  "minCleanableDirtyRatio": 0.25,
  "segmentBytes": 2048,
  "segmentMs": 86400000,
  "fsync": {
    "intervalMs": 20
  }
}
`;

/** A data dir whose topic `old` has the old topic.json (the rest of the dir as today's writer makes it). */
async function oldDataDir(dataDir: string): Promise<string> {
  const log = await openFileLog({ dataDir });
  await log.createTopic('old', { partitions: 2 });
  await log.close();
  const file = join(dataDir, 'topics', 'old', 'topic.json');
  fs.writeFileSync(file, OLD_TOPIC_JSON);
  return file;
}

const OLD_CONFIG = {
  partitions: 2,
  retentionMs: 3600000,
  retentionBytes: null,
  compact: false,
  deleteRetentionMs: 60000,
  file: { segmentBytes: 2048, segmentMs: 86400000, minCleanableDirtyRatio: 0.25, fsync: { intervalMs: 20 } },
};

test('a topic.json in the old flat form opens with its settings under file, rolls at its segmentBytes, survives restarts, and is not rewritten', async (t) => {
  const dataDir = tmpDir(t);
  const file = await oldDataDir(dataDir);
  const values = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ key: utf8(`k${from + i}`), value: utf8(`v${from + i}-${'x'.repeat(200)}`) }));

  let log = await openFileLog({ dataDir });
  try {
    const info = await log.getTopic('old');
    assert.deepEqual(info.config, OLD_CONFIG);
    assert.equal(info.id, '0b6f4e9a-5c1d-4f8e-9a61-3f1c2d4e5a6b', 'the id is kept (group offsets refer to it)');
    for (let i = 0; i < 20; i++) await log.append('old', 0, values(2, i * 2));
    assert.ok((await log.describeTopic('old')).partitions[0]!.segments! > 3, 'segments rolled at the old file\'s 2048 bytes, not the 64 MiB default');
  } finally {
    await log.close();
  }

  // A reader in another process (the CLI, read-only) sees the same settings and the segments.
  const described = await runCli(['topic', 'describe', 'old'], { dataDir });
  assert.equal(described.code, 0, described.stderr);
  const d = JSON.parse(described.stdout) as { config: { file: { segmentBytes: number; fsync: string } }; partitions: { segments: number; endOffset: number }[] };
  assert.deepEqual([d.config.file.segmentBytes, d.config.file.fsync, d.partitions[0]!.endOffset], [2048, 'interval:20', 40]);
  assert.ok(d.partitions[0]!.segments > 3);

  for (let restart = 1; restart <= 2; restart++) {
    log = await openFileLog({ dataDir });
    try {
      assert.deepEqual((await log.getTopic('old')).config, OLD_CONFIG, `restart ${restart}: same settings`);
      await log.append('old', 1, values(1, 100 + restart));
      assert.equal((await readAll(log, 'old', 0)).length, 40, `restart ${restart}: every record of partition 0 is there`);
      assert.deepEqual((await readAll(log, 'old', 1)).map((r) => text(r.key)), Array.from({ length: restart }, (_, i) => `k${101 + i}`));
    } finally {
      await log.close();
    }
  }
  assert.equal(fs.readFileSync(file, 'utf8'), OLD_TOPIC_JSON, 'topic.json is read as it is, never rewritten');
});

test('a new topic.json holds the file settings under file; settings a later release added are ignored, not damage', async (t) => {
  const dataDir = tmpDir(t);
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('new', { partitions: 1, file: { segmentBytes: 4096 } });
    const json = JSON.parse(fs.readFileSync(join(dataDir, 'topics', 'new', 'topic.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(json['file'], { segmentBytes: 4096, segmentMs: 7 * 24 * 3600 * 1000, minCleanableDirtyRatio: 0.5, fsync: 'always' });
    assert.equal('segmentBytes' in json, false, 'no flat copy');
  } finally {
    await log.close();
  }
  const file = join(dataDir, 'topics', 'new', 'topic.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { file: Record<string, unknown> };
  fs.writeFileSync(file, JSON.stringify({ ...json, maxMessageBytes: 5, file: { ...json.file, preallocate: true }, jetstream: { replicas: 3 } }));
  const again = await openFileLog({ dataDir });
  try {
    assert.equal((await again.getTopic('new')).config.file?.segmentBytes, 4096);
  } finally {
    await again.close();
  }
});

test('createTopic: the flat file settings still work (deprecated), file wins over them, and every bad or unknown setting is refused naming its field', async (t) => {
  const log = await openFileLog({ dataDir: tmpDir(t) });
  try {
    const flat = await log.createTopic('flat', { segmentBytes: 4096, fsync: 'never' });
    assert.deepEqual([flat.config.file?.segmentBytes, flat.config.file?.fsync, 'segmentBytes' in flat.config], [4096, 'never', false]);
    const both = await log.createTopic('both', { segmentBytes: 4096, file: { segmentBytes: 8192 } });
    assert.equal(both.config.file?.segmentBytes, 8192);

    const refusals: [TopicConfigInput, string][] = [
      [{ partitions: 0 }, 'partitions'],
      [{ retentionMs: -1 }, 'retentionMs'],
      [{ file: { segmentBytes: 0 } }, 'file.segmentBytes'],
      [{ file: { segmentMs: 1.5 } }, 'file.segmentMs'],
      [{ file: { minCleanableDirtyRatio: 2 } }, 'file.minCleanableDirtyRatio'],
      [{ file: { fsync: 'sometimes' as 'always' } }, 'file.fsync'],
      [{ file: { fsync: { intervalMs: 0 } } }, 'file.fsync.intervalMs'],
      [{ segmentBytes: 0 }, 'file.segmentBytes'],
      [{ file: 'big' as unknown as TopicConfigInput['file'] }, 'file'],
      [{ file: { segmentByte: 1 } as TopicConfigInput['file'] }, 'file.segmentByte'],
      [{ partition: 2 } as TopicConfigInput, 'partition'],
    ];
    for (const [config, field] of refusals) {
      await assert.rejects(log.createTopic('bad', config), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.details['field'] === field, JSON.stringify(config));
    }
    assert.deepEqual((await log.listTopics()).map((x) => x.name), ['both', 'flat']);
  } finally {
    await log.close();
  }
});
