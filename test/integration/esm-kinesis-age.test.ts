import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { InMemoryCheckpointStore } from '#local/esm/checkpoint-store.ts';
import {
  decodeData,
  kinesisPollerSuite,
  ON_FAILURE_DESTINATION,
  rangeContents,
  readShard,
  recordFates,
  rewrittenArrivals,
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

  /**
   * Records written at once, then dated out of sequence order through the client the poller reads with: those
   * named `old-…` arrived 61 s before the frozen clock, past a 60 s limit, the others 59 s before it.
   */
  const datedOutOfOrder = async (data: string[]) => {
    const { streamName } = await suite.stream(sameKey(data));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
    const clock = new TestClock();
    clock.fixedMs = Date.now();
    const arrivals = new Map(
      stored.map((record, index) => [
        record.SequenceNumber!,
        new Date(clock.fixedMs! - (data[index]!.startsWith('old') ? 61_000 : 59_000)),
      ]),
    );
    return { streamName, stored, clock, client: rewrittenArrivals(suite.client, arrivals) };
  };

  const AGE_LIMIT = {
    StartingPosition: 'TRIM_HORIZON',
    BatchSize: 10,
    MaximumRecordAgeInSeconds: 60,
    DestinationConfig: ON_FAILURE_DESTINATION,
  };

  it('discards from the oldest up to the last expired record when arrival times are out of sequence order, so the on-failure range names exactly its records and none delivered', async () => {
    // Prepare
    const data = ['old-0', 'new-1', 'old-2', 'old-3', 'new-4', 'old-5', 'new-6', 'new-7'];
    const { streamName, stored, clock, client } = await datedOutOfOrder(data);

    // Act
    const { fn, failures, poller } = await start(streamName, AGE_LIMIT, { client, clock: clock.now });
    await waitFor(() => {
      const shard = poller.stats().shards[0];
      return shard !== undefined && shard.recordsOut + shard.recordsFailed === data.length;
    }, 'every record done');

    // Assess: new-1 and new-4 were written before old-5, so they are at least as old and go with it.
    expect(fn.batches()).toEqual([['new-6', 'new-7']]);
    const delivered = fn.events.flatMap((event) =>
      event.Records.map((record) => record.kinesis.sequenceNumber),
    );
    expect(recordFates(stored, delivered, failures.records)).toEqual(
      data.map((value, index) => ({ data: value, succeeded: index >= 6, ranges: index >= 6 ? 0 : 1 })),
    );
    expect(rangeContents(stored, failures.records)).toEqual([data.slice(0, 6)]);
    expect(failures.payloads.map((payload) => payload.Records.map(decodeData))).toEqual([data.slice(0, 6)]);
    expect(failures.records[0]!.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: stored[0]!.SequenceNumber,
      endSequenceNumber: stored[5]!.SequenceNumber,
      batchSize: 6,
    });
    expect(failures.records[0]!.requestContext.condition).toBe('RecordAgeExceeded');
  });

  it('checkpoints past the expired records once they are reported, so a restart while the fresh ones still fail does not report them again', async () => {
    // Prepare: old-0 is past the limit; new-1 and new-2 fail (retried without limit) until the mapping stops.
    const data = ['old-0', 'new-1', 'new-2'];
    const { streamName, stored, clock, client } = await datedOutOfOrder(data);
    const checkpoints = new InMemoryCheckpointStore();
    const first = await start(streamName, AGE_LIMIT, {
      client,
      clock: clock.now,
      checkpoints,
      respond: () => ({ functionError: 'Unhandled' }),
    });
    await waitFor(() => first.fn.events.length >= 2, 'a retry of the fresh records');
    await first.poller.stop();

    // Act
    const second = await start(streamName, AGE_LIMIT, { client, clock: clock.now, checkpoints });
    await waitFor(() => second.poller.stats().shards[0]?.recordsOut === 2, 'the fresh records');

    // Assess: old-0 is in exactly one on-failure record, the fresh records in one successful invocation.
    expect(first.failures.records.map((record) => record.KinesisBatchInfo.startSequenceNumber)).toEqual([
      stored[0]!.SequenceNumber,
    ]);
    expect(second.failures.records).toEqual([]);
    expect(second.fn.batches()).toEqual([['new-1', 'new-2']]);
  });

  describe.each([
    {
      name: 'MaximumRetryAttempts',
      data: ['old-0', 'new-1', 'old-2', 'new-3', 'new-4'],
      bisect: false,
      // old-0..old-2 expired together; the rest fails once and is given up on.
      succeeded: [] as string[],
      ranges: [
        ['old-0', 'new-1', 'old-2'],
        ['new-3', 'new-4'],
      ],
      conditions: ['RecordAgeExceeded', 'RetryAttemptsExhausted'],
    },
    {
      name: 'BisectBatchOnFunctionError',
      data: ['old-0', 'new-1', 'old-2', 'new-3', 'bad-4', 'new-5'],
      bisect: true,
      // old-0..old-2 expired together; bisection isolates bad-4 among the rest.
      succeeded: ['new-3', 'new-5'],
      ranges: [['old-0', 'new-1', 'old-2'], ['bad-4']],
      conditions: ['RecordAgeExceeded', 'RetryAttemptsExhausted'],
    },
  ])(
    'with arrival times out of sequence order, then $name',
    ({ data, bisect, succeeded, ranges, conditions }) => {
      it('puts every record in exactly one on-failure range or one successful invocation, each range holding just the records it names', async () => {
        // Prepare
        const { streamName, stored, clock, client } = await datedOutOfOrder(data);
        const fails = (event: { Records: Parameters<typeof decodeData>[0][] }) =>
          !bisect || event.Records.some((record) => decodeData(record) === 'bad-4');

        // Act
        const { fn, failures, poller } = await start(
          streamName,
          { ...AGE_LIMIT, MaximumRetryAttempts: 0, BisectBatchOnFunctionError: bisect },
          {
            client,
            clock: clock.now,
            respond: (event) => (fails(event) ? { functionError: 'Unhandled' } : {}),
          },
        );
        await waitFor(() => {
          const shard = poller.stats().shards[0];
          return shard !== undefined && shard.recordsOut + shard.recordsFailed === data.length;
        }, 'every record done');

        // Assess
        const done = fn.events
          .filter((event) => !fails(event))
          .flatMap((event) => event.Records.map((record) => record.kinesis.sequenceNumber));
        expect(recordFates(stored, done, failures.records)).toEqual(
          data.map((value) => ({
            data: value,
            succeeded: succeeded.includes(value),
            ranges: succeeded.includes(value) ? 0 : 1,
          })),
        );
        expect(rangeContents(stored, failures.records)).toEqual(ranges);
        expect(failures.payloads.map((payload) => payload.Records.map(decodeData))).toEqual(ranges);
        expect(failures.records.map((record) => record.KinesisBatchInfo.batchSize)).toEqual(
          ranges.map((range) => range.length),
        );
        expect(failures.records.map((record) => record.requestContext.condition)).toEqual(conditions);
      });
    },
  );
});
