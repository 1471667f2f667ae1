// Sessions computed in one batch over all clicks, the obvious way, for tests
// and run.sh: per user, sort the clicks by time and cut wherever two clicks
// are GAP_MS or more apart.
//
// The job decides as each click arrives, so it matches this only when no
// click is too late: one arriving after the watermark passed its time plus
// the allowed lateness may miss a session that already closed (`tooLate`
// finds those; the generator makes none).

import { ALLOWED_LATENESS_MS, GAP_MS, MAX_OUT_OF_ORDER_MS, type Click, type Session } from './app.ts';

export function referenceSessions(clicks: readonly Click[]): Session[] {
  const byUser = new Map<string, Click[]>();
  for (const c of clicks) byUser.set(c.userId, [...(byUser.get(c.userId) ?? []), c]);
  const out: Session[] = [];
  for (const [userId, mine] of byUser) {
    // By time; two clicks at the same ms by page, which is how pages first visited together are listed.
    mine.sort((a, b) => a.ts - b.ts || (a.page < b.page ? -1 : a.page > b.page ? 1 : 0));
    let run: Click[] = [];
    const cut = () => {
      if (run.length === 0) return;
      const iso = (ms: number) => new Date(ms).toISOString();
      out.push({ userId, start: iso(run[0]!.ts), end: iso(run[run.length - 1]!.ts), clicks: run.length, pages: [...new Set(run.map((c) => c.page))] });
      run = [];
    };
    for (const c of mine) {
      if (run.length > 0 && c.ts - run[run.length - 1]!.ts >= GAP_MS) cut();
      run.push(c);
    }
    cut();
  }
  return sortSessions(out);
}

/** Clicks (in arrival order) that arrive when the watermark has passed their time plus the allowed lateness. */
export function tooLate(clicks: readonly Click[]): Click[] {
  let newest = -Infinity;
  return clicks.filter((c) => {
    const watermark = newest - MAX_OUT_OF_ORDER_MS;
    newest = Math.max(newest, c.ts);
    return watermark >= c.ts + ALLOWED_LATENESS_MS;
  });
}

/** By user, then start: one order for results from anywhere. */
export function sortSessions(sessions: Session[]): Session[] {
  return sessions.sort((a, b) => (a.userId !== b.userId ? (a.userId < b.userId ? -1 : 1) : a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}
