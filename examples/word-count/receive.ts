// Prints what the word-count job sends: a TCP server on the port the job's
// sink connects to. Each line is `WORD => COUNT`.
//
//   node --import tsx examples/word-count/receive.ts [--port P]
//
// Default port: the one in $WORD_COUNT_SINK (host:port), or 7002.

import { createServer } from 'node:net';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(option('--port') ?? /:(\d+)$/.exec(process.env.WORD_COUNT_SINK ?? '')?.[1] ?? 7002);

const server = createServer((socket) => {
  process.stderr.write(`receive: connection from ${socket.remoteAddress}:${socket.remotePort}\n`);
  socket.pipe(process.stdout, { end: false });
  socket.on('close', () => process.stderr.write('receive: connection closed\n'));
  socket.on('error', (e) => process.stderr.write(`receive: ${e.message}\n`));
});
// A port already taken is the one failure a first run meets: one line saying what to change, not Node's stack.
server.once('error', (e: NodeJS.ErrnoException) => {
  const hint = e.code === 'EADDRINUSE' ? ': another program listens there; pick a free port with WORD_COUNT_SINK=127.0.0.1:PORT' : '';
  process.stderr.write(`receive: cannot listen on 127.0.0.1:${port} (${e.code ?? e.message})${hint}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stderr.write(`receive: listening on 127.0.0.1:${port}\n`));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
