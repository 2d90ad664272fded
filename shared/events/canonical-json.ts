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
 * JSON.parse, except that a finite number too large for a double to hold exactly keeps the digits as written
 * (the reviver's `context.source`): a plain integer as a BigInt, any other form (`1e20`, `12345678901234567.5`)
 * as the SDK's NumberValue. DynamoDB stores both exactly, up to its 38 significant digits; the SDK refuses to
 * store such a number as a double at all, so without this the record could never be written.
 */
export const parseJson = (text: string): unknown =>
  MAYBE_UNSAFE_NUMBER.test(text) ? JSON.parse(text, keepUnsafeNumbers) : JSON.parse(text);

const keepUnsafeNumbers = ((_key: string, value: unknown, context?: JsonReviverContext) => {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    Math.abs(value) <= Number.MAX_SAFE_INTEGER ||
    context?.source === undefined
  ) {
    return value;
  }
  return PLAIN_INTEGER.test(context.source) ? BigInt(context.source) : NumberValue.from(context.source);
}) as (key: string, value: unknown) => unknown;

/**
 * What every number the reviver changes has in its text: a number past 2^53 (9,007,199,254,740,992) written without
 * an exponent has 16 digits or more before its point, and one written with an exponent has a digit then `e` or `E`.
 * Text without either (most events) is parsed without the reviver, which calls back for every value: four to five
 * times the plain parse's time. A match elsewhere (in a string) only costs the reviver.
 */
const MAYBE_UNSAFE_NUMBER = /\d{16}|\d[eE]/;

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
