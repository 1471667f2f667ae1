// What a FileLog is opened with (openFileLog in file-log.ts).

import type { DamageReport } from './damage.ts';
import type { FsyncObserver } from './io.ts';

export interface FileLogOptions {
  dataDir: string;
  /** Read and tail only; no lock is taken, so another process may be writing. */
  readOnly?: boolean;
  /** How often retention and compaction run in the writer (they also run after each segment roll). */
  maintenanceIntervalMs?: number;
  /**
   * Where damage found on open goes (damage.ts). The default refuses: opening
   * throws DAMAGED for the dir (transaction log), or using the damaged topic or
   * group does. `sluice repair` passes a 'collect' report: every topic and group
   * is then read at open, damage is listed instead of thrown, nothing damaged
   * is written, and no maintenance runs.
   */
  damage?: DamageReport;
  /**
   * At most this many segment and `hw` files are kept open at once (fd-cache.ts); the
   * least recently used are closed and reopened on demand. Default: `$SLUICE_MAX_OPEN_FILES`,
   * else 256 or a quarter of `ulimit -n`, whichever is larger (at most half of it).
   */
  maxOpenFiles?: number;
  /** Told the duration of each data sync of this log (appends, offset commits, transaction decisions). */
  onFsync?: FsyncObserver;
}
