// Where record values are in a JSON text, so they can be stored as the exact
// text the client sent. JSON.parse and JSON.stringify would round a big
// integer (an id like 12345678901234567890) to the nearest double; `sluice
// produce` stores lines unchanged, and the HTTP API must not be lossier.
//
// Every function here runs only on text JSON.parse has accepted, so it skips
// values without validating them.

const WS = new Set([' ', '\t', '\n', '\r']);

function ws(s: string, i: number): number {
  while (WS.has(s[i]!)) i++;
  return i;
}

/** The index just past the JSON value that starts at `i`. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') {
    i++;
    while (s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    return i + 1;
  }
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; ; i++) {
      const ch = s[i];
      if (ch === '"') i = skipValue(s, i) - 1;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        if (--depth === 0) return i + 1;
      }
    }
  }
  // A number, true, false or null: runs to the next delimiter.
  while (i < s.length && !WS.has(s[i]!) && s[i] !== ',' && s[i] !== '}' && s[i] !== ']') i++;
  return i;
}

/**
 * The source text of the "value" member of the object starting at `i`
 * (the last one, as JSON.parse keeps the last of duplicate keys), or
 * undefined when there is none or `i` is not an object.
 */
export function rawValueAt(s: string, i: number): string | undefined {
  i = ws(s, i);
  if (s[i] !== '{') return undefined;
  let raw: string | undefined;
  i = ws(s, i + 1);
  while (s[i] !== '}') {
    const keyEnd = skipValue(s, i);
    const key = JSON.parse(s.slice(i, keyEnd)) as string;
    const start = ws(s, ws(s, keyEnd) + 1); // past the ':'
    const end = skipValue(s, start);
    if (key === 'value') raw = s.slice(start, end);
    i = ws(s, end);
    if (s[i] === ',') i = ws(s, i + 1);
  }
  return raw;
}

/** Where each element of the array starting at `i` begins. */
export function arrayElements(s: string, i: number): number[] {
  i = ws(s, i);
  const starts: number[] = [];
  i = ws(s, i + 1);
  while (s[i] !== ']') {
    starts.push(i);
    i = ws(s, skipValue(s, i));
    if (s[i] === ',') i = ws(s, i + 1);
  }
  return starts;
}
