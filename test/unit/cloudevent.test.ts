import { describe, expect, it } from 'vitest';
import { toEventToStore } from '#shared/consumer/process-records.ts';
import { identityOf, partitionKeyOf, validateCloudEvent } from '#shared/events/cloudevent.ts';
import { parseUserRecord } from '#shared/events/stream-record.ts';
import { MAX_ITEM_BYTES } from '#shared/sink/item-size.ts';
import { DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, planStorage } from '#shared/sink/storage-plan.ts';

const valid = { specversion: '1.0', id: 'e-1', source: 'urn:shop', type: 'order.created' };

/** The problems found in an event holding `data` (JSON text), judged with the event's text as the ingest does. */
const dataProblems = (data: string): string[] => {
  const text = `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t","data":${data}}`;
  return validateCloudEvent(JSON.parse(text), 0, text).map((e) => e.message);
};

describe('CloudEvents contract', () => {
  it('accepts a minimal event', () => {
    expect(validateCloudEvent(valid, 0)).toEqual([]);
  });

  it.each([
    ['2024-02-29T00:00:00Z', true],
    ['2000-02-29T00:00:00Z', true],
    ['0000-02-29T00:00:00Z', true],
    ['0400-02-29T00:00:00Z', true],
    ['1900-02-29T00:00:00Z', false],
    ['0100-02-29T00:00:00Z', false],
    ['0001-02-29T00:00:00Z', false],
    ['2026-04-31T00:00:00Z', false],
    ['2026-12-31T23:59:60Z', true],
  ])('takes time %s as a real date: %s (leap years by RFC 3339 §5.7, years below 100 too)', (time, ok) => {
    expect(validateCloudEvent({ ...valid, time }, 0).length === 0).toBe(ok);
  });

  it.each([
    [{ ...valid, specversion: '0.3' }, 'specversion'],
    [{ ...valid, id: '' }, 'id'],
    [{ ...valid, source: 7 }, 'source'],
    [{ ...valid, time: '2026-13-01T00:00:00Z' }, 'time'],
    [{ ...valid, time: '2026-02-30T00:00:00Z' }, 'time'],
    [{ ...valid, data: 1, data_base64: 'AA==' }, 'data_base64'],
    [{ ...valid, data_base64: 'not base64!' }, 'data_base64'],
    [{ ...valid, datacontenttype: 'json' }, 'datacontenttype'],
    [{ ...valid, partitionkey: 'x'.repeat(257) }, 'partitionkey'],
    [{ ...valid, partitionkey: '' }, 'partitionkey'],
    [{ ...valid, subject: 's'.repeat(300) }, 'subject'],
    [{ ...valid, Bad_Name: 'x' }, 'Bad_Name'],
    [{ ...valid, ext: { nested: true } }, 'ext'],
  ])('rejects %j on field %s', (event, field) => {
    // Act
    const errors = validateCloudEvent(event, 3);
    // Assess
    expect(errors.map((e) => e.field)).toContain(field);
    expect(errors.every((e) => e.index === 3)).toBe(true);
  });

  it.each([
    ['source', 'my shop', 'must be a URI-reference (RFC 3986)'],
    ['source', 'orders/ünï', 'must be a URI-reference (RFC 3986)'],
    ['dataschema', 'schemas/order.json', 'must be an absolute URI (RFC 3986)'],
    ['dataschema', 'https://example.com/my schema', 'must be an absolute URI (RFC 3986)'],
  ])('refuses %s %j at the API, as CloudEvents types it', (field, value, message) => {
    const errors = validateCloudEvent({ ...valid, [field]: value }, 0);
    expect(errors).toEqual([{ index: 0, field, message: expect.stringContaining(message) }]);
  });

  it.each([
    ['source', '/orders/eu'],
    ['source', 'my-app'],
    ['dataschema', 'https://example.com/schemas/order.json'],
    ['dataschema', 'urn:schema:order:1'],
  ])('takes %s %j', (field, value) => {
    expect(validateCloudEvent({ ...valid, [field]: value }, 0)).toEqual([]);
  });

  it('stores an event from the stream whose source or dataschema is not a URI, rather than quarantine it', () => {
    const event = { ...valid, source: 'my shop', dataschema: 'order schema' };
    const parsed = parseUserRecord({
      shardId: 'shardId-000000000000',
      sequenceNumber: '1',
      partitionKey: 'k',
      approximateArrivalTimestamp: new Date(0),
      data: Buffer.from(JSON.stringify(event)),
    });
    expect(parsed.kind).toBe('cloudevent');
    expect(validateCloudEvent(event, 0, undefined, { recordPartitionKey: 'k' })).toEqual([]);
  });

  it('names every missing required attribute at once', () => {
    expect(validateCloudEvent({}, 0).map((e) => e.field)).toEqual(['specversion', 'id', 'source', 'type']);
  });

  it('takes the partition key from partitionkey, then subject, then source', () => {
    expect(partitionKeyOf({ ...valid, partitionkey: 'p', subject: 's' })).toBe('p');
    expect(partitionKeyOf({ ...valid, subject: 's' })).toBe('s');
    expect(partitionKeyOf(valid)).toBe('urn:shop');
  });

  it('counts partition-key length in UTF-16 code units, the stricter count, so no accepted key is refused later', () => {
    expect(validateCloudEvent({ ...valid, partitionkey: '😀'.repeat(128) }, 0)).toEqual([]);
    expect(validateCloudEvent({ ...valid, partitionkey: 'k'.repeat(256) }, 0)).toEqual([]);
    expect(validateCloudEvent({ ...valid, partitionkey: '😀'.repeat(129) }, 0)).toEqual([
      {
        index: 0,
        field: 'partitionkey',
        message: 'is used as the partition key and must be 1-256 characters (UTF-16 code units), got 258',
      },
    ]);
  });

  it('refuses a lone surrogate in any attribute, which no store or key can take', () => {
    // Prepare: JSON escapes give lone surrogates that no text decoding replaces.
    const event = JSON.parse(
      '{"specversion":"1.0","id":"e-\\ud800","source":"urn:shop","type":"t","subject":"\\udc00x","ext":"\\ud83d"}',
    );
    // Act
    const fields = validateCloudEvent(event, 0).map((e) => e.field);
    // Assess
    expect(fields).toEqual(['id', 'subject', 'ext']);
    expect(validateCloudEvent({ ...valid, data: { text: '\ud800' } }, 0).map((e) => e.field)).toEqual([
      'data',
    ]);
  });

  it('refuses, at the API, attribute strings holding characters CloudEvents Strings exclude', () => {
    // Prepare: control characters (C0, DEL and C1) and Unicode noncharacters, in core and extension attributes;
    // the same characters in data, which is not an attribute, are taken.
    const event = JSON.parse(
      '{"specversion":"1.0","id":"e-\\u0000","source":"urn:shop","type":"order\\ncreated","subject":"a\\u007fb",' +
        '"ext":"\\u009f","other":"\\ufdd0","last":"\\ud83f\\udfff","data":{"note":"line\\none\\u0000"}}',
    );
    // Act
    const errors = validateCloudEvent(event, 0);
    // Assess
    expect(errors.map((e) => e.field)).toEqual(['id', 'type', 'subject', 'ext', 'other', 'last']);
    expect(errors[0]!.message).toContain('control character');
    expect(
      validateCloudEvent({ ...valid, subject: 'tab\tless ünïcode 😀 \u00a0' }, 0).map((e) => e.field),
    ).toEqual(['subject']);
    expect(validateCloudEvent({ ...valid, subject: 'ünïcode 😀 \u00a0\ufffd' }, 0)).toEqual([]);
  });

  it('stores an event from the stream whose attributes hold control characters, rather than quarantine it', () => {
    const event = { ...valid, subject: 'line\none', ext: '\u0000' };
    expect(validateCloudEvent(event, 0, undefined, { recordPartitionKey: 'k' })).toEqual([]);
  });

  it('refuses data with a member whose name is empty, at any depth, naming where it is', () => {
    // Prepare: an empty name inside a list inside a map, past other members.
    const data = { order: { lines: [{ sku: 'a' }, { sku: 'b', '': 2 }] }, note: '' };
    // Act
    const errors = validateCloudEvent({ ...valid, data }, 2);
    // Assess
    expect(errors).toEqual([
      {
        index: 2,
        field: 'data',
        message:
          'cannot be stored in the event table: data.order.lines[1] has a member whose name is empty, and DynamoDB refuses an empty attribute name',
      },
    ]);
    expect(validateCloudEvent({ ...valid, data: { '': 1 } }, 0).map((e) => e.message)).toEqual([
      expect.stringContaining(': data has a member whose name is empty'),
    ]);
    // A member named __proto__, which JSON.parse keeps as a member and the SDK's marshall cannot write.
    const proto = JSON.parse('{"x": [{"__proto__": {"y": 1}}]}') as unknown;
    expect(validateCloudEvent({ ...valid, data: proto }, 0).map((e) => e.message)).toEqual([
      'cannot be stored in the event table: data.x[0] has a member named __proto__, which the AWS SDK for JavaScript cannot write to DynamoDB',
    ]);
    // Names that do not read as identifiers are quoted, so that {"a.b": …} and {"a": {"b": …}} differ.
    expect(validateCloudEvent({ ...valid, data: { 'a.b': { '': 1 } } }, 0).map((e) => e.message)).toEqual([
      expect.stringContaining(': data["a.b"] has a member'),
    ]);
    expect(validateCloudEvent({ ...valid, data: { 'x[0]': [{ '': 1 }] } }, 0).map((e) => e.message)).toEqual([
      expect.stringContaining(': data["x[0]"][0] has a member'),
    ]);
  });

  it('accepts empty strings as data values, and refuses data nested deeper than the table takes without a deep walk', () => {
    // Prepare: 20,000 maps deep, past the stack a walk of every level would need; 31 maps is what DynamoDB takes.
    let deep: unknown = { leaf: '' };
    for (let level = 0; level < 20_000; level += 1) deep = { d: deep };
    let deepest: unknown = 'leaf';
    for (let level = 0; level < 31; level += 1) deepest = { d: deepest };
    // Act
    const emptyValues = validateCloudEvent({ ...valid, data: { a: '', b: [''], c: { '""': '' } } }, 0);
    const nested = validateCloudEvent({ ...valid, data: deep }, 0);
    const atTheLimit = validateCloudEvent({ ...valid, data: deepest }, 0);
    const overTheLimit = validateCloudEvent({ ...valid, data: [deepest] }, 0);
    // Assess
    expect(emptyValues).toEqual([]);
    expect(nested).toEqual([
      {
        index: 0,
        field: 'data',
        message: `cannot be stored in the event table: data${'.d'.repeat(31)} is nested deeper than the 31 levels of maps and lists DynamoDB takes in an attribute`,
      },
    ]);
    expect(atTheLimit).toEqual([]);
    expect(overTheLimit.map((e) => e.message)).toEqual([expect.stringContaining('nested deeper')]);
  });

  it('refuses numbers in data that DynamoDB would refuse, with the digits they were written with when given', () => {
    // Prepare: as JSON.parse reads them; the text holds every digit.
    const text =
      '{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t","data":{"n":[1,12345678901234567890123456789012345678901]}}';
    const parsed = JSON.parse(text);
    // Act
    const withText = validateCloudEvent(parsed, 0, text);
    const withoutText = validateCloudEvent(parsed, 0);
    const doubles = [Number.POSITIVE_INFINITY, 1e126, -1e126, 1e-131, -5e-324].map((n) =>
      validateCloudEvent({ ...valid, data: { n } }, 0),
    );
    const fine = [0, -0, 1e125, 9.9e125, 1e-130, -1e-130, 2 ** 60].map((n) =>
      validateCloudEvent({ ...valid, data: { n } }, 0),
    );
    // Assess
    expect(withText.map((e) => e.message)).toEqual([
      'cannot be stored in the event table: data.n[1] holds 12345678901234567890123456789012345678901, a number of 41 significant digits; DynamoDB keeps at most 38',
    ]);
    // Without the text the rounded double is all there is, and a double DynamoDB takes.
    expect(withoutText).toEqual([]);
    expect(doubles.map((errors) => errors.map((e) => e.message))).toEqual([
      [
        'cannot be stored in the event table: data.n holds a number too large to read (Infinity); DynamoDB stores magnitudes below 1E+126',
      ],
      [expect.stringContaining('data.n holds 1e+126, a number larger in magnitude than DynamoDB stores')],
      [expect.stringContaining('data.n holds -1e+126, a number larger in magnitude')],
      [expect.stringContaining('data.n holds 1e-131, a number smaller in magnitude than DynamoDB stores')],
      [expect.stringContaining('data.n holds -5e-324, a number smaller in magnitude')],
    ]);
    expect(fine).toEqual(fine.map(() => []));
  });

  it('judges numbers of data that a double would change by their written digits, within 2^53 too', () => {
    // Prepare: 39 significant digits (a double keeps 0.12345678901234568); 1e-400 (a double keeps 0); 21 digits
    // and a number between two doubles, which DynamoDB stores exactly.
    // Act / Assess
    expect(dataProblems('{"f":0.1234567890123456789012345678901234567890}')).toEqual([
      'cannot be stored in the event table: data.f holds 0.1234567890123456789012345678901234567890, a number of 39 significant digits; DynamoDB keeps at most 38',
    ]);
    expect(dataProblems('[1e-400]')).toEqual([
      'cannot be stored in the event table: data[0] holds 1e-400, a number smaller in magnitude than DynamoDB stores (1E-130 or more, or 0)',
    ]);
    expect(dataProblems('{"f":0.10000000000000000001,"m":4503599627370497.5,"z":0.0}')).toEqual([]);
  });

  it('judges a number with a long run of zeros among its digits in time linear in its length', () => {
    // Prepare: 0.1, 50,000 zeros, then 1, which trimming the zeros with /0+$/ read in seconds: a double holds 0.1.
    const zeros = '0'.repeat(50_000);
    // Act
    const started = performance.now();
    const problems = dataProblems(`[0.1${zeros}1]`);
    const elapsedMs = performance.now() - started;
    // Assess
    expect(problems).toEqual([expect.stringContaining('a number of 50002 significant digits')]);
    expect(elapsedMs).toBeLessThan(500);
  });

  it('refuses a lone surrogate in data, in a value or a member name, and takes a surrogate pair', () => {
    // Prepare: JSON escapes, as a producer would send them.
    // Act / Assess
    expect(dataProblems('{"s":["ok","\\ud800"]}')).toEqual([
      'cannot be stored in the event table: data.s[1] holds a lone surrogate (such as \\ud800): it is not well-formed Unicode, and no UTF-8 encodes it',
    ]);
    expect(dataProblems('{"\\udc00":1}')).toEqual([
      'cannot be stored in the event table: data has a member whose name holds a lone surrogate (such as \\ud800): it is not well-formed Unicode, and no UTF-8 encodes it',
    ]);
    expect(dataProblems('{"s":"\\ud83d\\ude00"}')).toEqual([]);
  });

  it('treats a null attribute as absent, as the JSON format says, and still requires the required ones', () => {
    // Act
    const nulls = validateCloudEvent(
      { ...valid, subject: null, time: null, datacontenttype: null, dataschema: null, partitionkey: null },
      0,
    );
    const missingId = validateCloudEvent({ ...valid, id: null }, 0);
    // Assess
    expect(nulls).toEqual([]);
    expect(partitionKeyOf({ ...valid, subject: null, partitionkey: null } as never)).toBe('urn:shop');
    expect(missingId).toEqual([{ index: 0, field: 'id', message: 'is required' }]);
  });

  it('refuses time offsets out of range and integers that JSON numbers cannot hold exactly', () => {
    // Act
    const offset = validateCloudEvent({ ...valid, time: '2026-01-31T12:00:00+99:99' }, 0);
    const fine = validateCloudEvent(
      { ...valid, time: '2026-01-31T12:00:00-23:59', seq: 2147483647, low: -2147483648 },
      0,
    );
    const big = validateCloudEvent({ ...valid, seq: JSON.parse('12345678901234567890') }, 0);
    // Assess
    expect(offset.map((e) => e.field)).toEqual(['time']);
    expect(fine).toEqual([]);
    expect(big.map((e) => e.field)).toEqual(['seq']);
  });

  it('judges an integer extension attribute by the digits it was sent with, as the consumer reads it', () => {
    // Prepare: numbers JSON.parse makes safe integers (1, 0, 1, 2^53 - 1) that are not integers as written, and
    // integers written as a fraction or with an exponent.
    const text = (value: string) =>
      `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t","seq":${value}}`;
    const judged = (value: string) => validateCloudEvent(JSON.parse(text(value)), 0, text(value));
    const inexact = ['1.0000000000000001', '1e-400', '0.99999999999999999999', '9007199254740991.0000000001'];
    const whole = ['1.0', '1e3', '9007199254740991', '-0'];
    const inRange = ['1.0', '1e3', '2147483647.0', '-0'];
    // Act / Assess
    expect(inexact.map((value) => judged(value).map((e) => e.field))).toEqual(inexact.map(() => ['seq']));
    expect(inRange.map(judged)).toEqual(inRange.map(() => []));
    // What the ingest refuses, the consumer would quarantine; what it takes, the consumer reads as the event.
    const read = (value: string) =>
      parseUserRecord({
        shardId: 'shardId-000000000000',
        sequenceNumber: '1',
        partitionKey: 'urn:shop',
        approximateArrivalTimestamp: new Date(0),
        data: Buffer.from(text(value)),
      }).kind;
    expect(inexact.map(read)).toEqual(inexact.map(() => 'invalid'));
    expect(whole.map(read)).toEqual(whole.map(() => 'cloudevent'));
  });

  it('refuses, at the API, an integer extension attribute outside the CloudEvents Integer range (32 bits)', () => {
    // Prepare: one past each end of -2^31..2^31-1, an epoch in milliseconds, and 2^53 - 1.
    const outside = [2147483648, -2147483649, 1767225600000, 9007199254740991];
    // Act
    const atApi = outside.map((seq) => validateCloudEvent({ ...valid, seq }, 0));
    const fromStream = outside.map((seq) =>
      validateCloudEvent({ ...valid, seq }, 0, undefined, { recordPartitionKey: 'k' }),
    );
    // Assess: an event another producer wrote to the stream is still stored.
    expect(atApi).toEqual(
      outside.map(() => [
        { index: 0, field: 'seq', message: expect.stringContaining('-2147483648 to 2147483647') },
      ]),
    );
    expect(fromStream).toEqual(outside.map(() => []));
  });

  it('judges thousands of integer extension attributes in time linear in the text, reading it once for its numbers', () => {
    // Prepare: 12,000 integers, named with letters only, in text that holds no number a double would change: the
    // text was searched for such numbers again for each integer, which took seconds.
    const name = (i: number): string =>
      (i < 26 ? '' : name(Math.floor(i / 26) - 1)) + 'abcdefghijklmnopqrstuvwxyz'[i % 26];
    const members = Array.from({ length: 12_000 }, (_, i) => `"x${name(i)}":${i % 1000}`);
    const text = `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t",${members.join(',')}}`;
    const event = JSON.parse(text);
    // Act
    const started = performance.now();
    const errors = validateCloudEvent(event, 0, text);
    const elapsedMs = performance.now() - started;
    // Assess
    expect(Object.keys(event)).toHaveLength(12_004);
    expect(errors).toEqual([]);
    expect(elapsedMs).toBeLessThan(500);
  });

  it('refuses an event whose attributes alone make an item too large, naming the largest; data may be large', () => {
    // Prepare: only data moves to the claim check; without data an item holds up to 409,600 bytes whole
    const withNote = (chars: number, data?: unknown) => ({
      ...valid,
      subject: 'user-1',
      note: 'x'.repeat(chars),
      ...(data === undefined ? {} : { data }),
    });
    // Act
    const large = validateCloudEvent(withNote(450_000, { a: 1 }), 0);
    const underTheLimit = validateCloudEvent(withNote(360_000), 0);
    const largeData = validateCloudEvent({ ...valid, data: { text: 'x'.repeat(900_000) } }, 0);
    // Assess
    expect(large).toEqual([
      {
        index: 0,
        field: 'note',
        message: expect.stringMatching(/item about 45\d{4} bytes without its data .*at most 409600/),
      },
    ]);
    expect(underTheLimit).toEqual([]);
    expect(largeData).toEqual([]);
  });

  it.each([
    ['without data', undefined],
    ['with data', { a: 1 }],
  ])('takes every event %s whose item the sink can store, and no larger one', (_, data) => {
    // Prepare: the longest attribute the validator takes, found by bisection
    const event = (chars: number) => ({
      ...valid,
      subject: 'user-1',
      note: 'x'.repeat(chars),
      ...(data === undefined ? {} : { data }),
    });
    let [low, high] = [0, 500_000];
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (validateCloudEvent(event(middle), 0).length === 0) low = middle;
      else high = middle;
    }
    const record = (chars: number) => ({
      shardId: 'shardId-000000000000',
      sequenceNumber: '49660000000000000000000000000000000000000000000001000001',
      partitionKey: 'user-1',
      approximateArrivalTimestamp: new Date(0),
      data: Buffer.from(JSON.stringify(event(chars))),
    });
    // Act
    const taken = parseUserRecord(record(low));
    const refused = parseUserRecord(record(high));
    // Assess: within about 400 bytes of the limit (the largest stream position is assumed), and stored as planned
    expect(low).toBeGreaterThan(MAX_ITEM_BYTES - (data === undefined ? 1_000 : 2_000));
    expect(taken.kind).toBe('cloudevent');
    const stored = toEventToStore(taken as Extract<typeof taken, { kind: 'cloudevent' }>);
    expect(() =>
      planStorage(stored, Number.MAX_SAFE_INTEGER, DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, true),
    ).not.toThrow();
    expect(refused.kind).toBe('invalid');
  });

  it('refuses, and does not throw on, an event nested too deeply to parse again for its numbers', () => {
    // Prepare: data nested thousands of levels deep, with a number written with an exponent, and an integer
    // extension attribute, which is judged by its written digits
    const text = `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t","seq":1,"data":${'['.repeat(5_000)}1e3${']'.repeat(5_000)}}`;
    // Act
    const errors = validateCloudEvent(JSON.parse(text), 0, text);
    // Assess
    expect(errors.map((e) => e.field)).toEqual(['data']);
    expect(errors[0]!.message).toContain('nested deeper than the 31 levels of maps and lists DynamoDB takes');
  });

  it("refuses an event whose identity would not fit the event table's key", () => {
    // Act
    const errors = validateCloudEvent({ ...valid, id: 'x'.repeat(2100) }, 0);
    // Assess
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ field: 'id' });
    expect(errors[0]!.message).toContain('at most 2048');
    expect(validateCloudEvent({ ...valid, id: 'x'.repeat(2000) }, 0)).toEqual([]);
  });

  it('lists a partition key or identity that is too long beside the other problems, in one answer', () => {
    // Act
    const errors = validateCloudEvent(
      { ...valid, time: 'bad', subject: 's'.repeat(300), id: 'x'.repeat(2100), partitionkey: undefined },
      0,
    );
    const keyFromBadField = validateCloudEvent({ ...valid, time: 'bad', partitionkey: 7 }, 0);
    // Assess
    expect(errors.map((e) => e.field)).toEqual(['time', 'subject', 'id']);
    expect(errors[1]!.message).toContain('is used as the partition key');
    // A key field that is itself wrong is reported once, as wrong, not measured too.
    expect(keyFromBadField.map((e) => e.field)).toEqual(['time', 'partitionkey']);
  });

  it('gives distinct identities to (source, id) pairs that concatenate alike', () => {
    expect(identityOf({ source: 'a:b', id: 'c' })).not.toBe(identityOf({ source: 'a', id: 'b:c' }));
  });
});
