import { readFile } from 'node:fs/promises';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { JsonFileCheckpointStore } from '#local/esm/checkpoint-store.ts';
import type { InvokeResult, KinesisEventProperties } from '#local/esm/types.ts';
import { waitForStream } from '#local/resources.ts';
import {
  decodeData,
  expiringIterators,
  type KinesisPollerFixture,
  kinesisPollerSuite,
  ON_FAILURE_DESTINATION,
  sameKey,
  TestClock,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

const TEN = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];

describe('Kinesis event source mapping: checkpoints, restarts and stopping', () => {
  const suite = kinesisPollerSuite({ checkpointDirectory: 'esm-checkpoint-' });

  /** A poller whose checkpoints live in `path`; a new call with the same path is a restart. */
  const run = async (
    streamName: string,
    path: string,
    properties: KinesisEventProperties,
    respond?: KinesisPollerFixture['fn']['respond'],
    start = true,
  ) =>
    suite.start(streamName, properties, {
      checkpoints: new JsonFileCheckpointStore(path),
      mappingId: 'Consumer/Stream',
      ...(respond ? { respond } : {}),
      start,
    });

  /** A run that begins to stop during its `call`-th invocation, which answers `answer`; returns once stopped. */
  const runUntilStoppedDuring = async (
    streamName: string,
    path: string,
    properties: KinesisEventProperties,
    call: number,
    answer: InvokeResult,
  ) => {
    let fixture: KinesisPollerFixture | undefined;
    let stopped: Promise<void> | undefined;
    fixture = await run(streamName, path, properties, (_, n): InvokeResult => {
      if (n !== call) return {};
      stopped = fixture!.poller.stop();
      return answer;
    });
    await waitFor(() => stopped !== undefined, 'the stop');
    await stopped;
    return fixture;
  };

  it('resumes after a restart with nothing checkpointed redelivered and nothing lost', async () => {
    // Prepare
    const { streamName, written } = await suite.stream(sameKey(TEN));
    const path = suite.checkpointFile(streamName);
    // The third batch succeeds while the poller is being stopped: it is finished and checkpointed.
    const first = await runUntilStoppedDuring(
      streamName,
      path,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 },
      3,
      {},
    );

    // Act
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.fn.batches()).toEqual([
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
    expect(second.fn.batches()).toEqual([
      ['7', '8'],
      ['9', '10'],
    ]);
    await waitFor(
      () => second.poller.stats().shards[0]?.checkpoint === written[9]!.SequenceNumber,
      'the checkpoint',
    );
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      version: 1,
      mappings: {
        'Consumer/Stream': { 'shardId-000000000000': { sequenceNumber: written[9]!.SequenceNumber } },
      },
    });
  });

  it('starts afresh, instead of hanging on a refused checkpoint, on a stream made again under its name', async () => {
    // Prepare: checkpoints saved on the first stream of the name.
    const { streamName } = await suite.stream(sameKey(['1', '2']));
    const path = suite.checkpointFile(streamName);
    const first = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON' });
    await waitFor(() => first.poller.stats().shards[0]?.checkpoint !== undefined, 'the first checkpoint');
    await first.poller.stop();
    await suite.client.send(new DeleteStreamCommand({ StreamName: streamName }));
    for (let gone = false; !gone; ) {
      gone = await suite.client.send(new DescribeStreamSummaryCommand({ StreamName: streamName })).then(
        () => false,
        (error: Error) => error.name === 'ResourceNotFoundException',
      );
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Sequence numbers carry their shard's creation time in seconds: the new stream's come after the old ones.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await suite.client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    await waitForStream(suite.client, streamName);
    await suite.put(streamName, sameKey(['new']));

    // Act
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON' });
    await waitFor(() => second.fn.batches().flat().includes('new'), "the new stream's record");

    // Assess
    expect(second.fn.batches()).toEqual([['new']]);
    const discarded = second.events.filter((event) => event.type === 'checkpoints-discarded');
    expect(discarded).toEqual([
      { type: 'checkpoints-discarded', reason: expect.stringContaining('was made again') },
    ]);
  });

  it('abandons a batch that fails while stopping: no retry, no on-failure record, no checkpoint', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(TEN));
    const path = suite.checkpointFile(streamName);
    const first = await runUntilStoppedDuring(
      streamName,
      path,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 2,
        MaximumRetryAttempts: 0,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      2,
      { functionError: 'Unhandled' },
    );

    // Act
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.fn.batches()).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(first.failures.records).toEqual([]);
    expect(second.fn.batches().flat()).toEqual(['3', '4', '5', '6', '7', '8', '9', '10']);
  });

  it('returns from stop after timeoutMs and ignores a batch that completes later', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(TEN));
    const path = suite.checkpointFile(streamName);
    let release: () => void = () => undefined;
    const first = await run(
      streamName,
      path,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 },
      (_, call) => (call === 2 ? new Promise<InvokeResult>((resolve) => (release = () => resolve({}))) : {}),
    );
    await waitFor(() => first.fn.events.length === 2, 'the hanging invocation');

    // Act
    await first.poller.stop({ timeoutMs: 20 });
    release();
    await new Promise((resolve) => setImmediate(resolve));
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.poller.stats().state).toBe('stopped');
    expect(second.fn.batches()[0]).toEqual(['3', '4']);
  });

  it('keeps the LATEST starting point across a restart, so records written while stopped are delivered', async () => {
    // Prepare
    const { streamName } = await suite.stream([{ key: 'k', data: 'before-start' }]);
    const path = suite.checkpointFile(streamName);
    const first = await run(streamName, path, { StartingPosition: 'LATEST' });
    await first.poller.stop();

    // Act
    await suite.put(streamName, [{ key: 'k', data: 'while-stopped' }]);
    const second = await run(streamName, path, { StartingPosition: 'LATEST' });
    await waitFor(() => second.fn.events.length > 0, 'a delivery');

    // Assess
    expect(first.fn.events).toEqual([]);
    expect(second.fn.batches()).toEqual([['while-stopped']]);
  });

  it('fails to start, naming the problem, when the stream does not exist, and can be started again later', async () => {
    // Prepare
    const fixture = await run(
      'missing-stream',
      suite.checkpointFile('missing'),
      { StartingPosition: 'LATEST' },
      undefined,
      false,
    );

    // Act
    const start = fixture.poller.start();

    // Assess
    await expect(start).rejects.toThrow(/missing-stream/);
    expect(fixture.poller.stats().state).toBe('created');
  });

  it('stops cleanly before it was started, and starts only once', async () => {
    // Prepare
    const { streamName } = await suite.stream();
    const fixture = await run(
      streamName,
      suite.checkpointFile(streamName),
      { StartingPosition: 'LATEST' },
      undefined,
      false,
    );

    // Act
    await fixture.poller.stop();

    // Assess
    expect(fixture.poller.stats().state).toBe('stopped');
    await expect(fixture.poller.start()).rejects.toThrow('was already started');
  });

  it('stops polling, disabled with the reason, once its stream is deleted while it runs', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['before']));
    const fixture = await suite.start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      { retryBaseDelayMs: 5, retryMaxDelayMs: 5 },
    );
    await waitFor(() => fixture.fn.events.length === 1, 'the first record');

    // Act
    await suite.client.send(new DeleteStreamCommand({ StreamName: streamName }));
    await waitFor(() => fixture.poller.stats().state === 'disabled', 'the mapping to be disabled');
    const errors = fixture.events.filter((event) => event.type === 'error').length;
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Assess: one notice, and no more calls failing after it.
    expect(fixture.poller.stats().stateTransitionReason).toBe(
      `stream ${streamName} was deleted: the mapping stopped polling it`,
    );
    expect(fixture.events.filter((event) => event.type === 'source-deleted')).toHaveLength(1);
    expect(fixture.events.filter((event) => event.type === 'error')).toHaveLength(errors);
    await fixture.poller.stop();
    expect(fixture.poller.stats().state).toBe('disabled');
  });
  /**
   * Nine records of three keys read with BatchSize 3, whose first batch fails five times, each failure two minutes
   * long on the test clock, so that the iterator held since reading paused is over 5 minutes old
   * (aws-behaviour.md §5) once the batch succeeds. At the third failure three more records are written, while
   * reading is paused (a LATEST iterator would skip them), and `whilePaused` runs.
   */
  const expiringShard = async (
    whilePaused: (
      kinesis: ReturnType<typeof expiringIterators>,
      written: PutRecordsResultEntry[],
    ) => void = () => {},
  ) => {
    const keys = ['alpha', 'bravo', 'charlie'];
    const record = (index: number) => ({
      key: keys[index % 3]!,
      data: `${keys[index % 3]}-${Math.floor(index / 3)}`,
    });
    const first = Array.from({ length: 9 }, (_, index) => record(index));
    const later = Array.from({ length: 3 }, (_, index) => record(9 + index));
    const { streamName, written } = await suite.stream(first);
    const clock = new TestClock();
    const kinesis = expiringIterators(suite.client, clock.now);
    const delivered: string[] = [];
    let failures = 0;
    const { poller, events } = await suite.start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 3 },
      {
        client: kinesis.client,
        clock: clock.now,
        // Retries wait, so that the read in flight when the batch first failed is answered before it succeeds.
        retryBaseDelayMs: 20,
        retryMaxDelayMs: 20,
        respond: async (event) => {
          const data = event.Records.map(decodeData);
          if (data.includes('alpha-0') && failures < 5) {
            failures += 1;
            clock.offsetMs += 120_000;
            if (failures === 3) {
              written.push(...(await suite.put(streamName, later)));
              whilePaused(kinesis, written);
            }
            return { functionError: 'Unhandled' };
          }
          delivered.push(...data);
          return {};
        },
      },
    );
    return { first, later, written, kinesis, delivered, poller, events, failures: () => failures };
  };

  it('reads on after the last record read, with a new iterator, when its iterator expired while a failing batch held the shard', async () => {
    // Prepare / Act: see expiringShard.
    const { first, later, written, kinesis, delivered, poller, failures } = await expiringShard();
    const all = [...first, ...later].map(({ data }) => data);
    await waitFor(() => delivered.length >= all.length, 'every record');
    const last = written.at(-1)!.SequenceNumber;
    await waitFor(() => poller.stats().shards[0]?.checkpoint === last, 'the checkpoint at the last record');

    // Assess: each record once and in order; the new iterator starts after the last record read before the
    // expiry, not after the checkpoint (the first batch's last record) nor at LATEST.
    expect(failures()).toBe(5);
    expect(delivered).toEqual(all);
    const expired = kinesis.calls.findIndex(({ call }) => call === 'Expired');
    expect(expired).toBeGreaterThan(-1);
    const lastRead = kinesis.calls.slice(0, expired).findLast((call) => call.call === 'GetRecords');
    const renewed = kinesis.calls.slice(expired).find((call) => call.call === 'GetShardIterator');
    expect(lastRead).toBeDefined();
    expect(renewed).toMatchObject({
      input: {
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: lastRead?.call === 'GetRecords' ? lastRead.lastSequenceNumber : 'none',
      },
    });
    expect(kinesis.calls.filter(({ call }) => call === 'GetShardIterator')).toHaveLength(2);
  });

  it.each([
    ['a refusal saying so', undefined],
    // Kinesis's wording for a trimmed number is not documented; the refusal is confirmed against the shard instead.
    [
      'a refusal that does not say why',
      'StartingSequenceNumber used in GetShardIterator on shard shardId-000000000000 is invalid.',
    ],
  ])(
    'reads on from the oldest record left, instead of asking for ever, when the last record read was trimmed while its iterator expired (%s)',
    async (_, message) => {
      // Prepare / Act: as above, and while the first batch fails, retention trims every record up to the tenth: the
      // new iterator AFTER_SEQUENCE_NUMBER of the ninth (the last read) is refused, and the tenth is gone.
      const { first, later, written, kinesis, delivered, poller, events } = await expiringShard(
        (paused, all) => paused.trim(all[10]!.SequenceNumber!, message),
      );
      await waitFor(
        () => written.length === 12 && poller.stats().shards[0]?.checkpoint === written[11]!.SequenceNumber,
        'the checkpoint at the last record',
      );

      // Assess: the records held in memory are delivered, the trimmed tenth is lost, the two left follow. The
      // TRIM_HORIZON iterator that found the oldest record left past the refused number reads on.
      expect(delivered).toEqual([...first, ...later.slice(1)].map(({ data }) => data));
      const lastRead = written[8]!.SequenceNumber;
      expect(
        kinesis.calls.flatMap((call) =>
          call.call === 'GetShardIterator'
            ? [[call.input.ShardIteratorType, call.input.StartingSequenceNumber]]
            : [],
        ),
      ).toEqual([
        ['TRIM_HORIZON', undefined],
        ['AFTER_SEQUENCE_NUMBER', lastRead],
        ['TRIM_HORIZON', undefined],
      ]);
      expect(events.filter((event) => event.type === 'records-trimmed')).toEqual([
        expect.objectContaining({ shardId: 'shardId-000000000000', after: lastRead }),
      ]);
      expect(events.filter((event) => event.type === 'error')).toEqual([]);
    },
  );

  it('keeps asking after the last record read, and reads nothing again, when its number is refused while its record is still in the shard', async () => {
    // Prepare / Act: as in the expiry case, and while the first batch fails, AFTER_SEQUENCE_NUMBER of the ninth
    // record (the last read) comes to be refused with InvalidArgumentException, although no record was trimmed.
    const { first, later, written, kinesis, delivered, poller, events } = await expiringShard((paused, all) =>
      paused.refuse(all[8]!.SequenceNumber!),
    );
    const lastRead = written[8]!.SequenceNumber;
    const refusals = () =>
      events.filter((event) => event.type === 'error' && event.operation === 'GetShardIterator');
    await waitFor(() => refusals().length >= 2, 'the refusal retried');
    const heldAt = [...delivered];
    kinesis.refuse(undefined);
    await waitFor(
      () => poller.stats().shards[0]?.checkpoint === written[11]!.SequenceNumber,
      'the checkpoint at the last record',
    );

    // Assess: while refused, the shard neither read on from its oldest record (which would deliver the first
    // batches again) nor skipped anything; once answered, it read on after the last record read, each record once.
    expect(heldAt).toEqual(first.map(({ data }) => data));
    expect(delivered).toEqual([...first, ...later].map(({ data }) => data));
    expect(events.filter((event) => event.type === 'records-trimmed')).toEqual([]);
    expect(refusals()[0]).toMatchObject({
      shardId: 'shardId-000000000000',
      error: expect.objectContaining({ name: 'InvalidArgumentException' }),
    });
    expect(
      kinesis.calls.filter(
        (call) =>
          call.call === 'GetShardIterator' && call.input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER',
      ),
    ).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ input: expect.objectContaining({ StartingSequenceNumber: lastRead }) }),
      ]),
    );
  });
});
