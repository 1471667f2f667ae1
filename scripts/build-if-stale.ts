// Builds dist/ only when it is stale: when some src/**/*.ts has no dist/**/*.js
// of its own, or is newer than it, or the build's inputs outside src/ (the
// tsconfigs, the locked compiler version) are newer than the oldest output.
// tsc rewrites every output on each build, so one stale file means a build.
// `npm run demo`, the examples, the proofs and `npm test` start with it, so a
// second run does not spend a compile (tens of seconds on a busy 2-core machine);
// `npm run build` still always builds.
//
//   node --import tsx scripts/build-if-stale.ts [--check]   (--check: say, exit 1 if stale, do not build)

import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Files that shape every output, besides the sources themselves. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const mtime = (p: string): number | undefined => statSync(p, { throwIfNoEntry: false })?.mtimeMs;

/** Why `root`'s dist/ needs a build, or null when it is up to date. */
export function staleReason(root: string): string | null {
  const src = join(root, 'src');
  let oldestOutput = Infinity;
  for (const file of sources(src)) {
    const output = join(root, 'dist', relative(src, file).replace(/\.ts$/, '.js'));
    const built = mtime(output);
    if (built === undefined) return `${relative(root, output)} does not exist`;
    if (mtime(file)! > built) return `${relative(root, file)} is newer than ${relative(root, output)}`;
    oldestOutput = Math.min(oldestOutput, built);
  }
  for (const input of BUILD_INPUTS) {
    const changed = mtime(join(root, input));
    if (changed !== undefined && changed > oldestOutput) return `${input} is newer than dist/`;
  }
  return null;
}

if (process.argv[1] === import.meta.filename) {
  const root = join(import.meta.dirname, '..');
  const reason = staleReason(root);
  if (reason === null) {
    console.error('dist/ is up to date with src/: not building');
  } else if (process.argv.includes('--check')) {
    console.error(`dist/ is stale: ${reason}`);
    process.exitCode = 1;
  } else {
    console.error(`dist/ is stale (${reason}): npm run build`);
    const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  }
}
