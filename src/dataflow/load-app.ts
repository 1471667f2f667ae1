// Loads an application file (TypeScript or JavaScript) for `sluice run`.
// TypeScript is compiled on the fly by tsx, so users run their app file as is.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { isApplication, type Application } from './application.ts';

/**
 * The file's default export must be an Application (or a function, possibly
 * async, returning one — for apps that read their configuration at start).
 */
export async function loadApplication(file: string): Promise<Application> {
  const path = resolve(file);
  if (!existsSync(path)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `no application file at ${path}`, { file: path });
  let mod: { default?: unknown };
  try {
    if (/\.(c|m)?tsx?$/.test(path)) {
      // tsImport loads the file as an ES module wherever it lives (a plain register()
      // would treat a .ts file outside a "type": "module" package as CommonJS).
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as { default?: unknown };
    } else {
      mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    }
  } catch (e) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot load ${file}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  let app = mod.default;
  // A .ts file outside an ES-module package is compiled as CommonJS: its exports arrive wrapped once more.
  if (!isApplication(app) && typeof app === 'object' && app !== null && 'default' in app) app = (app as { default: unknown }).default;
  if (typeof app === 'function') app = await (app as () => unknown)();
  if (!isApplication(app)) {
    throw new SluiceError(
      ErrorCodes.INVALID_ARGUMENT,
      `${file} must \`export default\` an Application (new Application('name') with at least one pipeline), or a function returning one`,
      { file: path },
    );
  }
  return app;
}
