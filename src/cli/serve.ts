// `sluice serve`: runs the broker on a data dir until SIGINT/SIGTERM, then
// shuts down gracefully (in-flight requests finish, the log is synced) and
// exits 0. See docs/server.md.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { resolveToken } from '../server/auth.ts';
import { Broker, DEFAULT_HTTP, DEFAULT_LISTEN } from '../server/broker.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frames.ts';
import { dataDirOf, parseIntArg } from './options.ts';
import { untilStopped } from './stop-signal.ts';

interface ServeOptions {
  listen: string;
  http: string | false;
  authToken?: string;
  authTokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxConnections: number;
  maxFrameBytes: number;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot read the TLS ${what} ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the broker: serve the data dir to other processes and machines (binary protocol, HTTP API, /metrics)')
    .option('--listen <host:port>', 'binary protocol address (clients: --broker sluice://HOST:PORT)', DEFAULT_LISTEN)
    .option('--http <host:port>', 'HTTP API address', DEFAULT_HTTP)
    .option('--no-http', 'no HTTP API')
    .option('--auth-token <token>', 'require this token of every client (required beyond loopback); or $SLUICE_TOKEN')
    .option('--auth-token-file <file>', 'read the token from a file (its first line)')
    .option('--tls-cert <file>', 'PEM certificate: TLS for the protocol (sluices://) and HTTPS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--max-connections <n>', 'refuse connections beyond this many', parseIntArg(1), 1024)
    .option('--max-frame-bytes <n>', 'largest request or response frame', parseIntArg(1024), DEFAULT_MAX_FRAME_BYTES)
    .action(async (opts: ServeOptions, cmd: Command) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'give both --tls-cert and --tls-key, or neither');
      const token = resolveToken({ token: opts.authToken, tokenFile: opts.authTokenFile, env: process.env['SLUICE_TOKEN'] });
      const broker = await Broker.start({
        dataDir: dataDirOf(cmd),
        listen: opts.listen,
        http: opts.http === false ? null : opts.http,
        token,
        tls: opts.tlsCert && opts.tlsKey ? { cert: readPem(opts.tlsCert, 'certificate'), key: readPem(opts.tlsKey, 'key') } : undefined,
        maxConnections: opts.maxConnections,
        maxFrameBytes: opts.maxFrameBytes,
      });
      const tls = opts.tlsCert !== undefined;
      const h = broker.httpAddress;
      process.stderr.write(`sluice serve: ${dataDirOf(cmd)} on ${broker.url(tls)}${h ? `, HTTP ${tls ? 'https' : 'http'}://${h.host}:${h.port}` : ''}${token === undefined ? ' (no token required: loopback only)' : ' (token required)'}\n`);
      await untilStopped((signal) => new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true })));
      process.stderr.write('sluice serve: shutting down\n');
      await broker.close();
    });
}
