// What the shared log test suite (test/log/suite/) needs from a Log
// implementation. One suite, several implementations: the embedded file log
// (test/log/file-log-suite.test.ts) and the remote client talking to a broker
// (test/server/remote-log-suite.test.ts) run exactly the same tests:
//
//   import { logSuite } from '../log/suite/index.ts';
//   logSuite(myFactory);
//
// A factory must provide:
//
// - `name`: a short label; every test is named `${name}: ...`.
//
// - `open(t)`: a fresh, empty Log for test `t` (no topics, no groups, no
//   producers), writable, private to that test (tests run one at a time per
//   file, but files run in parallel: nothing may be shared between tests).
//   The test closes the Log it gets (also when it fails). Anything else the
//   factory set up for it (a temp dir, a broker process or server) is the
//   factory's to tear down, with `t.after(...)`: hooks registered during
//   `open` run after the test body, i.e. after the test closed its logs.
//   They run in registration order (first registered, first run), so stop a
//   broker before removing its data dir: register one hook that does both
//   (test/helpers/tmp.ts's tmpDir registers its removal at once, i.e. before
//   a broker-stopping hook registered after it).
//   Errors must arrive as SluiceErrors with the embedded log's codes
//   (UNKNOWN_TOPIC, UNKNOWN_PARTITION, TOPIC_EXISTS, INVALID_ARGUMENT,
//   OFFSET_OUT_OF_RANGE, FENCED, REBALANCED, CLOSED...) and its `details`,
//   which tests check where they tell cases apart (INVALID_ARGUMENT: field,
//   record; UNKNOWN_TOPIC: topic; OFFSET_OUT_OF_RANGE: offset, startOffset;
//   FENCED: transactionalId, epoch, reason 'replaced' or 'failed',
//   currentEpoch; REBALANCED: group, memberId, topic, partition, generation).
//   Message texts are for people and may differ; no test here matches them.
//   Appends issued one after another by the same caller, without awaiting,
//   must land in issue order (a test fires 200 appends at once).
//
// - `reopen(t)` (optional): called after the test closed the Log from
//   `open(t)` (or from an earlier `reopen(t)`): the same data again, as after a
//   restart of whatever holds it (reopen the data dir; restart the broker on
//   the same data dir and connect a new client). Everything acknowledged must
//   be there; in-memory state (group membership) may be gone. Without it the
//   tests that check durability run their checks on the still-open log instead.
//
// - `openReader(t)` (optional): while the Log from `open(t)` is open, a second,
//   independent handle on the same data, as another process would get it (a
//   read-only FileLog on the same dir; a second client connection to the same
//   broker). It must see what the first one appends, wake its waitFor on
//   them, and read and commit group offsets. It may be read-only: tests never
//   append through it. The test closes it. Without it, the tests that need
//   one are skipped.
//
// - `maintain(t, now?)` (optional): run retention and compaction on every
//   partition of the data of test `t` now, as if the clock read `now` (ms since
//   the epoch; default Date.now()), and resolve once they have finished. The
//   broker runs them on its own schedule, so a remote factory calls into the
//   broker's log (e.g. FileLog.maintain of an in-process broker). Without it,
//   the retention and compaction tests are skipped.
//
// Tests never reach into an implementation (no files, no setIo, no private
// fields) and never rely on timing beyond "a network hop is well under a few
// ms": they wait for conditions (with generous deadlines), never for a fixed
// time that something must have happened within. A few check that something
// does NOT happen for 20-50 ms (a waitFor that must keep waiting, a consumer
// that must not poll while idle); that holds whatever the latency.

import type { TestContext } from 'node:test';
import type { Log } from '../../../src/log/log.ts';

export interface LogFactory {
  name: string;
  /** A fresh, empty, writable log for test `t`; closed by the test. Clean up the rest with t.after. */
  open(t: TestContext): Promise<Log>;
  /** After the test closed its log: the same data again, as after a restart. */
  reopen?(t: TestContext): Promise<Log>;
  /** While the log from open(t) is open: another handle on the same data (may be read-only); closed by the test. */
  openReader?(t: TestContext): Promise<Log>;
  /** Runs retention and compaction on test t's data now, as if the clock read `now`; resolves when they are done. */
  maintain?(t: TestContext, now?: number): Promise<void>;
}
