import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config.ts';
import { loadConsumerConfig } from '#shared/consumer/config.ts';
import { parseJson } from '#shared/events/canonical-json.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import { putObjectOnce } from '#shared/s3/put-object-once.ts';
import { S3ClaimCheck } from '#shared/sink/claim-check.ts';
import { DynamoDbEventStore, UPSERT_CONDITION } from '#shared/sink/dynamodb-event-store.ts';
import { UnstorableEventError } from '#shared/sink/event-store.ts';
import { eventToStore } from '#test/helpers/factories.ts';

const dynamoMock = mockClient(DynamoDBClient);
const s3Mock = mockClient(S3Client);
const client = new DynamoDBClient({ region: 'us-east-1' });
const s3 = new S3Client({ region: 'us-east-1' });

const event = eventToStore;

const store = (
  projectionVersion = 2,
  extra: Partial<ConstructorParameters<typeof DynamoDbEventStore>[0]> = {},
) => new DynamoDbEventStore({ client, tableName: 'events', projectionVersion, ...extra });

const conditionFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item ? { Item: item as never } : {}),
  });

const validation = (message: string) =>
  Object.assign(new Error(message), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });

afterEach(() => {
  dynamoMock.reset();
  s3Mock.reset();
});

/** The item the store writes for `event()` at projection version 2, as it sent it; the mock is reset afterwards. */
const writtenItem = async (): Promise<Record<string, AttributeValue>> => {
  dynamoMock.on(PutItemCommand).resolvesOnce({});
  await store(2).put(event());
  const written = dynamoMock.commandCalls(PutItemCommand)[0]!.args[0].input.Item!;
  dynamoMock.reset();
  return written;
};

/** That item as DynamoDB gives it back stored at sequence number 4966, with the data given. */
const storedCopy =
  (written: Record<string, AttributeValue>) =>
  (data: Record<string, AttributeValue>): Record<string, AttributeValue> => ({
    ...written,
    data: { M: data },
    stream: { M: { sequenceNumber: { S: '4966' } } },
  });

describe('Sink: DynamoDbEventStore', () => {
  it('writes one item with the conditional upsert, never reading first', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    // Act
    const result = await store().put(event());
    // Assess
    expect(result).toEqual({ outcome: 'written' });
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    expect(dynamoMock).toHaveReceivedCommandTimes(GetItemCommand, 0);
    expect(dynamoMock).toHaveReceivedCommandWith(PutItemCommand, {
      TableName: 'events',
      ConditionExpression: UPSERT_CONDITION,
      ExpressionAttributeNames: { '#identity': 'identity', '#projectionVersion': 'projectionVersion' },
      ExpressionAttributeValues: { ':projectionVersion': { N: '2' } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      Item: {
        identity: { S: 'ce:urn%3As:e-1' },
        projectionVersion: { N: '2' },
        kind: { S: 'cloudevent' },
        attributes: {
          M: { specversion: { S: '1.0' }, id: { S: 'e-1' }, source: { S: 'urn:s' }, type: { S: 't' } },
        },
        data: { M: { n: { N: '1' } } },
        stream: {
          M: {
            shardId: { S: 'shardId-000000000000' },
            sequenceNumber: { S: '49660000000000000000000000000000000000000000000001000001' },
            partitionKey: { S: 'k' },
            approximateArrivalTimestamp: { S: '2026-11-24T16:00:00.000Z' },
          },
        },
      },
    });
  });

  it.each([
    ['the same version', { N: '2' }, 'duplicate'],
    ['a newer version', { N: '3' }, 'stale-version'],
  ])('tells a failed check against %s apart by the item it carries', async (_name, version, outcome) => {
    // Prepare
    dynamoMock.on(PutItemCommand).rejects(
      conditionFailed({
        projectionVersion: version,
        stream: { M: { sequenceNumber: { S: '4966' }, subSequenceNumber: { N: '0' } } },
      }),
    );
    // Act
    const result = await store(2).put(event());
    // Assess
    expect(result).toEqual({
      outcome,
      stored: { projectionVersion: Number(version.N), sequenceNumber: '4966', subSequenceNumber: 0 },
    });
    expect(dynamoMock).toHaveReceivedCommandTimes(GetItemCommand, 0);
  });

  it('says when the item it failed against holds the same identity with other content, numbers read as decimals', async () => {
    // Prepare: the item the event makes, as written once; then stored copies of it as DynamoDB gives them back,
    // one whose data { n: 1 } reads 1.0, one whose data is { n: 2 }.
    const stored = storedCopy(await writtenItem());
    const failedAgainst = (data: Record<string, AttributeValue>) => conditionFailed(stored(data));
    dynamoMock
      .on(PutItemCommand)
      .rejectsOnce(failedAgainst({ n: { N: '1.0' } }))
      .rejectsOnce(failedAgainst({ n: { N: '2' } }));
    // Act
    const same = await store(2).put(event());
    const other = await store(2).put(event());
    // Assess
    expect(same).toEqual({ outcome: 'duplicate', stored: { projectionVersion: 2, sequenceNumber: '4966' } });
    expect(other).toEqual({
      outcome: 'duplicate',
      stored: { projectionVersion: 2, sequenceNumber: '4966' },
      conflict: true,
    });
  });

  it('says when the item holds other content also when the failed check carries no item, from the consistent read', async () => {
    // Prepare: the item the event makes, as written once; then a refusal without the old item (as dynalite answers),
    // and reads giving back the same content, then other data.
    const stored = storedCopy(await writtenItem());
    const read = (data: Record<string, AttributeValue>) => ({ Item: stored(data) });
    dynamoMock.on(PutItemCommand).rejects(conditionFailed());
    dynamoMock
      .on(GetItemCommand)
      .resolvesOnce(read({ n: { N: '1.0' } }))
      .resolvesOnce(read({ n: { N: '2' } }));
    // Act
    const same = await store(2).put(event());
    const other = await store(2).put(event());
    // Assess
    expect(same).toEqual({ outcome: 'duplicate', stored: { projectionVersion: 2, sequenceNumber: '4966' } });
    expect(other).toEqual({
      outcome: 'duplicate',
      stored: { projectionVersion: 2, sequenceNumber: '4966' },
      conflict: true,
    });
  });

  it('labels the outcome with a consistent read when the failed check carries no item', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).rejects(conditionFailed());
    dynamoMock
      .on(GetItemCommand)
      .resolves({ Item: { projectionVersion: { N: '5' }, stream: { M: { sequenceNumber: { S: '1' } } } } });
    // Act
    const result = await store(2).put(event());
    // Assess
    expect(result).toEqual({
      outcome: 'stale-version',
      stored: { projectionVersion: 5, sequenceNumber: '1' },
    });
    expect(dynamoMock).toHaveReceivedCommandWith(GetItemCommand, {
      ConsistentRead: true,
      Key: { identity: { S: 'ce:urn%3As:e-1' } },
    });
  });

  it.each([
    'Item size has exceeded the maximum allowed size',
    'Nesting Levels have exceeded supported limits',
    'Number overflow. Attempting to store a number with magnitude larger than supported range',
    'One or more parameter values were invalid: Empty attribute name',
  ])('turns the answer "%s" into UnstorableEventError', async (message) => {
    // Prepare
    dynamoMock.on(PutItemCommand).rejects(validation(message));
    // Act
    const result = store().put(event());
    // Assess
    await expect(result).rejects.toBeInstanceOf(UnstorableEventError);
  });

  it.each([
    ['a schema mismatch', validation('One of the required keys was not given a value')],
    ['throttling', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })],
    ['a timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })],
  ])('passes %s through as an error worth a retry', async (_name, error) => {
    // Prepare
    dynamoMock.on(PutItemCommand).rejects(error);
    // Act
    const result = store().put(event());
    // Assess
    await expect(result).rejects.toThrow(error.message);
    await expect(result).rejects.not.toBeInstanceOf(UnstorableEventError);
  });

  it.each([
    ['a number beyond 2^53 that is not a NumberValue', { n: 2 ** 60 }, /MAX_SAFE_INTEGER/],
    [
      'a number larger than DynamoDB stores',
      { n: 1e300 },
      /data\.n holds 1e\+300, a number larger in magnitude/,
    ],
    [
      'a number smaller than DynamoDB stores',
      { n: 1e-131 },
      /data\.n holds 1e-131, a number smaller in magnitude/,
    ],
    [
      'a number of more than 38 significant digits',
      { n: BigInt('1234567890123456789012345678901234567891') },
      /a number of 40 significant digits; DynamoDB keeps at most 38/,
    ],
    [
      'a number that is not finite',
      { n: Number.POSITIVE_INFINITY },
      /data\.n holds a number too large to read \(Infinity\)/,
    ],
    ['a string holding a lone surrogate', { s: '\ud800' }, /data\.s holds a lone surrogate/],
    ['an object that is not plain data', { at: new Date(0) }, /Unsupported type passed/],
  ])('refuses, without calling DynamoDB, %s', async (_name, data, reason) => {
    // Act
    const result = store().put(event({ data }));
    // Assess
    await expect(result).rejects.toBeInstanceOf(UnstorableEventError);
    await expect(result).rejects.toThrow(reason);
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 0);
  });

  it('refuses, without calling DynamoDB, data nested 32 levels deep, which DynamoDB refuses; 31 are written', async () => {
    // Prepare
    const nested = (levels: number): unknown => {
      let data: unknown = 'leaf';
      for (let i = 0; i < levels; i += 1) data = { d: data };
      return data;
    };
    dynamoMock.on(PutItemCommand).resolves({});
    await store().put(event({ data: nested(31) }));
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    const data = nested(32);
    // Act
    const result = store().put(event({ data }));
    // Assess: no second PutItem
    await expect(result).rejects.toBeInstanceOf(UnstorableEventError);
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  it('refuses, without calling DynamoDB, data with a member whose name is empty', async () => {
    // Prepare: plain JSON records reach the sink without the CloudEvents check that refuses this at ingest.
    const data = { a: [{ b: 1 }, { '': 2 }] };
    // Act
    const result = store().put(event({ data }));
    // Assess
    await expect(result).rejects.toThrow(
      new UnstorableEventError(
        'data.a[1] has a member whose name is empty, and DynamoDB refuses an empty attribute name',
      ),
    );
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 0);
  });

  it('refuses, without calling DynamoDB, data with a member named __proto__, which marshall would make a prototype', async () => {
    // Prepare: as a record's text is parsed, __proto__ is an ordinary member.
    const data = JSON.parse('{"a": {"__proto__": {"b": 1}, "c": 2}}') as unknown;
    // Act
    const result = store().put(event({ data }));
    // Assess
    await expect(result).rejects.toThrow(
      new UnstorableEventError(
        'data.a has a member named __proto__, which the AWS SDK for JavaScript cannot write to DynamoDB',
      ),
    );
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 0);
  });

  it('stores numbers as written when a double would change them, from data the consumer parsed', async () => {
    // Prepare: 4503599627370497.5 lies between two doubles; 0.10000000000000000001 has 21 significant digits.
    dynamoMock.on(PutItemCommand).resolves({});
    const data = parseJson('{"m":4503599627370497.5,"f":0.10000000000000000001,"d":0.5}');
    // Act
    await store().put(event({ data }));
    // Assess
    const item = dynamoMock.commandCalls(PutItemCommand)[0]!.args[0].input.Item!;
    expect(item.data).toEqual({
      M: { m: { N: '4503599627370497.5' }, f: { N: '0.10000000000000000001' }, d: { N: '0.5' } },
    });
  });

  it('moves data too large for an item to the claim check and stores the pointer', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    s3Mock.on(PutObjectCommand).resolves({});
    const claimCheck = new S3ClaimCheck({ client: s3, bucket: 'claims', prefix: 'claim-check/' });
    const big = { text: 'x'.repeat(500 * 1024) };
    // Act
    await store(2, { claimCheck }).put(event({ data: big }));
    // Assess
    const item = unmarshall(dynamoMock.commandCalls(PutItemCommand)[0]!.args[0].input.Item!);
    expect(item.data).toBeUndefined();
    expect(item.claimCheck).toMatchObject({
      bucket: 'claims',
      key: expect.stringMatching(/^claim-check\/[0-9a-f]{64}\/[0-9a-f]{64}$/),
      field: 'data',
      bytes: JSON.stringify(big).length,
    });
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'claims',
      IfNoneMatch: '*',
      Key: (item.claimCheck as { key: string }).key,
    });
  });

  it('accepts S3 412 from the claim check: the content-addressed object is already there', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
      }),
    );
    const claimCheck = new S3ClaimCheck({ client: s3, bucket: 'claims', prefix: 'claim-check/' });
    // Act
    const pointer = await claimCheck.store('id', 'data', { a: 1 });
    // Assess
    expect(pointer).toMatchObject({ field: 'data', bytes: 7 });
  });

  it('retries a write S3 answers 409 ConditionalRequestConflict (another write of the key at once), and gives up after four', async () => {
    // Prepare
    const s3Error = (name: string, status: number) =>
      new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status } });
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    const object = { bucket: 'b', key: 'k', body: 'x', contentType: 'text/plain' };
    s3Mock
      .on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejectsOnce(s3Error('PreconditionFailed', 412));
    // Act
    await putObjectOnce(s3, object, sleep);
    s3Mock.reset();
    s3Mock.on(PutObjectCommand).rejects(s3Error('ConditionalRequestConflict', 409));
    const stuck = putObjectOnce(s3, object, sleep);
    // Assess
    await expect(stuck).rejects.toMatchObject({ name: 'ConditionalRequestConflict' });
    expect(s3Mock).toHaveReceivedCommandTimes(PutObjectCommand, 4);
    expect(waits).toEqual([50, 50, 100, 200]);
  });

  it('refuses an event whose attributes alone exceed an item, and uploads nothing for it', async () => {
    // Prepare
    const claimCheck = new S3ClaimCheck({ client: s3, bucket: 'claims', prefix: 'claim-check/' });
    s3Mock.on(PutObjectCommand).resolves({});
    const attributes = { ...event().attributes, subject: 's'.repeat(420 * 1024) };
    // Act
    const result = store(2, { claimCheck }).put(event({ attributes, data: { big: 'x'.repeat(1024) } }));
    // Assess
    await expect(result).rejects.toBeInstanceOf(UnstorableEventError);
    expect(dynamoMock).toHaveReceivedCommandTimes(PutItemCommand, 0);
    expect(s3Mock).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });
});

describe('Quarantine: S3Quarantine', () => {
  it('writes one JSON object per user record, keyed by its position', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const quarantine = new S3Quarantine({ client: s3, bucket: 'q', prefix: 'quarantine/' });
    // Act
    await quarantine.put({
      reason: 'invalid',
      detail: 'type is required',
      shardId: 'shardId-000000000001',
      sequenceNumber: '123',
      subSequenceNumber: 2,
      partitionKey: '😀-key',
      approximateArrivalTimestamp: new Date('2026-11-24T16:00:00.000Z'),
      data: Buffer.from([0, 1, 2]),
    });
    // Assess
    const input = s3Mock.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ Bucket: 'q', Key: 'quarantine/shardId-000000000001/123-2.json' });
    expect(JSON.parse(input.Body as string)).toEqual({
      reason: 'invalid',
      detail: 'type is required',
      shardId: 'shardId-000000000001',
      sequenceNumber: '123',
      subSequenceNumber: 2,
      partitionKey: '😀-key',
      approximateArrivalTimestamp: '2026-11-24T16:00:00.000Z',
      data: 'AAEC',
    });
  });
});

describe('Consumer: configuration', () => {
  const env = { TABLE_NAME: 't', QUARANTINE_BUCKET: 'b' };

  it('applies the defaults, sharing one bucket under two prefixes', () => {
    expect(loadConsumerConfig(env)).toEqual({
      tableName: 't',
      quarantineBucket: 'b',
      quarantinePrefix: 'quarantine/',
      claimCheckBucket: 'b',
      claimCheckPrefix: 'claim-check/',
      claimCheckThresholdBytes: 350 * 1024,
      projectionVersion: 1,
      keyConcurrency: 16,
      timeReserveMs: 2_000,
    });
  });

  it.each([
    [{ QUARANTINE_BUCKET: 'b' }, 'TABLE_NAME'],
    [{ TABLE_NAME: 't' }, 'QUARANTINE_BUCKET'],
    [{ ...env, PROJECTION_VERSION: '0' }, 'PROJECTION_VERSION'],
    [{ ...env, KEY_CONCURRENCY: 'many' }, 'KEY_CONCURRENCY'],
    [{ ...env, CLAIM_CHECK_PREFIX: 'quarantine/claims/' }, 'CLAIM_CHECK_PREFIX'],
  ])('fails fast on %j, naming %s', (values, name) => {
    expect(() => loadConsumerConfig(values)).toThrow(ConfigError);
    expect(() => loadConsumerConfig(values)).toThrow(name);
  });
});
