/**
 * The text of each element of a JSON array, exactly as written: the ingest function writes each event's own bytes
 * to the stream, so numbers keep every digit (JSON.parse and JSON.stringify would round 12345678901234567890),
 * and key order and spelling stay the producer's.
 *
 * Written by hand: JSON.parse gives no positions, and its source-text access covers only primitive values. The
 * text must already have passed JSON.parse, so this only has to find the top-level commas: it jumps over each
 * string whole with indexOf, and reads the few characters between strings one by one. That costs a quarter of
 * jumping from one structural character to the next with a regular expression, whose every match has a fixed
 * price: 0.17 against 0.73 µs for a 1 KiB event, and 1.7 against 2.4 µs for one holding 80 numbers (2026-11-29).
 */

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
  const length = text.length;
  let depth = 0;
  let start = open + 1;
  for (let at = start; at < length; at += 1) {
    const code = text.charCodeAt(at);
    if (code === 0x22) {
      // "
      at = endOfString(text, at) - 1;
    } else if (code === 0x7b || code === 0x5b) {
      // { or [
      depth += 1;
    } else if (code === 0x2c) {
      // ,
      if (depth === 0) {
        elements.push(trimmed(text, start, at));
        start = at + 1;
      }
    } else if (code === 0x7d || code === 0x5d) {
      // } or ]
      if (depth > 0) {
        depth -= 1;
        continue;
      }
      const last = trimmed(text, start, at);
      if (last !== '') elements.push(last);
      return elements.length === expected && trimmed(text, at + 1, length) === '' ? elements : undefined;
    }
  }
  return undefined;
};
