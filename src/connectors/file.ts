// Files: a bounded line source (always ends at EOF) and a line sink whose
// flush() fsyncs, so a checkpoint after flush() never covers output that a
// power cut could still take away.

import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { SluiceError } from '../errors.ts';
import type { Sink, SinkContext, SinkRecord } from '../dataflow/io.ts';
import { encodeLines } from './framing.ts';
import { checkBoolean, checkInt, checkObject, checkOneOf, checkString, errorText } from './options.ts';
import { LineStreamSource } from './stream-source.ts';

export interface FileSourceOptions {
  path: string;
  /** One record per non-empty line; decode JSON lines with the json codec, text with the text codec. */
  format?: 'lines';
  maxLineBytes?: number;
}

class FileSource extends LineStreamSource {
  readonly name: string;
  protected readonly origin: string;
  readonly #path: string;

  constructor(options: FileSourceOptions) {
    super(options);
    this.#path = options.path;
    this.name = `file ${options.path}`;
    this.origin = `file:${options.path}`;
  }

  protected async openStream(): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.#path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : errorText(e);
      throw new SluiceError('INVALID_ARGUMENT', `file source: cannot open ${resolve(this.#path)}: ${why}`, { file: this.#path }, { cause: e });
    }
    return fh.createReadStream({ highWaterMark: 256 * 1024 });
  }
}

/** One record per non-empty line of a file (position: 1-based line number); ends at EOF. */
export function fileSource(options: FileSourceOptions): LineStreamSource {
  const o = checkObject('fileSource', options);
  checkString('fileSource', 'path', o.path);
  checkOneOf('fileSource', 'format', o.format, ['lines'], 'lines');
  checkInt('fileSource', 'maxLineBytes', o.maxLineBytes, 0);
  return new FileSource(options);
}

export interface FileSinkOptions {
  path: string;
  /** Append to an existing file instead of truncating it. Default false. */
  append?: boolean;
}

class FileSink implements Sink {
  readonly name: string;
  readonly #path: string;
  readonly #append: boolean;
  #fh: FileHandle | null = null;

  constructor(path: string, append: boolean) {
    this.#path = path;
    this.#append = append;
    this.name = `file ${path}`;
  }

  async open(_ctx: SinkContext): Promise<void> {
    try {
      this.#fh = await open(this.#path, this.#append ? 'a' : 'w');
    } catch (e) {
      throw new SluiceError('INVALID_ARGUMENT', `file sink: cannot open ${resolve(this.#path)} for writing: ${errorText(e)}`, { file: this.#path }, { cause: e });
    }
  }

  // One awaited write per batch: at most one batch is ever in memory, and the
  // promise resolving means the OS has the bytes (the runtime's backpressure).
  async write(records: SinkRecord[]): Promise<void> {
    const buf = encodeLines(records);
    if (buf.length === 0) return;
    const fh = this.#handle();
    let at = 0;
    try {
      while (at < buf.length) at += (await fh.write(buf, at, buf.length - at)).bytesWritten;
    } catch (e) {
      throw new SluiceError('IO_ERROR', `file sink: write to ${this.#path} failed: ${errorText(e)}`, { file: this.#path }, { cause: e });
    }
  }

  async flush(): Promise<void> {
    try {
      await this.#handle().sync();
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw new SluiceError('IO_ERROR', `file sink: fsync of ${this.#path} failed: ${errorText(e)}`, { file: this.#path }, { cause: e });
    }
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    await fh?.close();
  }

  #handle(): FileHandle {
    if (this.#fh === null) throw new SluiceError('CLOSED', `file sink ${this.#path} is not open`);
    return this.#fh;
  }
}

/** Writes each value and '\n' (unless it already ends with one); flush() fsyncs. */
export function fileSink(options: FileSinkOptions): Sink {
  const o = checkObject('fileSink', options);
  const path = checkString('fileSink', 'path', o.path);
  return new FileSink(path, checkBoolean('fileSink', 'append', o.append, false));
}
