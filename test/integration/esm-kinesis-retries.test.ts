import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type RunningEmulator,
  startKinesis,
  startSqs,
} from '#local/emulators/index.ts';
import { withInjectedFunctionErrors } from '#local/esm/fault-injection.ts';
import type { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import { sqsOnFailureSink } from '#local/esm/on-failure.ts';
import type { InvokeResult } from '#local/esm/types.ts';
import {
  createQueue,
  createStream,
  decodeData,
  kinesisClient,
  putRecords,
  RecordingFunction,
  readShard,
  receiveMessages,
  sqsClient,
  startKinesisPoller,
  TestClock,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

const DESTINATION = {
  OnFailure: { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
};
const FUNCTION_ARN = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Consumer`;
const ISO_WITH_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const thrown = (call: number): InvokeResult => ({
  functionError: 'Unhandled',
  payload: { errorType: 'Error', errorMessage: 'boom' },
  requestId: `request-${call}`,
});

/** Fails every batch that holds a record whose data starts with "bad". */
const failBad = (event: KinesisStreamEvent, call: number): InvokeResult =>
  event.Records.some((record) => decodeData(record).startsWith('bad'))
    ? thrown(call)
    : { requestId: `request-${call}` };

describe('Kinesis event source mapping: function errors, retries and bisection', () => {
  let kinesis: RunningEmulator;
  let sqs: RunningEmulator;
  let client: KinesisClient;
  let queues: SQSClient;
  const pollers: KinesisPoller[] = [];

  beforeAll(async () => {
    [kinesis, sqs] = await Promise.all([startKinesis(), startSqs()]);
    client = kinesisClient(kinesis.endpoint);
    queues = sqsClient(sqs.endpoint);
  });

  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  afterAll(async () => {
    client.destroy();
    queues.destroy();
    await Promise.all([kinesis.close(), sqs.close()]);
  });

  const start = async (
    ...args: Parameters<typeof startKinesisPoller> extends [unknown, ...infer R] ? R : never
  ) => {
    const fixture = await startKinesisPoller(client, ...args);
    pollers.push(fixture.poller);
    return fixture;
  };

  it.each([
    [0, 1],
    [1, 2],
    [2, 3],
  ])(
    'retries a failing batch MaximumRetryAttempts=%i times, then reports it with approximateInvokeCount %i and moves on',
    async (retries, invokeCount) => {
      // Prepare
      const streamName = await createStream(client);
      const written = await putRecords(client, streamName, [
        { key: 'a', data: 'bad-1' },
        { key: 'b', data: 'bad-2' },
      ]);
      const stored = await readShard(client, streamName, 'shardId-000000000000');
      const { fn, failures, poller } = await start(
        streamName,
        { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: retries, DestinationConfig: DESTINATION },
        { respond: failBad },
      );

      // Act
      await waitFor(() => failures.records.length === 1, 'the on-failure record');
      await putRecords(client, streamName, [{ key: 'a', data: 'good' }]);
      await waitFor(() => fn.batches().flat().includes('good'), 'the next record');

      // Assess
      expect(fn.batches()).toEqual([...Array(invokeCount).fill(['bad-1', 'bad-2']), ['good']]);
      const [record] = failures.records;
      expect(Object.keys(record!)).toEqual([
        'requestContext',
        'responseContext',
        'version',
        'timestamp',
        'KinesisBatchInfo',
      ]);
      expect(record).toEqual({
        requestContext: {
          requestId: `request-${invokeCount}`,
          functionArn: FUNCTION_ARN,
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: invokeCount,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: expect.stringMatching(ISO_WITH_MS),
        KinesisBatchInfo: {
          shardId: 'shardId-000000000000',
          startSequenceNumber: written[0]!.SequenceNumber,
          endSequenceNumber: written[1]!.SequenceNumber,
          approximateArrivalOfFirstRecord: stored[0]!.ApproximateArrivalTimestamp!.toISOString(),
          approximateArrivalOfLastRecord: stored[1]!.ApproximateArrivalTimestamp!.toISOString(),
          batchSize: 2,
          streamArn: `arn:aws:kinesis:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stream/${streamName}`,
        },
      });
      expect(failures.payloads[0]).toEqual(fn.events[0]);
      expect(poller.stats().shards[0]).toMatchObject({
        recordsIn: 3,
        recordsOut: 1,
        recordsFailed: 2,
        invocations: invokeCount + 1,
        failedInvocations: invokeCount,
        lastError: { message: 'Error: boom' },
      });
    },
  );

  it('retries until the record is older than MaximumRecordAgeInSeconds when MaximumRetryAttempts is -1', async () => {
    // Prepare
    const streamName = await createStream(client);
    const written = await putRecords(client, streamName, [{ key: 'a', data: 'bad' }]);
    const clock = new TestClock();
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: -1,
        MaximumRecordAgeInSeconds: 60,
        DestinationConfig: DESTINATION,
      },
      {
        clock: clock.now,
        respond: (event, call) => {
          if (call === 3) clock.offsetMs = 61_000;
          return failBad(event, call);
        },
      },
    );

    // Act
    await waitFor(() => failures.records.length === 1, 'the on-failure record');

    // Assess
    expect(fn.events).toHaveLength(3);
    expect(failures.records[0]).toEqual({
      requestContext: {
        requestId: expect.any(String),
        functionArn: FUNCTION_ARN,
        condition: 'RecordAgeExceeded',
        approximateInvokeCount: 4,
      },
      version: '1.0',
      timestamp: expect.stringMatching(ISO_WITH_MS),
      KinesisBatchInfo: expect.objectContaining({
        startSequenceNumber: written[0]!.SequenceNumber,
        endSequenceNumber: written[0]!.SequenceNumber,
        batchSize: 1,
      }),
    });
    expect(failures.records[0]).not.toHaveProperty('responseContext');
  });

  it('retries a batch the function could not be invoked with, without counting it against MaximumRetryAttempts', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(client, streamName, [{ key: 'a', data: 'throttled' }]);
    const { fn, failures, poller } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: 0, DestinationConfig: DESTINATION },
      {
        respond: (_, call) => {
          if (call < 3) throw new Error('Rate exceeded');
          return {};
        },
      },
    );

    // Act
    await waitFor(() => poller.stats().shards[0]?.recordsOut === 1, 'the record to be processed');

    // Assess
    expect(fn.batches()).toEqual([['throttled'], ['throttled'], ['throttled']]);
    expect(failures.records).toEqual([]);
    expect(poller.stats().shards[0]?.lastError?.message).toBe('Invoke: Rate exceeded');
  });

  it('bisects a failing batch, first half first, until the bad record is alone, then retries only it', async () => {
    // Prepare
    const streamName = await createStream(client);
    const written = await putRecords(client, streamName, [
      { key: 'k', data: 'r0' },
      { key: 'k', data: 'r1' },
      { key: 'k', data: 'bad' },
      { key: 'k', data: 'r3' },
    ]);
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 1,
        DestinationConfig: DESTINATION,
      },
      { respond: failBad },
    );

    // Act
    await waitFor(
      () => fn.batches().flat().includes('r3') && failures.records.length === 1,
      'the last record',
    );

    // Assess
    expect(fn.batches()).toEqual([
      ['r0', 'r1', 'bad', 'r3'],
      ['r0', 'r1'],
      ['bad', 'r3'],
      ['bad'],
      ['bad'],
      ['r3'],
    ]);
    expect(failures.records[0]).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
      responseContext: { functionError: 'Unhandled' },
      KinesisBatchInfo: {
        startSequenceNumber: written[2]!.SequenceNumber,
        endSequenceNumber: written[2]!.SequenceNumber,
        batchSize: 1,
      },
    });
  });

  it('bisects without consuming the retry quota, so MaximumRetryAttempts 0 still isolates the bad record', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(
      client,
      streamName,
      ['r0', 'r1', 'bad', 'r3'].map((data) => ({ key: 'k', data })),
    );
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 0,
        DestinationConfig: DESTINATION,
      },
      { respond: failBad },
    );

    // Act
    await waitFor(
      () => fn.batches().flat().includes('r3') && failures.records.length === 1,
      'the last record',
    );

    // Assess
    expect(fn.batches()).toEqual([['r0', 'r1', 'bad', 'r3'], ['r0', 'r1'], ['bad', 'r3'], ['bad'], ['r3']]);
    expect(failures.records[0]).toMatchObject({
      requestContext: { approximateInvokeCount: 1 },
      KinesisBatchInfo: { batchSize: 1 },
    });
  });

  it('discards the records and continues when no on-failure destination is configured', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(client, streamName, [{ key: 'k', data: 'bad' }]);
    const { fn, failures, events } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: 0 },
      { respond: failBad },
    );

    // Act
    await waitFor(() => events.some((event) => event.type === 'on-failure'), 'the discard');
    await putRecords(client, streamName, [{ key: 'k', data: 'good' }]);
    await waitFor(() => fn.batches().flat().includes('good'), 'the next record');

    // Assess
    expect(fn.batches()).toEqual([['bad'], ['good']]);
    expect(failures.records).toEqual([]);
    expect(events.find((event) => event.type === 'on-failure')).toMatchObject({ delivered: false });
  });

  it('sends the on-failure record as the body of a message on a real SQS queue', async () => {
    // Prepare
    const streamName = await createStream(client);
    const written = await putRecords(client, streamName, [{ key: 'k', data: 'bad' }]);
    const queue = await createQueue(queues);
    await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: 1,
        DestinationConfig: { OnFailure: { Type: 'SQS', Destination: queue.arn } },
      },
      { respond: failBad, onFailure: sqsOnFailureSink({ client: queues, destination: queue.arn }) },
    );

    // Act
    const messages = await receiveMessages(queues, queue.url, 1);
    const bodies = messages.map((message) => message.Body ?? '');

    // Assess
    expect(bodies).toHaveLength(1);
    expect(JSON.parse(bodies[0]!)).toEqual({
      requestContext: {
        requestId: 'request-2',
        functionArn: FUNCTION_ARN,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 2,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: expect.stringMatching(ISO_WITH_MS),
      KinesisBatchInfo: expect.objectContaining({
        shardId: 'shardId-000000000000',
        startSequenceNumber: written[0]!.SequenceNumber,
        endSequenceNumber: written[0]!.SequenceNumber,
        batchSize: 1,
      }),
    });
  });

  it('lets injected faults fail only the batches holding a matching record, which bisection isolates', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(
      client,
      streamName,
      ['ok-1', 'poison', 'ok-2', 'ok-3'].map((data) => ({ key: 'k', data })),
    );
    const fn = new RecordingFunction<KinesisStreamEvent>();
    const { failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 0,
        DestinationConfig: DESTINATION,
      },
      { invoke: withInjectedFunctionErrors(fn.invoke, { pattern: /poison/ }) },
    );

    // Act
    await waitFor(() => fn.batches().flat().includes('ok-3'), 'the last record');

    // Assess
    expect(fn.batches()).toEqual([['ok-1'], ['ok-2', 'ok-3']]);
    expect(failures.records).toHaveLength(1);
    expect(failures.records[0]?.KinesisBatchInfo.batchSize).toBe(1);
  });
});
