import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import { clientConfig } from '#local/emulators/index.ts';
import { startEmulatorThread, type ThreadedEmulator } from '#local/emulators/thread.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';
import { waitForStream } from '#local/resources.ts';

const NOWHERE = 'http://127.0.0.1:9';

let kinesisEmulator: ThreadedEmulator;
let dynamoEmulator: ThreadedEmulator;
let gateway: RunningGateway;
/** Through the AWS endpoint, which dispatches to the threads without a socket. */
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;
/** Straight to the emulators' own ports. */
let directKinesis: KinesisClient;
let directDynamodb: DynamoDBClient;

const conditionalPut = (id: string) =>
  new PutItemCommand({
    TableName: 'events',
    Item: { identity: { S: id }, payload: { S: `payload of ${id}` } },
    ConditionExpression: 'attribute_not_exists(#identity)',
    ExpressionAttributeNames: { '#identity': 'identity' },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });

describe('Local runtime: kinesalite and dynalite in threads of their own', () => {
  beforeAll(async () => {
    [kinesisEmulator, dynamoEmulator] = await Promise.all([
      startEmulatorThread('kinesis'),
      startEmulatorThread('dynamodb'),
    ]);
    gateway = await startGateway({
      port: 0,
      // Nothing listens there: every answer through the endpoint below comes by dispatch, not by a socket.
      services: { kinesis: NOWHERE, dynamodb: NOWHERE },
      dispatch: { kinesis: kinesisEmulator.dispatch, dynamodb: dynamoEmulator.dispatch },
    });
    const handler = () => ({ requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
    kinesis = new KinesisClient({ ...clientConfig(gateway.endpoint), ...handler() });
    dynamodb = new DynamoDBClient({ ...clientConfig(gateway.endpoint), ...handler() });
    directKinesis = new KinesisClient({ ...clientConfig(kinesisEmulator.endpoint), ...handler() });
    directDynamodb = new DynamoDBClient({ ...clientConfig(dynamoEmulator.endpoint), ...handler() });
    await createTable(dynamodb, 'events', [['identity', 'HASH']]);
    await kinesis.send(new CreateStreamCommand({ StreamName: 'events', ShardCount: 1 }));
    await waitForStream(kinesis, 'events');
  });

  afterAll(async () => {
    for (const client of [kinesis, dynamodb, directKinesis, directDynamodb]) client?.destroy();
    await gateway?.close();
    await kinesisEmulator?.close();
    await dynamoEmulator?.close();
  });

  it('writes a conditional item once, refuses its duplicate with the stored item, and serves it on its own port', async () => {
    // Prepare
    await dynamodb.send(conditionalPut('evt-1'));
    // Act
    const duplicate = await dynamodb.send(conditionalPut('evt-1')).catch((error: unknown) => error);
    const stored = await directDynamodb.send(
      new GetItemCommand({ TableName: 'events', Key: { identity: { S: 'evt-1' } }, ConsistentRead: true }),
    );
    // Assess
    expect(duplicate).toBeInstanceOf(ConditionalCheckFailedException);
    expect((duplicate as ConditionalCheckFailedException).$metadata.httpStatusCode).toBe(400);
    expect(stored.Item).toEqual({ identity: { S: 'evt-1' }, payload: { S: 'payload of evt-1' } });
  });

  it("passes the emulator's errors through unchanged", async () => {
    // Act
    const missing = await dynamodb
      .send(new GetItemCommand({ TableName: 'no-such-table', Key: { identity: { S: 'x' } } }))
      .catch((error: unknown) => error);
    // Assess
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
  });

  it('keeps binary record data byte for byte from a PutRecords through the endpoint to a GetRecords on the port', async () => {
    // Prepare
    const data = [Buffer.from([0, 255, 10, 13, 128]), Buffer.from('é ü 🚀', 'utf8'), Buffer.alloc(5000, 7)];
    // Act
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: 'events',
        Records: data.map((Data, i) => ({ PartitionKey: `key-${i}`, Data })),
      }),
    );
    const { ShardIterator } = await directKinesis.send(
      new GetShardIteratorCommand({
        StreamName: 'events',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const read = await directKinesis.send(new GetRecordsCommand({ ShardIterator }));
    // Assess
    expect(put.FailedRecordCount).toBe(0);
    expect(read.Records?.map((record) => Buffer.from(record.Data!))).toEqual(data);
    expect(read.Records?.map((record) => record.SequenceNumber)).toEqual(
      put.Records?.map((record) => record.SequenceNumber),
    );
  });

  it('answers an AT_TIMESTAMP iterator as Kinesis does: the first record at or after the time, else the next to come', async () => {
    // Prepare
    const putOne = async (n: number) =>
      (
        await kinesis.send(
          new PutRecordsCommand({
            StreamName: 'events',
            Records: [{ PartitionKey: 'k', Data: Buffer.from(`${n}`) }],
          }),
        )
      ).Records![0]!.SequenceNumber!;
    const atTimestamp = (Timestamp: Date, ShardId = 'shardId-000000000000') =>
      kinesis.send(
        new GetShardIteratorCommand({
          StreamName: 'events',
          ShardId,
          ShardIteratorType: 'AT_TIMESTAMP',
          Timestamp,
        }),
        { abortSignal: AbortSignal.timeout(5_000) },
      );
    const readFrom = async (iterator: string) =>
      ((await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records ?? []).map(
        (record) => record.SequenceNumber,
      );
    await putOne(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const between = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await putOne(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const afterBoth = new Date();
    // Act
    const fromBetween = await atTimestamp(between);
    const fromAfterBoth = await atTimestamp(afterBoth);
    const third = await putOne(3);
    const future = await atTimestamp(new Date(Date.now() + 60_000)).catch((error: Error) => error);
    const unknownShard = await atTimestamp(afterBoth, 'shardId-000000000009').catch((error: Error) => error);
    // Assess
    expect(await readFrom(fromBetween.ShardIterator!)).toEqual([second, third]);
    expect(await readFrom(fromAfterBoth.ShardIterator!)).toEqual([third]);
    expect((future as Error).name).toBe('InvalidArgumentException');
    expect((unknownShard as Error).name).toBe('ResourceNotFoundException');
  });

  it('says how far behind the tip a GetRecords answer is: the age of its last record, 0 once it reached the newest', async () => {
    // Prepare: three records on a stream of its own, read 50 ms after they arrived.
    await kinesis.send(new CreateStreamCommand({ StreamName: 'behind', ShardCount: 1 }));
    await waitForStream(kinesis, 'behind');
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: 'behind',
        Records: [1, 2, 3].map((n) => ({ PartitionKey: 'k', Data: Buffer.from(`${n}`) })),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: 'behind',
        ShardId: put.Records![0]!.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    // Act
    const first = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
    const rest = await kinesis.send(
      new GetRecordsCommand({ ShardIterator: first.NextShardIterator, Limit: 10 }),
    );
    const empty = await kinesis.send(new GetRecordsCommand({ ShardIterator: rest.NextShardIterator }));
    // Assess
    expect(first.Records).toHaveLength(1);
    const age = Date.now() - first.Records![0]!.ApproximateArrivalTimestamp!.getTime();
    expect(first.MillisBehindLatest).toBeGreaterThanOrEqual(50);
    expect(first.MillisBehindLatest).toBeLessThanOrEqual(age);
    expect(rest.Records).toHaveLength(2);
    expect(rest.MillisBehindLatest).toBe(0);
    expect(empty.Records).toEqual([]);
    expect(empty.MillisBehindLatest).toBe(0);
  });

  it("leaves a service's JSON API calls (X-Amz-Target) to the service, never to a local route", async () => {
    // Prepare
    await dynamodb.send(conditionalPut('evt-route'));
    const seen: string[] = [];
    const endpoint = await startGateway({
      port: 0,
      services: { dynamodb: NOWHERE },
      dispatch: { dynamodb: dynamoEmulator.dispatch },
      routes: [
        async (req, res) => {
          seen.push(req.url ?? '');
          res.writeHead(418);
          res.end();
          return true;
        },
      ],
    });
    const client = new DynamoDBClient({
      ...clientConfig(endpoint.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    // Act
    const stored = await client.send(
      new GetItemCommand({
        TableName: 'events',
        Key: { identity: { S: 'evt-route' } },
        ConsistentRead: true,
      }),
    );
    const local = await fetch(`${endpoint.endpoint}/_local/anything`);
    client.destroy();
    await endpoint.close();
    // Assess
    expect(stored.Item?.identity).toEqual({ S: 'evt-route' });
    expect(local.status).toBe(418);
    expect(seen).toEqual(['/_local/anything']);
  });

  it('answers 502 ServiceUnavailable once the emulator thread is gone', async () => {
    // Prepare
    const gone = await startEmulatorThread('dynamodb');
    const endpoint = await startGateway({
      port: 0,
      services: { dynamodb: NOWHERE },
      dispatch: { dynamodb: gone.dispatch },
    });
    const client = new DynamoDBClient({
      ...clientConfig(endpoint.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    await gone.close();
    // Act
    const error = (await client.send(conditionalPut('evt-2')).catch((e: unknown) => e)) as {
      name: string;
      $metadata: { httpStatusCode?: number };
    };
    client.destroy();
    await endpoint.close();
    // Assess
    expect(error.$metadata.httpStatusCode).toBe(502);
    expect(error.name).toBe('ServiceUnavailable');
  });
});
