// Bank transfers as a stream job: `{source, target, amount}` in (topic
// `transfers`), the same object plus `outcome: "approve" | "deny"` out (topic
// `transfer-outcomes`). A decision reads two accounts, so the balances live in
// one global state, processed in input order by a single task: the answers are
// exactly those of the sequential program in reference.ts.
//
//   sluice topic create transfers --partitions 1
//   sluice topic create transfer-outcomes --partitions 1
//   node --import tsx examples/bank-transfers/generate.ts 100000 | sluice produce transfers
//   sluice run examples/bank-transfers/app.ts --until-end
//   sluice consume transfer-outcomes
//
// Order: the job reads `transfers` partition by partition, so the input topic
// needs one partition for "input order" to mean one thing (the generator's).

import { Application, json, topicSink, topicSource, type ProcessContext, type Sink, type Source } from '../../src/index.ts';
import { SWEEP, type Outcome, type Transfer } from './reference.ts';

export interface BankIO {
  transfers: Source;
  outcomes: Sink;
}

/** The balances, one plain object for all accounts (JSON-compatible, so the runtime can snapshot it). */
interface Ledger {
  balances: Record<string, number>;
}

function balanceOf(balances: Record<string, number>, account: string): number {
  // Own properties only: an account named "constructor" starts at 0 like any other.
  return Object.hasOwn(balances, account) ? balances[account]! : 0;
}

export function build(io: BankIO): Application {
  const app = new Application('bank-transfers');
  app
    .pipeline('transfers')
    .from(io.transfers, json<Transfer>(), { name: 'transfers' })
    .global(
      (): Ledger => ({ balances: {} }),
      (t, ledger, ctx: ProcessContext<Outcome>) => {
        const b = ledger.balances;
        const have = balanceOf(b, t.source);
        const approve = t.source === SWEEP || have >= t.amount;
        if (approve) {
          b[t.source] = have - t.amount;
          b[t.target] = balanceOf(b, t.target) + t.amount;
        }
        ctx.emit({ ...t, outcome: approve ? 'approve' : 'deny' });
      },
      { name: 'ledger' },
    )
    // Keyed by source account, like the input the demo produces.
    .to(io.outcomes, json<Outcome>(), { name: 'transfer-outcomes', key: (o) => o.source });
  return app;
}

export default function bankTransfers(): Application {
  return build({
    transfers: topicSource({ topic: 'transfers' }),
    outcomes: topicSink({ topic: 'transfer-outcomes' }),
  });
}
