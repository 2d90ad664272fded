/**
 * The text of each element of a JSON array, exactly as written: the ingest function writes each event's own bytes
 * to the stream, so numbers keep every digit (JSON.parse and JSON.stringify would round 12345678901234567890),
 * and key order and spelling stay the producer's.
 *
 * Written by hand: JSON.parse gives no positions, and its source-text access covers only primitive values. The
 * text must already have passed JSON.parse, so this only has to find the top-level commas: it jumps from one
 * structural character to the next and over each string whole, in native regular-expression and indexOf code.
 */

/** The next character that matters between values: a string's start, a bracket or a comma. */
const STRUCTURAL = /["[\]{},]/g;

const isJsonWhitespace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

/** The index just past the closing quote of the string whose opening quote is at `open`. */
const endOfString = (text: string, open: number): number => {
  let at = text.indexOf('"', open + 1);
  for (;;) {
    if (at === -1) return text.length;
    // A quote preceded by an odd number of backslashes is escaped.
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return at + 1;
    at = text.indexOf('"', at + 1);
  }
};

const trimmed = (text: string, start: number, end: number): string => {
  let from = start;
  let to = end;
  while (from < to && isJsonWhitespace(text.charCodeAt(from))) from += 1;
  while (to > from && isJsonWhitespace(text.charCodeAt(to - 1))) to -= 1;
  return text.slice(from, to);
};

/** The text of a single JSON value, without the whitespace around it. */
export const valueText = (text: string): string => trimmed(text, 0, text.length);

/**
 * The elements of the JSON array `text` as their source text, or undefined when `text` is not an array of
 * `expected` elements (the caller then falls back to serialising what JSON.parse gave).
 */
export const arrayElementTexts = (text: string, expected: number): string[] | undefined => {
  const open = text.indexOf('[');
  if (open === -1 || trimmed(text, 0, open) !== '') return undefined;
  const elements: string[] = [];
  let depth = 0;
  let start = open + 1;
  STRUCTURAL.lastIndex = start;
  for (;;) {
    const match = STRUCTURAL.exec(text);
    if (match === null) return undefined;
    const at = match.index;
    switch (text.charCodeAt(at)) {
      case 0x22: // "
        STRUCTURAL.lastIndex = endOfString(text, at);
        break;
      case 0x5b: // [
      case 0x7b: // {
        depth += 1;
        break;
      case 0x2c: // ,
        if (depth === 0) {
          elements.push(trimmed(text, start, at));
          start = at + 1;
        }
        break;
      default: // ] or }
        if (depth > 0) {
          depth -= 1;
          break;
        }
        {
          const last = trimmed(text, start, at);
          if (last !== '') elements.push(last);
        }
        return elements.length === expected && trimmed(text, at + 1, text.length) === ''
          ? elements
          : undefined;
    }
  }
};
