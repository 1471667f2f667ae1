// node's TAP reporter plus a table of the slowest test files, printed as TAP
// comments just before node's own closing summary (`# tests N`, `# pass N`,
// `# fail N`, ...), which stays last: CI reads those lines.
//
// A file's wall time is the duration of node's per-file test (process start to
// exit); its CPU time comes from scripts/test-cpu.mjs, preloaded into each file's process.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tap } from 'node:test/reporters';

const SHOWN = Number(process.env.SLUICE_TEST_SLOWEST ?? 12);

function cpuByFile() {
  const dir = process.env.SLUICE_TEST_CPU_DIR;
  const out = new Map();
  if (!dir) return out;
  for (const name of readdirSync(dir)) {
    try {
      const { file, cpuS } = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      out.set(file, (out.get(file) ?? 0) + cpuS);
    } catch {
      // A file half-written by a process killed at exit: no figure for it.
    }
  }
  return out;
}

function table(walls) {
  const cpu = cpuByFile();
  const rows = [...walls].sort((a, b) => b[1] - a[1]).slice(0, SHOWN);
  const total = [...walls.values()].reduce((s, w) => s + w, 0);
  const lines = [`slowest ${rows.length} of ${walls.size} test files (wall s, cpu s incl. the processes each spawned; sum of all files' wall: ${total.toFixed(0)} s):`];
  for (const [file, wall] of rows) {
    const c = cpu.get(file);
    lines.push(`${wall.toFixed(1).padStart(7)} ${c === undefined ? '      -' : c.toFixed(1).padStart(7)}  ${relative(process.cwd(), file)}`);
  }
  return lines.map((message) => ({ type: 'test:diagnostic', data: { nesting: 0, message } }));
}

async function* withSlowest(source) {
  const walls = new Map();
  let shown = false;
  for await (const event of source) {
    const d = event.data;
    // node's own test for a whole file is named by the file's path.
    if (event.type === 'test:complete' && d.nesting === 0 && d.file !== undefined && d.name === d.file) walls.set(d.file, d.details.duration_ms / 1000);
    if (!shown && event.type === 'test:diagnostic' && d.file === undefined && d.nesting === 0 && /^tests \d+$/.test(d.message)) {
      shown = true;
      yield* table(walls);
    }
    yield event;
  }
  if (!shown) yield* table(walls);
}

export default async function* reporter(source) {
  yield* tap(withSlowest(source));
}
