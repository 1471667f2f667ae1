// Recognising JSON lines cheaply (inputs fed to programs, their outputs).

const decoder = new TextDecoder();

/**
 * Whether a line (bytes, no newline) is one JSON value. Lines go in and out of
 * programs by the million, and a full JSON.parse of each cost more than the
 * rest of the runtime's work per line, so the shape is checked first: a line
 * that starts and ends like a JSON object, array or string is taken as one;
 * anything else (numbers, literals, plain text, a cut-off object) gets a real
 * parse. A line with the right ends but broken inside (`{"a":}`) passes.
 */
export function looksLikeJson(b: Uint8Array): boolean {
  let a = 0;
  let z = b.length - 1;
  while (a <= z && (b[a] === 0x20 || b[a] === 0x09)) a++;
  while (z >= a && (b[z] === 0x20 || b[z] === 0x09 || b[z] === 0x0d)) z--;
  if (a > z || b.indexOf(0x0a, a) !== -1) return false;
  const first = b[a];
  const last = b[z];
  if ((first === 0x7b && last === 0x7d) || (first === 0x5b && last === 0x5d) || (first === 0x22 && last === 0x22 && z > a)) return true;
  try {
    JSON.parse(decoder.decode(b));
    return true;
  } catch {
    return false;
  }
}
