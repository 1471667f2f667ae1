// The click-through example: searches joined with their clicks within an
// hour, and hourly click-through rates per query — on hand-made events (the
// interval's edges, an unclicked search, a late click), against brute force on
// generated events in batches of random sizes in the TestDriver, and once end
// to end through the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, type Click, type ClickThrough, type QueryRate, type Search } from '../../examples/click-through/app.ts';
import { referenceClickThroughs, referenceRates, sorted } from '../../examples/click-through/reference.ts';
import { generateEvents } from '../../examples/click-through/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/click-through/app.ts', import.meta.url));
const OPERATORS = ['click-through', 'per-search', 'hourly-rates'];

function driver() {
  return new TestDriver(build({ events: placeholderSource('search-events'), clickThroughs: placeholderSink('click-throughs'), rates: placeholderSink('click-rates') }));
}

const at = (hms: string) => Date.parse(`2024-03-01T${hms}Z`);
const search = (hms: string, searchId: string, query: string): Search => ({ type: 'search', ts: at(hms), searchId, query });
const click = (hms: string, searchId: string, url = `https://example.com/${searchId}`): Click => ({ type: 'click', ts: at(hms), searchId, url });
const through = (c: ClickThrough) => `${c.searchId} ${new Date(c.clickTs).toISOString().slice(11, 23)}`;
const rate = (r: QueryRate) => `${r.query} ${r.start.slice(11, 16)}-${r.end.slice(11, 16)} ${r.clicked}/${r.searches} ${r.rate.toFixed(3)}`;

test('clicks within the hour after a search are click-throughs; a search counts once in its hour, clicked or not', () => {
  const d = driver();
  d.send('search-events', [
    click('10:00:00', 's1'), // the same ms as its search, and arriving before it
    search('10:00:00', 's1', 'q'),
    search('10:30:00', 's2', 'q'),
    click('10:44:59.999', 's6'), // a ms before its search: not a click-through
    search('10:45:00', 's6', 'q'),
    click('10:46:00', 's6'),
    click('11:00:00', 's1'), // exactly an hour after its search
    click('11:00:00.001', 's1'), // an hour and a ms: not a click-through
  ]);
  assert.deepEqual(sorted(d.output<ClickThrough>('click-throughs')).map(through), ['s1 10:00:00.000', 's1 11:00:00.000', 's6 10:46:00.000']);
  assert.deepEqual(d.output('click-rates'), [], 'the hour is not over');

  // The watermark (the newest event minus 2 minutes) reaches 11:59: s2's hour is over, unclicked.
  d.send('search-events', [search('12:01:00', 's3', 'r')]);
  assert.equal(d.watermark, at('11:59:00'));
  assert.deepEqual(d.output('click-rates'), [], '10:00-11:00 waits an hour after its end for the last searches\' clicks');
  d.send('search-events', [search('12:02:00', 's4', 'r')]);
  const rates = d.outputRecords<QueryRate>('click-rates');
  assert.deepEqual(rates.map((r) => rate(r.value)), ['q 10:00-11:00 2/3 0.667']);
  assert.equal(rates[0]!.key, 'q', 'rates are keyed by query');
  assert.deepEqual(rates[0]!.value, { query: 'q', start: '2024-03-01T10:00:00.000Z', end: '2024-03-01T11:00:00.000Z', searches: 3, clicked: 2, rate: 2 / 3 });

  // A click the watermark already passed is late: dropped and counted, and its search stays unclicked.
  d.send('search-events', [search('12:10:00', 's5', 'r'), click('12:05:00', 's3')]);
  assert.deepEqual(d.counters(), { 'click-through': { 'late-dropped': 1 } });
  d.endInput();
  assert.deepEqual(d.output<QueryRate>('click-rates').map(rate), ['r 12:00-13:00 0/3 0.000']);
  assert.deepEqual(d.output('click-throughs'), []);
  for (const op of OPERATORS) assert.equal(d.state(op).size, 0, `${op}: no state once time has ended`);
});

test('events without their fields are dead-lettered with the reason', () => {
  const d = driver();
  d.send('search-events', [
    { type: 'view', ts: 1, searchId: 's', query: 'q' },
    { type: 'search', ts: 'noon', searchId: 's', query: 'q' },
    { type: 'search', ts: 1, query: 'q' },
    { type: 'search', ts: 1, searchId: 's' },
    { type: 'click', ts: 1, searchId: 's' },
  ]);
  const dead = d.deadLettered().map((x) => x.headers['sluice.error']!);
  assert.equal(dead.length, 5);
  for (const [i, pattern] of [/"type" must be/, /"ts" must be/, /"searchId"/, /"query"/, /"url"/].entries()) assert.match(dead[i]!, pattern);
});

test('generated events in batches of random sizes: click-throughs and rates equal brute force', () => {
  for (const seed of [1, 2, 3, 4]) {
    const events = generateEvents(1500, seed);
    const wantThroughs = referenceClickThroughs(events);
    const wantRates = referenceRates(events);
    // The generator's clicks include ones past the hour, several per search and ones on unknown searches.
    const perSearch = new Map<string, number>();
    for (const c of wantThroughs) perSearch.set(c.searchId, (perSearch.get(c.searchId) ?? 0) + 1);
    const clicks = events.filter((e) => e.type === 'click').length;
    assert.ok(clicks - wantThroughs.length > 20 && [...perSearch.values()].some((n) => n > 1), `seed ${seed} exercises the edges`);
    assert.ok(wantRates.some((r) => r.clicked > 0 && r.clicked < r.searches), `seed ${seed} has rates between 0 and 1`);

    const d = driver();
    const random = seeded(seed * 17);
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(random() * 400);
      d.send('search-events', events.slice(i, i + n));
      i += n;
    }
    d.endInput();
    assert.deepEqual(sorted(d.output<ClickThrough>('click-throughs')), wantThroughs, `seed ${seed}: click-throughs`);
    assert.deepEqual(sorted(d.output<QueryRate>('click-rates')), wantRates, `seed ${seed}: rates`);
    assert.deepEqual(d.counters(), {}, `seed ${seed}: nothing late`);
    for (const op of OPERATORS) assert.equal(d.state(op).size, 0, `seed ${seed}: ${op} state after the end`);
  }
});

test('end to end: `sluice run examples/click-through/app.ts --until-end` over a partitioned topic', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  for (const topic of ['search-events', 'click-throughs']) await ok(['topic', 'create', topic, '--partitions', '3']);
  await ok(['topic', 'create', 'click-rates', '--partitions', '2']);
  const events = generateEvents(4000, 42);
  // Keyed by searchId: a search and its clicks in one partition, in arrival order.
  await ok(['produce', 'search-events', '--key-field', 'searchId'], events.map((e) => JSON.stringify(e) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, new RegExp(`click-through: ${events.length} records in, \\d+ out, 0 dead-lettered`));
  assert.doesNotMatch(run.stderr, /late-dropped/);

  const throughs = jsonLines((await ok(['consume', 'click-throughs'])).stdout) as ClickThrough[];
  const rates = jsonLines((await ok(['consume', 'click-rates'])).stdout) as QueryRate[];
  assert.deepEqual(sorted(throughs), referenceClickThroughs(events));
  assert.deepEqual(sorted(rates), referenceRates(events));
  assert.ok(rates.length > 50, '12 hours of 6 queries');
});
