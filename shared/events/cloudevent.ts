/**
 * The event contract: CloudEvents 1.0 in the JSON format (structured mode).
 *
 * Written by hand rather than with the `cloudevents` SDK: the SDK validates one event at a time, throws on the
 * first problem and does not know this pipeline's rules (the partition key, the record-size limit), while the
 * API must name every bad field of every event in one RFC 9457 answer.
 */

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
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 4648 base64, padded. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** RFC 2046 media type: type "/" subtype, optionally followed by parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$/;

const isRfc3339 = (value: string): boolean => {
  const match = RFC3339.exec(value);
  if (!match) return false;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  if (mo! < 1 || mo! > 12 || h! > 23 || mi! > 59 || s! > 60) return false;
  const daysInMonth = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  return d! >= 1 && d! <= daysInMonth;
};

/** Length in Unicode code points, which is how Kinesis counts the partition key's 256 characters. */
export const codePointLength = (value: string): number => {
  let length = 0;
  for (const _ of value) length += 1;
  return length;
};

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * The partition key: `partitionkey`, else `subject`, else `source`. Callers validate first; for a valid
 * event this is always a string of 1–256 characters.
 */
export const partitionKeyOf = (event: Pick<CloudEvent, 'partitionkey' | 'subject' | 'source'>): string =>
  event.partitionkey ?? event.subject ?? event.source;

/** Which attribute supplies the partition key; used to point an error at the right field. */
const partitionKeyField = (event: Record<string, unknown>): 'partitionkey' | 'subject' | 'source' =>
  event.partitionkey !== undefined ? 'partitionkey' : event.subject !== undefined ? 'subject' : 'source';

/**
 * The event's identity for the rest of the pipeline: `source` + `id`, each percent-encoded so that no pair of
 * distinct (source, id) values can produce the same identity.
 */
export const identityOf = (event: Pick<CloudEvent, 'source' | 'id'>): string =>
  `ce:${encodeURIComponent(event.source)}:${encodeURIComponent(event.id)}`;

/**
 * Validates one candidate event and returns every problem found. An empty list means `value` is a CloudEvent.
 */
export const validateCloudEvent = (value: unknown, index: number): FieldError[] => {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string): void => {
    errors.push({ index, field, message });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('', 'an event must be a JSON object');
    return errors;
  }
  const event = value as Record<string, unknown>;

  if (event.specversion === undefined) fail('specversion', 'is required');
  else if (event.specversion !== '1.0') fail('specversion', 'must be "1.0"');

  for (const field of ['id', 'source', 'type'] as const) {
    if (event[field] === undefined) fail(field, 'is required');
    else if (!isNonEmptyString(event[field])) fail(field, 'must be a non-empty string');
  }

  if (event.time !== undefined && (typeof event.time !== 'string' || !isRfc3339(event.time))) {
    fail('time', 'must be an RFC 3339 timestamp, such as 2026-01-31T12:00:00Z');
  }
  if (event.subject !== undefined && !isNonEmptyString(event.subject)) {
    fail('subject', 'must be a non-empty string');
  }
  if (
    event.datacontenttype !== undefined &&
    (typeof event.datacontenttype !== 'string' || !MEDIA_TYPE.test(event.datacontenttype))
  ) {
    fail('datacontenttype', 'must be an RFC 2046 media type, such as application/json');
  }
  if (event.dataschema !== undefined && !isNonEmptyString(event.dataschema)) {
    fail('dataschema', 'must be a non-empty URI');
  }
  if (event.data !== undefined && event.data_base64 !== undefined) {
    fail('data_base64', 'must not be present together with data');
  }
  if (
    event.data_base64 !== undefined &&
    (typeof event.data_base64 !== 'string' || !BASE64.test(event.data_base64))
  ) {
    fail('data_base64', 'must be a base64 string (RFC 4648)');
  }
  if (event.partitionkey !== undefined && typeof event.partitionkey !== 'string') {
    fail('partitionkey', 'must be a string');
  }

  for (const [name, attribute] of Object.entries(event)) {
    if (KNOWN_ATTRIBUTES.has(name)) continue;
    if (!ATTRIBUTE_NAME.test(name)) {
      fail(name, 'is not a valid attribute name: use lower-case letters a-z and digits 0-9 only');
    } else if (
      attribute !== null &&
      typeof attribute !== 'string' &&
      typeof attribute !== 'boolean' &&
      !Number.isInteger(attribute)
    ) {
      fail(name, 'an extension attribute must be a string, an integer or a boolean');
    }
  }

  if (errors.length === 0) {
    const key = partitionKeyOf(event as unknown as CloudEvent);
    const length = codePointLength(key);
    if (length < 1 || length > MAX_PARTITION_KEY_CHARS) {
      const field = partitionKeyField(event);
      fail(
        field,
        `is used as the partition key and must be 1-${MAX_PARTITION_KEY_CHARS} Unicode characters, got ${length}`,
      );
    }
  }
  return errors;
};
