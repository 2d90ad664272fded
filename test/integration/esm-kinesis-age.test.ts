import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import {
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
});
