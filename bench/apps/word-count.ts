// The benchmark's word count as an application file, so `--workers N` threads
// can load it: lines -> words -> keyBy word (27 partitions by first letter) ->
// running count -> "WORD => COUNT" lines into the topic `counts`.
import { Application, text, topicSink, topicSource } from '../../src/index.ts';

export const SPLIT = /[^a-z0-9']+/;

export function firstLetter(w: string): number {
  const c = w.charCodeAt(0) - 97;
  return c >= 0 && c < 26 ? c : 26;
}

export function wordCountApp(): Application {
  const app = new Application('bench-word-count');
  app
    .pipeline('count')
    .from(topicSource({ topic: 'lines' }), text)
    .flatMap((line) => line.toLowerCase().split(SPLIT).filter((w) => w !== ''))
    .keyBy((w) => w, { partitions: 27, partitioner: firstLetter })
    .process(
      () => ({ count: 0 }),
      (w, s, ctx) => {
        s.count++;
        ctx.emit(`${w} => ${s.count}\n`);
      },
      { name: 'counts' },
    )
    .to(topicSink({ topic: 'counts' }), text);
  return app;
}

export default wordCountApp;
