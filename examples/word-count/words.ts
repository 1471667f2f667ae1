// The word-count example's pure parts, shared by the app, its test and the
// hand-run clients: how a line becomes words, which partition a word belongs
// to, and the output line format.

/**
 * A line's words: lowercased; a word is a run of letters, digits and
 * apostrophes (Unicode letters and digits, so "café" and "naïve" stay whole);
 * everything else separates words. Apostrophes at either end of a word are
 * quotes, not part of it ("'tis" → "tis", "dogs'" → "dogs", "don't" stays),
 * and a word of apostrophes only is no word. ’ counts as an apostrophe.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  for (const raw of line.toLowerCase().replace(/\u2019/g, "'").split(/[^\p{L}\p{N}']+/u)) {
    const word = raw.replace(/^'+|'+$/g, '');
    if (word !== '') words.push(word);
  }
  return words;
}

/** The 27 state partitions: one per letter a–z, and "!" for every other first character. */
export const PARTITION_NAMES: readonly string[] = [...'abcdefghijklmnopqrstuvwxyz', '!'];

/** A word's partition: a–z → 0–25 by its first letter, anything else (digits, é, ß…) → 26 ("!"). */
export function firstLetterPartition(word: string): number {
  const c = word.charCodeAt(0) - 97; // 'a'
  return c >= 0 && c < 26 ? c : 26;
}

/** One output line: `WORD => COUNT\n`. */
export function formatCount(word: string, count: number): string {
  return `${word} => ${count}\n`;
}

/** Parses an output line (without its newline); null if it does not have the format. */
export function parseCountLine(line: string): { word: string; count: number } | null {
  const m = /^(\S+) => ([1-9]\d*)$/.exec(line);
  return m ? { word: m[1]!, count: Number(m[2]) } : null;
}

/** A 4-byte big-endian length, then the UTF-8 bytes: the input framing. */
export function frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}
