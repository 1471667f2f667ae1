// How often a job checkpoints unless told otherwise: the one place these
// numbers are written (the CLI's help, `Job` and `sluice exec` read them here).

/** A checkpoint every 100 ms: outputs reach readers within about that, and each commit's fsync is shared by ~100 ms of work. */
export const DEFAULT_COMMIT_INTERVAL_MS = 100;
/** ...or sooner, once this many records went in or out since the last one: bounds what a checkpoint holds in memory. */
export const DEFAULT_COMMIT_RECORDS = 50_000;
