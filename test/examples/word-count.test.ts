// The word-count example: its pure parts, its graph in the TestDriver, and the
// real thing — the built CLI running examples/word-count/app.ts, fed over real
// sockets with length-prefixed frames, writing `WORD => COUNT` lines to a real
// TCP receiver.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { finished, spawnCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build } from '../../examples/word-count/app.ts';
import { firstLetterPartition, frame, parseCountLine, splitWords } from '../../examples/word-count/words.ts';

const APP = fileURLToPath(new URL('../../examples/word-count/app.ts', import.meta.url));

test('splitWords: lowercase; letters, digits and inner apostrophes make words; everything else separates', () => {
  assert.deepEqual(splitWords('My solitude is cheered by that elegant hope.'), ['my', 'solitude', 'is', 'cheered', 'by', 'that', 'elegant', 'hope']);
  assert.deepEqual(splitWords("Don't STOP -- it's 'quoted', dogs' bones"), ["don't", 'stop', "it's", 'quoted', 'dogs', 'bones']);
  assert.deepEqual(splitWords('hello,world...42nd\tstreet\r\nend'), ['hello', 'world', '42nd', 'street', 'end']);
  assert.deepEqual(splitWords('Café NAÏVE über ’tis'), ['café', 'naïve', 'über', 'tis']);
  assert.deepEqual(splitWords("  ... '' --- !!! "), []);
  assert.deepEqual(splitWords(''), []);
});

test('firstLetterPartition: a–z → 0–25, anything else → 26 ("!")', () => {
  assert.equal(firstLetterPartition('acorn'), 0);
  assert.equal(firstLetterPartition('among'), 0);
  assert.equal(firstLetterPartition('bacon'), 1);
  assert.equal(firstLetterPartition('zebra'), 25);
  assert.equal(firstLetterPartition('42nd'), 26);
  assert.equal(firstLetterPartition('über'), 26);
});

/** Deterministic text with punctuation, case, digits, apostrophes and non-ASCII letters. */
function corpus(lines: number): string[] {
  const vocab = ['The', 'quick', 'brown', 'fox', "don't", 'Jumps', 'over', 'the', 'LAZY', 'dog', 'café', '42', 'élan', 'zebra', "'tis", 'A', 'an', 'x-ray', 'über'];
  const seps = [' ', ', ', '. ', ' -- ', '! ', '?', '\t', ' (', ') ', '"', ';'];
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = rnd(12);
    let line = '';
    for (let j = 0; j < n; j++) line += vocab[rnd(vocab.length)]! + seps[rnd(seps.length)]!;
    out.push(line);
  }
  return out;
}

/**
 * Word → count, computed here without the example's code: the documented rule
 * (runs of letters, digits and apostrophes, lowercased, apostrophes trimmed
 * from both ends) written independently of splitWords.
 */
function referenceCounts(lines: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of lines) {
    for (const [m] of l.toLowerCase().replaceAll('\u2019', "'").matchAll(/[\p{L}\p{N}']+/gu)) {
      let w = m;
      while (w.startsWith("'")) w = w.slice(1);
      while (w.endsWith("'")) w = w.slice(0, -1);
      if (w.length > 0) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

test('the word-count graph in the TestDriver: a running count per word, as `WORD => COUNT` lines', () => {
  const app = build({ lines: placeholderSource('lines'), counts: placeholderSink('counts') });
  const d = new TestDriver(app);
  d.send('lines', ['My solitude is cheered by that elegant hope.', 'Hope, hope! 42 is... my 42']);
  assert.deepEqual(d.output('counts'), [
    'my => 1\n', 'solitude => 1\n', 'is => 1\n', 'cheered => 1\n', 'by => 1\n', 'that => 1\n', 'elegant => 1\n', 'hope => 1\n',
    'hope => 2\n', 'hope => 3\n', '42 => 1\n', 'is => 2\n', 'my => 2\n', '42 => 2\n',
  ]);
  assert.deepEqual(d.state('word-totals', 'hope'), { count: 3 });
  assert.deepEqual(d.state('word-totals', '42'), { count: 2 });

  const lines = corpus(500);
  d.send('lines', lines);
  const last = new Map<string, number>();
  for (const l of d.output<string>('counts')) {
    const parsed = parseCountLine(l.replace(/\n$/, ''));
    assert.ok(parsed && l.endsWith('\n'), `bad line ${JSON.stringify(l)}`);
    last.set(parsed.word, parsed.count);
  }
  const expected = referenceCounts(['My solitude is cheered by that elegant hope.', 'Hope, hope! 42 is... my 42', ...lines]);
  for (const [w, n] of referenceCounts(lines)) assert.equal(last.get(w), expected.get(w), `count of ${w} (${n} in the corpus)`);
  assert.deepEqual(new Map([...d.state<{ count: number }>('word-totals')].map(([w, s]) => [w, s.count])), expected);
});

test('the graph keys words into 27 state partitions with the first-letter partitioner', () => {
  const app = build({ lines: placeholderSource('lines'), counts: placeholderSink('counts') });
  const keyBy = app.nodes().find((n) => n.kind === 'keyBy');
  assert.ok(keyBy && keyBy.kind === 'keyBy');
  assert.equal(keyBy.partitions, 27);
  assert.equal(keyBy.partitionFn, firstLetterPartition);
  assert.deepEqual(app.processNodes().map((n) => [n.name, n.partitions]), [['word-totals', 27]]);
});

test('output records are keyed by word', () => {
  const app = build({ lines: placeholderSource('lines'), counts: placeholderSink('counts') });
  const d = new TestDriver(app);
  d.send('lines', ['b a b']);
  assert.deepEqual(d.outputRecords('counts').map((r) => r.key), ['b', 'a', 'b']);
});

// ---------------------------------------------------------------------------
// End to end: the built CLI, real sockets.

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Connects, retrying while the job is still starting (it listens once its sink is connected). */
async function connectWithRetry(port: number, deadline: number, exited: () => boolean): Promise<Socket> {
  for (;;) {
    const s = connect({ host: '127.0.0.1', port });
    try {
      await once(s, 'connect');
      return s;
    } catch (e) {
      s.destroy();
      if (exited() || Date.now() > deadline) throw new Error(`cannot connect to the job on port ${port}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function write(s: Socket, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(b, (e) => (e ? reject(e) : resolve())));
}

test('sluice run examples/word-count/app.ts: frames over real sockets in, `WORD => COUNT` lines out', async (t) => {
  const dir = tmpDir(t);
  const lines = corpus(600);
  const expected = referenceCounts(lines);
  const totalWords = [...expected.values()].reduce((a, b) => a + b, 0);

  // The receiver the job's TCP sink connects to.
  let received = '';
  let receiverConnections = 0;
  let progress: () => void = () => {};
  const receiver = createServer((sock) => {
    receiverConnections++;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      received += d;
      progress();
    });
  });
  const sinkPort = await listen(receiver);
  const sourcePort = await freePort();

  const job = spawnCli(['run', APP, '--data-dir', dir], {
    dataDir: dir,
    env: { WORD_COUNT_PORT: String(sourcePort), WORD_COUNT_SINK: `127.0.0.1:${sinkPort}` },
  });
  const done = finished(job, 60_000);
  let exited = false;
  void done.then(() => (exited = true), () => (exited = true));
  const sockets: Socket[] = [];
  try {
    const deadline = Date.now() + 30_000;
    const a = await connectWithRetry(sourcePort, deadline, () => exited);
    const b = await connectWithRetry(sourcePort, deadline, () => exited);
    sockets.push(a, b);

    // Connection a: several whole frames per write, plus an empty frame.
    const half = lines.length / 2;
    const aLines = lines.slice(0, half);
    for (let i = 0; i < aLines.length; i += 25) await write(a, Buffer.concat([...aLines.slice(i, i + 25).map(frame), frame('')]));
    // Connection b: one byte stream cut at odd places — inside length headers,
    // inside payloads, inside multi-byte UTF-8 characters.
    const stream = Buffer.concat(lines.slice(half).map(frame));
    const cuts = [1, 2, 3, 5, 7, 11, 13, 64, 333];
    for (let at = 0, i = 0; at < stream.length; i++) {
      const n = cuts[i % cuts.length]!;
      await write(b, stream.subarray(at, at + n));
      at += n;
    }

    // Wait until every word's count has reached the reference count.
    const last = new Map<string, number>();
    let parsedUpTo = 0;
    const complete = () => {
      const end = received.lastIndexOf('\n') + 1;
      for (const l of received.slice(parsedUpTo, end).split('\n')) {
        const p = parseCountLine(l);
        if (p) last.set(p.word, Math.max(p.count, last.get(p.word) ?? 0));
      }
      parsedUpTo = end;
      return [...expected].every(([w, n]) => last.get(w) === n);
    };
    while (!complete()) {
      if (exited) throw new Error(`the job exited early: ${JSON.stringify(await done)}`);
      if (Date.now() > deadline) {
        const right = [...expected].filter(([w, n]) => last.get(w) === n).length;
        throw new Error(`timed out: ${right} of ${expected.size} words have their final count so far; last output:\n${received.slice(-500)}`);
      }
      await new Promise<void>((r) => {
        progress = r;
        setTimeout(r, 200);
      });
    }

    // Every line has the format; each word counts 1, 2, …, n in order; nothing else arrived.
    assert.ok(received.endsWith('\n'));
    const outLines = received.slice(0, -1).split('\n');
    assert.equal(outLines.length, totalWords, 'one output line per input word');
    const seen = new Map<string, number>();
    for (const l of outLines) {
      const p = parseCountLine(l);
      assert.ok(p, `output line ${JSON.stringify(l)} is not WORD => COUNT`);
      const prev = seen.get(p.word) ?? 0;
      assert.equal(p.count, prev + 1, `counts of ${p.word} go up by one`);
      seen.set(p.word, p.count);
    }
    assert.deepEqual(seen, expected);
    assert.equal(receiverConnections, 1);
  } finally {
    for (const s of sockets) s.destroy();
    job.kill('SIGTERM');
    receiver.close();
  }
  const r = await done;
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.code, 0, `the job should stop cleanly on SIGTERM: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`word-count: ${lines.length + 12} records in, ${totalWords} out`));
});
