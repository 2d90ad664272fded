import { createHash } from 'node:crypto';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { canonicalJson, parseJson } from '#shared/events/canonical-json.ts';
import {
  deaggregate,
  decodeStreamRecord,
  jsonIdentity,
  streamRecordsFromKinesisEvent,
} from '#shared/events/stream-record.ts';
import { sampleEvent } from '#test/helpers/factories.ts';
import { kplAggregate, SHARD_ID, sequenceNumber, streamRecord } from '#test/helpers/kinesis-factories.ts';

/**
 * Numbers within ±2^53 whose double is another decimal, worked by hand: 19 and 21 significant digits, more than a
 * double's 17 (it holds 0.12345678901234568 and 0.1); 1e-400, below a double's smallest (it holds 0); and
 * 4503599627370497.5, between two doubles 1 apart (it holds 4503599627370498).
 */
const INEXACT = ['0.1234567890123456789', '0.10000000000000000001', '1e-400', '4503599627370497.5'];

describe('Consumer: reading stream records', () => {
  it('adapts the Lambda event: base64 data, shard from the event ID, arrival from epoch seconds', () => {
    // Prepare
    const event = sampleEvent<KinesisStreamEvent>('consumer-raw-json.json');
    const source = event.Records[0]!;
    // Act
    const [record] = streamRecordsFromKinesisEvent(event);
    // Assess
    expect(record).toEqual({
      shardId: 'shardId-000000000000',
      sequenceNumber: source.kinesis.sequenceNumber,
      partitionKey: 'sensor-7',
      data: Buffer.from(source.kinesis.data, 'base64'),
      approximateArrivalTimestamp: new Date('2025-11-24T16:00:00.145Z'),
    });
  });

  it('passes a record that is not aggregated through as itself, without a sub-sequence number', async () => {
    // Prepare
    const record = streamRecord(4, 'k', { a: 1 });
    // Act
    const users = deaggregate(record);
    // Assess
    expect(users).toEqual([
      {
        shardId: SHARD_ID,
        sequenceNumber: sequenceNumber(4),
        partitionKey: 'k',
        approximateArrivalTimestamp: record.approximateArrivalTimestamp,
        data: Buffer.from('{"a":1}'),
      },
    ]);
  });

  it('splits a KPL aggregate into its user records, each with its own key and the outer sequence number', async () => {
    // Prepare
    const aggregate = kplAggregate([
      { partitionKey: 'p-1', data: Buffer.from('{"n":1}') },
      { partitionKey: 'p-2', data: Buffer.from('{"n":2}') },
    ]);
    // Act
    const users = deaggregate(streamRecord(9, 'outer', aggregate));
    // Assess
    expect(
      users.map((u) => ('error' in u ? u.error : [u.partitionKey, u.sequenceNumber, u.subSequenceNumber])),
    ).toEqual([
      ['p-1', sequenceNumber(9), 0],
      ['p-2', sequenceNumber(9), 1],
    ]);
    expect(users.map((u) => ('error' in u ? '' : u.data.toString()))).toEqual(['{"n":1}', '{"n":2}']);
  });

  it('reads a record whose bytes start like an aggregate but are not one as undecodable', async () => {
    // Prepare
    const fake = Buffer.concat([
      Buffer.from('f3899ac2', 'hex'),
      Buffer.from('not protobuf at all, no checksum'),
    ]);
    // Act
    const [parsed, ...rest] = decodeStreamRecord(streamRecord(1, 'k', fake));
    // Assess
    expect(rest).toEqual([]);
    expect(parsed).toMatchObject({ kind: 'undecodable', record: { data: fake } });
  });

  it.each([
    ['a CloudEvent', '{"specversion":"1.0","id":"1","source":"urn:s","type":"t"}', 'cloudevent'],
    ['plain JSON', '{"id":"1","source":"urn:s"}', 'json'],
    ['a JSON array', '[1,2,3]', 'json'],
    ['a JSON string', '"just text"', 'json'],
    ['an invalid CloudEvent', '{"specversion":"1.0","id":"1"}', 'invalid'],
    ['an empty record', '', 'undecodable'],
    ['text', 'id=1;source=s', 'undecodable'],
  ])('reads %s as %s', async (_name, text, kind) => {
    // Act
    const [parsed] = decodeStreamRecord(streamRecord(1, 'k', Buffer.from(text)));
    // Assess
    expect(parsed?.kind).toBe(kind);
  });

  it('gives a CloudEvent its source-and-id identity', async () => {
    // Act
    const [parsed] = decodeStreamRecord(
      streamRecord(1, 'k', { specversion: '1.0', id: 'e:1', source: 'urn:a', type: 't', data: { x: 1 } }),
    );
    // Assess
    expect(parsed).toMatchObject({ kind: 'cloudevent', identity: 'ce:urn%3Aa:e%3A1' });
  });

  it.each([
    ['subject', { subject: 's'.repeat(300) }],
    ['source', { source: `urn:${'s'.repeat(300)}` }],
    ['partitionkey', { partitionkey: 'p'.repeat(300) }],
  ])(
    'stores a CloudEvent whose %s is longer than a partition key, since its record already has its own',
    async (_field, long) => {
      // Act
      const [parsed] = decodeStreamRecord(
        streamRecord(1, 'k', { specversion: '1.0', id: 'e1', source: 'urn:a', type: 't', data: 1, ...long }),
      );
      // Assess
      expect(parsed).toMatchObject({ kind: 'cloudevent' });
    },
  );

  it("measures a CloudEvent with its record's key, not with a long subject the record was not written under", async () => {
    // Prepare: a 210,000-character subject, which the item holds once; the record's own key is short
    const event = {
      specversion: '1.0',
      id: 'e1',
      source: 'urn:a',
      type: 't',
      data: 1,
      subject: 's'.repeat(210_000),
    };
    const tooLarge = { ...event, subject: 's'.repeat(410_000) };
    // Act
    const [parsed] = decodeStreamRecord(streamRecord(1, 'k', event));
    const [refused] = decodeStreamRecord(streamRecord(2, 'k', tooLarge));
    // Assess
    expect(parsed).toMatchObject({ kind: 'cloudevent' });
    expect(refused).toMatchObject({
      kind: 'invalid',
      reason: expect.stringContaining('subject is the largest'),
    });
  });

  it('gives a reason that does not quote the payload', async () => {
    // Act
    const [parsed] = decodeStreamRecord(streamRecord(1, 'k', 'card=4111111111111111'));
    // Assess
    expect(parsed).toMatchObject({ kind: 'undecodable', reason: 'the record is not JSON' });
  });

  it('lists at most 100 problems of an invalid CloudEvent in its reason, each name cut short, as the API does', () => {
    // Prepare: 5,000 attributes whose names are not valid, one of them 100,000 characters long
    const event: Record<string, unknown> = { specversion: '1.0', id: 'e1', source: 'urn:a', type: 't' };
    event[`Long${'x'.repeat(100_000)}`] = 'v';
    for (let i = 0; i < 5_000; i += 1) event[`Bad_${i}`] = 'v';
    // Act
    const [parsed] = decodeStreamRecord(streamRecord(1, 'k', event));
    // Assess
    expect(parsed?.kind).toBe('invalid');
    const reason = (parsed as { reason: string }).reason;
    expect(reason.length).toBeLessThan(20_000);
    expect(reason).toMatch(/^not a valid CloudEvent: Longx{995}… is not a valid attribute name/);
    expect(reason).toContain('Bad_98 is not a valid attribute name');
    expect(reason).not.toContain('Bad_99 ');
    expect(reason.endsWith('; and 4901 more')).toBe(true);
  });

  it('rejects bytes that are not valid UTF-8 rather than patching them', async () => {
    // Act
    const [parsed] = decodeStreamRecord(
      streamRecord(1, 'k', Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])),
    );
    // Assess
    expect(parsed).toMatchObject({ kind: 'undecodable', reason: 'the record is not valid UTF-8' });
  });
});

describe('Consumer: canonical-JSON identity', () => {
  it('is the same for the same payload whatever the key order and whitespace', async () => {
    // Prepare
    const a = '{"b":{"y":[1,{"q":1,"p":2}],"x":"s"},"a":1.0}';
    const b = '{ "a": 1, "b": { "x": "s", "y": [1, { "p": 2, "q": 1 }] } }';
    // Act
    const [first] = decodeStreamRecord(streamRecord(1, 'k', a));
    const [second] = decodeStreamRecord(streamRecord(2, 'other', b));
    // Assess
    expect(first).toMatchObject({ kind: 'json' });
    expect(first && 'identity' in first && first.identity).toBe(
      second && 'identity' in second && second.identity,
    );
  });

  it('differs when a value, or the order of an array, differs', () => {
    expect(jsonIdentity({ a: [1, 2] })).not.toBe(jsonIdentity({ a: [2, 1] }));
    expect(jsonIdentity({ a: '1' })).not.toBe(jsonIdentity({ a: 1 }));
  });

  it('is the SHA-256 of the canonical text', () => {
    // Act
    const text = canonicalJson({ b: 1, a: [true, null, 'x'] });
    // Assess
    expect(text).toBe('{"a":[true,null,"x"],"b":1}');
    expect(jsonIdentity({ b: 1, a: [true, null, 'x'] })).toBe(
      `json:sha256:${createHash('sha256').update('{"a":[true,null,"x"],"b":1}').digest('hex')}`,
    );
  });

  it('keeps the digits of numbers a double would change, within 2^53 too, so that none is stored rounded', () => {
    // Act
    const parsed = parseJson(
      '{"a":0.1234567890123456789,"b":1e-400,"c":0.10000000000000000001,"d":0.1,"e":1.0}',
    );
    // Assess: a double holds 0.12345678901234568, 0 and 0.1 for the first three; 0.1 and 1 are exact.
    expect(canonicalJson(parsed)).toBe(
      '{"a":0.1234567890123456789,"b":1e-400,"c":0.10000000000000000001,"d":0.1,"e":1}',
    );
    expect(jsonIdentity(parsed)).not.toBe(
      jsonIdentity(parseJson('{"a":0.12345678901234568,"b":0,"c":0.1,"d":0.1,"e":1}')),
    );
  });

  it('keeps the digits of a number with a long run of zeros, in time linear in its length', () => {
    // Prepare: 0.1, 100,000 zeros, then 1, which a double holds as 0.1; trimming the zeros with /0+$/ took seconds.
    const digits = `0.1${'0'.repeat(100_000)}1`;
    // Act
    const started = performance.now();
    const parsed = parseJson(`{"a":${digits},"b":0.1${'0'.repeat(100_000)}}`);
    const elapsedMs = performance.now() - started;
    // Assess: the first differs from its double and keeps its digits; the second is 0.1 exactly.
    expect(canonicalJson(parsed)).toBe(`{"a":${digits},"b":0.1}`);
    expect(elapsedMs).toBeLessThan(500);
  });

  it('keeps the digits of integers beyond 2^53, so distinct ids stay distinct', () => {
    // Act
    const a = parseJson('{"id":12345678901234567890}');
    const b = parseJson('{"id":12345678901234567891}');
    // Assess
    expect(a).toEqual({ id: 12345678901234567890n });
    expect(canonicalJson(a)).toBe('{"id":12345678901234567890}');
    expect(jsonIdentity(a)).not.toBe(jsonIdentity(b));
  });

  it('parses every number as the reviver alone would, whether or not the text can hold one a double does not', () => {
    // Prepare: numbers on both sides of 2^53 in every form JSON allows, in objects, arrays and strings.
    const forms = [
      '0',
      '-0',
      '7',
      '-12.5',
      '1e3',
      '1E-7',
      '2.5e+20',
      '-9.1E15',
      '1e400',
      '9007199254740991',
      '9007199254740992',
      '-9007199254740993',
      '123456789012345',
      '1234567890123456',
      '12345678901234567.5',
      '999999999999999.9',
      '0.000000000000000001',
      '2.50',
      ...INEXACT,
    ];
    const texts = [
      ...forms.map((form) => `{"n":${form},"s":"x"}`),
      ...forms.map((form) => `[${form},{"deep":[${form}]}]`),
      '{"text":"1234567890123456 and 1e5 in a string","n":1}',
      '{"text":"nothing to see","n":42}',
    ];
    const withReviver = (text: string) =>
      JSON.parse(text, (_key, value, context?: { source?: string }) =>
        typeof value === 'number' && Number.isFinite(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER
          ? /^-?\d+$/.test(context!.source!)
            ? BigInt(context!.source!)
            : `number ${context!.source}`
          : typeof value === 'number' && INEXACT.includes(context!.source!)
            ? `number ${context!.source}`
            : value,
      );
    for (const text of texts) {
      // Act
      const parsed = parseJson(text);
      // Assess: the same values; a number kept as NumberValue compares by its digits.
      const plain = JSON.parse(
        JSON.stringify(parsed, (_key, value) =>
          typeof value === 'bigint'
            ? `bigint ${value}`
            : value instanceof Object && 'value' in value && Object.keys(value).length === 1
              ? `number ${(value as { value: string }).value}`
              : value,
        ),
      );
      const expected = JSON.parse(
        JSON.stringify(withReviver(text), (_key, value) =>
          typeof value === 'bigint' ? `bigint ${value}` : value,
        ),
      );
      expect(plain, text).toEqual(expected);
    }
  });
});
