/**
 * JSON helpers for payloads that the pipeline hashes and stores.
 *
 * Written by hand rather than with a canonicalization package: the pipeline also keeps integers beyond 2^53 as
 * BigInt (which JSON.stringify and those packages reject), and the whole of it is a dozen lines.
 */

type JsonReviverContext = { source?: string };

const PLAIN_INTEGER = /^-?\d+$/;

/**
 * JSON.parse, except that an integer too large for a double keeps its exact digits as a BigInt instead of being
 * rounded (the reviver's `context.source` holds the digits as written). DynamoDB stores such a BigInt exactly.
 */
export const parseJson = (text: string): unknown =>
  JSON.parse(text, ((_key: string, value: unknown, context?: JsonReviverContext) =>
    typeof value === 'number' &&
    Number.isInteger(value) &&
    !Number.isSafeInteger(value) &&
    context?.source !== undefined &&
    PLAIN_INTEGER.test(context.source)
      ? BigInt(context.source)
      : value) as (key: string, value: unknown) => unknown);

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
