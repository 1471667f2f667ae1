// A real writer of a frame file in its own process (json-frames-race.test.ts):
// opens FILE and appends COUNT records as fast as it can, saying "ready" first.

import { FrameWriter, readFrameFile } from '../../src/log/file/json-frames.ts';

const [file, count] = process.argv.slice(2);
const w = new FrameWriter(file!);
w.open(readFrameFile(file!));
process.stdout.write('ready\n');
for (let i = 0; i < Number(count); i++) await w.append({ i, pad: 'x'.repeat(i % 50) });
w.close();
