// The fenced code blocks of a Markdown page, with what docs/testing.md's
// convention says about each: its language (the info string's first word),
// `file=NAME` (the block is that file of the page's example project),
// `runnable` (a shell block the docs test runs), `continued` (a TypeScript
// block that goes on from the page's previous one), and a hidden context
// (`<!-- context ... -->` just above it: declarations the reader does not
// need to see, prepended when it is checked).

export interface DocBlock {
  page: string;
  /** 1-based line of the block's first content line. */
  line: number;
  lang: string;
  words: string[];
  file?: string;
  body: string;
  context: string;
}

export function docBlocks(page: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})([^`\s]*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const end = closing(lines, i, open[1]!);
    if (end === null) throw new Error(`${page}:${i + 1}: a code block that is never closed`);
    if (open[2] === '') {
      i = end; // an unlabelled block: shown as is
      continue;
    }
    const words = open[3]!.trim().split(/\s+/).filter(Boolean);
    const file = words.find((w) => w.startsWith('file='))?.slice('file='.length);
    blocks.push({ page, line: i + 2, lang: open[2]!, words, file, body: lines.slice(i + 1, end).join('\n') + '\n', context: contextAbove(lines, i) });
    i = end;
  }
  return blocks;
}

/** The line that closes the block opened at `open` with `fence`: the same fence on a line of its own (a longer one nests shorter ones). */
function closing(lines: string[], open: number, fence: string): number | null {
  for (let j = open + 1; j < lines.length; j++) if (lines[j]!.trimEnd() === fence) return j;
  return null;
}

/** The body of a `<!-- context ... -->` comment ending on the line just above `open`. */
function contextAbove(lines: string[], open: number): string {
  if (lines[open - 1]?.trim() !== '-->') return '';
  for (let j = open - 2; j >= 0; j--) if (lines[j]!.trim() === '<!-- context') return lines.slice(j + 1, open - 1).join('\n') + '\n';
  return '';
}
