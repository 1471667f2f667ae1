// The bank-transfer example: the streaming app must give exactly the answers
// of the sequential reference program — in the TestDriver, and end to end
// through the built CLI on 100,000 generated transfers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build } from '../../examples/bank-transfers/app.ts';
import { referenceOutcomes, type Outcome, type Transfer } from '../../examples/bank-transfers/reference.ts';

const GENERATE = fileURLToPath(new URL('../../examples/bank-transfers/generate.ts', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/bank-transfers/app.ts', import.meta.url));

/** The generator's output for `count` transfers and `seed`, as JSON lines. */
function generate(count: number, seed: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', GENERATE, String(count), String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`generate.ts exited ${code}`))));
  });
}

function driver() {
  return new TestDriver(build({ transfers: placeholderSource('transfers'), outcomes: placeholderSink('transfer-outcomes') }));
}

test('the rules: sweep may always send; others need the funds; approval moves the money', () => {
  const d = driver();
  const transfers: Transfer[] = [
    { source: 'alice', target: 'bob', amount: 25.32 }, // alice has nothing yet
    { source: 'sweep', target: 'alice', amount: 100 }, // sweep always may
    { source: 'alice', target: 'bob', amount: 25.32 },
    { source: 'alice', target: 'carol', amount: 74.68 }, // exactly what is left
    { source: 'alice', target: 'bob', amount: 0.01 }, // nothing left
    { source: 'bob', target: 'sweep', amount: 25.32 }, // a withdrawal, all of bob's money
    { source: 'constructor', target: 'bob', amount: 1 }, // an account name that is also an Object property
    { source: 'sweep', target: 'dave', amount: 0 },
    { source: 'sweep', target: 'erin', amount: 50 },
    { source: 'erin', target: 'frank', amount: 50 }, // exactly her balance
  ];
  d.send('transfers', transfers);
  const out = d.output<Outcome>('transfer-outcomes');
  assert.deepEqual(
    out.map((o) => o.outcome),
    ['deny', 'approve', 'approve', 'approve', 'deny', 'approve', 'deny', 'approve', 'approve', 'approve'],
  );
  assert.deepEqual(out, referenceOutcomes(transfers));
  assert.deepEqual(out[0], { source: 'alice', target: 'bob', amount: 25.32, outcome: 'deny' }, 'the same object plus outcome');
  const { balances } = d.state<{ balances: Record<string, number> }>('ledger', '')!;
  assert.equal(balances.sweep, -100 + 25.32 - 0 - 50);
  assert.equal(balances.erin, 0);
  assert.equal(balances.frank, 50);
  assert.equal(balances.alice, 100 - 25.32 - 74.68);
  assert.equal(balances.bob, 0);
  assert.equal(balances.carol, 74.68);
});

test('TestDriver: 20,000 generated transfers, fed in batches of varying size, match the reference exactly', async () => {
  const transfers = jsonLines(await generate(20_000, 7)) as Transfer[];
  const d = driver();
  for (let i = 0, n = 1; i < transfers.length; i += n, n = (n * 7) % 997) d.send('transfers', transfers.slice(i, i + n));
  const out = d.output<Outcome>('transfer-outcomes');
  const expected = referenceOutcomes(transfers);
  assert.equal(out.length, expected.length);
  assert.deepEqual(out, expected);
  const denied = expected.filter((o) => o.outcome === 'deny').length;
  assert.ok(denied > 1000 && denied < 19_000, `a test that decides something: ${denied} denied`);
});

test('end to end: 100,000 transfers through `sluice produce`, `sluice run --until-end`, `sluice consume` equal the reference', async (t) => {
  const dir = tmpDir(t);
  const input = await generate(100_000, 1978);
  const file = join(dir, 'transfers.jsonl');
  writeFileSync(file, input);
  const ok = async (args: string[], stdin?: string) => {
    const r = await runCli(args, stdin === undefined ? { dataDir: dir, timeoutMs: 50_000 } : { dataDir: dir, input: stdin, timeoutMs: 50_000 });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  // One partition in and out: "the order of the transfers" is then one order.
  await ok(['topic', 'create', 'transfers', '--partitions', '1', '--data-dir', dir]);
  await ok(['topic', 'create', 'transfer-outcomes', '--partitions', '1', '--data-dir', dir]);
  const produced = await ok(['produce', 'transfers', '--key-field', 'source', '--data-dir', dir], readFileSync(file, 'utf8'));
  assert.match(produced.stderr, /produced 100000 records to transfers/);

  const run = await ok(['run', APP, '--until-end', '--data-dir', dir]);
  assert.match(run.stderr, /bank-transfers: 100000 records in, 100000 out, 0 dead-lettered/);

  const consumed = await ok(['consume', 'transfer-outcomes', '--data-dir', dir]);
  const got = jsonLines(consumed.stdout) as Outcome[];
  const expected = referenceOutcomes(jsonLines(input) as Transfer[]);
  assert.equal(got.length, 100_000);
  for (let i = 0; i < expected.length; i++) {
    // One comparison per record, so a failure names the first transfer that differs.
    if (got[i]!.outcome !== expected[i]!.outcome || got[i]!.amount !== expected[i]!.amount || got[i]!.source !== expected[i]!.source || got[i]!.target !== expected[i]!.target) {
      assert.deepEqual(got[i], expected[i], `transfer #${i}`);
    }
  }
  assert.deepEqual(got, expected);
  const denied = got.filter((o) => o.outcome === 'deny').length;
  assert.ok(denied > 1000 && denied < 99_000, `both outcomes occur: ${denied} denied`);

  // A second run of the same job has nothing new to do: its group committed the end.
  const again = await ok(['run', APP, '--until-end', '--data-dir', dir]);
  assert.match(again.stderr, /bank-transfers: 0 records in, 0 out/);
});
