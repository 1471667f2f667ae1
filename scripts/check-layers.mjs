#!/usr/bin/env node
// Fails when a file in src/ imports a layer above its own (docs/architecture.md).
// Each folder names the folders it may import; anything else is an upward (or
// sideways) arrow. Type-only imports count too: a type from above is still a
// dependency on above. The public entry files (package.json "exports":
// src/index.ts, src/log/index.ts, ...) may import anything, and so nothing in
// src/ may import them: their exemption must not leak into a layer.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const base = ['.', 'util'];
const log = [...base, 'log'];
const dataflow = [...log, 'dataflow'];
const connectors = [...dataflow, 'connectors'];
const runtime = [...connectors, 'runtime'];
const engine = [...dataflow]; // pure: no log, no connectors, no I/O
const exec = [...runtime, 'runtime/**', 'exec'];
// folder -> the folders its files may import (its own is always allowed;
// 'x/**' is x and every folder under it)
const allowed = {
  util: [],
  '.': ['util'],
  log: base,
  'log/file': log,
  protocol: log,
  'log/remote': [...log, 'protocol'],
  dataflow: log,
  connectors: dataflow,
  'runtime/engine': engine,
  'runtime/workers': [...dataflow, 'runtime/engine'],
  'runtime/testing': [...dataflow, 'runtime/engine'],
  runtime: [...connectors, 'runtime/engine', 'runtime/workers'],
  exec,
  server: [...exec, 'protocol', 'log/file', 'log/remote'],
  cli: [...exec, 'protocol', 'log/file', 'log/remote', 'server'],
};

const root = resolve(import.meta.dirname, '..', 'src');
const { exports } = JSON.parse(readFileSync(resolve(root, '..', 'package.json'), 'utf8'));
const entries = new Set(Object.values(exports).map((e) => resolve(root, '..', e.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'))));
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const folderOf = (file) => {
  const d = relative(root, dirname(file)) || '.';
  // Sub-folders of a layer belong to it unless named above (log/file, log/remote).
  let f = d;
  while (!(f in allowed) && f.includes('/')) f = dirname(f);
  return f in allowed ? f : d;
};

const importRe = /(?:^|\s)(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\s)import\s*['"](\.[^'"]+)['"]/g;
const problems = [];
for (const file of walk(root)) {
  if (entries.has(file)) continue;
  const from = folderOf(file);
  if (!(from in allowed)) {
    problems.push(`${relative(root, file)}: folder ${from} has no place in the layers (add it to scripts/check-layers.mjs and docs/architecture.md)`);
    continue;
  }
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const target = resolve(dirname(file), spec);
    if (entries.has(target)) {
      problems.push(`src/${relative(root, file)} imports ${spec}: a public entry; import the module itself`);
      continue;
    }
    const to = folderOf(target);
    if (to === from || allowed[from].some((a) => to === a || (a.endsWith('/**') && (to === a.slice(0, -3) || to.startsWith(a.slice(0, -2)))))) continue;
    problems.push(`src/${relative(root, file)} imports ${spec}: ${from} may not import ${to}`);
  }
}
if (problems.length > 0) {
  console.error(`layer check: ${problems.length} import(s) run up or across the layers (docs/architecture.md):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('layer check: every import in src/ runs down the layers');
