// `sluice run --typecheck`: tsx runs TypeScript without checking types (a
// `const n: number = 'x'` runs), so this runs the app project's own compiler
// on the app project's own tsconfig.json first, and refuses to start the job
// on any diagnostic. The project's compiler, not Sluice's: the app pins its
// TypeScript version and settings, and Sluice ships no compiler.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ErrorCodes, SluiceError } from '../errors.ts';

/** The nearest tsconfig.json at or above `dir`, or null. */
function findTsconfig(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) return null;
  }
}

/** tsc's entry script as the app's project resolves it, or null. */
function findTsc(fromFile: string): string | null {
  try {
    return join(dirname(createRequire(fromFile).resolve('typescript/package.json')), 'bin', 'tsc');
  } catch {
    return null;
  }
}

/** Runs `tsc --noEmit -p <tsconfig>` for the app's project; its diagnostics go to stderr; throws if it reports any. */
export function typecheck(appFile: string): void {
  const app = resolve(appFile);
  const tsconfig = findTsconfig(dirname(app));
  if (tsconfig === null) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `--typecheck: no tsconfig.json in ${dirname(app)} or above it; create one (\`npx tsc --init\`, settings in docs/install.md) or run without --typecheck`, { file: app });
  }
  const tsc = findTsc(app);
  if (tsc === null) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `--typecheck: TypeScript is not installed in the app's project (${dirname(tsconfig)}); install it with \`npm install --save-dev typescript\``, { file: tsconfig });
  }
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', tsconfig], { cwd: dirname(tsconfig), encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status === 0) return;
  process.stderr.write(out.endsWith('\n') || out === '' ? out : `${out}\n`);
  const errors = (out.match(/error TS\d+/g) ?? []).length;
  throw new SluiceError(
    ErrorCodes.INVALID_ARGUMENT,
    `--typecheck: tsc -p ${tsconfig} reported ${errors === 1 ? '1 error' : `${errors || 'some'} errors`} (above); the job did not start`,
    { file: tsconfig },
  );
}
