// The bank-transfer program from "Event Streaming Like it's 1978", in plain
// Node: JSON lines in, JSON lines out, balances in memory. Sluice runs it
// unmodified:  sluice exec --input transfers --output transfer-outcomes -- node examples/exec/transfers.mjs
import { createInterface } from 'node:readline';

const balances = new Map();

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === '') continue;
  const t = JSON.parse(line);
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
