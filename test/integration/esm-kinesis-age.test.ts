import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import {
  decodeData,
  kinesisPollerSuite,
  ON_FAILURE_DESTINATION,
  readShard,
  sameKey,
  TestClock,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

describe('Kinesis event source mapping: MaximumRecordAgeInSeconds', () => {
  const suite = kinesisPollerSuite();
  const { start } = suite;

  /** One record, then five written at least 600 ms later; the clock is frozen so only the first is over 60 s old. */
  const oneOldFiveFresh = async () => {
    const { streamName } = await suite.stream(sameKey(['old']));
    await new Promise((resolve) => setTimeout(resolve, 600));
    await suite.put(streamName, sameKey(['1', '2', '3', '4', '5']));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
    const clock = new TestClock();
    clock.fixedMs = stored[0]!.ApproximateArrivalTimestamp!.getTime() + 60_500;
    expect(clock.fixedMs - stored[1]!.ApproximateArrivalTimestamp!.getTime()).toBeLessThanOrEqual(60_000);
    return { streamName, stored, clock };
  };

  it('splits expired records off and reports them alone, delivering the fresh ones (observed on AWS)', async () => {
    // Prepare
    const { streamName, stored, clock } = await oneOldFiveFresh();

    // Act
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 10,
        MaximumRecordAgeInSeconds: 60,
        MaximumRetryAttempts: 0,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      { clock: clock.now },
    );
    await waitFor(
      () => fn.events.length === 1 && failures.records.length === 1,
      'the delivery and the report',
    );

    // Assess
    expect(fn.batches()).toEqual([['1', '2', '3', '4', '5']]);
    expect(Object.keys(failures.records[0]!)).toEqual([
      'requestContext',
      'version',
      'timestamp',
      'KinesisBatchInfo',
    ]);
    expect(failures.records[0]).toEqual({
      requestContext: {
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Consumer`,
        condition: 'RecordAgeExceeded',
        approximateInvokeCount: 1,
      },
      version: '1.0',
      timestamp: new Date(clock.fixedMs!).toISOString(),
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: stored[0]!.SequenceNumber,
        endSequenceNumber: stored[0]!.SequenceNumber,
        approximateArrivalOfFirstRecord: stored[0]!.ApproximateArrivalTimestamp!.toISOString(),
        approximateArrivalOfLastRecord: stored[0]!.ApproximateArrivalTimestamp!.toISOString(),
        batchSize: 1,
        streamArn: `arn:aws:kinesis:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stream/${streamName}`,
      },
    });
  });

  it('drops expired records without a destination and still delivers the fresh ones', async () => {
    // Prepare
    const { streamName, clock } = await oneOldFiveFresh();

    // Act
    const { fn, failures, poller } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 10, MaximumRecordAgeInSeconds: 60 },
      { clock: clock.now },
    );
    await waitFor(() => poller.stats().shards[0]?.recordsOut === 5, 'the fresh records');

    // Assess
    expect(fn.batches()).toEqual([['1', '2', '3', '4', '5']]);
    expect(failures.records).toEqual([]);
    expect(poller.stats().shards[0]).toMatchObject({ recordsFailed: 1, recordsOut: 5 });
  });

  it('never expires records when MaximumRecordAgeInSeconds is -1', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['ancient']));
    const clock = new TestClock();
    clock.offsetMs = 400 * 24 * 3600 * 1000;

    // Act
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        MaximumRecordAgeInSeconds: -1,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      { clock: clock.now },
    );
    await waitFor(() => fn.events.length === 1, 'the delivery');

    // Assess
    expect(fn.batches()).toEqual([['ancient']]);
    expect(failures.records).toEqual([]);
  });

  it('discards the records that expired unread while a failing batch held the shard, each on its own, never invoking with them', async () => {
    // Prepare: 'bad' fails for ever; ten records behind it, only three of them read ahead while it is retried.
    const early = ['bad', ...Array.from({ length: 10 }, (_, index) => `early-${index}`)];
    const { streamName } = await suite.stream(sameKey(early));
    const clock = new TestClock();
    const { fn, failures, poller } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 1,
        MaximumRecordAgeInSeconds: 60,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      {
        clock: clock.now,
        maxBufferedRecords: 3,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        respond: (event) => (decodeData(event.Records[0]!) === 'bad' ? { functionError: 'Unhandled' } : {}),
      },
    );
    await waitFor(() => fn.events.length >= 3, "bad's retries");
    expect(poller.stats().shards[0]!.recordsIn).toBeLessThanOrEqual(3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await suite.put(streamName, sameKey(['fresh-0', 'fresh-1']));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');

    // Act: every early record is now over 60 s old, the fresh ones are not.
    clock.fixedMs = stored[early.length - 1]!.ApproximateArrivalTimestamp!.getTime() + 60_500;
    expect(clock.fixedMs - stored[early.length]!.ApproximateArrivalTimestamp!.getTime()).toBeLessThanOrEqual(
      60_000,
    );
    await waitFor(() => poller.stats().shards[0]?.recordsOut === 2, 'the fresh records');

    // Assess: 'bad' is given up on after its invocations; the others were never sent, so their count is 1.
    const invocationsOfBad = fn.events.length - 2;
    expect(fn.batches().slice(invocationsOfBad)).toEqual([['fresh-0'], ['fresh-1']]);
    expect(fn.batches().slice(0, invocationsOfBad).flat()).toEqual(Array(invocationsOfBad).fill('bad'));
    expect(
      failures.records.map((record) => [
        record.KinesisBatchInfo.startSequenceNumber,
        record.KinesisBatchInfo.batchSize,
        record.requestContext.condition,
        record.requestContext.approximateInvokeCount,
        'responseContext' in record,
      ]),
    ).toEqual(
      early.map((_, index) => [
        stored[index]!.SequenceNumber,
        1,
        'RecordAgeExceeded',
        index === 0 ? invocationsOfBad + 1 : 1,
        false,
      ]),
    );
  });
});
