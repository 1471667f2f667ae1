// The code in README.md and docs/*.md cannot rot (docs/testing.md, "Code in
// the docs"): every TypeScript block is type-checked against the package as a
// user's project sees it (`import ... from 'sluice'`, the tsconfig of
// docs/install.md), all of them in one tsc run; every ```sh runnable block of
// docs/*.md runs, in page order, in a temporary project holding that page's
// `file=` blocks, with its own data dir. (README.md's runnable blocks need
// the repository around them: test/e2e/readme.test.ts runs those.)
//
// The project links this checkout (as `sluice`), its compiler, tsx and
// Node's types into node_modules instead of `npm install`ing a packed
// tarball: the same resolution through package.json "exports", no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { docBlocks, type DocBlock } from './helpers/doc-blocks.ts';
import { tmpDir } from './helpers/tmp.ts';

const ROOT = process.cwd();
const PAGES = ['README.md', ...fs.readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const BLOCKS = PAGES.flatMap((page) => docBlocks(page, fs.readFileSync(join(ROOT, page), 'utf8')));
const TSCONFIG = { compilerOptions: { module: 'nodenext', target: 'esnext', types: ['node'], strict: true, verbatimModuleSyntax: true, isolatedModules: true, moduleDetection: 'force', skipLibCheck: true, noEmit: true, allowImportingTsExtensions: true } };

/** A project directory where `sluice`, `sluice/testing`... resolve to this checkout, with tsc, tsx and @types/node; `sluice` and `tsc` in node_modules/.bin. */
function project(dir: string): void {
  const nm = join(dir, 'node_modules');
  fs.mkdirSync(join(nm, '.bin'), { recursive: true });
  fs.symlinkSync(ROOT, join(nm, 'sluice'), 'dir');
  for (const p of ['typescript', 'tsx', '@types']) fs.symlinkSync(join(ROOT, 'node_modules', p), join(nm, p), 'dir');
  const bin = (name: string, target: string) => fs.writeFileSync(join(nm, '.bin', name), `#!/bin/sh\nexec "${process.execPath}" "${target}" "$@"\n`, { mode: 0o755 });
  bin('sluice', join(ROOT, 'dist/cli/main.js'));
  bin('tsc', join(ROOT, 'node_modules/typescript/bin/tsc'));
}

test('every TypeScript block of the docs type-checks against the package (one tsc run)', (t) => {
  const dir = tmpDir(t, 'sluice-docs-ts-');
  project(dir);
  fs.writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'docs-snippets', private: true, type: 'module' }));
  fs.writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, include: ['snippets'] }));
  // Each block is a module of its own, or the next part of the previous one when marked `continued`;
  // a block with file= is written under its own name so that the page's other blocks can import it.
  const modules: { path: string; parts: DocBlock[] }[] = [];
  for (const b of BLOCKS.filter((b) => b.lang === 'ts' && !b.words.includes('fragment'))) {
    if (b.words.includes('continued')) {
      const prev = modules.at(-1);
      assert.ok(prev && prev.parts[0]!.page === b.page, `${b.page}:${b.line}: a continued block needs a TypeScript block before it on its page`);
      prev.parts.push(b);
      continue;
    }
    const page = b.page.replace(/\W+/g, '_');
    modules.push({ path: b.file !== undefined ? join('snippets', page, b.file) : join('snippets', page, `line-${b.line}.ts`), parts: [b] });
  }
  const checked = modules.reduce((n, m) => n + m.parts.length, 0);
  assert.ok(checked >= 25, `only ${checked} TypeScript blocks found: is the extraction still right?`);
  // Diagnostics name the snippet file and line; map them back to the page and line.
  const origin = new Map<string, { line: number; page: string; pageLine: number }[]>();
  for (const m of modules) {
    let text = '';
    const map: { line: number; page: string; pageLine: number }[] = [];
    for (const b of m.parts) {
      const ctx = b.context === '' ? '' : b.context;
      text += ctx;
      const first = text.split('\n').length;
      text += b.body;
      map.push({ line: first, page: b.page, pageLine: b.line });
    }
    fs.mkdirSync(dirname(join(dir, m.path)), { recursive: true });
    fs.writeFileSync(join(dir, m.path), text);
    origin.set(m.path, map);
  }
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
  const problems = r.stdout
    .split('\n')
    .filter((l) => /error TS\d+/.test(l))
    .map((l) => {
      const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(l);
      const map = m ? origin.get(m[1]!) : undefined;
      if (!m || !map) return l;
      const line = Number(m[2]);
      const part = [...map].reverse().find((p) => line >= p.line);
      return part ? `${part.page}:${part.pageLine + line - part.line}: ${m[4]}` : `${map[0]!.page} (hidden context): ${m[4]}`;
    });
  assert.deepEqual(problems, [], `type errors in the docs' TypeScript (fix the snippet, or mark it as docs/testing.md says):\n${problems.join('\n')}`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('every ```sh runnable block of docs/*.md runs, in a project made of its page\'s file= blocks', (t) => {
  const pages = PAGES.filter((p) => p !== 'README.md' && BLOCKS.some((b) => b.page === p && b.lang === 'sh' && b.words.includes('runnable')));
  assert.ok(pages.includes('docs/install.md'), 'install.md runs its first app');
  for (const page of pages) {
    const dir = tmpDir(t, 'sluice-docs-sh-');
    project(dir);
    for (const b of BLOCKS.filter((b) => b.page === page && b.file !== undefined)) {
      fs.mkdirSync(dirname(join(dir, b.file!)), { recursive: true });
      let text = b.body;
      // The page's package.json installs the package: here node_modules already holds it.
      if (b.file === 'package.json') {
        const pkg = JSON.parse(text) as { dependencies?: Record<string, string>; devDependencies?: unknown };
        delete pkg.dependencies;
        delete pkg.devDependencies;
        text = JSON.stringify(pkg);
      }
      fs.writeFileSync(join(dir, b.file!), text);
    }
    const script = ['set -euo pipefail', ...BLOCKS.filter((b) => b.page === page && b.lang === 'sh' && b.words.includes('runnable')).map((b) => b.body)].join('\n');
    const r = spawnSync('bash', ['-c', script], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(dir, 'node_modules/.bin')}:${process.env['PATH']}`, SLUICE_DATA_DIR: join(dir, 'data'), SLUICE_PROGRESS_MS: '0', npm_config_update_notifier: 'false' },
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `${page}: its runnable blocks failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
});
