// Small helpers shared by the benchmarks: machine facts, timing, percentiles,
// temp dirs, and a plain-text table printer.

import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const now = (): number => performance.now();

/** One line per fact, printed at the top of every run so figures can be compared. */
export function machineFacts(): string[] {
  const cpus = os.cpus();
  return [
    `node ${process.version} (${process.platform} ${process.arch}), V8 ${process.versions.v8}`,
    `cpu: ${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores (${os.availableParallelism()} available)`,
    `memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; tmpdir: ${os.tmpdir()}; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
  ];
}

/** p in [0, 100] of an ascending-sorted array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(xs: readonly number[]): number {
  return percentile(Float64Array.from(xs).sort(), 50);
}

/** A fresh directory under os.tmpdir(); delete it with removeDir. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(join(os.tmpdir(), `sluice-bench-${prefix}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** 1234567 -> "1,234,567". */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

export function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(ms < 10 ? 2 : 1) : '-';
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${(r * 100).toFixed(0)}%` : '-';
}

/** Prints rows as an aligned text table (also valid Markdown). Numbers are right-aligned. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtInt(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const right = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number' || /^[\d.,%-]+( ms)?$/.test(String(r[i] ?? ''))));
  const line = (r: string[]): string =>
    '| ' + r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  console.log(line(headers));
  console.log('|' + widths.map((w, i) => (right[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|');
  for (const r of cells) console.log(line(r));
}

/** Lets the event loop and GC settle between measurements. */
export async function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 50));
}
