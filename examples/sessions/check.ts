// Compares the sessions the job wrote with the batch reference and prints a
// summary.
//
//   node --import tsx examples/sessions/check.ts clicks.jsonl sessions.jsonl
//
// Exits 1 if they differ.

import { readFileSync } from 'node:fs';
import type { Click, Session } from './app.ts';
import { referenceSessions, sortSessions, tooLate } from './reference.ts';

const [clicksFile, sessionsFile] = process.argv.slice(2);
if (clicksFile === undefined || sessionsFile === undefined) {
  process.stderr.write('usage: check.ts CLICKS.jsonl SESSIONS.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const clicks = read<Click>(clicksFile);
const got = sortSessions(read<Session>(sessionsFile));
const want = referenceSessions(clicks);

const minutes = (s: Session) => (Date.parse(s.end) - Date.parse(s.start)) / 60_000;
const longest = got.reduce<Session | null>((m, s) => (m === null || minutes(s) > minutes(m) ? s : m), null);
console.log(`${clicks.length} clicks from ${new Set(clicks.map((c) => c.userId)).size} users: ${got.length} sessions, ${(clicks.length / Math.max(1, got.length)).toFixed(1)} clicks each on average`);
if (longest) console.log(`the longest: ${JSON.stringify(longest)}`);
if (JSON.stringify(got) !== JSON.stringify(want)) {
  const i = got.findIndex((s, j) => JSON.stringify(s) !== JSON.stringify(want[j]));
  console.log(`MISMATCH: ${got.length} sessions, the reference has ${want.length}; first difference: ${JSON.stringify(got[i])} vs ${JSON.stringify(want[i])}`);
  console.log(`(${tooLate(clicks).length} clicks arrived after the allowed lateness)`);
  process.exit(1);
}
console.log('every session equals the batch reference (examples/sessions/reference.ts)');
