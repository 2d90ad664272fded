import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { InMemoryCheckpointStore } from '#local/esm/checkpoint-store.ts';
import { INVOCATION_PAYLOAD_LIMIT_BYTES } from '#local/esm/kinesis-events.ts';
import type { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import {
  kinesisPollerSuite,
  readShard,
  rewrittenArrivals,
  sameKey,
  TestClock,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

describe('Kinesis event source mapping: events, batching and starting positions', () => {
  const suite = kinesisPollerSuite();
  const { start } = suite;

  it('delivers each record in exactly the shape Lambda does', async () => {
    // Prepare
    const { streamName } = await suite.stream([{ key: '1', data: 'Hello, this is a test.' }]);
    const [stored] = await readShard(suite.client, streamName, 'shardId-000000000000');

    // Act
    const { fn } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      {
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/lambda-role',
      },
    );
    await waitFor(() => fn.events.length === 1, 'one invocation');

    // Assess
    const arrival = fn.events[0]!.Records[0]!.kinesis.approximateArrivalTimestamp;
    expect(fn.events[0]).toEqual({
      Records: [
        {
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: '1',
            sequenceNumber: stored!.SequenceNumber,
            data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
            approximateArrivalTimestamp: stored!.ApproximateArrivalTimestamp!.getTime() / 1000,
          },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: `shardId-000000000000:${stored!.SequenceNumber}`,
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::000000000000:role/lambda-role',
          awsRegion: LOCAL_REGION,
          eventSourceARN: `arn:aws:kinesis:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stream/${streamName}`,
        },
      ],
    });
    expect(Math.floor(Math.log10(arrival))).toBe(9);
  });

  it('sends batches of at most BatchSize records, in sequence order', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['1', '2', '3', '4', '5', '6', '7']));

    // Act
    const { fn } = await start(streamName, { StartingPosition: 'TRIM_HORIZON', BatchSize: 3 });
    await waitFor(() => fn.events.length === 3, 'three invocations');

    // Assess
    expect(fn.batches()).toEqual([['1', '2', '3'], ['4', '5', '6'], ['7']]);
  });

  it('sends a full batch at once, without waiting for the batching window', async () => {
    // Prepare
    const { streamName } = await suite.stream([
      { key: 'a', data: '1' },
      { key: 'b', data: '2' },
    ]);

    // Act (a 300-second window: only a full batch can be sent before the test times out)
    const { fn } = await start(streamName, {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 2,
      MaximumBatchingWindowInSeconds: 300,
    });
    await waitFor(() => fn.events.length === 1, 'one invocation');

    // Assess
    expect(fn.batches()).toEqual([['1', '2']]);
  });

  it('gathers records that arrive within the batching window into one batch', async () => {
    // Prepare
    const { streamName } = await suite.stream();
    const { fn, events } = await start(streamName, {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
    });

    // Act
    await suite.put(streamName, [{ key: 'a', data: 'first' }]);
    await waitFor(
      () => events.some((event) => event.type === 'records-read' && event.count === 1),
      'the first read',
    );
    await suite.put(streamName, [{ key: 'b', data: 'second' }]);
    await waitFor(() => fn.events.length === 1, 'one invocation');

    // Assess
    expect(fn.batches()).toEqual([['first', 'second']]);
  });

  it('invokes as soon as records are available when there is no batching window', async () => {
    // Prepare
    const { streamName } = await suite.stream();
    const { fn } = await start(streamName, { StartingPosition: 'TRIM_HORIZON', BatchSize: 100 });

    // Act
    await suite.put(streamName, [{ key: 'a', data: 'first' }]);
    await waitFor(() => fn.events.length === 1, 'the first invocation');
    await suite.put(streamName, [{ key: 'b', data: 'second' }]);
    await waitFor(() => fn.events.length === 2, 'the second invocation');

    // Assess
    expect(fn.batches()).toEqual([['first'], ['second']]);
  });

  it('stops a batch at the 6 MB invocation payload limit', async () => {
    // Prepare
    const big = (index: number) => ({ key: `k${index}`, data: Buffer.alloc(700_000, 97 + index) });
    const { streamName } = await suite.stream([0, 1, 2, 3].map(big));
    await suite.put(streamName, [4, 5, 6, 7].map(big));

    // Act
    const { fn } = await start(streamName, {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
    });
    await waitFor(() => fn.events.length === 2, 'two invocations');

    // Assess
    const sizes = fn.events.map((event) => Buffer.byteLength(JSON.stringify(event)));
    expect(fn.events.map((event) => event.Records.length)).toEqual([6, 2]);
    expect(sizes[0]).toBeLessThanOrEqual(INVOCATION_PAYLOAD_LIMIT_BYTES);
    expect(sizes[0]! + sizes[0]! / 6).toBeGreaterThan(INVOCATION_PAYLOAD_LIMIT_BYTES);
  });

  it('reads again at once while records remain, instead of waiting for the idle interval', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['1', '2', '3', '4', '5', '6']));

    // Act (an idle interval of a minute and two records per read: only immediate re-reads can finish)
    const { fn } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 },
      {
        pollIntervalMs: 60_000,
        maxBufferedRecords: 2,
      },
    );
    await waitFor(() => fn.events.length === 3, 'three invocations');

    // Assess
    expect(fn.batches()).toEqual([
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
  });

  it('starts at the oldest record with TRIM_HORIZON', async () => {
    // Prepare
    const { streamName } = await suite.stream([{ key: 'k', data: 'old' }]);

    // Act
    const { fn } = await start(streamName, { StartingPosition: 'TRIM_HORIZON' });
    await suite.put(streamName, [{ key: 'k', data: 'new' }]);
    await waitFor(() => fn.batches().flat().includes('new'), 'the new record');

    // Assess
    expect(fn.batches().flat()).toEqual(['old', 'new']);
  });

  it('starts after the newest record with LATEST', async () => {
    // Prepare
    const { streamName } = await suite.stream([{ key: 'k', data: 'old' }]);

    // Act
    const { fn } = await start(streamName, { StartingPosition: 'LATEST' });
    await suite.put(streamName, [{ key: 'k', data: 'new' }]);
    await waitFor(() => fn.events.length > 0, 'an invocation');

    // Assess
    expect(fn.batches()).toEqual([['new']]);
  });

  it('starts at the first record that arrived at or after StartingPositionTimestamp with AT_TIMESTAMP', async () => {
    // Prepare
    const { streamName } = await suite.stream([{ key: 'k', data: 'before' }]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const timestamp = Date.now() / 1000;
    await new Promise((resolve) => setTimeout(resolve, 30));
    await suite.put(streamName, [
      { key: 'k', data: 'after-1' },
      { key: 'k', data: 'after-2' },
    ]);

    // Act
    const { fn } = await start(streamName, {
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: timestamp,
    });
    await waitFor(() => fn.events.length > 0, 'an invocation');

    // Assess
    expect(fn.batches()).toEqual([['after-1', 'after-2']]);
  });

  it('with AT_TIMESTAMP, reads every record after the first at or after StartingPositionTimestamp, one dated earlier included, as the iterator does', async () => {
    // Prepare: arrival times out of sequence order, as kinesalite gives a freshly split shard's records.
    const data = ['before', 'first', 'dated-earlier', 'last'];
    const { streamName } = await suite.stream(sameKey(data));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
    const timestampMs = stored[0]!.ApproximateArrivalTimestamp!.getTime();
    const offsets = [-2_000, 500, -500, 1_000];
    const client = rewrittenArrivals(
      suite.client,
      new Map(
        stored.map((record, index) => [record.SequenceNumber!, new Date(timestampMs + offsets[index]!)]),
      ),
    );

    // Act
    const { fn, poller } = await start(
      streamName,
      { StartingPosition: 'AT_TIMESTAMP', StartingPositionTimestamp: timestampMs / 1000 },
      { client },
    );
    await waitFor(() => poller.stats().shards[0]?.checkpoint === stored[3]!.SequenceNumber, 'the checkpoint');

    // Assess
    expect(fn.batches().flat()).toEqual(['first', 'dated-earlier', 'last']);
  });

  it('with AT_TIMESTAMP, still skips the records before StartingPositionTimestamp after a restart in the middle of them', async () => {
    // Prepare: the first run reads one record at a time and stops once it has read (and skipped) the first one.
    const data = ['before-0', 'before-1', 'before-2', 'first', 'last'];
    const { streamName } = await suite.stream(sameKey(data));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
    const timestampMs = stored[0]!.ApproximateArrivalTimestamp!.getTime();
    const offsets = [-3_000, -2_000, -1_000, 500, 1_000];
    const client = rewrittenArrivals(
      suite.client,
      new Map(
        stored.map((record, index) => [record.SequenceNumber!, new Date(timestampMs + offsets[index]!)]),
      ),
    );
    const properties = { StartingPosition: 'AT_TIMESTAMP', StartingPositionTimestamp: timestampMs / 1000 };
    const checkpoints = new InMemoryCheckpointStore();
    let firstPoller: KinesisPoller | undefined;
    let stopped: Promise<void> | undefined;
    const first = await start(streamName, properties, {
      client,
      checkpoints,
      maxBufferedRecords: 1,
      start: false,
      onEvent: (event) => {
        if (event.type === 'records-read') stopped ??= firstPoller!.stop();
      },
    });
    firstPoller = first.poller;
    await first.poller.start();
    await waitFor(() => stopped !== undefined, 'the first skipped record');
    await stopped;

    // Act
    const second = await start(streamName, properties, { client, checkpoints });
    await waitFor(
      () => second.poller.stats().shards[0]?.checkpoint === stored[4]!.SequenceNumber,
      'the checkpoint',
    );

    // Assess
    expect(first.fn.events).toEqual([]);
    expect(second.fn.batches().flat()).toEqual(['first', 'last']);
  });

  it('does nothing when the mapping is disabled', async () => {
    // Prepare
    const { streamName } = await suite.stream();

    // Act
    const { poller } = await start(streamName, { StartingPosition: 'TRIM_HORIZON', Enabled: false });

    // Assess
    expect(poller.stats()).toMatchObject({ state: 'disabled', shards: [] });
  });

  it('reports records in and out, invocations, the checkpoint and the iterator age per shard', async () => {
    // Prepare
    const { streamName, written } = await suite.stream(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((key) => ({ key, data: key })),
      2,
    );

    // Act
    const { poller } = await start(streamName, { StartingPosition: 'TRIM_HORIZON' });
    await waitFor(
      () => poller.stats().shards.reduce((sum, shard) => sum + shard.recordsOut, 0) === 6,
      'six records out',
    );

    // Assess
    const stats = poller.stats();
    expect(stats).toMatchObject({ state: 'running', streamName, functionName: 'Consumer' });
    for (const shard of stats.shards) {
      const mine = written.filter((entry) => entry.ShardId === shard.shardId);
      expect(shard).toMatchObject({
        state: 'reading',
        recordsIn: mine.length,
        recordsOut: mine.length,
        recordsFailed: 0,
        failedInvocations: 0,
        iteratorAgeMs: 0,
      });
      if (mine.length > 0) expect(shard.checkpoint).toBe(mine[mine.length - 1]!.SequenceNumber);
    }
  });

  it('reports as iterator age how long the oldest record not yet processed has been in the stream', async () => {
    // Prepare: two records; the function holds the first batch until released; the clock stands 4.5 s after the
    // first record arrived, as if the consumer were that far behind.
    const { streamName } = await suite.stream(sameKey(['first', 'second']));
    const stored = await readShard(suite.client, streamName, 'shardId-000000000000');
    const clock = new TestClock();
    clock.fixedMs = stored[0]!.ApproximateArrivalTimestamp!.getTime() + 4_500;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });

    // Act
    const { poller, fn } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1 },
      { clock: clock.now, respond: async () => held.then(() => ({})) },
    );
    await waitFor(() => fn.events.length === 1, 'the first batch, held');
    const behind = poller.stats().shards[0]!;
    release();
    await waitFor(() => poller.stats().shards[0]!.recordsOut === 2, 'both records out');

    // Assess: 4.5 s behind while the first record was held; caught up once both were processed.
    expect(behind).toMatchObject({ recordsIn: 2, recordsOut: 0, iteratorAgeMs: 4_500 });
    expect(poller.stats().shards[0]!.iteratorAgeMs).toBe(0);
  });
});
