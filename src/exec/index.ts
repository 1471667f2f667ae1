// `sluice/exec`: runs an unmodified program as an exactly-once processor
// (`sluice exec` in code; docs/exec.md). A public entry (package.json "exports").

export { ExecJob } from './exec-job.ts';
export type { ExecOptions, ExecResult, ExecMode, OnError } from './exec-job.ts';
