// The idempotence window's snapshot (src/log/file/producer-state.ts) is
// derived data: deleted, damaged or missing in a dir written before it
// existed, the writer rebuilds it from the closed segments, and a retried
// append still gets its first offsets. The retry across a roll and a restart
// itself is in the shared log suite (test/log/suite/transactions.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { readProducerSnapshot } from '../../src/log/file/producer-state.ts';
import { tmpDir } from '../helpers/tmp.ts';

const b = (s: string) => Buffer.from(s);

for (const damage of ['deleted', 'a flipped byte', 'truncated'] as const) {
  test(`a producer snapshot ${damage} is rebuilt from the closed segments: the retry still finds its batch`, async (t) => {
    const dataDir = tmpDir(t, 'sluice-producers-');
    const partDir = join(dataDir, 'topics', 't', '0');
    let log = await openFileLog({ dataDir });
    await log.createTopic('t', { file: { segmentBytes: 4096 } });
    const stamp = { producerId: 5, epoch: 2, sequence: 11 };
    const first = await log.append('t', 0, [{ key: null, value: b('stamped') }], { producer: stamp });
    for (let i = 0; i < 40; i++) await log.append('t', 0, [{ key: null, value: b('x'.repeat(300)) }]);
    await log.close();
    const file = join(partDir, 'producers');
    assert.ok(readProducerSnapshot(partDir)?.window.has(5), 'the roll wrote the snapshot');
    if (damage === 'deleted') fs.rmSync(file);
    else if (damage === 'truncated') fs.truncateSync(file, 10);
    else {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 3]! ^= 0x20;
      fs.writeFileSync(file, bytes);
    }
    log = await openFileLog({ dataDir });
    try {
      assert.deepEqual(await log.append('t', 0, [{ key: null, value: b('stamped') }], { producer: stamp }), first);
      assert.equal((await log.describeTopic('t')).partitions[0]!.endOffset, 41, 'nothing appended twice');
      assert.ok(readProducerSnapshot(partDir)?.window.has(5), 'the snapshot is written again');
    } finally {
      await log.close();
    }
  });
}
