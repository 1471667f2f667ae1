// Wakes a reader in another process when the writer appends: inotify (fs.watch
// on the partition directory) for promptness, plus a slow timer as a safety net
// for filesystems where watch events are lost. Never a busy loop.

import fs from 'node:fs';

const FALLBACK_POLL_MS = 1000;

export class TailWatcher {
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly dir: string;
  private readonly onChange: () => void;

  constructor(dir: string, onChange: () => void) {
    this.dir = dir;
    this.onChange = onChange;
  }

  start(): void {
    if (this.timer) return;
    try {
      this.watcher = fs.watch(this.dir, { persistent: false }, () => this.onChange());
      this.watcher.on('error', () => this.stopWatch());
    } catch {
      this.watcher = null; // directory not there yet: the timer covers it
    }
    this.timer = setInterval(() => this.onChange(), FALLBACK_POLL_MS);
  }

  stop(): void {
    this.stopWatch();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private stopWatch(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
