// Interactive queries: runs the shopping-cart job in this process and asks it
// for carts by id (`job.lookup`) and for all of them (`job.scan`).
//
//   node --import tsx examples/shopping-cart/query.ts cart-0001 cart-0002 ...
//
// Uses the data dir as the CLI does ($SLUICE_DATA_DIR, else ./.sluice). It is
// the job itself, not a reader of its output: it restores the carts from the
// job's changelog and processes what is new in cart-events before answering.
// A running job answers the same way between batches (the tests query one
// while events keep arriving); this one runs to the end of its input first,
// so the answers are the carts as of now.

import { resolve } from 'node:path';
import { Job } from '../../src/index.ts';
import { openFileLog } from '../../src/log/index.ts';
import shoppingCart, { type Cart } from './app.ts';

const log = await openFileLog({ dataDir: resolve(process.env['SLUICE_DATA_DIR'] || '.sluice') });
try {
  const job = new Job(shoppingCart(), { log, untilEnd: true });
  await job.run();
  const open = await job.scan<Cart>('carts');
  console.log(`${open.size} open carts`);
  for (const id of process.argv.slice(2)) {
    const cart = await job.lookup<Cart>('carts', id);
    console.log(`${id}: ${cart ? cart.items.map((l) => `${l.qty} × ${l.item}`).join(', ') : 'none (checked out, emptied, or never used)'}`);
  }
} finally {
  await log.close();
}
