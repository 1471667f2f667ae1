// --protocol: a committed snapshot holds the program's state after every
// journal record before its `journalOffset`, and a restart restores it and
// replays only the records after; the records before it are never read again.
// So after each commit that took a snapshot they are deleted
// (Log.deleteRecords: whole segments, so the journal keeps at most one
// segment before the snapshot, plus the inputs since). Only the disk is at
// stake: a failure to trim (a broker from before deleteRecords) is said once,
// and the journal then just keeps growing as without --protocol.

import type { Log } from '../log/log.ts';

/**
 * The journal's segments (new journals): small, so that trims, which delete
 * whole segments, keep a --protocol journal to a few MiB (4 MiB: about 50,000
 * transfers).
 */
export const JOURNAL_SEGMENT_BYTES = 4 * 1024 * 1024;

export class JournalTrimmer {
  private readonly log: Log;
  private readonly topic: string;
  private readonly say: (line: string) => void;
  /** Per instance, the offset its journal was last trimmed to. */
  private readonly trimmed = new Map<number, number>();
  private failed = false;

  constructor(log: Log, topic: string, say: (line: string) => void) {
    this.log = log;
    this.topic = topic;
    this.say = say;
  }

  /** After a commit: `offsets` are each instance's committed snapshot offset (undefined: none). */
  async trim(offsets: readonly (number | undefined)[]): Promise<void> {
    for (let i = 0; i < offsets.length && !this.failed; i++) {
      const offset = offsets[i];
      if (offset === undefined || offset <= (this.trimmed.get(i) ?? 0)) continue;
      try {
        await this.log.deleteRecords(this.topic, i, offset);
        this.trimmed.set(i, offset);
      } catch (e) {
        this.failed = true;
        this.say(`the journal ${this.topic} cannot be trimmed (${(e as Error).message}); it keeps every input, and recovery is not affected\n`);
      }
    }
  }
}
