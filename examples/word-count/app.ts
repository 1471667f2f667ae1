// Word count over TCP, as in the Wallaroo post: clients send lines of text as
// length-prefixed frames (4-byte big-endian length, then UTF-8 bytes); the job
// splits them into words, counts each word in one of 27 state partitions
// chosen by its first letter (a–z, and "!" for the rest), and writes
// `WORD => COUNT\n` to a TCP receiver for every word it sees.
//
//   node examples/word-count/receive.ts                 # terminal 1: prints the counts (port 7002)
//   npx sluice run examples/word-count/app.ts           # terminal 2: listens on 7010
//   node examples/word-count/send.ts README.md          # terminal 3: sends a file's lines
//
// Environment: WORD_COUNT_PORT (where the job listens, default 7010) and
// WORD_COUNT_SINK (host:port of the receiver, default 127.0.0.1:7002).

import { Application, tcpSink, tcpSource, text, type Encoder, type Sink, type Source } from '../../src/index.ts';
import { firstLetterPartition, formatCount, splitWords } from './words.ts';

export interface WordCountIO {
  /** Each record's value is one line of text (UTF-8). */
  lines: Source;
  /** Receives `WORD => COUNT\n` per record, raw. */
  counts: Sink;
}

const utf8 = new TextEncoder();

/** `{ key: word, count }` → the bytes of `WORD => COUNT\n`. */
export const countLine: Encoder<{ key: string; count: number }> = {
  encode: (c) => utf8.encode(formatCount(c.key, c.count)),
};

/** The application graph, on any source and sink (the TCP ones in production, placeholders in the TestDriver test). */
export function build(io: WordCountIO): Application {
  const app = new Application('word-count');
  app
    .pipeline('split-and-count')
    .from(io.lines, text, { name: 'lines' })
    .flatMap((line) => splitWords(line), { name: 'split' })
    .keyBy((word) => word, { partitions: 27, partitioner: firstLetterPartition })
    .count({ name: 'word-totals' })
    .to(io.counts, countLine, { name: 'counts' });
  return app;
}

function sinkAddress(value: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`WORD_COUNT_SINK must be host:port, got ${JSON.stringify(value)}`);
  }
  return { host: m[1]!, port };
}

function listenPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error(`WORD_COUNT_PORT must be a port number, got ${JSON.stringify(value)}`);
  return port;
}

/** `sluice run` calls this: TCP in, TCP out, addresses from the environment. */
export default function wordCount(): Application {
  const port = listenPort(process.env.WORD_COUNT_PORT ?? '7010');
  const out = sinkAddress(process.env.WORD_COUNT_SINK ?? '127.0.0.1:7002');
  return build({
    lines: tcpSource({ host: process.env.WORD_COUNT_HOST ?? '127.0.0.1', port, framing: 'length-prefixed' }),
    counts: tcpSink({ host: out.host, port: out.port, framing: 'raw' }),
  });
}
