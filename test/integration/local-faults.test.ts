import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import { clientConfig, type RunningEmulator, startDynamoDb, startKinesis } from '#local/emulators/index.ts';
import {
  createFaultInjector,
  DEFAULT_FAULTS,
  type FaultInjector,
  type FaultSettings,
  openShardRanges,
  ShardWriteLimiter,
  tableBillingMode,
} from '#local/faults/faults.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';
import { faultsRoute, statusRoute, unknownLocalRoute } from '#local/runtime.ts';

let kinesisEmulator: RunningEmulator;
let dynamoEmulator: RunningEmulator;
let gateway: RunningGateway;
let faults: FaultInjector;
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;

const countRecords = async (stream: string): Promise<number> => {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  let total = 0;
  for (const shard of Shards) {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    total += (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records?.length ?? 0;
  }
  return total;
};

const records = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ PartitionKey: `${prefix}-${i}`, Data: Buffer.from(`{"i":${i}}`) }));

/** A Kinesis JSON call through the endpoint with a body sent as is, as a client with a bug would send it. */
const rawKinesis = async (operation: string, body: string) => {
  const answer = await fetch(gateway.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `Kinesis_20131202.${operation}`,
      'x-amz-date': '20260101T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
    },
    body,
  });
  return { status: answer.status, body: await answer.text() };
};

/** The endpoint's answer to a call, or the error it was refused with. */
const outcome = (call: Promise<unknown>) =>
  call.then(
    (output) => ({ output }),
    (error: Error) => ({ error: { name: error.name, message: error.message } }),
  );

const faultsApi = async (method: 'GET' | 'PUT', body?: string) => {
  const answer = await fetch(`${gateway.endpoint}/_local/faults`, { method, body });
  return {
    status: answer.status,
    body: (await answer.json()) as { message?: string; settings?: FaultSettings },
  };
};

describe('Local runtime: fault injection in the AWS endpoint', () => {
  beforeAll(async () => {
    kinesisEmulator = await startKinesis();
    dynamoEmulator = await startDynamoDb();
    const direct = new KinesisClient({
      ...clientConfig(kinesisEmulator.endpoint),
      requestHandler: new NodeHttpHandler(),
    });
    const directDynamoDb = new DynamoDBClient(clientConfig(dynamoEmulator.endpoint));
    faults = createFaultInjector(
      {},
      (stream) => openShardRanges(direct, stream),
      Math.random,
      undefined,
      (table) => tableBillingMode(directDynamoDb, table),
    );
    gateway = await startGateway({
      port: 0,
      services: { kinesis: kinesisEmulator.endpoint, dynamodb: dynamoEmulator.endpoint },
      routes: [faultsRoute(faults), statusRoute(() => undefined), unknownLocalRoute],
      intercept: faults.intercept,
    });
    kinesis = new KinesisClient({
      ...clientConfig(gateway.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    dynamodb = new DynamoDBClient({ ...clientConfig(gateway.endpoint), maxAttempts: 1 });
    await kinesis.send(new CreateStreamCommand({ StreamName: 'one-shard', ShardCount: 1 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: 'two-shards', ShardCount: 2 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: 'flaky', ShardCount: 1 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: 'refusals', ShardCount: 1 }));
    await createTable(dynamodb, 'items', [['pk', 'HASH']]);
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'provisioned-items',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
      }),
    );
  });

  afterAll(async () => {
    kinesis?.destroy();
    dynamodb?.destroy();
    await gateway?.close();
    await kinesisEmulator?.close();
    await dynamoEmulator?.close();
  });

  afterEach(() => {
    faults.update({ ...DEFAULT_FAULTS, dynamodbPattern: '', functionPattern: '', functionName: '' });
  });

  it('answers PutRecords entries with InternalFailure at the configured rate, writing only the others', async () => {
    // Prepare
    faults.update({ putRecordsFailureRate: 1 });
    // Act
    const all = await kinesis.send(new PutRecordsCommand({ StreamName: 'flaky', Records: records(10, 'a') }));
    faults.update({ putRecordsFailureRate: 0 });
    const none = await kinesis.send(
      new PutRecordsCommand({ StreamName: 'flaky', Records: records(10, 'b') }),
    );
    // Assess
    expect(all.FailedRecordCount).toBe(10);
    expect(all.Records![0]).toEqual({
      ErrorCode: 'InternalFailure',
      ErrorMessage: 'Internal service failure.',
    });
    expect(none.FailedRecordCount).toBe(0);
    expect(await countRecords('flaky')).toBe(10);
  });

  it('throttles 1,500 records in one second on one shard but not on two', async () => {
    // Prepare
    faults.update({ shardWriteLimits: true });
    const burst = async (stream: string) => {
      let failed = 0;
      for (let i = 0; i < 3; i++) {
        const answer = await kinesis.send(
          new PutRecordsCommand({ StreamName: stream, Records: records(500, `${stream}-${i}`) }),
        );
        failed += answer.FailedRecordCount ?? 0;
        for (const r of answer.Records ?? []) {
          if (r.ErrorCode) expect(r.ErrorCode).toBe('ProvisionedThroughputExceededException');
        }
      }
      return failed;
    };
    // Act
    const oneShard = await burst('one-shard');
    const twoShards = await burst('two-shards');
    faults.update({ shardWriteLimits: false });
    // Assess
    expect(oneShard).toBeGreaterThanOrEqual(500);
    expect(await countRecords('one-shard')).toBe(1500 - oneShard);
    expect(twoShards).toBe(0);
    expect(await countRecords('two-shards')).toBe(1500);
  });

  it('answers a throttled PutRecord with ProvisionedThroughputExceededException', async () => {
    // Prepare
    faults.update({ putRecordsFailureRate: 0, shardWriteLimits: true });
    const limiterFull = Array.from({ length: 2 }, () =>
      kinesis.send(new PutRecordsCommand({ StreamName: 'flaky', Records: records(500, 'fill') })),
    );
    await Promise.all(limiterFull);
    // Act
    const act = kinesis.send(
      new PutRecordCommand({ StreamName: 'flaky', PartitionKey: 'x', Data: Buffer.from('1') }),
    );
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    faults.update({ shardWriteLimits: false });
  });

  it('throttles or fails DynamoDB writes whose request matches the pattern', async () => {
    // Prepare
    faults.update({ dynamodbPattern: 'poison', dynamodbMode: 'throttle' });
    const put = (pk: string) =>
      dynamodb.send(new PutItemCommand({ TableName: 'items', Item: { pk: { S: pk } } }));
    // Act / Assess
    await expect(put('poison-1')).rejects.toMatchObject({
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(put('fine-1')).resolves.toBeDefined();
    faults.update({ dynamodbMode: 'error', dynamodbPattern: '/poison-\\d/' });
    await expect(put('poison-2')).rejects.toMatchObject({ name: 'InternalServerError' });
    faults.update({ dynamodbPattern: '' });
    await expect(put('poison-3')).resolves.toBeDefined();
    expect(faults.counts.dynamodb).toBe(2);
  });

  it("throttles a write as its table's billing mode says: ThrottlingException on demand, ProvisionedThroughputExceededException when provisioned", async () => {
    // Prepare
    faults.update({ dynamodbPattern: 'poison', dynamodbMode: 'throttle' });
    const answer = async (TableName: string) => {
      const response = await fetch(gateway.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.BatchWriteItem',
          'x-amz-date': '20260101T000000Z',
          authorization:
            'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: JSON.stringify({
          RequestItems: { [TableName]: [{ PutRequest: { Item: { pk: { S: 'poison' } } } }] },
        }),
      });
      return {
        status: response.status,
        body: (await response.json()) as { __type: string; message: string },
      };
    };
    // Act
    const onDemand = await answer('items');
    const provisioned = await answer('provisioned-items');
    const missing = await answer('no-such-table');
    // Assess
    expect(onDemand.status).toBe(400);
    expect(onDemand.body.__type).toBe('com.amazon.coral.availability#ThrottlingException');
    expect(onDemand.body.message).toContain(
      'Throughput exceeds the current capacity of your table or index.',
    );
    expect(provisioned.status).toBe(400);
    expect(provisioned.body.__type).toBe(
      'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    );
    expect(missing.status).toBe(400);
    expect(missing.body.__type).toBe('com.amazonaws.dynamodb.v20120810#ResourceNotFoundException');
  });

  it('refuses invalid settings with a clear message', () => {
    expect(() => faults.update({ putRecordsFailureRate: 2 })).toThrow(
      'putRecordsFailureRate must be between 0 and 1',
    );
    expect(() => faults.update({ dynamodbMode: 'sometimes' as 'error' })).toThrow(
      'dynamodbMode must be throttle or error',
    );
  });

  it('limits each shard to 1,000 records and 1 MiB in any one-second window', () => {
    // Prepare
    let now = 0;
    const limiter = new ShardWriteLimiter(() => now);
    // Act
    const first = Array.from({ length: 1_001 }, () => limiter.take('s', 10));
    now = 1_000;
    const afterOneSecond = limiter.take('s', 10);
    const big = limiter.take('t', 1024 * 1024);
    const overBytes = limiter.take('t', 1);
    // Assess
    expect(first.filter(Boolean)).toHaveLength(1_000);
    expect(afterOneSecond).toBe(true);
    expect(big).toBe(true);
    expect(overBytes).toBe(false);
  });

  it('gives a record a place again once the write it follows by a second has left the window', () => {
    // Prepare: 2,000 records a second offered to one shard for 2.5 s, one every half millisecond.
    let now = 0;
    const limiter = new ShardWriteLimiter(() => now);
    const taken: number[] = [];
    // Act
    for (let i = 0; i < 5_000; i++) {
      now = i / 2;
      if (limiter.take('s', 10)) taken.push(now);
    }
    // Assess: the first half of each second fills the shard, and the second half finds it full.
    expect(taken).toHaveLength(3_000);
    expect(taken.filter((at) => at % 1_000 >= 500)).toEqual([]);
  });

  it("counts a split stream's writes against its open children, not the closed parent kinesalite still lists", async () => {
    // Prepare
    await kinesis.send(new CreateStreamCommand({ StreamName: 'split', ShardCount: 1 }));
    await kinesis.send(
      new SplitShardCommand({
        StreamName: 'split',
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    for (let i = 0; i < 50; i++) {
      const { StreamDescriptionSummary } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: 'split' }),
      );
      if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    faults.update({ shardWriteLimits: true });
    // Act
    const ranges = await openShardRanges(kinesis, 'split');
    const answers = [];
    for (let round = 0; round < 3; round++) {
      answers.push(
        await kinesis.send(
          new PutRecordsCommand({ StreamName: 'split', Records: records(500, `r${round}`) }),
        ),
      );
    }
    // Assess
    expect(ranges).toEqual([
      { shardId: 'shardId-000000000001', start: 0n, end: 2n ** 127n - 1n },
      { shardId: 'shardId-000000000002', start: 2n ** 127n, end: 2n ** 128n - 1n },
    ]);
    const shards = new Set(answers.flatMap((a) => a.Records!.map((r) => r.ShardId)));
    expect(shards).toEqual(new Set(['shardId-000000000001', 'shardId-000000000002']));
    expect(answers.map((a) => a.FailedRecordCount)).toEqual([0, 0, 0]);
  });

  describe('the other /_local paths', () => {
    it.each([
      [
        'GET',
        '/_local/nope',
        404,
        'there is no local route /_local/nope; the local routes are GET /_local/status, and GET or PUT (or POST) /_local/faults',
      ],
      ['GET', '/_local', 404, 'there is no local route /_local;'],
      ['POST', '/_local/status', 405, 'use GET to read the status; the local routes are'],
      ['DELETE', '/_local/faults', 405, 'use GET to read the fault settings, PUT (or POST) to change them'],
    ])('%s %s answers %i naming the local routes, not an S3 error', async (method, path, status, message) => {
      // Act
      const answer = await fetch(`${gateway.endpoint}${path}`, { method });
      // Assess
      expect(answer.status).toBe(status);
      expect(((await answer.json()) as { message: string }).message).toContain(message);
    });
  });

  describe('PUT /_local/faults', () => {
    it('refuses a body over 64 KiB with 413 without reading it whole, and changes nothing', async () => {
      // Prepare
      const before = await faultsApi('GET');
      const huge = JSON.stringify({ functionPattern: 'x'.repeat(70 * 1024) });
      // Act
      const refused = await faultsApi('PUT', huge);
      const after = await faultsApi('GET');
      // Assess
      expect(refused.status).toBe(413);
      expect(refused.body.message).toBe('the fault settings must be at most 65536 bytes of JSON');
      expect(after.body.settings).toEqual(before.body.settings);
    });

    it.each([
      ['a non-string pattern', '{"dynamodbPattern": 123}', 'dynamodbPattern must be a string'],
      [
        'a boolean given as a string',
        '{"shardWriteLimits": "false"}',
        'shardWriteLimits must be true or false',
      ],
      [
        'a rate given as a string',
        '{"putRecordsFailureRate": "0.5"}',
        'putRecordsFailureRate must be a number',
      ],
      [
        'a rate given as a boolean',
        '{"putRecordsFailureRate": true}',
        'putRecordsFailureRate must be a number',
      ],
      ['a function name that is not a string', '{"functionName": 7}', 'functionName must be a string'],
      [
        'an invalid regular expression',
        '{"dynamodbPattern": "/[/"}',
        'dynamodbPattern is not a valid regular',
      ],
      ['an array', '[{"shardWriteLimits": true}]', 'must be a JSON object'],
      ['a string', '"shardWriteLimits"', 'must be a JSON object'],
      ['null', 'null', 'must be a JSON object'],
      ['an empty body', '', 'the body must be a JSON object of the settings to change'],
    ])('refuses %s with 400 and a message, changing nothing', async (_case, body, message) => {
      // Prepare
      const before = await faultsApi('GET');
      // Act
      const answer = await faultsApi('PUT', body);
      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.message).toContain(message);
      expect((await faultsApi('GET')).body.settings).toEqual(before.body.settings);
    });

    it('refuses an unknown setting, naming it and the known ones', async () => {
      // Act
      const answer = await faultsApi('PUT', '{"putRecordFailureRate": 0.5}');
      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.message).toContain("'putRecordFailureRate'");
      expect(answer.body.message).toContain(
        'putRecordsFailureRate, shardWriteLimits, dynamodbPattern, dynamodbMode, functionPattern, functionName',
      );
      expect((await faultsApi('GET')).body.settings).not.toHaveProperty('putRecordFailureRate');
    });

    it('applies no part of a change that is refused for one of its settings', async () => {
      // Act
      const answer = await faultsApi(
        'PUT',
        '{"putRecordsFailureRate": 0.5, "shardWriteLimits": true, "dynamodbPattern": "/[/"}',
      );
      // Assess
      expect(answer.status).toBe(400);
      expect((await faultsApi('GET')).body.settings).toEqual(DEFAULT_FAULTS);
    });

    it('keeps DynamoDB writes working after a non-string pattern is refused', async () => {
      // Prepare
      await faultsApi('PUT', '{"dynamodbPattern": 123}');
      // Act
      const act = dynamodb.send(new PutItemCommand({ TableName: 'items', Item: { pk: { S: 'after-123' } } }));
      // Assess
      await expect(act).resolves.toBeDefined();
    });

    it('changes only the settings it names, and clears a pattern or a name given as null', async () => {
      // Act
      await faultsApi('PUT', '{"functionPattern": "poison", "functionName": "ConsumerFunction"}');
      await faultsApi('PUT', '{"dynamodbMode": "error", "putRecordsFailureRate": 0.25}');
      const both = await faultsApi('GET');
      const cleared = await faultsApi('PUT', '{"functionPattern": null, "functionName": null}');
      // Assess
      expect(both.body.settings).toEqual({
        ...DEFAULT_FAULTS,
        functionPattern: 'poison',
        functionName: 'ConsumerFunction',
        dynamodbMode: 'error',
        putRecordsFailureRate: 0.25,
      });
      expect(cleared.status).toBe(200);
      expect(cleared.body.settings).toEqual({
        ...DEFAULT_FAULTS,
        dynamodbMode: 'error',
        putRecordsFailureRate: 0.25,
      });
    });
  });

  describe.each<[string, Partial<FaultSettings>]>([
    ['every PutRecords entry failing', { putRecordsFailureRate: 1 }],
    ['shard write limits', { shardWriteLimits: true }],
  ])('Kinesis requests the emulator refuses, with %s', (_faults, settings) => {
    /** The endpoint's answer with faults off, then with them on. */
    const offThenOn = async <T>(call: () => Promise<T>): Promise<[T, T]> => {
      const off = await call();
      faults.update(settings);
      return [off, await call()];
    };

    it('answers PutRecords to a missing stream with ResourceNotFoundException, as the emulator does', async () => {
      // Prepare
      const put = () =>
        outcome(
          kinesis.send(new PutRecordsCommand({ StreamName: 'no-such-stream', Records: records(3, 'm') })),
        );
      // Act
      const [off, on] = await offThenOn(put);
      // Assess
      expect(on).toEqual({
        error: {
          name: 'ResourceNotFoundException',
          message: 'Stream no-such-stream under account 000000000000 not found.',
        },
      });
      expect(on).toEqual(off);
    });

    it('answers PutRecord to a missing stream with ResourceNotFoundException, as the emulator does', async () => {
      // Prepare
      const put = () =>
        outcome(
          kinesis.send(
            new PutRecordCommand({ StreamName: 'no-such-stream', PartitionKey: 'k', Data: Buffer.from('1') }),
          ),
        );
      // Act
      const [off, on] = await offThenOn(put);
      // Assess
      expect(on).toMatchObject({ error: { name: 'ResourceNotFoundException' } });
      expect(on).toEqual(off);
    });

    it('refuses 501 records with the emulator ValidationException, writing none', async () => {
      // Prepare
      const before = await countRecords('refusals');
      const put = () =>
        outcome(
          kinesis.send(new PutRecordsCommand({ StreamName: 'refusals', Records: records(501, 'big') })),
        );
      // Act
      const [off, on] = await offThenOn(put);
      // Assess
      expect(on).toMatchObject({ error: { name: 'ValidationException' } });
      expect(on).toEqual(off);
      expect(await countRecords('refusals')).toBe(before);
    });

    it.each([
      ['a body that is not JSON', 'PutRecords', '{"StreamName": "refusals", "Records": ['],
      ['a JSON null', 'PutRecords', 'null'],
      ['Records that is not a list', 'PutRecords', '{"StreamName": "refusals", "Records": "x"}'],
      ['no records', 'PutRecords', '{"StreamName": "refusals", "Records": []}'],
      [
        'a stream ARN alone',
        'PutRecords',
        '{"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/refusals", "Records": [{"PartitionKey": "a", "Data": "AAAA"}]}',
      ],
      [
        'an empty partition key',
        'PutRecords',
        '{"StreamName": "refusals", "Records": [{"PartitionKey": "", "Data": "AAAA"}]}',
      ],
      [
        'a numeric partition key',
        'PutRecords',
        '{"StreamName": "refusals", "Records": [{"PartitionKey": 5, "Data": "AAAA"}]}',
      ],
      [
        'data that is not base64',
        'PutRecords',
        '{"StreamName": "refusals", "Records": [{"PartitionKey": "a", "Data": "!!!!"}]}',
      ],
      ['no data', 'PutRecords', '{"StreamName": "refusals", "Records": [{"PartitionKey": "a"}]}'],
      [
        'an explicit hash key that is not a number',
        'PutRecords',
        '{"StreamName": "refusals", "Records": [{"PartitionKey": "a", "Data": "AAAA", "ExplicitHashKey": "x"}]}',
      ],
      [
        'an explicit hash key of 2^128',
        'PutRecords',
        '{"StreamName": "refusals", "Records": [{"PartitionKey": "a", "Data": "AAAA", "ExplicitHashKey": "340282366920938463463374607431768211456"}]}',
      ],
      ['a body that is not JSON (PutRecord)', 'PutRecord', '{"StreamName": '],
      ['no partition key (PutRecord)', 'PutRecord', '{"StreamName": "refusals", "Data": "AAAA"}'],
      [
        'a bad SequenceNumberForOrdering (PutRecord)',
        'PutRecord',
        '{"StreamName": "refusals", "PartitionKey": "a", "Data": "AAAA", "SequenceNumberForOrdering": "x"}',
      ],
    ])('leaves %s to the emulator to answer', async (_case, operation, body) => {
      // Prepare
      const before = await countRecords('refusals');
      // Act
      const [off, on] = await offThenOn(() => rawKinesis(operation, body));
      // Assess
      expect(off.status).toBe(400);
      expect(on).toEqual(off);
      expect(await countRecords('refusals')).toBe(before);
    });
  });

  it('leaves a DynamoDB write that is not JSON to the emulator, even when it matches the pattern', async () => {
    // Prepare
    const put = async () => {
      const answer = await fetch(gateway.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.PutItem',
          'x-amz-date': '20260101T000000Z',
          authorization:
            'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: '{"TableName": "items", "Item": {"pk": {"S": "poison"}',
      });
      return { status: answer.status, body: await answer.text() };
    };
    const off = await put();
    faults.update({ dynamodbPattern: 'poison', dynamodbMode: 'error' });
    // Act
    const on = await put();
    // Assess
    expect(off.status).toBe(400);
    expect(on).toEqual(off);
  });

  describe('with entries left to send on', () => {
    let halfFaulted: RunningGateway;
    let decoy: ReturnType<typeof createServer>;
    let decoyPort: number;
    const decoyPaths: string[] = [];

    beforeAll(async () => {
      decoy = createServer((req, res) => {
        decoyPaths.push(req.url ?? '');
        res.end('decoy');
      });
      await new Promise<void>((resolve) => decoy.listen(0, '127.0.0.1', resolve));
      decoyPort = (decoy.address() as AddressInfo).port;
      let call = 0;
      const everyOther = createFaultInjector(
        { putRecordsFailureRate: 0.5 },
        async () => [{ shardId: 'shardId-000000000000', start: 0n, end: 2n ** 128n - 1n }],
        () => (call++ % 2 === 0 ? 0 : 0.9),
      );
      halfFaulted = await startGateway({
        port: 0,
        services: { kinesis: kinesisEmulator.endpoint },
        intercept: everyOther.intercept,
      });
    });

    afterAll(async () => {
      await halfFaulted?.close();
      await new Promise((resolve) => decoy?.close(resolve));
    });

    it('sends them to the emulator even when the path starts with // and seems to name another host', async () => {
      // Prepare
      const path = `//127.0.0.1:${decoyPort}/`;
      const body = JSON.stringify({
        StreamName: 'refusals',
        Records: [
          { PartitionKey: 'a', Data: 'AA==' },
          { PartitionKey: 'b', Data: 'AA==' },
        ],
      });
      // Act
      const answer = await fetch(`${halfFaulted.endpoint}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'Kinesis_20131202.PutRecords',
          'x-amz-date': '20260101T000000Z',
          authorization:
            'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
        },
        body,
      });
      // Assess
      expect(answer.status).toBe(200);
      const result = (await answer.json()) as {
        FailedRecordCount: number;
        Records: Array<{ ErrorCode?: string }>;
      };
      expect(result.FailedRecordCount).toBe(1);
      expect(result.Records.map((r) => r.ErrorCode)).toEqual(['InternalFailure', undefined]);
      expect(decoyPaths).toEqual([]);
    });
  });

  describe('with the Kinesis emulator unreachable', () => {
    let unreachable: RunningGateway;
    let client: KinesisClient;

    beforeAll(async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise((resolve) => closed.close(resolve));
      let call = 0;
      const everyOther = createFaultInjector(
        { putRecordsFailureRate: 0.5 },
        async () => [{ shardId: 'shardId-000000000000', start: 0n, end: 2n ** 128n - 1n }],
        () => (call++ % 2 === 0 ? 0 : 0.9),
      );
      unreachable = await startGateway({
        port: 0,
        services: { kinesis: `http://127.0.0.1:${port}` },
        intercept: everyOther.intercept,
      });
      client = new KinesisClient({
        ...clientConfig(unreachable.endpoint),
        requestHandler: new NodeHttpHandler(),
        maxAttempts: 1,
      });
    });

    afterAll(async () => {
      client?.destroy();
      await unreachable?.close();
    });

    it('answers PutRecords with 502 ServiceUnavailable when the entries left cannot be sent on', async () => {
      // Act
      const act = client.send(new PutRecordsCommand({ StreamName: 'any', Records: records(4, 'u') }));
      // Assess
      await expect(act).rejects.toMatchObject({
        name: 'ServiceUnavailable',
        $metadata: { httpStatusCode: 502 },
      });
    });
  });
});
