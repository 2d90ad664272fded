import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, type RunningEmulator, startDynamoDb, startKinesis } from '#local/emulators/index.ts';
import { createFaultInjector, type FaultInjector, ShardWriteLimiter } from '#local/faults/faults.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';

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

describe('Local runtime: fault injection in the AWS endpoint', () => {
  beforeAll(async () => {
    kinesisEmulator = await startKinesis();
    dynamoEmulator = await startDynamoDb();
    const direct = new KinesisClient({
      ...clientConfig(kinesisEmulator.endpoint),
      requestHandler: new NodeHttpHandler(),
    });
    faults = createFaultInjector({}, async (stream) => {
      const { Shards = [] } = await direct.send(new ListShardsCommand({ StreamName: stream }));
      return Shards.map((s) => ({
        shardId: s.ShardId!,
        start: BigInt(s.HashKeyRange!.StartingHashKey!),
        end: BigInt(s.HashKeyRange!.EndingHashKey!),
      }));
    });
    gateway = await startGateway({
      port: 0,
      services: { kinesis: kinesisEmulator.endpoint, dynamodb: dynamoEmulator.endpoint },
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
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'items',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
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
    await expect(put('poison-1')).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    await expect(put('fine-1')).resolves.toBeDefined();
    faults.update({ dynamodbMode: 'error', dynamodbPattern: '/poison-\\d/' });
    await expect(put('poison-2')).rejects.toMatchObject({ name: 'InternalServerError' });
    faults.update({ dynamodbPattern: '' });
    await expect(put('poison-3')).resolves.toBeDefined();
    expect(faults.counts.dynamodb).toBe(2);
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
});
