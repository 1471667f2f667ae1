// Binding the servers of the socket sources (TCP, HTTP).

import type { AddressInfo, Server } from 'node:net';
import { SluiceError } from '../errors.ts';
import { errorText } from './options.ts';

/**
 * Starts `server` listening. A failure to bind is an IO_ERROR naming the
 * address; later server errors are logged as `<name>: server error: …`, not
 * thrown. Returns the real address (the port chosen when `port` was 0).
 */
export async function listen(server: Server, kind: string, name: string, host: string, port: number, log: (message: string) => void): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new SluiceError('IO_ERROR', `${kind} source cannot listen on ${host}:${port}: ${errorText(e)}`, { host, port }, { cause: e })));
    server.listen(port, host, () => resolve());
  });
  server.on('error', (e) => log(`${name}: server error: ${errorText(e)}`));
  return { host, port: (server.address() as AddressInfo).port };
}
