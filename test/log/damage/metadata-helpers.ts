// Shared by the damage tests of a data dir's metadata files (transaction log,
// group offsets, topic.json): damaging a file, and checking that an open is
// refused naming the file and changes nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openFileLog, type FileLog, type FileLogOptions } from '../../../src/log/file/file-log.ts';
import { DamageReport, type Damage } from '../../../src/log/file/damage.ts';
import { isSluiceError } from '../../../src/errors.ts';

export function flipByte(file: string, position: number): void {
  const buf = fs.readFileSync(file);
  buf[position] = buf[position]! ^ 0x5a;
  fs.writeFileSync(file, buf);
}

/** The bytes (or absence) of a file, to prove an open changed nothing. */
export function snapshot(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file).toString('base64') : '(missing)';
}

/** Opening (or `use` of the opened log) fails with DAMAGED naming `file`, and leaves it as it was. */
export async function assertRefused(file: string, o: Omit<FileLogOptions, 'damage'>, pattern: RegExp, use?: (log: FileLog) => Promise<unknown>): Promise<void> {
  const before = snapshot(file);
  const check = (e: unknown) => {
    assert.ok(isSluiceError(e, 'DAMAGED'), `expected DAMAGED, got ${String(e)}`);
    assert.ok(e.message.includes(file), `the message names ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  };
  if (use) {
    const log = await openFileLog(o);
    try {
      await assert.rejects(use(log), check);
    } finally {
      await log.close();
    }
  } else await assert.rejects(openFileLog(o), check);
  assert.equal(snapshot(file), before, `${file} is unchanged`);
}

/** What `sluice repair` sees: every damage, collected; the log is closed again. */
export async function collect(dataDir: string): Promise<Damage[]> {
  const damage = new DamageReport('collect');
  const log = await openFileLog({ dataDir, readOnly: true, damage });
  await log.close();
  return damage.found;
}

/** Applies every repair with the writer lock held (as `sluice repair --yes`), and returns what was found. */
export async function repairAll(dataDir: string): Promise<Damage[]> {
  const damage = new DamageReport('collect');
  const log = await openFileLog({ dataDir, damage });
  try {
    for (const d of damage.found) await d.repair();
  } finally {
    await log.close();
  }
  return damage.found;
}
