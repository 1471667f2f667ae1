// Loading the application file for `sluice run`, with the one failure every
// newcomer meets first said plainly: an import that does not resolve (most
// often 'sluice' itself, in a project that has not installed it). Node's own
// message names loader internals ("Require stack: - app.ts?namespace=...");
// this names the import, the file, and the command that fixes it.

import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Application } from '../dataflow/application.ts';
import { loadApplication } from '../dataflow/load-app.ts';

/** This CLI's own package directory (dist/cli/ and src/cli/ are both two levels below it). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Missing {
  specifier: string;
  importer: string;
}

/** The import that did not resolve, from Node's ESM or CommonJS not-found error. */
function missingImport(e: unknown): Missing | null {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  const message = (e as Error).message;
  const esm = /^Cannot find (?:package|module) '([^']+)' imported from (.+)$/m.exec(message);
  if (esm) return { specifier: esm[1]!, importer: esm[2]!.trim() };
  const cjs = /^Cannot find module '([^']+)'/m.exec(message);
  if (!cjs) return null;
  // The first line of CommonJS's require stack is the importer; tsx adds a ?namespace= query.
  const importer = /^- (.+?)(?:\?namespace=\S*)?$/m.exec(message)?.[1] ?? '';
  return { specifier: cjs[1]!, importer };
}

function packageName(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function shown(path: string): string {
  const p = path.startsWith('file:') ? fileURLToPath(path) : path;
  const r = relative(process.cwd(), p);
  return r === '' || r.startsWith('..') ? p : r;
}

/** The application, or an INVALID_ARGUMENT that says which import is missing and how to install it. */
export async function loadApp(file: string): Promise<Application> {
  try {
    return await loadApplication(file);
  } catch (e) {
    const missing = e instanceof SluiceError ? missingImport(e.cause) : null;
    if (!missing) throw e;
    const from = missing.importer === '' ? file : shown(missing.importer);
    const pkg = packageName(missing.specifier);
    let fix: string;
    if (pkg === 'sluice') {
      fix = `install it in the app's project: \`npm install ${PACKAGE_ROOT}\` (this CLI's package), or from a tarball or a git URL (see docs/install.md)`;
    } else if (pkg !== null) {
      fix = `install it in the app's project: \`npm install ${pkg}\``;
    } else {
      fix = 'check the path and its extension (an app imports its own files as ./name.ts or ./name.js)';
    }
    const what = pkg === null ? `module '${shown(missing.specifier)}'` : `package '${missing.specifier}'`;
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot find ${what} imported from ${from}: ${fix}`, { file: from, specifier: missing.specifier }, { cause: e });
  }
}
