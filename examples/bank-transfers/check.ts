// Compares the job's outcomes with the sequential reference program.
//
//   node --import tsx examples/bank-transfers/check.ts transfers.jsonl outcomes.jsonl
//
// Prints a summary and the first few outcomes; exits 1 at the first outcome
// that differs from the reference (or if the counts differ).

import { readFileSync } from 'node:fs';
import { referenceOutcomes, type Outcome, type Transfer } from './reference.ts';

const [transfersFile, outcomesFile] = process.argv.slice(2);
if (transfersFile === undefined || outcomesFile === undefined) {
  process.stderr.write('usage: check.ts TRANSFERS.jsonl OUTCOMES.jsonl\n');
  process.exit(2);
}
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
const transfers = lines(transfersFile).map((l) => JSON.parse(l) as Transfer);
const outcomes = lines(outcomesFile);
const expected = referenceOutcomes(transfers);

const approved = outcomes.filter((l) => (JSON.parse(l) as Outcome).outcome === 'approve').length;
console.log(`${outcomes.length} outcomes: ${approved} approved, ${outcomes.length - approved} denied`);
console.log('the first five:');
for (const l of outcomes.slice(0, 5)) console.log(`  ${l}`);

if (outcomes.length !== expected.length) {
  console.log(`MISMATCH: ${outcomes.length} outcomes for ${expected.length} transfers`);
  process.exit(1);
}
for (let i = 0; i < expected.length; i++) {
  const want = JSON.stringify(expected[i]);
  if (outcomes[i] !== want) {
    console.log(`MISMATCH at transfer #${i}: the job said ${outcomes[i]}, the sequential program ${want}`);
    process.exit(1);
  }
}
console.log(`every outcome equals the sequential reference program's (examples/bank-transfers/reference.ts)`);
