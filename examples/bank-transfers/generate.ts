// Generates bank transfers as JSON lines: {"source","target","amount"}.
// Deterministic for a seed, so runs can be compared. About one transfer in ten
// comes from the "sweep" account (deposits), which may always send; the rest
// move money between customer accounts and some will be denied for lack of funds.
//
//   node --import tsx examples/bank-transfers/generate.ts [count] [seed] > transfers.jsonl

const count = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1978);
const ACCOUNTS = 1000;

// mulberry32: a tiny, well-distributed seeded PRNG.
let state = seed >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const account = () => `acct-${Math.floor(random() * ACCOUNTS)}`;
const lines: string[] = [];
for (let i = 0; i < count; i++) {
  const sweep = random() < 0.1;
  const source = sweep ? 'sweep' : account();
  let target = account();
  while (target === source) target = account();
  const amount = Math.round(random() * (sweep ? 50_000 : 10_000)) / 100;
  lines.push(JSON.stringify({ source, target, amount }));
  if (lines.length === 10_000) {
    process.stdout.write(lines.join('\n') + '\n');
    lines.length = 0;
  }
}
if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
