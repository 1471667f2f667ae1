// Sends a text file's lines (or stdin's) to the word-count job, one
// length-prefixed frame per line.
//
//   node --import tsx examples/word-count/send.ts [FILE] [--host H] [--port P]
//
// Default address: 127.0.0.1 and $WORD_COUNT_PORT or 7010 (where the job listens).

import { createReadStream } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { frame } from './words.ts';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const args = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const file = args[0];
const host = option('--host') ?? '127.0.0.1';
const port = Number(option('--port') ?? process.env.WORD_COUNT_PORT ?? 7010);

const socket = connect({ host, port });
socket.on('error', (e) => {
  process.stderr.write(`send: ${host}:${port}: ${e.message} (is the job running?)\n`);
  process.exit(1);
});
await new Promise<void>((resolve) => socket.once('connect', resolve));

let frames = 0;
const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
for await (const line of createInterface({ input, crlfDelay: Infinity })) {
  // Respect the socket's backpressure: a slow job slows this sender.
  if (!socket.write(frame(line))) await new Promise((resolve) => socket.once('drain', resolve));
  frames++;
}
await new Promise<void>((resolve) => socket.end(resolve));
process.stderr.write(`send: ${frames} lines sent to ${host}:${port}\n`);
