import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext, sampleEvent } from '#test/helpers/factories.ts';

const dynamoMock = mockClient(DynamoDBClient);
const s3Mock = mockClient(S3Client);

type Handler = (event: KinesisStreamEvent, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
let handler: Handler;

beforeAll(async () => {
  process.env.TABLE_NAME = 'events-table';
  process.env.QUARANTINE_BUCKET = 'quarantine-bucket';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  ({ handler } = (await import('../../functions/consumer/handler.ts')) as unknown as { handler: Handler });
});

afterEach(() => {
  dynamoMock.reset();
  s3Mock.reset();
});

const invoke = (event: KinesisStreamEvent) => handler(event, lambdaContext('ConsumerFunction', 60_000));

const storedItems = () =>
  dynamoMock.commandCalls(PutItemCommand).map((call) => unmarshall(call.args[0].input.Item!));

describe('Function: consumer handler', () => {
  it('stores a CloudEvents batch, one conditional put per event, in order', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-cloudevents.json');
    // Act
    const response = (await invoke(event)) as KinesisStreamBatchResponse;
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(storedItems().map((item) => item.identity)).toEqual([
      'ce:urn%3Aexample%3Aorders:evt-1001',
      'ce:urn%3Aexample%3Aorders:evt-1002',
      'ce:urn%3Aexample%3Aorders:evt-1003',
    ]);
    expect(dynamoMock).toHaveReceivedCommandWith(PutItemCommand, {
      TableName: 'events-table',
      ConditionExpression: 'attribute_not_exists(#identity) OR #projectionVersion < :projectionVersion',
    });
    expect(storedItems()[0]).toMatchObject({
      projectionVersion: 1,
      kind: 'cloudevent',
      attributes: { id: 'evt-1001', source: 'urn:example:orders', subject: 'order-1001' },
      data: { orderId: '1001', step: 1 },
      stream: {
        shardId: 'shardId-000000000000',
        sequenceNumber: event.Records[0]!.kinesis.sequenceNumber,
        partitionKey: 'order-1001',
      },
    });
  });

  it('stores a null attribute as absent, as the JSON format says, and keeps null data', async () => {
    // Prepare: the sample's first record, with null attributes and null data.
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-cloudevents.json');
    const record = event.Records[0]!;
    const body = {
      specversion: '1.0',
      id: 'evt-null',
      source: 'urn:example:orders',
      type: 't',
      subject: null,
      time: null,
      tenant: null,
      data: null,
      data_base64: null,
    };
    record.kinesis.data = Buffer.from(JSON.stringify(body)).toString('base64');
    // Act
    const response = await invoke({ Records: [record] });
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(storedItems()).toHaveLength(1);
    expect(storedItems()[0]).toMatchObject({
      identity: 'ce:urn%3Aexample%3Aorders:evt-null',
      attributes: { specversion: '1.0', id: 'evt-null', source: 'urn:example:orders', type: 't' },
      data: null,
    });
    expect(Object.keys(storedItems()[0]!.attributes as object).sort()).toEqual([
      'id',
      'source',
      'specversion',
      'type',
    ]);
    expect(storedItems()[0]).not.toHaveProperty('dataBase64');
  });

  it('de-aggregates a KPL record into its user records', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-kpl-aggregated.json');
    const outer = event.Records[0]!.kinesis.sequenceNumber;
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(
      storedItems().map((item) => [item.kind, (item.stream as Record<string, unknown>).partitionKey]),
    ).toEqual([
      ['cloudevent', 'order-2001'],
      ['cloudevent', 'order-2002'],
      ['json', 'sensor-7'],
    ]);
    expect(storedItems().map((item) => (item.stream as Record<string, unknown>).sequenceNumber)).toEqual([
      outer,
      outer,
      outer,
    ]);
    expect(storedItems().map((item) => (item.stream as Record<string, unknown>).subSequenceNumber)).toEqual([
      0, 1, 2,
    ]);
  });

  it('stores a raw JSON record under the hash of its canonical JSON', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-raw-json.json');
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(storedItems()).toHaveLength(1);
    expect(storedItems()[0]).toMatchObject({
      identity: expect.stringMatching(/^json:sha256:[0-9a-f]{64}$/),
      kind: 'json',
      attributes: {},
      data: { sensor: 7, celsius: 21.5, at: '2026-11-24T16:00:00Z' },
    });
  });

  it('quarantines an undecodable record to S3 and reports success', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-undecodable.json');
    const record = event.Records[0]!;
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(dynamoMock.commandCalls(PutItemCommand)).toHaveLength(0);
    const put = s3Mock.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(put).toMatchObject({
      Bucket: 'quarantine-bucket',
      Key: `quarantine/shardId-000000000000/${record.kinesis.sequenceNumber}.json`,
    });
    expect(JSON.parse(put.Body as string)).toEqual({
      reason: 'undecodable',
      detail: 'the record is not valid UTF-8',
      shardId: 'shardId-000000000000',
      sequenceNumber: record.kinesis.sequenceNumber,
      partitionKey: 'legacy-producer',
      approximateArrivalTimestamp: new Date(record.kinesis.approximateArrivalTimestamp * 1000).toISOString(),
      data: record.kinesis.data,
    });
  });

  it('processes a batch that mixes keys, each key in order', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<KinesisStreamEvent>('consumer-mixed-keys.json');
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const order3001 = storedItems()
      .map((item) => item.identity as string)
      .filter((identity) => identity.includes('evt-3001'));
    expect(order3001).toEqual(['a', 'b', 'c'].map((s) => `ce:urn%3Aexample%3Aorders:evt-3001-${s}`));
    expect(storedItems()).toHaveLength(6);
  });

  it('reports the failed record and the later records of its key when DynamoDB throttles one write', async () => {
    // Prepare
    const event = sampleEvent<KinesisStreamEvent>('consumer-mixed-keys.json');
    const seq = event.Records.map((r) => r.kinesis.sequenceNumber);
    dynamoMock.on(PutItemCommand).resolves({});
    dynamoMock
      .on(PutItemCommand, { Item: { identity: { S: 'ce:urn%3Aexample%3Aorders:evt-3001-b' } } })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }));
    // Act
    const response = await invoke(event);
    // Assess: evt-3001-b is record 4 of 6 (index 3); evt-3001-c (index 5) is the later record of its key.
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: seq[3] }, { itemIdentifier: seq[5] }] });
  });

  it("answers for its own batch only, while a batch abandoned at an earlier invocation's timeout still runs", async () => {
    // Prepare: the first invocation's write hangs past its timeout (100 ms past the default time reserve of 2 s);
    // the second's waits until the first has failed.
    const event = sampleEvent<KinesisStreamEvent>('consumer-mixed-keys.json');
    const [abandoned, own] = [event.Records[0]!, event.Records[1]!];
    let failAbandoned: (error: Error) => void = () => undefined;
    let finishOwn: () => void = () => undefined;
    let ownStarted: () => void = () => undefined;
    const ownWriting = new Promise<void>((resolve) => {
      ownStarted = resolve;
    });
    dynamoMock
      .on(PutItemCommand)
      .callsFake(async (input: { Item: { stream: { M: { sequenceNumber: { S: string } } } } }) => {
        if (input.Item.stream.M.sequenceNumber.S === abandoned.kinesis.sequenceNumber) {
          await new Promise<void>((_, reject) => {
            failAbandoned = reject;
          });
        }
        ownStarted();
        await new Promise<void>((resolve) => {
          finishOwn = resolve;
        });
        return {};
      });
    // Act
    const first = handler({ Records: [abandoned] }, lambdaContext('ConsumerFunction', 2_100));
    await expect(first).rejects.toThrow(/abort/i);
    const second = handler({ Records: [own] }, lambdaContext('ConsumerFunction', 60_000));
    await ownWriting;
    failAbandoned(
      Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    finishOwn();
    // Assess: the abandoned batch's failure is not reported as one of this batch's records.
    expect(await second).toEqual({ batchItemFailures: [] });
  });

  it('throws when every record of the batch fails', async () => {
    // Prepare
    dynamoMock.on(PutItemCommand).rejects(Object.assign(new Error('timeout'), { name: 'TimeoutError' }));
    const event = sampleEvent<KinesisStreamEvent>('consumer-cloudevents.json');
    // Act
    const result = invoke(event);
    // Assess
    await expect(result).rejects.toBeInstanceOf(FullBatchFailureError);
  });
});
