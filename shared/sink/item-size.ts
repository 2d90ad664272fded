// The class lib-dynamodb exports as NumberValue, from the package that defines it (lib-dynamodb is not in every bundle).
import { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';
import { withoutTrailingZeros } from '#shared/events/canonical-json.ts';
import { UnstorableEventError } from './event-store.ts';

/** DynamoDB's item size limit: 400 KB, attribute names included. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * The maps and lists an attribute may nest. DynamoDB's limit is 32 levels, the attribute itself being the first:
 * an attribute of 31 maps, one in another, around a string is stored and one of 32 is refused ("Nesting Levels have
 * exceeded supported limits"), as the conformance tests of the DynamoDB emulators dynoxide and ExtendDB record it
 * from DynamoDB itself. So 31, and an empty map at the 32nd level, which DynamoDB may take, is refused too.
 */
export const MAX_NESTING_DEPTH = 31;

/**
 * DynamoDB's numbers: up to 38 significant digits (leading and trailing zeros trimmed), and a magnitude from 1E-130
 * to 9.9999999999999999999999999999999999999E+125, or zero. As exponents of the first significant digit:
 */
export const MAX_NUMBER_DIGITS = 38;
const MAX_NUMBER_EXPONENT = 125;
const MIN_NUMBER_EXPONENT = -130;

/** A number as text: JSON's form, and the forms JavaScript and the SDK write (`1e+21`, `.5`). */
const NUMBER_TEXT = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Shown in a message: a number of a thousand digits is cut short. */
const shown = (text: string): string => (text.length <= 48 ? text : `${text.slice(0, 45)}…`);

/**
 * Why DynamoDB would refuse the number written as `text` ("Number overflow", "Number underflow", "more than 38
 * significant digits"), as the end of a sentence that starts with where the number is; undefined when it would
 * store it. Written by hand because no library offers the check (the SDK sends numbers as text, and DynamoDB
 * refuses them only when they are written); it follows the limits of DynamoDB's Number type.
 */
export const numberProblem = (text: string): string | undefined => {
  const match = NUMBER_TEXT.exec(text);
  if (!match || (match[1] === '' && (match[2] ?? '') === ''))
    return `holds ${shown(text)}, which is not a number`;
  const whole = match[1]!;
  const digits = whole + (match[2] ?? '');
  const first = digits.search(/[1-9]/);
  if (first === -1) return undefined;
  const significant = withoutTrailingZeros(digits.slice(first)).length;
  if (significant > MAX_NUMBER_DIGITS) {
    return `holds ${shown(text)}, a number of ${significant} significant digits; DynamoDB keeps at most ${MAX_NUMBER_DIGITS}`;
  }
  // The power of ten of the first significant digit. A written exponent too long for a double still compares right.
  const exponent = whole.length - first - 1 + Number(match[3] ?? 0);
  if (exponent > MAX_NUMBER_EXPONENT) {
    return `holds ${shown(text)}, a number larger in magnitude than DynamoDB stores (below 1E+${MAX_NUMBER_EXPONENT + 1})`;
  }
  if (exponent < MIN_NUMBER_EXPONENT) {
    return `holds ${shown(text)}, a number smaller in magnitude than DynamoDB stores (1E${MIN_NUMBER_EXPONENT} or more, or 0)`;
  }
  return undefined;
};

const checkNumber = (text: string, where: Where): void => {
  const problem = numberProblem(text);
  if (problem !== undefined) throw new UnstorableEventError(`${pathOf(where)} ${problem}`);
};

/** `data.total` for a name that reads as one, else `data["a.b"]`, so that no two members share a path. */
const memberPath = (path: string, name: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;

/**
 * An upper estimate of an item's size by DynamoDB's rules (names and strings in UTF-8 bytes, up to 21 bytes a
 * number, 3 bytes plus 1 per element for maps and lists). Written by hand because the SDK does not expose a
 * size calculation. Throws `UnstorableEventError` for a value DynamoDB can never store.
 */
export const estimateItemSize = (item: Record<string, unknown>): number => {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    total += Buffer.byteLength(name) + valueSize(value, 0, name);
  }
  return total;
};

/** What a storage check found. */
export interface StorageCheck {
  /** Why DynamoDB could never store the value, as a sentence that starts with where; undefined when it could. */
  problem: string | undefined;
  /**
   * With `deferRounded`: the value holds numbers. JSON.parse may have rounded one (a double holds 15 to 17
   * significant digits, `1e-400` becomes 0), and the digits as written, which the consumer keeps (parseJson), are
   * not in the value, so neither is whether DynamoDB takes them. When the text may hold such a number
   * (mayHoldInexactNumbers), judge the value parsed with parseJson to know.
   */
  numbers: boolean;
}

/**
 * Whether DynamoDB could store `value` as the item attribute `path` (nesting, empty member names, numbers): the
 * estimate's own checks, so that what the ingest refuses and what the sink quarantines are one rule.
 * `deferRounded` notes whether the value holds numbers (`numbers`), for a caller that can check them by their
 * written digits, and leaves doubles beyond ±2^53 unjudged; without it numbers are judged as the doubles they are.
 */
export const checkStorable = (
  value: unknown,
  path: string,
  { deferRounded = false }: { deferRounded?: boolean } = {},
): StorageCheck => {
  if (value === undefined) return { problem: undefined, numbers: false };
  // Sizes are not wanted here: strings are not measured (the ingest checks every event it takes).
  const walk: CheckingWalk = { deferRounded, numbers: false };
  try {
    valueSize(value, 0, path, walk);
    return { problem: undefined, numbers: walk.numbers };
  } catch (error) {
    if (error instanceof UnstorableEventError) return { problem: error.message, numbers: walk.numbers };
    throw error;
  }
};

/** A walk that only checks: it does not measure strings (its sizes are not used), and may defer rounded numbers. */
interface CheckingWalk {
  deferRounded: boolean;
  numbers: boolean;
}

/**
 * Where a value sits: an attribute's name, or a member of a map or list whose own path is `in`. Made into text
 * (`data.lines[0].sku`) only for a message or for a map or list's members, not for every value walked.
 */
type Where = string | { in: string; name: string } | { in: string; index: number };

const pathOf = (where: Where): string =>
  typeof where === 'string'
    ? where
    : 'name' in where
      ? memberPath(where.in, where.name)
      : `${where.in}[${where.index}]`;

const lonelySurrogate = (what: string): UnstorableEventError =>
  new UnstorableEventError(
    `${what} holds a lone surrogate (such as \\ud800): it is not well-formed Unicode, and no UTF-8 encodes it`,
  );

const valueSize = (value: unknown, depth: number, where: Where, walk?: CheckingWalk): number => {
  if (value === null || typeof value === 'boolean') return 1;
  switch (typeof value) {
    case 'string':
      // A JSON escape such as "\ud800" gives a lone surrogate, which no UTF-8 encodes: what DynamoDB would keep
      // of it is not the text sent, so it is refused as the event's other attributes are.
      if (!value.isWellFormed()) throw lonelySurrogate(pathOf(where));
      return walk ? 0 : Buffer.byteLength(value);
    case 'bigint':
      checkNumber(value.toString(), where);
      return 21;
    case 'number':
      if (!Number.isFinite(value))
        // JSON has no Infinity: it is what JSON.parse makes of a number such as 1e400.
        throw new UnstorableEventError(
          `${pathOf(where)} holds a number too large to read (${value}); DynamoDB stores magnitudes below 1E+126`,
        );
      if (walk?.deferRounded) {
        walk.numbers = true;
        // A double beyond ±2^53 came from longer digits, which JSON.parse rounded: it is left to be judged by those
        // digits (the caller checks the value parsed again), as 9.99…9E+125 rounds to 1e126.
        if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return 21;
      }
      // A double has at most 17 significant digits: only its magnitude can be out of DynamoDB's range.
      if (value !== 0 && !(Math.abs(value) >= 1e-130 && Math.abs(value) < 1e126))
        checkNumber(String(value), where);
      return 21;
    case 'object': {
      if (value instanceof Uint8Array) return value.byteLength;
      if (value instanceof NumberValue) {
        checkNumber(value.toString(), where);
        return 21;
      }
      const path = pathOf(where);
      if (depth + 1 > MAX_NESTING_DEPTH) {
        throw new UnstorableEventError(
          `${path} is nested deeper than the ${MAX_NESTING_DEPTH} levels of maps and lists DynamoDB takes in an attribute`,
        );
      }
      let size = 3;
      if (Array.isArray(value)) {
        value.forEach((element, index) => {
          size += 1 + valueSize(element ?? null, depth + 1, { in: path, index }, walk);
        });
        return size;
      }
      for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
        if (member === undefined) continue;
        if (name === '') {
          throw new UnstorableEventError(
            `${path} has a member whose name is empty, and DynamoDB refuses an empty attribute name`,
          );
        }
        // JSON.parse makes `__proto__` an ordinary member, but the SDK's marshall copies members by assignment, which
        // makes that one the map's prototype: it would be sent as a malformed value, or lost.
        if (!name.isWellFormed()) throw lonelySurrogate(`${path} has a member whose name`);
        if (name === '__proto__') {
          throw new UnstorableEventError(
            `${path} has a member named __proto__, which the AWS SDK for JavaScript cannot write to DynamoDB`,
          );
        }
        size +=
          1 + (walk ? 0 : Buffer.byteLength(name)) + valueSize(member, depth + 1, { in: path, name }, walk);
      }
      return size;
    }
    default:
      throw new UnstorableEventError(`${pathOf(where)} holds a ${typeof value}, which DynamoDB cannot store`);
  }
};
