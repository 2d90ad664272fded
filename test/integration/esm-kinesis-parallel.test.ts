import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { countingGetRecords, decodeData, kinesisPollerSuite, waitFor } from '#test/helpers/esm-fixtures.ts';

/** A function that takes a little time and notes which partition keys are in flight at once. */
const concurrencyProbe = () => {
  const inFlight = new Map<string, number>();
  let current = 0;
  const probe = { maxConcurrent: 0, overlaps: [] as string[], order: [] as string[] };
  const respond = async (event: KinesisStreamEvent) => {
    const keys = [...new Set(event.Records.map((record) => record.kinesis.partitionKey))];
    for (const key of keys) {
      if (inFlight.get(key)) probe.overlaps.push(key);
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
    }
    current += 1;
    probe.maxConcurrent = Math.max(probe.maxConcurrent, current);
    probe.order.push(...event.Records.map(decodeData));
    await new Promise((resolve) => setTimeout(resolve, 15));
    current -= 1;
    for (const key of keys) inFlight.set(key, inFlight.get(key)! - 1);
    return {};
  };
  return { probe, respond };
};

describe('Kinesis event source mapping: ParallelizationFactor', () => {
  const suite = kinesisPollerSuite();
  const { start } = suite;

  const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  const records = Array.from({ length: 40 }, (_, index) => ({
    key: keys[index % keys.length]!,
    data: `${keys[index % keys.length]}-${Math.floor(index / keys.length)}`,
  }));

  /** A function that fails 'charlie-1' every time, and keeps the data of every other record in `delivered`. */
  const failsAtCharlieOne = (delivered: string[]) => (event: KinesisStreamEvent) => {
    const data = decodeData(event.Records[0]!);
    if (data === 'charlie-1') return { functionError: 'Unhandled' as const };
    delivered.push(data);
    return {};
  };

  it('runs several batches of one shard at once, never two holding the same partition key, each key in order', async () => {
    // Prepare
    const { streamName, written } = await suite.stream(records);
    const { probe, respond } = concurrencyProbe();

    // Act
    const fixture = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 2, ParallelizationFactor: 4 },
      { respond },
    );
    await waitFor(() => probe.order.length === records.length, 'every record');

    // Assess
    expect(probe.overlaps).toEqual([]);
    expect(probe.maxConcurrent).toBeGreaterThan(1);
    expect(probe.maxConcurrent).toBeLessThanOrEqual(4);
    for (const key of keys) {
      const delivered = probe.order.filter((data) => data.startsWith(`${key}-`));
      expect(delivered).toEqual([0, 1, 2, 3, 4].map((index) => `${key}-${index}`));
    }
    const last = written[written.length - 1]!.SequenceNumber;
    await waitFor(
      () => fixture.poller.stats().shards[0]?.checkpoint === last,
      'the checkpoint to pass every lane',
    );
  });

  it('runs one batch at a time, in shard order, with the default ParallelizationFactor of 1', async () => {
    // Prepare
    const { streamName } = await suite.stream(records);
    const { probe, respond } = concurrencyProbe();

    // Act
    await start(streamName, { StartingPosition: 'TRIM_HORIZON', BatchSize: 5 }, { respond });
    await waitFor(() => probe.order.length === records.length, 'every record');

    // Assess
    expect(probe.maxConcurrent).toBe(1);
    expect(probe.order).toEqual(records.map((record) => record.data));
  });

  it('holds back the later records of a partition key while one of its records fails', async () => {
    // Prepare
    const { streamName } = await suite.stream(records);
    const delivered: string[] = [];
    let failuresLeft = 3;

    // Act
    const fixture = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, ParallelizationFactor: 10 },
      {
        respond: (event) => {
          const data = decodeData(event.Records[0]!);
          if (data === 'charlie-1' && failuresLeft > 0) {
            failuresLeft -= 1;
            return { functionError: 'Unhandled' };
          }
          delivered.push(data);
          return {};
        },
      },
    );
    await waitFor(() => delivered.length === records.length, 'every record');

    // Assess
    const charlie = delivered.filter((data) => data.startsWith('charlie-'));
    expect(charlie).toEqual(['charlie-0', 'charlie-1', 'charlie-2', 'charlie-3', 'charlie-4']);
    expect(fixture.fn.events.length).toBe(records.length + 3);
  });

  it('goes on with the other lanes past the read-ahead while one key keeps failing', async () => {
    // Prepare: 'charlie-1' fails for ever; the read-ahead (8 records) is far smaller than what follows it.
    const factor = 4;
    const laneOf = (key: string) => createHash('md5').update(key).digest().readUInt32BE(0) % factor;
    const { streamName, written } = await suite.stream(records);
    const delivered: string[] = [];

    // Act
    const fixture = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, ParallelizationFactor: factor },
      {
        maxBufferedRecords: 8,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        respond: failsAtCharlieOne(delivered),
      },
    );
    const otherLanes = records.filter((record) => laneOf(record.key) !== laneOf('charlie'));
    await waitFor(
      () => otherLanes.every((record) => delivered.includes(record.data)),
      'every record of the lanes the failing key is not in',
    );

    // Assess: the failing key's lane waits behind it, in order; the checkpoint waits before it.
    expect(otherLanes.length).toBeGreaterThan(8);
    const failing = records.findIndex((record) => record.data === 'charlie-1');
    const held = records.filter((record) => laneOf(record.key) === laneOf('charlie')).map((r) => r.data);
    const heldBefore = records.slice(0, failing).filter((record) => held.includes(record.data));
    expect(delivered.filter((data) => held.includes(data))).toEqual(heldBefore.map((record) => record.data));
    const before = written[failing - 1]!.SequenceNumber;
    await waitFor(() => fixture.poller.stats().shards[0]?.checkpoint === before, 'the checkpoint');
    expect(fixture.poller.stats().shards[0]!.checkpoint).toBe(before);
  });

  it('stops reading once maxPendingRecords records wait behind a failing key', async () => {
    // Prepare
    const { streamName } = await suite.stream(records);
    const delivered: string[] = [];
    const failing = records.findIndex((record) => record.data === 'charlie-1');

    // Act
    await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, ParallelizationFactor: 4 },
      {
        maxBufferedRecords: 4,
        maxPendingRecords: 12,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        respond: failsAtCharlieOne(delivered),
      },
    );
    const readable = new Set(records.slice(0, failing + 12).map((record) => record.data));
    await waitFor(() => delivered.includes('echo-2'), 'a record of another lane past the read-ahead');
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Assess: records of other lanes past the read-ahead (4) went on; none past the 12 pending after the failure.
    expect(records.findIndex((record) => record.data === 'echo-2')).toBeGreaterThan(failing + 4);
    expect(delivered.filter((data) => !readable.has(data))).toEqual([]);
  });

  it('keeps no record it delivered once the checkpoint is past it, whatever maxPendingRecords allows', async () => {
    // Prepare: the garbage collector, called directly, tells whether anything still holds the records.
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const { streamName, written } = await suite.stream(records);
    const delivered: Array<WeakRef<KinesisStreamEvent['Records'][number]>> = [];

    // Act
    const { poller } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 5, ParallelizationFactor: 4 },
      {
        respond: (event) => {
          delivered.push(...event.Records.map((record) => new WeakRef(record)));
          return {};
        },
      },
    );
    await waitFor(
      () => poller.stats().shards[0]?.checkpoint === written.at(-1)!.SequenceNumber,
      'the last checkpoint',
    );
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();

    // Assess
    expect(delivered).toHaveLength(records.length);
    expect(delivered.filter((record) => record.deref() !== undefined)).toHaveLength(0);
  });

  /** Waits long enough for several more retries (5–20 ms apart) and idle polls (20 ms apart). */
  const severalRetries = () => new Promise((resolve) => setTimeout(resolve, 300));

  it('stops reading while the one lane (ParallelizationFactor 1) retries a failing batch, and reads on once it is done', async () => {
    // Prepare: 'charlie-1' (the 3rd record) fails until told otherwise; 37 records wait behind it.
    const { streamName } = await suite.stream(records);
    const reads = countingGetRecords(suite.client);
    const delivered: string[] = [];
    let failing = true;
    const maxBufferedRecords = 5;

    // Act
    const { poller, fn } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1 },
      {
        client: reads.client,
        maxBufferedRecords,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        respond: (event) => {
          const data = decodeData(event.Records[0]!);
          if (data === 'charlie-1' && failing) return { functionError: 'Unhandled' };
          delivered.push(data);
          return {};
        },
      },
    );
    const retries = () => fn.batches().filter(([data]) => data === 'charlie-1').length;
    await waitFor(() => retries() >= 3, 'the failing batch to be retried');
    const callsWhileRetrying = reads.calls();
    await severalRetries();

    // Assess: nothing more was read while it was retried: within the read-ahead, with no GetRecords at all.
    expect(retries()).toBeGreaterThan(5);
    const shard = poller.stats().shards[0]!;
    expect(shard.recordsIn - shard.recordsOut).toBeLessThanOrEqual(maxBufferedRecords);
    expect(reads.calls()).toBe(callsWhileRetrying);
    failing = false;
    await waitFor(() => delivered.length === records.length, 'every record once the batch succeeds');
    expect(delivered).toEqual(records.map((record) => record.data));
  });

  it.each([
    { held: 'its one lane retries a failing batch', factor: 1, pending: {}, failing: 'alpha-0' },
    {
      held: 'maxPendingRecords records wait behind a failing key',
      factor: 4,
      pending: { maxBufferedRecords: 4, maxPendingRecords: 12 },
      failing: 'charlie-1',
    },
  ])(
    'is disabled once its stream is deleted while $held, and retries no more',
    async ({ factor, pending, failing }) => {
      // Prepare: `failing` fails for ever, so nothing more is read past it.
      const { streamName } = await suite.stream(records);

      // Act
      const { poller, fn } = await start(
        streamName,
        { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, ParallelizationFactor: factor },
        {
          ...pending,
          retryBaseDelayMs: 5,
          retryMaxDelayMs: 20,
          respond: (event) =>
            decodeData(event.Records[0]!) === failing ? { functionError: 'Unhandled' } : {},
        },
      );
      const retries = () => fn.batches().filter(([data]) => data === failing).length;
      await waitFor(() => retries() >= 3, 'the failing batch to be retried');
      await severalRetries();
      await suite.client.send(new DeleteStreamCommand({ StreamName: streamName }));
      await waitFor(() => poller.stats().state === 'disabled', 'the mapping to be disabled');
      const invocations = fn.batches().length;
      await severalRetries();

      // Assess: the mapping stopped, with its reason, and the batch is not sent again.
      expect(poller.stats().stateTransitionReason).toBe(
        `stream ${streamName} was deleted: the mapping stopped polling it`,
      );
      expect(fn.batches().length).toBe(invocations);
    },
  );

  it('stops reading while every lane retries a failing batch, and reads on for a lane once it is done', async () => {
    // Prepare: with a factor of 2, 'bravo' and 'alpha' hash to different lanes; each fails on its 2nd record.
    const factor = 2;
    const laneOf = (key: string) => createHash('md5').update(key).digest().readUInt32BE(0) % factor;
    expect(laneOf('bravo')).not.toBe(laneOf('alpha'));
    const twoKeys = Array.from({ length: 40 }, (_, index) => {
      const key = index % 2 === 0 ? 'bravo' : 'alpha';
      return { key, data: `${key}-${Math.floor(index / 2)}` };
    });
    const { streamName } = await suite.stream(twoKeys);
    const reads = countingGetRecords(suite.client);
    const delivered: string[] = [];
    const failing = new Set(['bravo-1', 'alpha-1']);

    // Act
    const { poller, fn } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, ParallelizationFactor: factor },
      {
        client: reads.client,
        maxBufferedRecords: 4,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        respond: (event) => {
          const data = decodeData(event.Records[0]!);
          if (failing.has(data)) return { functionError: 'Unhandled' };
          delivered.push(data);
          return {};
        },
      },
    );
    const retries = (data: string) => fn.batches().filter(([sent]) => sent === data).length;
    await waitFor(() => retries('bravo-1') >= 3 && retries('alpha-1') >= 3, 'both lanes to be retried');
    const callsWhileRetrying = reads.calls();
    const readWhileRetrying = poller.stats().shards[0]!.recordsIn;
    await severalRetries();

    // Assess: neither lane could take a record, so nothing was read; then the released lane goes on alone.
    expect(reads.calls()).toBe(callsWhileRetrying);
    expect(poller.stats().shards[0]!.recordsIn).toBe(readWhileRetrying);
    expect(readWhileRetrying).toBeLessThan(twoKeys.length);
    failing.delete('bravo-1');
    const bravo = twoKeys.filter((record) => record.key === 'bravo').map((record) => record.data);
    await waitFor(() => bravo.every((data) => delivered.includes(data)), "every record of bravo's lane");
    expect(delivered.filter((data) => data.startsWith('bravo-'))).toEqual(bravo);
    expect(delivered.filter((data) => data.startsWith('alpha-'))).toEqual(['alpha-0']);
    failing.delete('alpha-1');
    await waitFor(() => delivered.length === twoKeys.length, 'every record once both batches succeed');
  });
});
