// Generates website clicks as JSON lines, in the order they arrive.
// Deterministic for a seed.
//
//   node --import tsx examples/sessions/generate.ts [count] [seed] [users] > clicks.jsonl
//
// Each user clicks from 2024-03-01 00:00 UTC on, the pause before each click:
// - 70%: 5 s to 5 minutes (browsing on);
// - 15%: 20 to 40 minutes (around the 30-minute gap: one visit or two);
// - 15%: 1 to 8 hours (a new visit).
// Clicks arrive 0-30 s after they happen, 20% of them 30 s to 9 minutes:
// always within the watermark's minute plus the 10 minutes of allowed
// lateness, so no click is too late and every session comes out exactly as
// in a batch over all clicks (see reference.ts) — while delayed clicks do
// bridge sessions that looked over.

import { pathToFileURL } from 'node:url';
import { MINUTE, type Click } from './app.ts';
import { seeded } from '../stock-tracker/generate.ts';

export const PAGES = ['/', '/pricing', '/docs', '/docs/windows', '/docs/sessions', '/blog', '/signup', '/login', '/account'];
export const START = Date.UTC(2024, 2, 1);

export function generateClicks(count: number, seed: number, users = 20): Click[] {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const clock = Array.from({ length: users }, () => START + between(0, 60 * MINUTE));
  const arrivals: { at: number; click: Click }[] = [];
  for (let i = 0; i < count; i++) {
    const u = Math.floor(random() * users);
    const pause = random();
    clock[u]! += pause < 0.7 ? between(5_000, 5 * MINUTE) : pause < 0.85 ? between(20 * MINUTE, 40 * MINUTE) : between(60 * MINUTE, 8 * 60 * MINUTE);
    const click: Click = { ts: clock[u]!, userId: `user-${String(u).padStart(2, '0')}`, page: PAGES[Math.floor(random() * PAGES.length)]! };
    const delay = random() < 0.8 ? between(0, 30_000) : between(30_000, 9 * MINUTE);
    arrivals.push({ at: click.ts + delay, click });
  }
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.click);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2] ?? 5000);
  const seed = Number(process.argv[3] ?? 7);
  const users = Number(process.argv[4] ?? 20);
  process.stdout.write(generateClicks(count, seed, users).map((c) => JSON.stringify(c) + '\n').join(''));
}
