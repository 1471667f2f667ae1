// `sluice repair`: lists the damage in a data dir — each damaged file, what is
// wrong, what its repair does and what that loses — and changes nothing; with
// --yes, takes the writer lock, applies each repair, and reopens the dir the
// way every writer does to show it now opens clean. Damage is never repaired
// on open (damage.ts), so this is the one place a user decides to accept a loss.

import type { Command } from 'commander';
import { openFileLog } from '../log/file/file-log.ts';
import { DamageReport, type Damage } from '../log/file/damage.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { brokerOf, dataDirOf } from './options.ts';
import { ExitError, EXIT_FAILURE } from './exit.ts';

function print(d: Damage, applied: boolean): void {
  process.stdout.write(
    `damaged: ${d.file}\n  problem: ${d.problem}\n  ${applied ? 'repaired: ' : 'repair:   '}${d.action}\n  ${applied ? 'lost:     ' : 'loses:    '}${d.loss}\n`,
  );
}

async function collect(dataDir: string, write: boolean): Promise<{ found: Damage[]; close: () => Promise<void> }> {
  const damage = new DamageReport('collect');
  const log = await openFileLog({ dataDir, readOnly: !write, damage });
  return { found: damage.found, close: () => log.close() };
}

export function registerRepair(program: Command): void {
  program
    .command('repair')
    .description('list damage in the data dir and what repairing it would lose (changes nothing); --yes applies the repairs')
    .option('--yes', 'apply the repairs: takes the writer lock, so stop the writer first')
    .action(async (o: { yes?: boolean }, cmd: Command) => {
      if (brokerOf(cmd) !== undefined) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'sluice repair works on a data dir, not through a broker: stop the broker and run `sluice repair --data-dir DIR` on its data dir');
      }
      const dataDir = dataDirOf(cmd);
      if (!o.yes) {
        const { found, close } = await collect(dataDir, false);
        await close();
        for (const d of found) print(d, false);
        if (found.length === 0) {
          process.stderr.write(`no damage found in ${dataDir}\n`);
          return;
        }
        process.stderr.write(`${found.length} damaged file${found.length === 1 ? '' : 's'} in ${dataDir}; nothing was changed. Run \`sluice repair --data-dir ${dataDir} --yes\` to apply these repairs.\n`);
        throw new ExitError(EXIT_FAILURE);
      }
      const { found, close } = await collect(dataDir, true);
      try {
        for (const d of found) {
          await d.repair();
          print(d, true);
        }
      } finally {
        await close();
      }
      // As every writer opens it: damage the repairs did not cover (or caused) is refused here.
      await (await openFileLog({ dataDir })).close();
      process.stderr.write(found.length === 0 ? `no damage found in ${dataDir}\n` : `repaired ${found.length} damaged file${found.length === 1 ? '' : 's'}; ${dataDir} opens clean\n`);
    });
}
