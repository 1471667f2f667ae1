// Several processes writing one embedded data dir. The first to take the
// dir's lock opens the FileLog and serves it on the dir's local socket
// (local-socket.ts); every other writer is a client of that socket,
// with the remote client's guarantees (idempotent appends, transactions,
// fencing), so `sluice produce` works while `sluice run` holds the dir.
//
// When the holder goes (it exits, or is killed and the kernel frees its
// lock), its clients' connections fail; each failed attempt to reconnect
// tries to take the lock, and the one that wins opens the FileLog (recovering
// it) and serves the socket, to which its own client and the others then
// reconnect. Requests outstanding meanwhile are sent again and answered once.
//
// This sits in the server layer (it uses its protocol server), below the CLI.

import { join } from 'node:path';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { FileLog } from '../log/file/file-log.ts';
import { isLockHeld, lockHolderName, readLockOwner } from '../log/file/lock.ts';
import type { Log } from '../log/log.ts';
import { RemoteLog, type RemoteLogOptions } from '../log/remote/remote-log.ts';
import { localSocketPath, serveLocally, type LocalServer } from './local-socket.ts';

export interface SharedLogOptions {
  dataDir: string;
  /** How long a writer waits for a live holder that does not serve the dir yet. Default 10 s. */
  waitForHolderMs?: number;
  /** Told once what a writer waits for, when the wait is longer than a moment. */
  onWait?: (message: string) => void;
}

/** Waits shorter than this are not worth telling the user about. */
const TELL_AFTER_MS = 1000;

/** The FileLog of the lock holder, which also serves it on the local socket until closed. */
class HeldLog extends FileLog {
  server: LocalServer | null = null;

  override async close(): Promise<void> {
    await this.server?.close();
    this.server = null;
    await super.close();
  }
}

/** A writer whose log is served by another process (or, after taking over, by itself). */
class ClientLog extends RemoteLog {
  private readonly took: { log: HeldLog | null };

  constructor(o: RemoteLogOptions, took: { log: HeldLog | null }) {
    super(o);
    this.took = took;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.took.log?.close();
  }
}

/** Opens `dataDir` for writing: as its holder if its lock is free, else as a client of the holder. */
export async function openSharedLog(o: SharedLogOptions): Promise<Log> {
  return (await tryToHold(o.dataDir)) ?? openClient(o);
}

/** The held log, or null while another live process holds the lock. */
async function tryToHold(dataDir: string): Promise<HeldLog | null> {
  if (isLockHeld(join(dataDir, 'LOCK'))) return null;
  const log = new HeldLog({ dataDir });
  try {
    await log.init();
  } catch (e) {
    if (isSluiceError(e, ErrorCodes.LOCKED)) return null; // taken meanwhile
    throw e;
  }
  try {
    log.server = await serveLocally(log, dataDir);
  } catch (e) {
    await log.close();
    throw e;
  }
  return log;
}

async function openClient(o: SharedLogOptions): Promise<Log> {
  const lockPath = join(o.dataDir, 'LOCK');
  const path = localSocketPath(o.dataDir);
  const waitMs = o.waitForHolderMs ?? 10_000;
  const took: { log: HeldLog | null } = { log: null };
  const since = Date.now();
  let told = false;
  const onUnreachable = async (): Promise<void> => {
    if (took.log) return; // this process serves the dir now; its socket answers the next attempt
    took.log = await tryToHold(o.dataDir);
    if (took.log || told || Date.now() - since < TELL_AFTER_MS) return;
    told = true;
    o.onWait?.(`waiting up to ${Math.round(waitMs / 1000)} s for ${lockHolderName(lockPath)}, which holds data dir ${o.dataDir}, to serve it on ${path}`);
  };
  const log = new ClientLog({ url: `sluice+unix://${path}`, firstConnectForMs: waitMs, onUnreachable }, took);
  try {
    await log.connect();
  } catch (e) {
    await log.close();
    if (!isSluiceError(e, ErrorCodes.UNAVAILABLE)) throw e;
    throw new SluiceError(
      ErrorCodes.LOCKED,
      `data dir ${o.dataDir} is held by ${lockHolderName(lockPath)}, which did not serve it on ${path} within ${Math.round(waitMs / 1000)} s: ` +
        'it opened the dir from its own program (openFileLog), or is still recovering a large dir. Try again once it is up, or have it run `sluice serve` and pass --broker.',
      { file: lockPath, owner: readLockOwner(lockPath) ?? undefined },
      { cause: e },
    );
  }
  return log;
}
