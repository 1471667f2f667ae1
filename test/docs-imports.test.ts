// The imports shown in the docs and the README are what users copy: each name
// must be exported by the subpath the snippet imports it from (package.json
// "exports"; docs/architecture.md, "Public API"). Reads the built dist/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { default: string; types: string }> };

const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const importRe = /import\s*(type\s+)?\{([^}]*)\}\s*from\s*'(sluice(?:\/[a-z]+)?)'/g;

test('every name a doc imports from sluice or a sluice/ subpath is exported there', async () => {
  const problems: string[] = [];
  let seen = 0;
  for (const page of pages) {
    for (const m of readFileSync(join(root, page), 'utf8').matchAll(importRe)) {
      const subpath = m[3] === 'sluice' ? '.' : `.${m[3]!.slice('sluice'.length)}`;
      const entry = pkg.exports[subpath];
      if (!entry) {
        problems.push(`${page}: '${m[3]}' is not a subpath of package.json "exports"`);
        continue;
      }
      const values = (await import(pathToFileURL(join(root, entry.default)).href)) as Record<string, unknown>;
      const types = readFileSync(join(root, entry.types), 'utf8');
      for (const raw of m[2]!.split(',').map((s) => s.trim()).filter(Boolean)) {
        const isType = m[1] !== undefined || raw.startsWith('type ');
        const name = raw.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!;
        seen++;
        const found = isType ? new RegExp(`\\b${name}\\b`).test(types) : name in values;
        if (!found) problems.push(`${page}: ${name} is not exported by '${m[3]}'`);
      }
    }
  }
  assert.ok(seen > 20, `only ${seen} imported names found in the docs: is the pattern still right?`);
  assert.deepEqual(problems, []);
});
