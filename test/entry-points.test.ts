// The public API is split into subpaths (package.json "exports") so that a
// job's code does not load what it does not use: `import { Application } from
// 'sluice'` must not load the broker, prom-client or the embedded log. Each
// import runs in a child process that records every module it resolves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpDir } from './helpers/tmp.ts';

const root = resolve(import.meta.dirname, '..');
const dist = pathToFileURL(join(root, 'dist')).href;

/** The modules (dist/-relative paths, or package names) loaded by importing `specifier` from the package itself. */
function loadedBy(t: Parameters<typeof tmpDir>[0], specifier: string): string[] {
  const file = join(tmpDir(t, 'sluice-loads-'), 'loads.txt');
  const r = spawnSync(
    process.execPath,
    ['--import', './test/helpers/record-loads.mjs', '--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); if (Object.keys(m).length === 0) process.exit(3);`],
    { cwd: root, env: { ...process.env, SLUICE_RECORD_LOADS: file }, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `importing ${specifier} failed: ${r.stderr}`);
  const urls = new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean));
  return [...urls].flatMap((u) => {
    if (u.startsWith(`${dist}/`)) return [u.slice(dist.length + 1)];
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    return pkg ? [pkg[1]!] : [];
  });
}

const heavy = (m: string): boolean => /^(server|exec|protocol|log\/file|log\/remote|runtime\/testing)\//.test(m) || m === 'prom-client';

test("importing 'sluice' loads the dataflow API and the runtime, not the broker, prom-client, the embedded log or the test driver", (t) => {
  const loaded = loadedBy(t, 'sluice');
  assert.ok(loaded.includes('index.js') && loaded.includes('dataflow/application.js') && loaded.includes('runtime/job.js'), `not the API: ${loaded.join(' ')}`);
  assert.deepEqual(loaded.filter(heavy), []);
});

test('each subpath loads its own layer: sluice/log the embedded and remote logs, sluice/server the broker and prom-client', (t) => {
  const log = loadedBy(t, 'sluice/log');
  assert.ok(log.includes('log/file/file-log.js') && log.includes('log/remote/remote-log.js'), log.join(' '));
  assert.deepEqual(log.filter((m) => m.startsWith('server/') || m === 'prom-client' || m.startsWith('dataflow/')), []);
  const server = loadedBy(t, 'sluice/server');
  assert.ok(server.includes('server/broker.js') && server.includes('prom-client'), server.join(' '));
  const testing = loadedBy(t, 'sluice/testing');
  assert.ok(testing.includes('runtime/testing/test-driver.js'), testing.join(' '));
  assert.deepEqual(testing.filter((m) => m.startsWith('server/') || m.startsWith('log/file/') || m === 'prom-client'), []);
  const exec = loadedBy(t, 'sluice/exec');
  assert.ok(exec.includes('exec/exec-job.js'), exec.join(' '));
  assert.deepEqual(exec.filter((m) => m.startsWith('server/') || m === 'prom-client'), []);
});
