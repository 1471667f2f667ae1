// The broker holds a GroupMember for every remote consumer that joined a
// group. A consumer killed with -9 never leaves, so the broker must drop its
// member once its session timeout passes: the map stays bounded by the live
// members, and the survivors get the dead member's partitions at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/server/broker.ts';
import { Handlers, type Session } from '../../src/server/handlers.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import type { Assignment } from '../../src/log/log.ts';
import { isSluiceError } from '../../src/errors.ts';
import { RawConn, scope, waitUntil } from './helpers.ts';

const session = (): Session => ({ waits: new Map() });

test('members not heard from for their session timeout are dropped and leave the group; heartbeating ones stay', async (t) => {
  const s = scope(t);
  const log = await openFileLog({ dataDir: s.dir() });
  s.defer(() => log.close());
  await log.createTopic('events', { partitions: 4 });
  let clock = 1_000_000;
  const h = new Handlers(log, { now: () => clock });
  s.defer(() => h.close());
  const call = (name: 'joinGroup' | 'heartbeat', json: object) => h.handle(name, json, Buffer.alloc(0), session(), 1);

  for (const memberId of ['a', 'b', 'c']) await call('joinGroup', { group: 'g', topics: ['events'], memberId, sessionTimeoutMs: 1000 });
  assert.equal(h.memberCount, 3);
  clock += 600;
  await call('heartbeat', { group: 'g', memberId: 'a' });
  clock += 600; // b and c: 1200 ms silent; a: 600
  h.sweep();
  assert.equal(h.memberCount, 1, 'only the member that heartbeat within its session timeout is held');

  // The dropped members left the coordinator too: a owns every partition now, not at some later expiry.
  const a = (await call('heartbeat', { group: 'g', memberId: 'a' })).json as Assignment;
  assert.deepEqual(a.partitions.map((p) => p.partition), [0, 1, 2, 3]);
  await assert.rejects(call('heartbeat', { group: 'g', memberId: 'b' }), (e) => isSluiceError(e, 'REBALANCED'), 'a dropped member is told to rejoin');

  // Rejoining under the same id is a member again.
  await call('joinGroup', { group: 'g', topics: ['events'], memberId: 'b', sessionTimeoutMs: 1000 });
  assert.equal(h.memberCount, 2);
  clock += 1001;
  h.sweep();
  assert.equal(h.memberCount, 0, 'every member silent past its timeout is gone');
});

test('a broker forgets a consumer that vanished without leaving (its connection dropped, as at kill -9)', async (t) => {
  const s = scope(t);
  const dataDir = s.dir();
  const broker = await Broker.start({ dataDir, listen: '127.0.0.1:0', http: null });
  s.defer(() => broker.close());
  await broker.log.createTopic('events', { partitions: 2 });
  for (let i = 0; i < 5; i++) {
    const conn = await RawConn.open(broker.address.port);
    const hello = conn.request('hello', {});
    const join = conn.request('joinGroup', { group: 'g', topics: ['events'], sessionTimeoutMs: 200 });
    assert.equal((await conn.reply(hello)).kind, 2);
    assert.equal((await conn.reply(join)).kind, 2, 'joined');
    conn.destroy();
  }
  assert.ok(broker.handlers.memberCount > 0, 'held while their sessions last');
  await waitUntil('the vanished members to be dropped', 20_000, () => broker.handlers.memberCount === 0);
});
