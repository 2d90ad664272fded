import { describe, expect, it } from 'vitest';
import { arrayElementTexts, valueText } from '#shared/ingest/raw-json.ts';
import { seededRandom } from '#test/helpers/random.ts';

/** Strings full of what could fool a scanner: quotes, backslashes, brackets, commas, escapes, astral characters. */
const TRICKY = ['"', '\\', '[', ']', '{', '}', ',', '\\"', '\\\\', '\n', '😀', 'é', ' ', 'a', '\u2028'];

const randomValue = (random: () => number, depth: number): unknown => {
  const pick = random();
  if (depth > 3 || pick < 0.3) {
    const kind = Math.floor(random() * 5);
    if (kind === 0) return Math.floor(random() * 1e6) - 5e5;
    if (kind === 1) return random() < 0.5;
    if (kind === 2) return null;
    return Array.from(
      { length: Math.floor(random() * 6) },
      () => TRICKY[Math.floor(random() * TRICKY.length)],
    ).join('');
  }
  if (pick < 0.6)
    return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(random() * 4); i += 1) {
    object[`${TRICKY[Math.floor(random() * TRICKY.length)]}${i}`] = randomValue(random, depth + 1);
  }
  return object;
};

/** Whitespace JSON allows between tokens, inserted after every structural character outside strings. */
const spaced = (json: string, random: () => number): string => {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i += 1) {
    const char = json[i]!;
    out += char;
    if (inString) {
      if (char === '\\') {
        out += json[i + 1];
        i += 1;
      } else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if ('[]{},:'.includes(char) && random() < 0.5)
      out += [' ', '\n', '\t', '\r\n  '][Math.floor(random() * 4)];
  }
  return out;
};

describe('arrayElementTexts: each element of a JSON array as written', () => {
  it('keeps every digit, key order, duplicate keys and the spacing inside each element', () => {
    // Prepare
    const text = ' [ {"b":1,"a":12345678901234567890,"a":2} ,\n{"n": 1e400, "s":"x,]}\\"y"} ]\n';

    // Act
    const elements = arrayElementTexts(text, 2);

    // Assess
    expect(elements).toEqual(['{"b":1,"a":12345678901234567890,"a":2}', '{"n": 1e400, "s":"x,]}\\"y"}']);
  });

  it('gives the same values as JSON.parse for 500 generated arrays full of tricky strings', () => {
    // Prepare
    const random = seededRandom(20_261_128);
    for (let round = 0; round < 500; round += 1) {
      const array = Array.from({ length: 1 + Math.floor(random() * 6) }, () => randomValue(random, 0));
      const text = spaced(JSON.stringify(array), random);

      // Act
      const elements = arrayElementTexts(text, array.length);

      // Assess
      expect(
        elements?.map((element) => JSON.parse(element)),
        text,
      ).toEqual(JSON.parse(text));
    }
  });

  it('answers undefined, never a wrong split, when the count or the shape does not match', () => {
    expect(arrayElementTexts('[1,2,3]', 2)).toBeUndefined();
    expect(arrayElementTexts('{"a":[1,2]}', 2)).toBeUndefined();
    expect(arrayElementTexts('[]', 0)).toEqual([]);
    expect(arrayElementTexts('[1] x', 1)).toBeUndefined();
  });

  it('takes a single value without the whitespace around it', () => {
    expect(valueText(' \r\n {"a": 1e20}\t ')).toBe('{"a": 1e20}');
  });
});
