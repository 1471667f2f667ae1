// `sluice/testing`: the TestDriver runs an application's graph with no I/O
// (docs/test-driver.md). A public entry (package.json "exports").

export { TestDriver } from './test-driver.ts';
export type { TestInput, TestOutputRecord } from './test-driver.ts';
