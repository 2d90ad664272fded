// The class lib-dynamodb exports as NumberValue, from the package that defines it (lib-dynamodb is not in every bundle).
import { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';

/**
 * JSON helpers for payloads that the pipeline hashes and stores.
 *
 * Written by hand rather than with a canonicalization package: the pipeline also keeps numbers beyond 2^53 with
 * their exact digits (which JSON.stringify and those packages cannot), and the whole of it is a dozen lines.
 */

type JsonReviverContext = { source?: string };

const PLAIN_INTEGER = /^-?\d+$/;

/**
 * JSON.parse, except that a number a double does not hold exactly keeps the digits as written (the reviver's
 * `context.source`), so that it is stored, or judged, as it was sent:
 * - beyond ±2^53, a plain integer as a BigInt and any other form (`1e20`, `12345678901234567.5`) as the SDK's
 *   NumberValue: the SDK refuses to store such a number as a double at all;
 * - within ±2^53, a number whose double is another decimal (`0.1234567890123456789`, more digits than a double
 *   holds; `1e-400`, which a double holds as 0) as a NumberValue of its text: DynamoDB stores up to 38 significant
 *   digits exactly, and the sink refuses what it cannot store, rather than store a rounded number.
 * A number that a double holds exactly (`0.1`, `1.0`, `2.5e3`) stays a number. Text nested too deep for the reviver
 * is parsed as JSON.parse parses it.
 */
export const parseJson = (text: string): unknown => {
  if (!mayHoldInexactNumbers(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, keepExactNumbers);
  } catch (error) {
    // Nested thousands of levels deep, past what the reviver's recursion reaches (JSON.parse alone does not
    // recurse): far deeper than an item holds (31 levels of maps and lists), so never stored, and its numbers need
    // not keep their digits. Parsed without the reviver, for the checks that name the nesting.
    if (!(error instanceof RangeError)) throw error;
    return JSON.parse(text);
  }
};

const keepExactNumbers = ((_key: string, value: unknown, context?: JsonReviverContext) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || context?.source === undefined) return value;
  const source = context.source;
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    return PLAIN_INTEGER.test(source) ? BigInt(source) : NumberValue.from(source);
  }
  return sameDecimal(source, String(value)) ? value : NumberValue.from(source);
}) as (key: string, value: unknown) => unknown;

/**
 * `digits` without its trailing zeros. A loop, not `replace(/0+$/, '')`: the expression tries the run of zeros again
 * from each of its zeros, which for `0.1000…0001` with 100,000 zeros takes seconds.
 */
export const withoutTrailingZeros = (digits: string): string => {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 0x30) end -= 1;
  return digits.slice(0, end);
};

/** A JSON number as its significant digits and exponent (`-12.50e1` → `-125e0`; every zero → `0`). */
const decimalOf = (text: string): string => {
  const match = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  const significant = `${whole}${fraction}`.replace(/^0+/, '');
  if (significant === '') return '0';
  const digits = withoutTrailingZeros(significant);
  const power = Number(exponent) - fraction.length + (significant.length - digits.length);
  return `${sign}${digits}e${power}`;
};

/** Whether two JSON numbers are the same decimal, however written (`1.50` and `1.5`, `1e2` and `100`). */
export const sameDecimal = (a: string, b: string): boolean => decimalOf(a) === decimalOf(b);

/**
 * What the text of every number a double may not hold exactly has: 16 significant digits or more (16 digits,
 * with at most a decimal point among them: a double holds any 15), or an exponent (a digit then `e` or `E`).
 * Text without either (most events) is parsed without the reviver, which calls back for every value: four to five
 * times the plain parse's time. A match elsewhere (in a string) only costs the reviver.
 */
const MAYBE_INEXACT_NUMBER = /(?:\d\.?){16}|\d[eE]/;

/** Whether JSON text may hold a number that JSON.parse rounds: if so, parseJson keeps its digits. */
export const mayHoldInexactNumbers = (text: string): boolean => MAYBE_INEXACT_NUMBER.test(text);

/**
 * Canonical JSON in the manner of RFC 8785: object keys sorted by UTF-16 code units, no whitespace, numbers and
 * strings serialized as ECMAScript's JSON.stringify does. Two payloads that differ only in key order or
 * insignificant whitespace produce the same text.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (value instanceof NumberValue) return value.toString();
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, member]) => member !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`);
  }
};
