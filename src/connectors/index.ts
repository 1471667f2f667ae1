// Sources and sinks for jobs. The factories are the public API; the classes
// are exported as types for their extra members (address(), buffered).

export type { Source, Sink, SourceBatch, SourceRecord, SourceContext, SourceCheckpoint, SinkRecord, SinkContext, Guarantee } from '../dataflow/io.ts';
export { topicSource } from './topic-source.ts';
export { topicSink } from './topic-sink.ts';
export type { TopicSource, TopicSourceOptions } from './topic-source.ts';
export type { TopicSink, TopicSinkOptions } from './topic-sink.ts';
export { stdinSource, stdoutSink } from './stdio.ts';
export type { StdinSourceOptions, StdoutSinkOptions } from './stdio.ts';
export { fileSource, fileSink } from './file.ts';
export type { FileSourceOptions, FileSinkOptions } from './file.ts';
export type { LineStreamSource } from './stream-source.ts';
export { tcpSource } from './tcp-source.ts';
export type { TcpSource, TcpSourceOptions } from './tcp-source.ts';
export { tcpSink } from './tcp-sink.ts';
export type { TcpSink, TcpSinkOptions } from './tcp-sink.ts';
export { httpSource } from './http-source.ts';
export type { HttpSource, HttpSourceOptions } from './http-source.ts';
export { callbackSink } from './callback.ts';
export type { SinkCallback } from './callback.ts';
