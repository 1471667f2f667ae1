// The holder of a data dir's lock serves the log to other processes on the
// same machine over a Unix-domain socket, with the broker's protocol, so that
// `sluice produce` works while `sluice run` holds the dir. The socket is
// `<dataDir>/sluice.sock`; a path too long for a socket address (about 104
// bytes) gets one in a private directory under the temp dir instead, named by
// the data dir's device and inode, so every process finds the same one.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import { Handlers } from './handlers.ts';
import { TcpServer } from './tcp-server.ts';

/** The shortest limit on a socket address of the platforms we run on (macOS: 104 with the NUL). */
const MAX_SOCKET_PATH_BYTES = 103;

export const SOCKET_FILE = 'sluice.sock';

/** Where the holder of `dataDir` (an existing directory) serves it. */
export function localSocketPath(dataDir: string, tmpDir = os.tmpdir()): string {
  const inDir = join(dataDir, SOCKET_FILE);
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH_BYTES) return inDir;
  const st = fs.statSync(dataDir);
  const id = crypto.createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 24);
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpDir, `sluice-${uid}`);
  const path = join(dir, `${id}.sock`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot share data dir ${dataDir} between processes: its path and the temp dir ${tmpDir} are both too long for a local socket; set TMPDIR to a shorter directory`, { file: dataDir });
  }
  privateDir(dir);
  return path;
}

/** Makes `dir` (mode 0700) or checks that it is ours and private: another user must not plant a socket there. */
function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  const uid = process.getuid?.();
  if ((uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new SluiceError(ErrorCodes.LOCKED, `${dir} holds the local sockets of deep data dirs, but it is not private to this user (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); remove it or set TMPDIR`, { file: dir });
  }
}

export interface LocalServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Serves `log` on the data dir's local socket. Only the lock holder may call this: it removes a
 * socket left by a holder that died, which no one else may do.
 */
export async function serveLocally(log: Log, dataDir: string): Promise<LocalServer> {
  const path = localSocketPath(dataDir);
  fs.rmSync(path, { force: true });
  const handlers = new Handlers(log);
  const tcp = new TcpServer({ handlers });
  try {
    await tcp.listenPath(path);
  } catch (e) {
    handlers.close();
    throw new SluiceError(ErrorCodes.IO_ERROR, `cannot serve data dir ${dataDir} on ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return {
    path,
    close: async () => {
      await tcp.close();
      handlers.close();
      fs.rmSync(path, { force: true });
    },
  };
}
