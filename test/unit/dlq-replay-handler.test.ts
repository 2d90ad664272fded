import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '#shared/powertools/logger.ts';
import { metrics } from '#shared/powertools/metrics.ts';
import type { ReplayReport } from '#shared/recovery/dlq-replay.ts';
import { lambdaContext, sampleEvent } from '#test/helpers/factories.ts';

const kinesisMock = mockClient(KinesisClient);
const sqsMock = mockClient(SQSClient);
const dynamoMock = mockClient(DynamoDBClient);
const s3Mock = mockClient(S3Client);

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
let handler: Handler;

beforeAll(async () => {
  Object.assign(process.env, {
    STREAM_NAME: 'kinesis-pipeline-EventStream',
    FAILURE_QUEUE_URL:
      'https://sqs.us-east-1.amazonaws.com/123456789012/kinesis-pipeline-ConsumerFailureQueue',
    TABLE_NAME: 'events-table',
    QUARANTINE_BUCKET: 'quarantine-bucket',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = (await import('../../functions/dlq-replay/handler.ts')) as unknown as { handler: Handler });
});

afterEach(() => {
  kinesisMock.reset();
  sqsMock.reset();
  dynamoMock.reset();
  s3Mock.reset();
});

/** The stream holds the first two records of the consumer's sample, which the sample failure record points at. */
const streamHoldsTheSampleRecords = () => {
  const records = sampleEvent<KinesisStreamEvent>('consumer-cloudevents.json').Records.slice(0, 2);
  kinesisMock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'iterator-1' });
  kinesisMock.on(GetRecordsCommand).resolves({
    Records: records.map((record) => ({
      SequenceNumber: record.kinesis.sequenceNumber,
      PartitionKey: record.kinesis.partitionKey,
      Data: Buffer.from(record.kinesis.data, 'base64'),
      ApproximateArrivalTimestamp: new Date(record.kinesis.approximateArrivalTimestamp * 1000),
    })),
    NextShardIterator: 'iterator-2',
    MillisBehindLatest: 0,
  });
};

const invoke = (event: unknown) => handler(event, lambdaContext('DlqReplayFunction', 300_000));

describe('Function: DLQ replay handler', () => {
  it('counts a refused request as RequestsRefused, which the errors alarm leaves out, and logs it as a warning', async () => {
    // Prepare
    const added = vi.spyOn(metrics, 'addMetric');
    const warned = vi.spyOn(logger, 'warn');
    try {
      // Act
      const refused = invoke({ maxMessages: 0 });
      // Assess
      await expect(refused).rejects.toThrow('maxMessages');
      expect(added.mock.calls.filter(([name]) => name === 'RequestsRefused')).toEqual([
        ['RequestsRefused', 'Count', 1],
      ]);
      expect(warned).toHaveBeenCalledWith('request refused', {
        error: expect.objectContaining({ message: expect.stringContaining('maxMessages') }),
      });
    } finally {
      added.mockRestore();
      warned.mockRestore();
    }
  });

  it('logs an invocation that fails for another reason as one structured error line, and counts no refusal', async () => {
    // Prepare: the failure queue cannot be read.
    sqsMock
      .on(ReceiveMessageCommand)
      .rejects(Object.assign(new Error('not authorized to receive'), { name: 'AccessDeniedException' }));
    const added = vi.spyOn(metrics, 'addMetric');
    const logged = vi.spyOn(logger, 'error');
    try {
      // Act
      const failed = invoke({ maxMessages: 1 });
      // Assess
      await expect(failed).rejects.toThrow('not authorized to receive');
      expect(logged).toHaveBeenCalledWith('invocation failed', {
        error: expect.objectContaining({ name: 'AccessDeniedException' }),
      });
      expect(added.mock.calls.filter(([name]) => name === 'RequestsRefused')).toEqual([]);
    } finally {
      added.mockRestore();
      logged.mockRestore();
    }
  });

  it('replays the messages of an SQS trigger event and answers a partial batch response (events/dlq-replay-sqs.json)', async () => {
    // Prepare
    streamHoldsTheSampleRecords();
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<SQSEvent>('dlq-replay-sqs.json');
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(kinesisMock).toHaveReceivedCommandWith(GetShardIteratorCommand, {
      StreamName: 'kinesis-pipeline-EventStream',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      StartingSequenceNumber: '49660000000000000000000000000000000000000000000001000001',
    });
    expect(
      dynamoMock.commandCalls(PutItemCommand).map((call) => call.args[0].input.Item?.identity?.S),
    ).toEqual(['ce:urn%3Aexample%3Aorders:evt-1001', 'ce:urn%3Aexample%3Aorders:evt-1002']);
    expect(sqsMock).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it('reports the message when its records still fail', async () => {
    // Prepare
    streamHoldsTheSampleRecords();
    dynamoMock
      .on(PutItemCommand)
      .rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    const event = sampleEvent<SQSEvent>('dlq-replay-sqs.json');
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] });
  });

  it("refuses a message naming the stream's name in another account, as the function's own ARN tells", async () => {
    // Prepare: the sample message, pointing at a stream of the same name in account 210987654321.
    streamHoldsTheSampleRecords();
    dynamoMock.on(PutItemCommand).resolves({});
    const event = sampleEvent<SQSEvent>('dlq-replay-sqs.json');
    event.Records[0]!.body = event.Records[0]!.body.replace(':123456789012:stream/', ':210987654321:stream/');
    // Act
    const response = await invoke(event);
    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] });
    expect(kinesisMock).not.toHaveReceivedCommand(GetShardIteratorCommand);
  });

  it('drains the failure queue on demand and answers the report (events/dlq-replay-drain.json)', async () => {
    // Prepare
    streamHoldsTheSampleRecords();
    dynamoMock.on(PutItemCommand).resolves({});
    const body = sampleEvent<SQSEvent>('dlq-replay-sqs.json').Records[0]!.body;
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [{ MessageId: 'm-1', ReceiptHandle: 'r-1', Body: body }] })
      .resolves({ Messages: [] });
    // Act
    const report = (await invoke(sampleEvent('dlq-replay-drain.json'))) as ReplayReport;
    // Assess
    expect(report).toMatchObject({ messages: 1, recordsReplayed: 2, written: 2, deleted: 1, dryRun: false });
    expect(sqsMock).toHaveReceivedCommandWith(ReceiveMessageCommand, {
      QueueUrl: process.env.FAILURE_QUEUE_URL,
      MaxNumberOfMessages: 10,
    });
    expect(sqsMock).toHaveReceivedCommandWith(DeleteMessageCommand, { ReceiptHandle: 'r-1' });
  });

  it('dry-runs the failure queue: reads only, and shows the messages again (events/dlq-replay-dry-run.json)', async () => {
    // Prepare
    streamHoldsTheSampleRecords();
    dynamoMock.on(GetItemCommand).resolves({});
    const body = sampleEvent<SQSEvent>('dlq-replay-sqs.json').Records[0]!.body;
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [{ MessageId: 'm-1', ReceiptHandle: 'r-1', Body: body }] })
      .resolves({ Messages: [] });
    // Act
    const report = (await invoke(sampleEvent('dlq-replay-dry-run.json'))) as ReplayReport;
    // Assess
    expect(report).toMatchObject({ messages: 1, written: 2, deleted: 0, dryRun: true });
    expect(dynamoMock).not.toHaveReceivedCommand(PutItemCommand);
    expect(sqsMock).not.toHaveReceivedCommand(DeleteMessageCommand);
    expect(sqsMock).toHaveReceivedCommand(ChangeMessageVisibilityBatchCommand);
  });

  it('fails the invocation for a request it cannot act on', async () => {
    // Act
    const result = invoke({ maxMessages: -1 });
    // Assess
    await expect(result).rejects.toThrow('maxMessages must be an integer from 1 to 10000');
  });
});
