import { DescribeStreamSummaryCommand, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { metrics } from '#shared/powertools/metrics.ts';
import type { JobStatus } from '#shared/recovery/reprocessor.ts';
import { lambdaContext, sampleEvent } from '#test/helpers/factories.ts';

const kinesisMock = mockClient(KinesisClient);
const dynamoMock = mockClient(DynamoDBDocumentClient);
const lambdaMock = mockClient(LambdaClient);

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
let handler: Handler;

beforeAll(async () => {
  Object.assign(process.env, {
    STREAM_NAME: 'kinesis-pipeline-EventStream',
    JOBS_TABLE_NAME: 'jobs-table',
    TABLE_NAME: 'events-table',
    QUARANTINE_BUCKET: 'quarantine-bucket',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = (await import('../../functions/reprocessor/handler.ts')) as unknown as { handler: Handler });
});

/** The jobs table's items by `jobId|item`, kept by Get, Put and Query (conditions are the integration tests'). */
let items: Map<string, Record<string, unknown>>;

beforeEach(() => {
  items = new Map();
  dynamoMock.on(PutCommand).callsFake(async (input) => {
    items.set(`${input.Item.jobId}|${input.Item.item}`, structuredClone(input.Item));
    return {};
  });
  dynamoMock.on(GetCommand).callsFake(async (input) => {
    const item = items.get(`${input.Key.jobId}|${input.Key.item}`);
    return item ? { Item: structuredClone(item) } : {};
  });
  dynamoMock.on(QueryCommand).callsFake(async (input) => ({
    Items: [...items.values()].filter(
      (item) =>
        item.jobId === input.ExpressionAttributeValues[':jobId'] &&
        String(item.item).startsWith(input.ExpressionAttributeValues[':prefix']),
    ),
  }));
});

afterEach(() => {
  kinesisMock.reset();
  dynamoMock.reset();
  lambdaMock.reset();
});

const context = lambdaContext('kinesis-pipeline-reprocessor', 900_000);
const invoke = (event: unknown) => handler(event, context);

describe('Function: reprocessor handler', () => {
  it('creates a job and hands it to a new asynchronous invocation of itself (events/reprocessor-start.json)', async () => {
    // Prepare
    kinesisMock.on(ListShardsCommand).resolves({
      Shards: [
        {
          ShardId: 'shardId-000000000000',
          HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
          SequenceNumberRange: { StartingSequenceNumber: '1' },
        },
        {
          ShardId: 'shardId-000000000001',
          HashKeyRange: { StartingHashKey: '2', EndingHashKey: '3' },
          SequenceNumberRange: { StartingSequenceNumber: '2' },
        },
      ],
    });
    // A year's retention: the sample's window stays within it whenever the test runs.
    kinesisMock.on(DescribeStreamSummaryCommand).resolves({
      StreamDescriptionSummary: {
        StreamName: 'kinesis-pipeline-EventStream',
        StreamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/kinesis-pipeline-EventStream',
        StreamStatus: 'ACTIVE',
        StreamCreationTimestamp: new Date('2026-11-01T00:00:00Z'),
        RetentionPeriodHours: 8760,
        EnhancedMonitoring: [],
        OpenShardCount: 2,
      },
    });
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    // Act
    const status = (await invoke(sampleEvent('reprocessor-start.json'))) as JobStatus;
    // Assess
    expect(status).toMatchObject({
      jobId: 'reprocess-2026-11-24-1600',
      state: 'running',
      continued: true,
      parameters: {
        from: '2026-11-24T16:00:00.000Z',
        to: '2026-11-24T17:00:00.000Z',
        dryRun: false,
        maxRecordsPerSecond: 500,
      },
      windowEnd: '2026-11-24T17:00:00.000Z',
    });
    expect(status.shards.map((shard) => [shard.shardId, shard.state])).toEqual([
      ['shardId-000000000000', 'pending'],
      ['shardId-000000000001', 'pending'],
    ]);
    expect(status.warnings).toBeUndefined();
    expect(kinesisMock).toHaveReceivedCommandWith(DescribeStreamSummaryCommand, {
      StreamName: 'kinesis-pipeline-EventStream',
    });
    expect(kinesisMock).toHaveReceivedCommandWith(ListShardsCommand, {
      StreamName: 'kinesis-pipeline-EventStream',
      ShardFilter: { Type: 'FROM_TIMESTAMP', Timestamp: new Date('2026-11-24T16:00:00Z') },
    });
    expect(dynamoMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'jobs-table',
      ConditionExpression: 'attribute_not_exists(jobId)',
    });
    const invocation = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(invocation).toMatchObject({ FunctionName: context.invokedFunctionArn, InvocationType: 'Event' });
    expect(JSON.parse(Buffer.from(invocation.Payload as Uint8Array).toString('utf8'))).toEqual({
      action: 'start',
      jobId: 'reprocess-2026-11-24-1600',
      continuation: 1,
    });
  });

  it('counts a refused request as RequestsRefused, which the errors alarm leaves out, and a failure not', async () => {
    // Prepare
    const added = vi.spyOn(metrics, 'addMetric');
    dynamoMock.on(GetCommand).rejects(new Error('the jobs table is down'));
    try {
      // Act
      const refused = invoke({ from: 'yesterday' });
      const failed = invoke({ action: 'status', jobId: 'any' });
      // A job's own continuation refused is a failure, not a request someone mistyped.
      const continuation = invoke({
        action: 'start',
        jobId: 'any',
        continuation: 1,
        detach: false,
        dryRun: 'no',
      });
      // Assess
      await expect(refused).rejects.toThrow('from must be an RFC 3339 time');
      await expect(failed).rejects.toThrow('the jobs table is down');
      await expect(continuation).rejects.toThrow('from is required with dryRun');
      expect(added.mock.calls.filter(([name]) => name === 'RequestsRefused')).toEqual([
        ['RequestsRefused', 'Count', 1],
      ]);
    } finally {
      added.mockRestore();
    }
  });

  it('answers the status of a job (events/reprocessor-status.json)', async () => {
    // Prepare
    items.set('reprocess-2026-11-24-1600|job', {
      jobId: 'reprocess-2026-11-24-1600',
      item: 'job',
      parameters: {
        from: '2026-11-24T16:00:00.000Z',
        to: '2026-11-24T17:00:00.000Z',
        dryRun: false,
        maxRecordsPerSecond: 500,
      },
      projectionVersion: 1,
      windowEnd: '2026-11-24T17:00:00.000Z',
      state: 'running',
      createdAt: '2026-11-24T17:00:00.000Z',
      updatedAt: '2026-11-24T17:05:00.000Z',
      invocations: 2,
      expiresAt: 1_800_000_000,
    });
    items.set('reprocess-2026-11-24-1600|shard#shardId-000000000000', {
      jobId: 'reprocess-2026-11-24-1600',
      item: 'shard#shardId-000000000000',
      shardId: 'shardId-000000000000',
      parents: [],
      start: 'AT_TIMESTAMP',
      state: 'reading',
      recordsRead: 120,
      written: 100,
      duplicates: 20,
      staleVersions: 0,
      quarantined: 0,
      failed: 0,
      position: '49660000000000000000000000000000000000000000000001000120',
      lastArrival: '2026-11-24T16:30:00.000Z',
      updatedAt: '2026-11-24T17:05:00.000Z',
    });
    // Act
    const status = (await invoke(sampleEvent('reprocessor-status.json'))) as JobStatus;
    // Assess
    expect(status).toMatchObject({ jobId: 'reprocess-2026-11-24-1600', state: 'running', invocations: 2 });
    expect(status.shards).toEqual([
      expect.objectContaining({
        shardId: 'shardId-000000000000',
        state: 'reading',
        recordsRead: 120,
        written: 100,
        duplicates: 20,
        position: '49660000000000000000000000000000000000000000000001000120',
        lagMs: 30 * 60 * 1000,
      }),
    ]);
    expect(dynamoMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(lambdaMock).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('fails the invocation with the reason when the request is refused', async () => {
    // Act
    const result = invoke({ jobId: 'no-such-job' });
    // Assess
    await expect(result).rejects.toThrow('there is no job no-such-job; give from (and to) to start one');
  });

  it('answers the status of a job that does not exist as not found, an invocation that succeeds and refuses nothing', async () => {
    // Prepare
    const added = vi.spyOn(metrics, 'addMetric');
    try {
      // Act
      const answer = await invoke({ action: 'status', jobId: 'no-such-job' });
      // Assess
      expect(answer).toEqual({
        jobId: 'no-such-job',
        state: 'not-found',
        message: 'there is no job no-such-job',
      });
      expect(added.mock.calls.filter(([name]) => name === 'RequestsRefused')).toEqual([]);
      expect(dynamoMock).not.toHaveReceivedCommand(PutCommand);
    } finally {
      added.mockRestore();
    }
  });
});
