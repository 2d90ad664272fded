import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiRequest, cloudEvent, lambdaContext, sampleEvent } from '#test/helpers/factories.ts';

vi.stubEnv('STREAM_NAME', 'events-stream');
vi.stubEnv('MAX_RECORD_SIZE_KIB', '1024');
vi.stubEnv('AWS_REGION', 'us-east-1');
vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');

const kinesisMock = mockClient(KinesisClient);
let handler: (event: APIGatewayProxyEventV2, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

beforeAll(async () => {
  ({ handler } = (await import('../../functions/ingest/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

let seq = 0;
const acceptAll = () =>
  kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
    FailedRecordCount: 0,
    Records: input.Records.map(() => ({
      ShardId: 'shardId-000000000001',
      SequenceNumber: String(++seq).padStart(56, '4'),
    })),
  }));

const invoke = async (event: APIGatewayProxyEventV2, timeoutMs = 10_000) => {
  const response = await handler(event, lambdaContext('IngestFunction', timeoutMs));
  return { ...response, json: JSON.parse(response.body ?? 'null') };
};

describe('Function: ingest handler', () => {
  afterEach(() => {
    kinesisMock.reset();
  });

  describe('sample events', () => {
    it('events/ingest-single.json is accepted with its shard and sequence number', async () => {
      // Prepare
      acceptAll();
      // Act
      const response = await invoke(sampleEvent('ingest-single.json'));
      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.headers).toMatchObject({ 'content-type': 'application/json' });
      expect(response.json.accepted).toBe(1);
      expect(response.json.events[0]).toMatchObject({
        id: 'order-1',
        status: 'written',
        shardId: 'shardId-000000000001',
        sequenceNumber: expect.stringMatching(/^\d+$/),
      });
      const sent = kinesisMock.commandCalls(PutRecordsCommand)[0]!.args[0].input;
      expect(sent.StreamName).toBe('events-stream');
      expect(sent.Records?.[0]?.PartitionKey).toBe('customer-1');
      expect(JSON.parse(Buffer.from(sent.Records![0]!.Data!).toString())).toMatchObject({ id: 'order-1' });
    });

    it('events/ingest-batch.json writes all six events', async () => {
      // Prepare
      acceptAll();
      // Act
      const response = await invoke(sampleEvent('ingest-batch.json'));
      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.json.accepted).toBe(6);
      expect(response.json.events.map((e: { id: string }) => e.id)).toEqual([
        'order-0',
        'order-1',
        'order-2',
        'order-3',
        'order-4',
        'order-5',
      ]);
    });

    it('events/ingest-invalid.json is refused with every bad field named and nothing written', async () => {
      // Prepare
      acceptAll();
      // Act
      const response = await invoke(sampleEvent('ingest-invalid.json'));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.headers).toMatchObject({ 'content-type': 'application/problem+json' });
      expect(response.json).toMatchObject({ status: 400, instance: 'invalid-req-0001' });
      expect(
        response.json.errors.map((e: { index: number; field: string }) => `${e.index}.${e.field}`),
      ).toEqual(['1.specversion', '1.id', '1.type', '1.time', '2.partitionkey']);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('events/ingest-oversized.json is refused with 413 and nothing written', async () => {
      // Prepare
      acceptAll();
      // Act
      const response = await invoke(sampleEvent('ingest-oversized.json'));
      // Assess
      expect(response.statusCode).toBe(413);
      expect(response.json.title).toBe('Event too large');
      expect(response.json.errors).toEqual([
        { index: 0, field: 'data', message: expect.stringContaining('at most 1048576') },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('carries each sample body base64-encoded, as an HTTP API passes CloudEvents content types', () => {
      // Prepare
      const files = [
        'ingest-single.json',
        'ingest-batch.json',
        'ingest-invalid.json',
        'ingest-oversized.json',
      ];
      for (const file of files) {
        // Act
        const event = sampleEvent<APIGatewayProxyEventV2>(file);
        const bytes = Buffer.from(event.body ?? '', 'base64');
        // Assess
        expect(event.headers['content-type'], file).toMatch(/^application\/cloudevents(-batch)?\+json$/);
        expect(event.isBase64Encoded, file).toBe(true);
        expect(bytes.toString('base64'), file).toBe(event.body);
        expect(String(bytes.byteLength), file).toBe(event.headers['content-length']);
        expect(() => JSON.parse(bytes.toString('utf8')), file).not.toThrow();
      }
    });
  });

  describe('what is written', () => {
    it("writes each event's JSON exactly as sent: every digit, key order, spacing inside the event", async () => {
      // Prepare
      acceptAll();
      const first =
        '{"specversion":"1.0","id":"big-1","source":"urn:shop","type":"t","subject":"k","data":{"orderId":1234567890123456789,"b":1,"a":1e20}}';
      const second =
        '{ "type":"t", "source":"urn:shop", "id":"big-2", "specversion":"1.0", "data": [1.50, -0] }';

      // Act
      const batch = await invoke(
        apiRequest(`[\n  ${first},\n  ${second}\n]`, 'application/cloudevents-batch+json'),
      );
      const single = await invoke(apiRequest(`  ${first}\n`));

      // Assess
      expect(batch.statusCode).toBe(202);
      expect(single.statusCode).toBe(202);
      const written = kinesisMock
        .commandCalls(PutRecordsCommand)
        .flatMap((call) => call.args[0].input.Records ?? [])
        .map((record) => Buffer.from(record.Data!).toString('utf8'));
      expect(written).toEqual([first, second, first]);
    });

    it('treats null attributes as absent, taking the partition key from the next attribute', async () => {
      // Prepare
      acceptAll();
      const event = { ...cloudEvent(1), subject: null, time: null, partitionkey: null };

      // Act
      const response = await invoke(apiRequest(JSON.stringify(event)));

      // Assess
      expect(response.statusCode).toBe(202);
      const sent = kinesisMock.commandCalls(PutRecordsCommand)[0]!.args[0].input;
      expect(sent.Records?.[0]?.PartitionKey).toBe('urn:test:producer');
    });

    it('refuses an escaped lone surrogate in an attribute, which the consumer could never key', async () => {
      // Act
      const response = await invoke(
        apiRequest('{"specversion":"1.0","id":"order-\\ud800","source":"urn:shop","type":"t"}'),
      );

      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toEqual([
        { index: 0, field: 'id', message: expect.stringContaining('well-formed Unicode') },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });
    it("refuses an event whose attributes alone are too large for the event table's item, naming the largest", async () => {
      // Act: 450 KB in an extension attribute, under the stream's 1 MiB record; only data moves to the claim check
      const response = await invoke(
        apiRequest(
          JSON.stringify([cloudEvent(1), { ...cloudEvent(2), note: 'x'.repeat(450_000) }]),
          'application/cloudevents-batch+json',
        ),
      );

      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toEqual([
        {
          index: 1,
          field: 'note',
          message: expect.stringContaining("the event table's items hold at most 409600"),
        },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });
    it('refuses an event whose data has a member with an empty name, which the event table could never store', async () => {
      // Act
      const response = await invoke(
        apiRequest(
          JSON.stringify([cloudEvent(1), { ...cloudEvent(2), data: { lines: [{ '': 1 }] } }]),
          'application/cloudevents-batch+json',
        ),
      );

      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toEqual([
        {
          index: 1,
          field: 'data',
          message:
            'cannot be stored in the event table: data.lines[0] has a member whose name is empty, and DynamoDB refuses an empty attribute name',
        },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('refuses numbers in data the event table could never store, judging each by the digits it was sent with', async () => {
      // Prepare: JSON.parse makes Infinity of the first, and of the 40-digit one a double of 17 digits; the
      // consumer reads every digit, and DynamoDB keeps 38. The last two are stored exactly: at most 38 significant
      // digits (trailing zeros do not count), within DynamoDB's range.
      const event = (id: string, data: string) =>
        `{"specversion":"1.0","id":"${id}","source":"urn:shop","type":"t","data":${data}}`;
      const unstorable = [
        event('n-1', '{"a":1e400}'),
        event('n-2', '{"b":[1234567890123456789012345678901234567891]}'),
        event('n-3', '{"c":1e126,"d":1e-131}'),
        event('n-7', '{"j":123456789012345678901234567890e112}'),
      ];
      const storable = [
        event('n-4', '{"e":12345678901234567890123456789012345678,"f":1e-130}'),
        event('n-5', '{"g":1000000000000000000000000000000000000000000,"h":9.9e125}'),
        // JSON.parse rounds this one to 1e126, which DynamoDB refuses; as written it is DynamoDB's largest number.
        event('n-6', '{"i":9.9999999999999999999999999999999999999E+125}'),
      ];

      // Act
      const refused = await invoke(
        apiRequest(`[${unstorable.join(',')}]`, 'application/cloudevents-batch+json'),
      );
      acceptAll();
      const fine = await invoke(apiRequest(`[${storable.join(', ')}]`, 'application/cloudevents-batch+json'));

      // Assess
      expect(refused.statusCode).toBe(400);
      expect(refused.json.errors).toEqual([
        {
          index: 0,
          field: 'data',
          message:
            'cannot be stored in the event table: data.a holds a number too large to read (Infinity); DynamoDB stores magnitudes below 1E+126',
        },
        {
          index: 1,
          field: 'data',
          message:
            'cannot be stored in the event table: data.b[0] holds 1234567890123456789012345678901234567891, a number of 40 significant digits; DynamoDB keeps at most 38',
        },
        {
          index: 2,
          field: 'data',
          message:
            'cannot be stored in the event table: data.d holds 1e-131, a number smaller in magnitude than DynamoDB stores (1E-130 or more, or 0)',
        },
        // Named with the digits sent, not the double JSON.parse made of them.
        {
          index: 3,
          field: 'data',
          message:
            'cannot be stored in the event table: data.j holds 123456789012345678901234567890e112, a number larger in magnitude than DynamoDB stores (below 1E+126)',
        },
      ]);
      expect(fine.statusCode).toBe(202);
      const sent = kinesisMock
        .commandCalls(PutRecordsCommand)
        .flatMap((call) => call.args[0].input.Records ?? []);
      expect(sent.map((record) => Buffer.from(record.Data!).toString())).toEqual(storable);
    });

    it('names an invalid event and a record too large in one answer', async () => {
      // Prepare: the first event is over the record limit, the second has no id.
      const large = { ...cloudEvent(1), data: { text: 'x'.repeat(1024 * 1024) } };
      const { id: _id, ...noId } = cloudEvent(2);

      // Act
      const response = await invoke(
        apiRequest(JSON.stringify([large, noId]), 'application/cloudevents-batch+json'),
      );

      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toEqual([
        { index: 0, field: 'data', message: expect.stringMatching(/^the encoded record is \d+ bytes/) },
        { index: 1, field: 'id', message: 'is required' },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });
  });

  describe('validation', () => {
    it.each([
      ['a missing content type', null],
      ['text/plain', 'text/plain'],
      ['a non-UTF-8 charset', 'application/json; charset=iso-8859-1'],
      ['an empty charset', 'application/json; charset='],
    ])('answers 415 for %s', async (_, contentType) => {
      // Act
      const response = await invoke(apiRequest(JSON.stringify(cloudEvent()), contentType));
      // Assess
      expect(response.statusCode).toBe(415);
      expect(response.json.type).toBe('urn:kinesis-pipeline:problem:unsupported-media-type');
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it.each(['gzip', 'identity, br', 'x-custom'])(
      'answers 415 naming a Content-Encoding of %s, and that identity is accepted',
      async (encoding) => {
        // Prepare
        const request = apiRequest(JSON.stringify(cloudEvent()));
        request.headers['content-encoding'] = encoding;
        // Act
        const response = await invoke(request);
        // Assess
        expect(response.statusCode).toBe(415);
        expect(response.headers?.['accept-encoding']).toBe('identity');
        expect(response.json).toMatchObject({
          type: 'urn:kinesis-pipeline:problem:unsupported-media-type',
          title: 'Unsupported content encoding',
          detail: expect.stringContaining(`'${encoding}'`),
        });
        expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
      },
    );

    it.each(['identity', 'Identity', ''])('accepts a Content-Encoding of "%s"', async (encoding) => {
      // Prepare
      acceptAll();
      const request = apiRequest(JSON.stringify(cloudEvent()));
      request.headers['content-encoding'] = encoding;
      // Act
      const response = await invoke(request);
      // Assess
      expect(response.statusCode).toBe(202);
    });

    it('answers 415 naming binary mode for application/json with CloudEvents attributes in ce- headers', async () => {
      // Prepare: binary mode (CloudEvents HTTP binding §3.1): the attributes as headers, the body the data alone
      const request = apiRequest('{"total":42}', 'application/json');
      Object.assign(request.headers, {
        'ce-specversion': '1.0',
        'ce-id': 'b-1',
        'ce-source': 'urn:b',
        'ce-type': 't',
      });
      // Act
      const response = await invoke(request);
      // Assess
      expect(response.statusCode).toBe(415);
      expect(response.json).toMatchObject({
        type: 'urn:kinesis-pipeline:problem:unsupported-media-type',
        title: 'Unsupported CloudEvents mode',
        detail: expect.stringContaining('binary mode'),
      });
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('takes a whole event in the body sent with ce- headers too, as structured mode', async () => {
      // Prepare
      acceptAll();
      const request = apiRequest(JSON.stringify(cloudEvent()), 'application/json');
      Object.assign(request.headers, { 'ce-specversion': '1.0', 'ce-id': 'evt-1' });
      // Act
      const response = await invoke(request);
      // Assess
      expect(response.statusCode).toBe(202);
    });

    it.each(['utf8', 'UTF8', 'unicode-1-1-utf-8'])(
      'accepts the UTF-8 label %s as the charset',
      async (label) => {
        // Prepare
        acceptAll();
        // Act
        const response = await invoke(
          apiRequest(JSON.stringify(cloudEvent()), `application/json; charset=${label}`),
        );
        // Assess
        expect(response.statusCode).toBe(202);
      },
    );

    it('accepts application/json with a UTF-8 charset parameter', async () => {
      // Prepare
      acceptAll();
      // Act
      const response = await invoke(
        apiRequest(JSON.stringify(cloudEvent()), 'Application/JSON; charset=UTF-8'),
      );
      // Assess
      expect(response.statusCode).toBe(202);
    });

    it('answers 400 for malformed JSON', async () => {
      // Act
      const response = await invoke(apiRequest('{"specversion": "1.0",'));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.type).toBe('urn:kinesis-pipeline:problem:invalid-json');
    });

    it('answers 400 for an array sent as a single event', async () => {
      // Act
      const response = await invoke(
        apiRequest(JSON.stringify([cloudEvent()]), 'application/cloudevents+json'),
      );
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors[0].message).toContain('application/cloudevents-batch+json');
    });

    it.each([
      ['an object', JSON.stringify(cloudEvent()), 400, 'Invalid CloudEvents'],
      [
        '501 events',
        JSON.stringify(Array.from({ length: 501 }, (_, i) => cloudEvent(i))),
        413,
        'Batch too large',
      ],
    ])('refuses a batch that is %s', async (_, body, status, title) => {
      // Act
      const response = await invoke(apiRequest(body, 'application/cloudevents-batch+json'));
      // Assess
      expect(response.statusCode).toBe(status);
      expect(response.json.title).toBe(title);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('accepts an empty batch, as the CloudEvents JSON batch format allows, and writes nothing', async () => {
      // Act
      const response = await invoke(apiRequest('[ ]', 'application/cloudevents-batch+json'));
      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.json).toEqual({ accepted: 0, events: [] });
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('refuses the whole batch when one event is invalid, naming its index', async () => {
      // Prepare
      const batch = [cloudEvent(1), cloudEvent(2, { type: undefined }), cloudEvent(3)];
      // Act
      const response = await invoke(apiRequest(JSON.stringify(batch), 'application/cloudevents-batch+json'));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toEqual([{ index: 1, field: 'type', message: 'is required' }]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('lists at most 100 problems, and says how many there were', async () => {
      // Prepare: 300 events, each without a type.
      const batch = Array.from({ length: 300 }, (_, i) => ({ ...cloudEvent(i), type: undefined }));
      // Act
      const response = await invoke(apiRequest(JSON.stringify(batch), 'application/cloudevents-batch+json'));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.errors).toHaveLength(100);
      expect(response.json.errors[99]).toEqual({ index: 99, field: 'type', message: 'is required' });
      expect(response.json.detail).toContain('300 problems found');
      expect(response.json.detail).toContain('Only the first 100 are listed');
    });

    it('answers 400 for an event with hundreds of thousands of problems, more than a call takes arguments', async () => {
      // Prepare: 150,000 extension attributes, each with an upper-case name and a lone surrogate (two problems each),
      // which together make an item too large (one more).
      const members = Array.from({ length: 150_000 }, (_, i) => `"X${i.toString(36)}":"\\ud800"`);
      const body = `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t",${members.join(',')}}`;
      // Act
      const response = await invoke(apiRequest(body));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.detail).toContain('300001 problems found');
      expect(response.json.errors).toHaveLength(100);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('keeps the answer small when a problem names an attribute of megabytes, cutting the name short', async () => {
      // Prepare: one attribute whose name is 4,000,000 characters and whose value is a lone surrogate: each of its
      // two problems named it whole, an 8 MB answer, which Lambda does not return (it answers at most 6 MB).
      const name = `AB${'😀'.repeat(1_000)}${'C'.repeat(3_998_000)}`;
      const body = `{"specversion":"1.0","id":"e-1","source":"urn:shop","type":"t","${name}":"\\ud800"}`;
      // Act
      const response = await invoke(apiRequest(body));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(Buffer.byteLength(response.body ?? '')).toBeLessThan(64 * 1024);
      // Cut after 998 characters, not 999, which would end in half of an emoji.
      const cut = `${name.slice(0, 998)}…`;
      expect(cut.isWellFormed()).toBe(true);
      expect(response.json.errors).toEqual([
        { index: 0, field: cut, message: expect.stringContaining('must be well-formed Unicode') },
        { index: 0, field: cut, message: expect.stringContaining('is not a valid attribute name') },
        { index: 0, field: 'data', message: expect.stringContaining('the stream accepts at most') },
      ]);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('refuses a base64 body that is not UTF-8, instead of patching it', async () => {
      // Prepare
      const bytes = Buffer.concat([
        Buffer.from('{"specversion":"1.0","id":"a'),
        Buffer.from([0xff]),
        Buffer.from('","source":"s","type":"t"}'),
      ]);
      const request = { ...apiRequest(undefined), body: bytes.toString('base64'), isBase64Encoded: true };
      // Act
      const response = await invoke(request);
      // Assess
      expect(response.statusCode).toBe(400);
      expect(response.json.detail).toContain('not valid UTF-8');
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('answers 413 for a body over the limit', async () => {
      // Prepare
      const body = JSON.stringify(cloudEvent(1, { data: 'x'.repeat(6 * 1024 * 1024) }));
      // Act
      const response = await invoke(apiRequest(body));
      // Assess
      expect(response.statusCode).toBe(413);
      expect(response.json.title).toBe('Request too large');
      expect(response.json.detail).toContain('at most 4194304 bytes');
    });

    it('counts the body limit in UTF-8 bytes, not characters', async () => {
      // Prepare: 2 Mi three-byte characters are under the limit as characters, over it as bytes.
      const body = JSON.stringify(cloudEvent(1, { data: '\u20ac'.repeat(2 * 1024 * 1024) }));
      // Act
      const response = await invoke(apiRequest(body));
      // Assess
      expect(response.statusCode).toBe(413);
      expect(response.json.detail).toContain(`The body is ${Buffer.byteLength(body)} bytes`);
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
    });

    it('accepts a body under the limit in bytes even when three bytes per character would be over it', async () => {
      // Prepare: 2.1 MB of ASCII in three records under 1 MiB each; 3 × 2.1 M characters would exceed 4 MiB.
      acceptAll();
      const batch = [1, 2, 3].map((i) => cloudEvent(i, { data: 'x'.repeat(700 * 1024) }));
      // Act
      const response = await invoke(apiRequest(JSON.stringify(batch), 'application/cloudevents-batch+json'));
      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.json.accepted).toBe(3);
    });

    it('reads a lone surrogate in the body as U+FFFD, as UTF-8 decoding does', async () => {
      // Prepare
      acceptAll();
      const body = JSON.stringify(cloudEvent(1)).replace('subject-1', 'subject-\ud800');
      // Act
      const response = await invoke(apiRequest(body));
      // Assess
      expect(response.statusCode).toBe(202);
      const sent = kinesisMock.commandCalls(PutRecordsCommand)[0]!.args[0].input.Records![0]!;
      expect(sent.PartitionKey).toBe('subject-\ufffd');
      expect(JSON.parse(Buffer.from(sent.Data!).toString('utf8')).subject).toBe('subject-\ufffd');
    });

    it('decodes a base64-encoded body', async () => {
      // Prepare
      acceptAll();
      const event = apiRequest(Buffer.from(JSON.stringify(cloudEvent())).toString('base64'));
      // Act
      const response = await invoke({ ...event, isBase64Encoded: true });
      // Assess
      expect(response.statusCode).toBe(202);
    });
  });

  describe('partial failures', () => {
    it('answers 503 with Retry-After and each event status when entries still fail at the deadline', async () => {
      // Prepare: key subject-2 always fails.
      kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
        FailedRecordCount: 1,
        Records: input.Records.map((r: { PartitionKey: string }) =>
          r.PartitionKey === 'subject-2'
            ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }
            : { ShardId: 'shardId-000000000000', SequenceNumber: String(++seq) },
        ),
      }));
      const batch = [cloudEvent(1), cloudEvent(2), cloudEvent(3), cloudEvent(4, { subject: 'subject-2' })];
      // Act: a 2.5 s budget leaves room for a few retries.
      const response = await invoke(
        apiRequest(JSON.stringify(batch), 'application/cloudevents-batch+json'),
        2_500,
      );
      // Assess
      expect(response.statusCode).toBe(503);
      expect(Number(response.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(response.json.events.map((e: { status: string }) => e.status)).toEqual([
        'written',
        'failed',
        'written',
        'not_attempted',
      ]);
      expect(response.json.events[1]).toMatchObject({ id: 'evt-2', errorCode: 'InternalFailure' });
      expect(kinesisMock.commandCalls(PutRecordsCommand).length).toBeGreaterThan(1);
    });

    it("tells the producer a throttled event's error code, never Kinesis's message with the account and stream", async () => {
      // Prepare
      kinesisMock.on(PutRecordsCommand).resolves({
        FailedRecordCount: 1,
        Records: [
          {
            ErrorCode: 'ProvisionedThroughputExceededException',
            ErrorMessage:
              'Rate exceeded for shard shardId-000000000001 in stream prod-events under account 111111111111.',
          },
        ],
      });
      // Act: every attempt is throttled until the budget runs out.
      const response = await invoke(apiRequest(JSON.stringify(cloudEvent())), 2_500);
      // Assess
      expect(response.statusCode).toBe(503);
      expect(response.json.events).toEqual([
        {
          index: 0,
          id: 'evt-1',
          source: 'urn:test:producer',
          status: 'failed',
          errorCode: 'ProvisionedThroughputExceededException',
        },
      ]);
      expect(response.body).not.toContain('111111111111');
      expect(response.body).not.toContain('prod-events');
    });

    it('answers 500 with a problem document when the stream does not exist', async () => {
      // Prepare
      kinesisMock
        .on(PutRecordsCommand)
        .rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));
      // Act
      const response = await invoke(apiRequest(JSON.stringify(cloudEvent())));
      // Assess
      expect(response.statusCode).toBe(500);
      expect(response.json).toMatchObject({
        type: 'urn:kinesis-pipeline:problem:internal-error',
        status: 500,
      });
      expect(response.body).not.toContain('not found');
    });
  });
});
