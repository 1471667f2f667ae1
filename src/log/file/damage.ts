// Damage found in a data dir, as opposed to a torn tail. A crash can only tear
// the unsynced end of the last segment (or of an append-only metadata file)
// after its last fsync point; anything else that is wrong — a bad checksum with
// data after it, a file shorter than what something durable says it held, a
// missing file that something durable refers to — is damage. Damage is never
// repaired on open: the writer refuses with DAMAGED, naming each file and what a
// repair would lose, and `sluice repair` shows the same list and, with --yes,
// applies each Damage's repair.
//
// Every component that opens a file of the data dir reports what it finds to
// the DamageReport it is given: in 'refuse' mode (a normal open) the first
// report throws; in 'collect' mode (`sluice repair`) reports accumulate and the
// component skips what is damaged, so one run lists everything.

import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface Damage {
  /** The damaged file (absolute path). */
  file: string;
  /** What is wrong, one sentence: "CRC mismatch in the frame at byte 4096 of 9000". */
  problem: string;
  /**
   * What applying the repair loses, one sentence naming offsets, transactions or
   * groups ("offsets 120-449 of orders/0"), or "nothing" when nothing is lost.
   */
  loss: string;
  /** What the repair does, one sentence: "truncate to byte 4096 (offset 120)". */
  action: string;
  /** Applies the repair. Called only by `sluice repair --yes`, with the writer lock held. */
  repair(): void | Promise<void>;
}

export type DamageMode = 'refuse' | 'collect';

export class DamageReport {
  readonly mode: DamageMode;
  readonly found: Damage[] = [];
  /** The data dir, for the command the error tells the user to run. */
  readonly dataDir: string | undefined;

  constructor(mode: DamageMode = 'refuse', dataDir?: string) {
    this.mode = mode;
    this.dataDir = dataDir;
  }

  /** Records damage; in 'refuse' mode throws DAMAGED at once. */
  report(d: Damage): void {
    this.found.push(d);
    if (this.mode === 'refuse') throw damagedError(d, this.dataDir);
  }
}

export function describeDamage(d: Damage): string {
  return `${d.file}: ${d.problem}; a repair would ${d.action} and lose ${d.loss}`;
}

/** The error a writer raises on damage: what is wrong, what is at stake, what to run. */
export function damagedError(d: Damage, dataDir = 'DIR'): SluiceError {
  return new SluiceError(
    ErrorCodes.DAMAGED,
    `${describeDamage(d)}. Nothing was changed. Run \`sluice repair --data-dir ${dataDir}\` to list all damage, then \`sluice repair --data-dir ${dataDir} --yes\` to apply it (or restore the file from a backup).`,
    { file: d.file },
  );
}
