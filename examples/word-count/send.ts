// Sends a text file's lines (or stdin's) to the word-count job, one
// length-prefixed frame per line.
//
//   node --import tsx examples/word-count/send.ts [FILE] [--host H] [--port P] [--retry-ms MS]
//
// Default address: 127.0.0.1 and $WORD_COUNT_PORT or 7010 (where the job
// listens). --retry-ms keeps trying to connect that long (the job may still be
// starting). Prints how many lines and words it sent on stderr.

import { createReadStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { frame, splitWords } from './words.ts';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The first argument that is neither an option nor an option's value. */
function positional(): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i]!.startsWith('--')) i++;
    else return argv[i];
  }
  return undefined;
}

const file = positional();
const host = option('--host') ?? '127.0.0.1';
const port = Number(option('--port') ?? process.env.WORD_COUNT_PORT ?? 7010);
const retryUntil = Date.now() + Number(option('--retry-ms') ?? 0);

async function open(): Promise<Socket> {
  for (;;) {
    const s = connect({ host, port });
    try {
      await once(s, 'connect');
      return s;
    } catch (e) {
      s.destroy();
      if (Date.now() >= retryUntil) {
        process.stderr.write(`send: ${host}:${port}: ${(e as Error).message} (is the job running?)\n`);
        process.exit(1);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const socket = await open();
socket.on('error', (e) => {
  process.stderr.write(`send: ${host}:${port}: ${e.message}\n`);
  process.exit(1);
});
let lines = 0;
let words = 0;
const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
for await (const line of createInterface({ input, crlfDelay: Infinity })) {
  // Respect the socket's backpressure: a slow job slows this sender.
  if (!socket.write(frame(line))) await once(socket, 'drain');
  lines++;
  words += splitWords(line).length;
}
await new Promise<void>((resolve) => socket.end(resolve));
process.stderr.write(`send: ${lines} lines (${words} words) sent to ${host}:${port}\n`);
