import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { withInjectedFunctionErrors } from '#local/esm/fault-injection.ts';
import { sqsOnFailureSink } from '#local/esm/on-failure.ts';
import type { InvokeResult } from '#local/esm/types.ts';
import {
  createQueue,
  decodeData,
  kinesisPollerSuite,
  ON_FAILURE_DESTINATION,
  RecordingFunction,
  readShard,
  receiveMessages,
  sameKey,
  TestClock,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

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
  const suite = kinesisPollerSuite({ sqs: true });
  const { start } = suite;

  /** Records r0, r1, bad, r3 read by a bisecting mapping whose function fails every batch holding "bad". */
  const bisectBadRecord = async (retries: number) => {
    const { streamName, written } = await suite.stream(sameKey(['r0', 'r1', 'bad', 'r3']));
    const fixture = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: retries,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      { respond: failBad },
    );
    return { ...fixture, written };
  };

  it.each([
    [0, 1],
    [1, 2],
    [2, 3],
  ])(
    'retries a failing batch MaximumRetryAttempts=%i times, then reports it with approximateInvokeCount %i and moves on',
    async (retries, invokeCount) => {
      // Prepare
      const { streamName, written } = await suite.stream([
        { key: 'a', data: 'bad-1' },
        { key: 'b', data: 'bad-2' },
      ]);
      const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
      const { fn, failures, poller } = await start(
        streamName,
        {
          StartingPosition: 'TRIM_HORIZON',
          MaximumRetryAttempts: retries,
          DestinationConfig: ON_FAILURE_DESTINATION,
        },
        { respond: failBad },
      );

      // Act
      await waitFor(() => failures.records.length === 1, 'the on-failure record');
      await suite.put(streamName, [{ key: 'a', data: 'good' }]);
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
    const { streamName, written } = await suite.stream([{ key: 'a', data: 'bad' }]);
    const clock = new TestClock();
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: -1,
        MaximumRecordAgeInSeconds: 60,
        DestinationConfig: ON_FAILURE_DESTINATION,
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
    const { streamName } = await suite.stream([{ key: 'a', data: 'throttled' }]);
    const { fn, failures, poller } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: 0,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
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
    const { fn, failures, written } = await bisectBadRecord(1);

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
    const { fn, failures } = await bisectBadRecord(0);

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
    const { streamName } = await suite.stream([{ key: 'k', data: 'bad' }]);
    const { fn, failures, events } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: 0 },
      { respond: failBad },
    );

    // Act
    await waitFor(() => events.some((event) => event.type === 'on-failure'), 'the discard');
    await suite.put(streamName, [{ key: 'k', data: 'good' }]);
    await waitFor(() => fn.batches().flat().includes('good'), 'the next record');

    // Assess
    expect(fn.batches()).toEqual([['bad'], ['good']]);
    expect(failures.records).toEqual([]);
    expect(events.find((event) => event.type === 'on-failure')).toMatchObject({ delivered: false });
  });

  it('sends the on-failure record as the body of a message on a real SQS queue', async () => {
    // Prepare
    const { streamName, written } = await suite.stream([{ key: 'k', data: 'bad' }]);
    const queue = await createQueue(suite.queues);
    await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: 1,
        DestinationConfig: { OnFailure: { Type: 'SQS', Destination: queue.arn } },
      },
      { respond: failBad, onFailure: sqsOnFailureSink({ client: suite.queues, destination: queue.arn }) },
    );

    // Act
    const messages = await receiveMessages(suite.queues, queue.url, 1);
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
    const { streamName } = await suite.stream(sameKey(['ok-1', 'poison', 'ok-2', 'ok-3']));
    const fn = new RecordingFunction<KinesisStreamEvent>();
    const { failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 0,
        DestinationConfig: ON_FAILURE_DESTINATION,
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
