/**
 * The event contract: CloudEvents 1.0 in the JSON format (structured mode).
 *
 * Written by hand rather than with the `cloudevents` SDK: the SDK validates one event at a time, throws on the
 * first problem and does not know this pipeline's rules (the partition key, the record-size limit), while the
 * API must name every bad field of every event in one RFC 9457 answer.
 */

import { checkStorable, MAX_ITEM_BYTES } from '#shared/sink/item-size.ts';
import {
  CLAIM_POINTER_ALLOWANCE_BYTES,
  cloudEventParts,
  sizeWithoutData,
} from '#shared/sink/storage-plan.ts';
import { mayHoldInexactNumbers, parseJson } from './canonical-json.ts';
import { isUri, isUriReference } from './uri.ts';

/** A CloudEvent as it travels on the stream. Extension attributes sit beside the context attributes. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: unknown;
  data_base64?: string;
  partitionkey?: string;
  [extension: string]: unknown;
}

/** One problem with one field of one event; `index` is the event's place in the request (0 for a single event). */
export interface FieldError {
  index: number;
  field: string;
  message: string;
}

export const MAX_PARTITION_KEY_CHARS = 256;

/**
 * How many problems a 400 answer or a quarantine reason lists (beyond them it says how many more there were), and the
 * characters each field or message keeps.
 */
export const MAX_LISTED_ERRORS = 100;
const MAX_LISTED_CHARS = 1000;

const cutShort = (text: string): string => {
  if (text.length <= MAX_LISTED_CHARS) return text;
  // Not between the two halves of a surrogate pair, which would leave a lone one.
  const last = text.charCodeAt(MAX_LISTED_CHARS - 2);
  const end = MAX_LISTED_CHARS - (last >= 0xd800 && last <= 0xdbff ? 2 : 1);
  return `${text.slice(0, end)}…`;
};

/**
 * The problems to list, however many an event holds and however long the names they give: the first
 * MAX_LISTED_ERRORS, each field and message cut short past 1,000 characters (ending in `…`). An attribute's name of
 * 4 MB, named by each of its problems, would otherwise make an answer larger than Lambda returns (6 MB), or a
 * quarantine reason of megabytes.
 */
export const listedProblems = (errors: readonly FieldError[]): FieldError[] =>
  (errors.length > MAX_LISTED_ERRORS ? errors.slice(0, MAX_LISTED_ERRORS) : errors).map((error) =>
    error.field.length > MAX_LISTED_CHARS || error.message.length > MAX_LISTED_CHARS
      ? { ...error, field: cutShort(error.field), message: cutShort(error.message) }
      : error,
  );

/** DynamoDB's limit on a partition key value; the event table's key is the event's identity. */
export const MAX_IDENTITY_BYTES = 2048;

const KNOWN_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
  'partitionkey',
]);

/** CloudEvents 1.0 §3.1.1: attribute names are lower-case ASCII letters and digits. */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** RFC 3339 date-time (full-date "T" full-time), with a required offset. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 4648 base64, padded. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** RFC 2046 media type: type "/" subtype, optionally followed by parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$/;

/**
 * What CloudEvents 1.0 §"Type System" excludes from a String: control characters (U+0000-U+001F, U+007F-U+009F) and
 * Unicode noncharacters (U+FDD0-U+FDEF, and the last two code points of every plane). Lone surrogates are found apart.
 */
const EXCLUDED_FROM_STRING =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what the spec excludes
  /[\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

/** Days in each month of a common year. */
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Whether `value` is an RFC 3339 date-time with its offset, and a real one (no February 30th). */
export const isRfc3339 = (value: string): boolean => {
  const match = RFC3339.exec(value);
  if (!match) return false;
  const [, y, mo, d, h, mi, s, , offsetH = 0, offsetM = 0] = match.map((part) =>
    part === undefined ? undefined : Number(part),
  ) as number[];
  if (mo! < 1 || mo! > 12 || h! > 23 || mi! > 59 || s! > 60) return false;
  if (offsetH > 23 || offsetM > 59) return false;
  // Worked out here: Date.UTC reads years 0-99 as 1900-1999, and 1900 is no leap year where 0 is (RFC 3339 §5.7).
  const leap = y! % 4 === 0 && (y! % 100 !== 0 || y! % 400 === 0);
  return d! >= 1 && d! <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo! - 1]!);
};

/** CloudEvents 1.0 §"Type System": an Integer is a whole number from -2^31 to 2^31 - 1, in every event format. */
const isCloudEventsInteger = (value: unknown): boolean =>
  Number.isInteger(value) && (value as number) >= -2_147_483_648 && (value as number) <= 2_147_483_647;

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * CloudEvents JSON format §2.2: a null attribute is the same as an absent one. Only `data` keeps a null value
 * (JSON null is data like any other).
 */
const isSet = (value: unknown): boolean => value !== undefined && value !== null;

/**
 * The partition key: `partitionkey`, else `subject`, else `source`. Callers validate first; for a valid
 * event this is always a string of 1–256 characters.
 */
export const partitionKeyOf = (event: Pick<CloudEvent, 'partitionkey' | 'subject' | 'source'>): string =>
  event.partitionkey ?? event.subject ?? event.source;

/** Which attribute supplies the partition key; used to point an error at the right field. */
const partitionKeyField = (event: Record<string, unknown>): 'partitionkey' | 'subject' | 'source' =>
  isSet(event.partitionkey) ? 'partitionkey' : isSet(event.subject) ? 'subject' : 'source';

/**
 * The event's identity for the rest of the pipeline: `source` + `id`, each percent-encoded so that no pair of
 * distinct (source, id) values can produce the same identity.
 */
export const identityOf = (event: Pick<CloudEvent, 'source' | 'id'>): string =>
  `ce:${encodeURIComponent(event.source)}:${encodeURIComponent(event.id)}`;

/**
 * Validates one candidate event and returns every problem found. An empty list means `value` is a CloudEvent.
 * `text` is the event's JSON as written, when `value` came from JSON.parse: a number in `data` beyond ±2^53 is then
 * checked with all of its digits. `recordPartitionKey`, for an event read from the stream, is its record's key: an
 * event there already has its key, whoever wrote it, so the length of the attribute the key would come from is not
 * checked, and the item is measured with the record's key. Nor are `source` and `dataschema` held to URI syntax there,
 * attribute strings to the characters a CloudEvents String excludes, or integers to CloudEvents' 32-bit Integer:
 * the API refuses such events, but records other producers wrote, and events accepted before the API checked it,
 * are stored rather than quarantined for it.
 */
export const validateCloudEvent = (
  value: unknown,
  index: number,
  text?: string,
  { recordPartitionKey }: { recordPartitionKey?: string } = {},
): FieldError[] => {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string): void => {
    errors.push({ index, field, message });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('', 'an event must be a JSON object');
    return errors;
  }
  const event = value as Record<string, unknown>;

  if (!isSet(event.specversion)) fail('specversion', 'is required');
  else if (event.specversion !== '1.0') fail('specversion', 'must be "1.0"');

  for (const field of ['id', 'source', 'type'] as const) {
    if (!isSet(event[field])) fail(field, 'is required');
    else if (!isNonEmptyString(event[field])) fail(field, 'must be a non-empty string');
  }
  const fromStream = recordPartitionKey !== undefined;
  if (!fromStream && isNonEmptyString(event.source) && !isUriReference(event.source)) {
    fail(
      'source',
      'must be a URI-reference (RFC 3986), such as urn:shop:orders or https://example.com/orders: spaces and other characters outside it are written percent-encoded (%20)',
    );
  }

  if (isSet(event.time) && (typeof event.time !== 'string' || !isRfc3339(event.time))) {
    fail('time', 'must be an RFC 3339 timestamp, such as 2026-01-31T12:00:00Z');
  }
  if (isSet(event.subject) && !isNonEmptyString(event.subject)) {
    fail('subject', 'must be a non-empty string');
  }
  if (
    isSet(event.datacontenttype) &&
    (typeof event.datacontenttype !== 'string' || !MEDIA_TYPE.test(event.datacontenttype))
  ) {
    fail('datacontenttype', 'must be an RFC 2046 media type, such as application/json');
  }
  if (isSet(event.dataschema) && !isNonEmptyString(event.dataschema)) {
    fail('dataschema', 'must be a non-empty URI');
  } else if (!fromStream && isNonEmptyString(event.dataschema) && !isUri(event.dataschema)) {
    fail(
      'dataschema',
      'must be an absolute URI (RFC 3986), such as https://example.com/schemas/order.json: with a scheme, and spaces and other characters outside it percent-encoded (%20)',
    );
  }
  if (event.data !== undefined && isSet(event.data_base64)) {
    fail('data_base64', 'must not be present together with data');
  }
  if (
    isSet(event.data_base64) &&
    (typeof event.data_base64 !== 'string' || !BASE64.test(event.data_base64))
  ) {
    fail('data_base64', 'must be a base64 string (RFC 4648)');
  }
  // The event as the consumer reads it: numbers a double would change keep the digits they were written with.
  // Whether the text holds such numbers is found once: it is asked for each integer attribute, and searching the
  // text again for each one took time in the square of its length.
  let exactEvent: { value: Record<string, unknown> | undefined } | undefined;
  const exactly = (): Record<string, unknown> | undefined => {
    exactEvent ??= {
      value:
        text !== undefined && mayHoldInexactNumbers(text)
          ? (parseJson(text) as Record<string, unknown>)
          : undefined,
    };
    return exactEvent.value;
  };
  // The event table stores `data` as it is (a map for an object): what DynamoDB would refuse is refused here, by
  // the sink's own rule, rather than accepted and then quarantined by the consumer. A number JSON.parse rounded is
  // checked with the digits it was written with, which the consumer keeps, when the text is at hand.
  let storage = checkStorable(event.data, 'data', { deferRounded: text !== undefined });
  if (storage.problem === undefined && storage.numbers) {
    const exact = exactly();
    if (exact !== undefined) storage = checkStorable(exact.data, 'data');
  }
  if (storage.problem !== undefined) fail('data', `cannot be stored in the event table: ${storage.problem}`);
  if (isSet(event.partitionkey) && typeof event.partitionkey !== 'string') {
    fail('partitionkey', 'must be a string');
  }

  // Counted for the item size check below: UTF-16 code units of the names and string values the item holds.
  let attributeUnits = 0;
  let attributeCount = 0;
  for (const [name, attribute] of Object.entries(event)) {
    if (name !== 'data' && name !== 'data_base64' && attribute !== null) {
      attributeCount += 1;
      attributeUnits += name.length + (typeof attribute === 'string' ? attribute.length : 0);
    }
    // A JSON escape such as "\ud800" gives a lone surrogate: no UTF-8 encodes it, so no store or key takes it.
    if (name !== 'data' && typeof attribute === 'string') {
      if (!attribute.isWellFormed()) {
        fail(name, 'must be well-formed Unicode: it holds a lone surrogate (such as \\ud800)');
      } else if (!fromStream && EXCLUDED_FROM_STRING.test(attribute)) {
        // Such a value breaks the HTTP headers of binary mode; an event read from the stream is stored all the same.
        fail(
          name,
          'must not hold a control character (U+0000-U+001F, U+007F-U+009F) or a Unicode noncharacter (such as U+FFFF), which CloudEvents excludes from Strings',
        );
      }
    }
    if (KNOWN_ATTRIBUTES.has(name)) continue;
    if (!ATTRIBUTE_NAME.test(name)) {
      fail(name, 'is not a valid attribute name: use lower-case letters a-z and digits 0-9 only');
    } else if (attribute !== null && typeof attribute !== 'string' && typeof attribute !== 'boolean') {
      // An integer by its written digits: JSON.parse makes 1.0000000000000001 and 1e-400 the integers 1 and 0.
      const integer = typeof attribute === 'number' ? (exactly()?.[name] ?? attribute) : attribute;
      // The API holds it to CloudEvents' Integer; from the stream, whoever wrote it, any integer a double holds.
      if (fromStream ? !Number.isSafeInteger(integer) : !isCloudEventsInteger(integer)) {
        fail(
          name,
          fromStream
            ? 'an extension attribute must be a string, a boolean or an integer (within ±9007199254740991; send larger ones as strings)'
            : 'an extension attribute must be a string, a boolean or an integer (a CloudEvents Integer, -2147483648 to 2147483647; send larger ones as strings)',
        );
      }
    }
  }

  // The key and the identity are checked whenever the fields they come from are valid, so that one answer lists
  // every problem: a bad `time` does not hide a key that is too long.
  const failed = (field: string) => errors.some((error) => error.field === field);
  const keyField = partitionKeyField(event);
  if (recordPartitionKey === undefined && typeof event[keyField] === 'string' && !failed(keyField)) {
    const key = partitionKeyOf(event as unknown as CloudEvent);
    // UTF-16 code units: the stricter of the two ways the 256 characters may be counted (a code-point count would
    // allow 256 emoji, which kinesalite refuses with the whole request), so no key that passes here is refused.
    if (key.length < 1 || key.length > MAX_PARTITION_KEY_CHARS) {
      fail(
        keyField,
        `is used as the partition key and must be 1-${MAX_PARTITION_KEY_CHARS} characters (UTF-16 code units), got ${key.length}`,
      );
    }
  }
  if (isNonEmptyString(event.id) && isNonEmptyString(event.source) && !failed('id') && !failed('source')) {
    // Percent-encoding makes at most 9 bytes of one UTF-16 code unit: most identities need no measuring.
    const { id, source } = event as unknown as CloudEvent;
    const identityBytes =
      (id.length + source.length) * 9 + 4 <= MAX_IDENTITY_BYTES
        ? 0
        : Buffer.byteLength(identityOf({ id, source }), 'utf8');
    if (identityBytes > MAX_IDENTITY_BYTES) {
      fail(
        'id',
        `with source, makes the event's identity ${identityBytes} bytes once encoded; the event table's key takes at most ${MAX_IDENTITY_BYTES}`,
      );
    }
  }
  // The event table's item holds every attribute but the data, with the identity and the stream position, and only
  // the data can move to the claim check: an event whose other attributes alone make an item too large could never
  // be stored. A UTF-8 byte count is at most 3 per UTF-16 code unit, and the estimate gives a member at most 24
  // bytes besides (a number takes 21), so only events with long attributes are measured, by the sink's own rule.
  if (
    3 * attributeUnits + 24 * attributeCount + ITEM_BYTES_BESIDES_ATTRIBUTES >
      MAX_ITEM_BYTES - CLAIM_POINTER_ALLOWANCE_BYTES &&
    isNonEmptyString(event.id) &&
    isNonEmptyString(event.source)
  ) {
    const problem = attributesTooLarge(event as unknown as CloudEvent, recordPartitionKey);
    if (problem) fail(problem.field, problem.message);
  }
  return errors;
};

/** More than an item takes besides its attributes: the identity (at most 2048 bytes), a stream position, names. */
const ITEM_BYTES_BESIDES_ATTRIBUTES = 8 * 1024;

/** Why the event's attributes make an item too large for the event table whatever its data, naming the largest. */
const attributesTooLarge = (
  event: CloudEvent,
  recordPartitionKey: string | undefined,
): Omit<FieldError, 'index'> | undefined => {
  const parts = cloudEventParts(event);
  const hasData = parts.data !== undefined || parts.dataBase64 !== undefined;
  // The key the item's stream position holds: the record's, else the one the API will write the event under.
  const key = recordPartitionKey ?? partitionKeyOf(event);
  let size: number;
  try {
    size = sizeWithoutData(
      { identity: identityOf(event), kind: 'cloudevent', attributes: parts.attributes, hasData },
      typeof key === 'string' ? key : '',
    );
  } catch {
    // A value no item can hold, which the checks above have named.
    return undefined;
  }
  if (size <= MAX_ITEM_BYTES) return undefined;
  let largest = '';
  let largestBytes = -1;
  for (const [name, value] of Object.entries(parts.attributes)) {
    const bytes = Buffer.byteLength(name) + (typeof value === 'string' ? Buffer.byteLength(value) : 21);
    if (bytes > largestBytes) [largest, largestBytes] = [name, bytes];
  }
  return {
    field: largest,
    message:
      `is the largest of the attributes that make the event's item about ${size} bytes without its data ` +
      `(its identity, attributes and stream position${hasData ? ', and the pointer to its data' : ''}); the event table's ` +
      `items hold at most ${MAX_ITEM_BYTES}, and only data moves to S3: send large values in data`,
  };
};
