// The bank-transfer program (transfers.mjs) speaking Sluice's checkpoint
// protocol (docs/exec.md), so recovery replays nothing:
//   {"sluice":"restore","state":S}  -> first line after a restart: take S as the balances
//   {"sluice":"checkpoint","id":N}  -> reply {"sluice":"state","id":N,"state":<balances>}
//                                      after every outcome before it (one stdout stream keeps the order)
//
//   sluice exec --protocol --input transfers --output transfer-outcomes -- node examples/exec/transfers-protocol.mjs
import { createInterface } from 'node:readline';

let balances = new Map();

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === '') continue;
  const t = JSON.parse(line);
  if (t.sluice === 'restore') {
    balances = new Map(Object.entries(t.state));
    continue;
  }
  if (t.sluice === 'checkpoint') {
    process.stdout.write(JSON.stringify({ sluice: 'state', id: t.id, state: Object.fromEntries(balances) }) + '\n');
    continue;
  }
  const have = balances.get(t.source) ?? 0;
  if (t.source === 'sweep' || have >= t.amount) {
    balances.set(t.source, have - t.amount);
    balances.set(t.target, (balances.get(t.target) ?? 0) + t.amount);
    t.outcome = 'approve';
  } else {
    t.outcome = 'deny';
  }
  process.stdout.write(JSON.stringify(t) + '\n');
}
