// `sluice`: the public API for writing and running jobs — applications,
// streams, windows, tables, joins, connectors, codecs, errors, Job. The rest
// lives under subpaths so that a job does not load what it does not use
// (docs/architecture.md, "Public API"): `sluice/log` (FileLog, RemoteLog,
// Producer, Consumer), `sluice/testing` (TestDriver), `sluice/server` (Broker,
// QueryServer), `sluice/exec` (ExecJob). Everything not exported by one of
// them is internal and may change.

export { SluiceError, ErrorCodes, isSluiceError } from './errors.ts';
export type { ErrorCode, ErrorDetails } from './errors.ts';

export type { Headers, LogRecord, ProducerRecord } from './record.ts';
export { json, jsonOf, string, text, bytes } from './codec.ts';
export type { Codec, Decoder, Encoder } from './codec.ts';
export { Partitioner, partitionForKey, murmur2 } from './partitioner.ts';

export { Application, isApplication } from './dataflow/application.ts';
export type { ApplicationOptions, ErrorPolicy } from './dataflow/application.ts';
export { Pipeline } from './dataflow/pipeline.ts';
export type { FromOptions } from './dataflow/pipeline.ts';
export { Stream, KeyedStream } from './dataflow/stream.ts';
export type { EventInfo, KeyByOptions, ProcessOptions, ToOptions } from './dataflow/stream.ts';
export type { ProcessContext, EmitOptions } from './dataflow/context.ts';
export type { PartitionFunction, StateCodec, Timer, TimeDomain, WatermarkOptions } from './dataflow/graph.ts';
export { DEFAULT_WATERMARK } from './dataflow/pipeline.ts';
export { tumbling, hopping, sliding, session, calendar, aggregators } from './dataflow/windows.ts';
export type { WindowSpec, WindowOptions, WindowResult, WindowBounds, LateEvent, LatePolicy, Aggregator } from './dataflow/windows.ts';
export { WindowedStream } from './dataflow/windowed-stream.ts';
export { Table } from './dataflow/table.ts';
export type { Change, Upsert, TableOptions } from './dataflow/table.ts';
export type { StreamTableJoinOptions, StreamStreamJoinOptions } from './dataflow/joins.ts';

export { Job, runJob } from './runtime/job.ts';
export type { JobOptions, JobResult } from './runtime/job.ts';

export * from './connectors/index.ts';
