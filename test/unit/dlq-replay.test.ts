import { GetRecordsCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryQuarantine } from '#shared/quarantine/quarantine.ts';
import { loadDlqReplayConfig, replayReaderOptions } from '#shared/recovery/config.ts';
import {
  drainFailureQueue,
  type ReplayDependencies,
  ReplayRequestError,
  replayMessage,
  replayShardMessages,
  replaySqsEvent,
  withDryRun,
} from '#shared/recovery/dlq-replay.ts';
import { DryRunEventStore, DryRunQuarantine } from '#shared/recovery/dry-run.ts';
import { MemoryMessageQuarantine } from '#shared/recovery/message-quarantine.ts';
import type { EventStore } from '#shared/sink/event-store.ts';
import { MemoryEventStore } from '#shared/sink/memory-event-store.ts';
import { FakeKinesis, testClock } from '#test/helpers/fake-kinesis.ts';
import { kplAggregate, metricsRecorder, silentLogger } from '#test/helpers/kinesis-factories.ts';
import {
  FailingStore,
  failureRecord,
  identityOf,
  keyedCloudEvent,
  STREAM_NAME,
  streamArnOf,
} from '#test/helpers/recovery-fixtures.ts';

const SHARD = 'shardId-000000000000';
const OTHER = 'shardId-000000000001';
const sqsMock = mockClient(SQSClient);
let fake: FakeKinesis | undefined;

afterEach(() => {
  fake?.mock.restore();
  fake = undefined;
  sqsMock.reset();
});

afterAll(() => {
  sqsMock.restore();
});

interface SetupOptions {
  store?: EventStore;
  remainingMs?: () => number;
}

const setup = (options: SetupOptions = {}) => {
  const clock = testClock();
  fake = new FakeKinesis(STREAM_NAME, clock, 2);
  const memory = new MemoryEventStore(1);
  const store = options.store ?? memory;
  const quarantine = new MemoryQuarantine();
  const messageQuarantine = new MemoryMessageQuarantine();
  const metrics = metricsRecorder();
  const deps: ReplayDependencies = {
    kinesis: new KinesisClient({ region: 'us-east-1' }),
    streamName: STREAM_NAME,
    sink: { store, quarantine },
    dryRunSink: () => ({
      store: new DryRunEventStore(1, async (identity) => memory.items.get(identity)),
      quarantine: new DryRunQuarantine(),
    }),
    messageQuarantine,
    logger: silentLogger(),
    metrics,
    keyConcurrency: 4,
    timeReserveMs: 0,
    remainingMs: options.remainingMs ?? (() => 60_000),
    stopReserveMs: 1_000,
    reader: { limit: 3, callsPerSecond: 5 },
    attempts: 2,
    clock,
  };
  /** Puts the n-th event of `key` on a shard. */
  const put = (shardId: string, key: string, n: number) => {
    clock.advance(10);
    return fake!.put(shardId, key, JSON.stringify(keyedCloudEvent(key, n)));
  };
  return { clock, fake: fake!, deps, memory, quarantine, messageQuarantine, metrics, put };
};

const message = (id: string, body: unknown, receiveCount = 1): Message => ({
  MessageId: id,
  ReceiptHandle: `receipt-${id}`,
  Body: typeof body === 'string' ? body : JSON.stringify(body),
  Attributes: { ApproximateReceiveCount: String(receiveCount) },
});

const queueDeps = { sqs: new SQSClient({ region: 'us-east-1' }), queueUrl: 'https://sqs/failures' };

const deletedIds = () =>
  sqsMock.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle);

const MiB = 1024 * 1024;

/** What the function's environment holds besides its read settings. */
const FUNCTION_ENV = {
  STREAM_NAME,
  TABLE_NAME: 'events-table',
  QUARANTINE_BUCKET: 'quarantine-bucket',
  FAILURE_QUEUE_URL: 'https://sqs/failures',
};

/** The n-th event of `key`, its data padded so that the record weighs `bytes` (data plus partition key). */
const eventOfSize = (key: string, n: number, bytes: number): string => {
  const event = keyedCloudEvent(key, n);
  const bare = JSON.stringify({ ...event, data: { ...event.data, pad: '' } });
  return JSON.stringify({
    ...event,
    data: { ...event.data, pad: 'x'.repeat(bytes - key.length - bare.length) },
  });
};

/** The GetShardIterator and GetRecords calls made on `shardId`, as [command, clock time]. */
const callsOn = (fake: FakeKinesis, shardId: string): Array<[string, number]> =>
  fake.calls
    .filter((call) =>
      call.command === 'GetRecords'
        ? (JSON.parse(call.input.ShardIterator as string) as { shardId: string }).shardId === shardId
        : call.input.ShardId === shardId,
    )
    .map((call) => [call.command, call.at]);

describe('Recovery: replayMessage', () => {
  it('reads the range back, writes its events and counts every record', async () => {
    // Prepare
    const { deps, memory, put } = setup();
    const records = [1, 2, 3, 4, 5].map((n) => put(SHARD, n % 2 ? 'a' : 'b', n));
    const body = JSON.stringify(failureRecord(SHARD, records[1]!.SequenceNumber, records[3]!.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({
      outcome: 'replayed',
      shardId: SHARD,
      recordsReplayed: 3,
      written: 3,
      duplicates: 0,
      failed: 0,
    });
    expect([...memory.items.keys()].sort()).toEqual([
      identityOf('a', 3),
      identityOf('b', 2),
      identityOf('b', 4),
    ]);
  });

  it('counts records that already landed as duplicates and writes nothing for them', async () => {
    // Prepare
    const { deps, memory, put } = setup();
    const records = [1, 2, 3].map((n) => put(SHARD, 'a', n));
    const body = JSON.stringify(failureRecord(SHARD, records[0]!.SequenceNumber, records[2]!.SequenceNumber));
    await replayMessage({ messageId: 'm-1', body }, false, deps);
    const puts = memory.calls.length;
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'replayed', written: 0, duplicates: 3 });
    expect(memory.calls).toHaveLength(puts + 3);
    expect(memory.items.size).toBe(3);
  });

  it('de-aggregates KPL records and counts their user records', async () => {
    // Prepare
    const { deps, memory, fake } = setup();
    const aggregate = kplAggregate(
      [1, 2, 3].map((n) => ({
        partitionKey: 'k',
        data: Buffer.from(JSON.stringify(keyedCloudEvent('k', n))),
      })),
    );
    const record = fake.put(SHARD, 'k', aggregate);
    const body = JSON.stringify(failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'replayed', recordsReplayed: 1, written: 3 });
    expect(memory.items.size).toBe(3);
  });

  it('counts each user record of a retried KPL aggregate once, when one of them failed before succeeding', async () => {
    // Prepare: the third of five user records fails at its first write only.
    const { deps, memory, fake } = setup();
    const aggregate = kplAggregate(
      [1, 2, 3, 4, 5].map((n) => ({
        partitionKey: 'k',
        data: Buffer.from(JSON.stringify(keyedCloudEvent('k', n))),
      })),
    );
    const record = fake.put(SHARD, 'k', aggregate);
    const body = JSON.stringify(failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber));
    const flaky = new FailingStore([identityOf('k', 3)], memory);
    const put = flaky.put.bind(flaky);
    flaky.put = async (event) => {
      const failsNow = flaky.failing.has(event.identity);
      try {
        return await put(event);
      } finally {
        if (failsNow) flaky.failing.clear();
      }
    };
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, {
      ...deps,
      sink: { ...deps.sink, store: flaky },
    });
    // Assess: written once each, no duplicates from the retry.
    expect(detail).toMatchObject({ outcome: 'replayed', recordsReplayed: 1, written: 5, duplicates: 0 });
    expect(flaky.attempts).toBe(1);
    expect(memory.items.size).toBe(5);
  });

  it('reports records that keep failing, and the records of other keys still land', async () => {
    // Prepare
    const store = new FailingStore([identityOf('a', 2)]);
    const { deps, put } = setup({ store });
    const records = [put(SHARD, 'a', 1), put(SHARD, 'a', 2), put(SHARD, 'b', 3), put(SHARD, 'a', 4)];
    const body = JSON.stringify(failureRecord(SHARD, records[0]!.SequenceNumber, records[3]!.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess: a-2 failed twice (two attempts), a-4 waited behind it, a-1 and b-3 landed once.
    expect(detail).toMatchObject({ outcome: 'still-failing', written: 2, failed: 2 });
    expect(detail.detail).toContain(records[1]!.SequenceNumber);
    // The cause, not the blocked record behind it.
    expect(detail.detail).toContain(
      '(ProvisionedThroughputExceededException: Throughput exceeds the current capacity of your table)',
    );
    expect(store.attempts).toBe(2);
  });

  it('quarantines the message as expired when the start of its range has aged out, after replaying the rest', async () => {
    // Prepare
    const { deps, memory, fake, put, messageQuarantine, metrics } = setup();
    const records = [1, 2, 3, 4].map((n) => put(SHARD, 'a', n));
    fake.trim(SHARD, 2);
    const body = JSON.stringify(failureRecord(SHARD, records[0]!.SequenceNumber, records[3]!.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'expired', recordsReplayed: 2, written: 2 });
    expect(detail.detail).toContain('aged out');
    expect(memory.items.size).toBe(2);
    expect(messageQuarantine.entries).toEqual([
      expect.objectContaining({
        reason: 'expired',
        messageId: 'm-1',
        shardId: SHARD,
        startSequenceNumber: records[0]!.SequenceNumber,
        recordsReplayed: 2,
        body,
      }),
    ]);
    expect(metrics.values.ReplayExpired).toBe(1);
  });

  it('tells expiry by the trim horizon when Kinesis refuses a trimmed sequence number', async () => {
    // Prepare
    const { deps, fake, put, messageQuarantine } = setup();
    const records = [1, 2, 3].map((n) => put(SHARD, 'a', n));
    fake.trim(SHARD, 3);
    fake.faults.refuseTrimmed = true;
    put(SHARD, 'a', 4);
    const body = JSON.stringify(failureRecord(SHARD, records[0]!.SequenceNumber, records[2]!.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'expired', recordsReplayed: 0 });
    expect(messageQuarantine.entries).toHaveLength(1);
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardIteratorType)).toEqual([
      'AT_SEQUENCE_NUMBER',
      'TRIM_HORIZON',
    ]);
  });

  it('replays what is left of a range when Kinesis refuses its trimmed start, and quarantines the message', async () => {
    // Prepare: records 1 and 2 aged out; 3 and 4, the rest of the range, are still on the shard.
    const { deps, fake, put, memory, messageQuarantine } = setup();
    const records = [1, 2, 3, 4].map((n) => put(SHARD, 'a', n));
    fake.trim(SHARD, 2);
    fake.faults.refuseTrimmed = true;
    const body = JSON.stringify(failureRecord(SHARD, records[0]!.SequenceNumber, records[3]!.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'expired', recordsReplayed: 2, written: 2 });
    expect(detail.detail).toContain('aged out');
    expect(memory.items.size).toBe(2);
    expect(messageQuarantine.entries).toHaveLength(1);
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardIteratorType)).toEqual([
      'AT_SEQUENCE_NUMBER',
      'TRIM_HORIZON',
      'AT_SEQUENCE_NUMBER',
    ]);
  });

  it('leaves a message whose range starts with a record of another shard on the queue, never as expired', async () => {
    // Prepare: the record is on the shard the message does not name, whose first record comes later.
    const { deps, put, memory, messageQuarantine } = setup();
    const record = put(SHARD, 'a', 1);
    put(OTHER, 'b', 1);
    const body = JSON.stringify(failureRecord(OTHER, record.SequenceNumber, record.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({ outcome: 'still-failing', recordsReplayed: 0, deleted: false });
    expect(detail.detail).toContain(`is a sequence number of ${SHARD}, not of ${OTHER}`);
    expect(messageQuarantine.entries).toEqual([]);
    expect(memory.items.size).toBe(0);
  });

  it('quarantines the message as expired when its shard is gone', async () => {
    // Prepare
    const { deps, fake, put, messageQuarantine } = setup();
    const record = put(SHARD, 'a', 1);
    fake.faults.gone.add(SHARD);
    const body = JSON.stringify(failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail.outcome).toBe('expired');
    expect(detail.detail).toContain('gone');
    expect(messageQuarantine.entries).toHaveLength(1);
  });

  it.each([
    ['a body that is not JSON', 'not json', 'not JSON'],
    ['a record without KinesisBatchInfo', { hello: 'world' }, 'no KinesisBatchInfo'],
    ['a malformed range', failureRecord(SHARD, '12a', '13'), 'startSequenceNumber'],
    ['a range that runs backwards', failureRecord(SHARD, '20', '10'), 'after endSequenceNumber'],
    [
      'another stream',
      failureRecord(SHARD, '10', '20', { streamArn: streamArnOf('other') }),
      `points at stream ${streamArnOf('other')}`,
    ],
    [
      'a stream of the same name in another region, when the function knows its stream ARN',
      failureRecord(SHARD, '10', '20', {
        streamArn: streamArnOf(STREAM_NAME).replace(':us-east-1:', ':eu-west-1:'),
      }),
      `this function replays ${streamArnOf(STREAM_NAME)}`,
    ],
  ])('leaves %s on the queue, saying why', async (_name, body, reason) => {
    // Prepare
    const { deps: base, messageQuarantine } = setup();
    const deps = { ...base, streamArn: streamArnOf(STREAM_NAME) };
    // Act
    const detail = await replayMessage(
      { messageId: 'm-1', body: typeof body === 'string' ? body : JSON.stringify(body) },
      false,
      deps,
    );
    // Assess
    expect(detail).toMatchObject({ outcome: 'still-failing', recordsReplayed: 0, deleted: false });
    expect(detail.detail).toContain(reason);
    expect(messageQuarantine.entries).toEqual([]);
  });

  it("shows the range of a message refused for its stream, so the command's progress line can name it", async () => {
    // Prepare
    const { deps } = setup();
    const body = JSON.stringify(failureRecord(SHARD, '10', '20', { streamArn: streamArnOf('other') }));
    // Act
    const detail = await replayMessage({ messageId: 'm-1', body }, false, deps);
    // Assess
    expect(detail).toMatchObject({
      outcome: 'still-failing',
      shardId: SHARD,
      startSequenceNumber: '10',
      endSequenceNumber: '20',
    });
  });
});

const NO_TIME =
  'the invocation starts with 1000 ms left, no more than STOP_RESERVE_MS (1000 ms), so it could read nothing: ' +
  'give the function a Timeout well above STOP_RESERVE_MS, or lower STOP_RESERVE_MS';

describe('Recovery: replayShardMessages', () => {
  /** A message whose range is the records from `first` to `last` (inclusive) of one shard. */
  const rangeMessage = (id: string, first: { SequenceNumber: string }, last = first, batchSize = 1) => ({
    messageId: id,
    body: JSON.stringify(failureRecord(SHARD, first.SequenceNumber, last.SequenceNumber, { batchSize })),
  });

  it('reads ranges that follow one another with one GetShardIterator and one GetRecords, each message its own detail', async () => {
    // Prepare: three batches of one record each, one after another on the shard.
    const { deps, fake, put, memory } = setup();
    const records = [put(SHARD, 'a', 1), put(SHARD, 'b', 1), put(SHARD, 'a', 2)];
    // Act
    const details = await replayShardMessages(
      records.map((record, i) => rangeMessage(`m-${i}`, record)),
      false,
      deps,
    );
    // Assess
    expect(fake.calls.map((call) => call.command)).toEqual(['GetShardIterator', 'GetRecords']);
    expect(fake.mock.commandCalls(GetRecordsCommand)[0]!.args[0].input.Limit).toBe(3);
    expect(details.map((d) => [d?.messageId, d?.outcome, d?.recordsReplayed, d?.written])).toEqual([
      ['m-0', 'replayed', 1, 1],
      ['m-1', 'replayed', 1, 1],
      ['m-2', 'replayed', 1, 1],
    ]);
    expect(details.map((d) => d?.startSequenceNumber)).toEqual(records.map((r) => r.SequenceNumber));
    expect(memory.items.size).toBe(3);
  });

  it('replays nothing between two ranges, and reads on past a record between them in the same read', async () => {
    // Prepare: a record that no message holds (the consumer wrote it) lies between the two ranges.
    const { deps, fake, put, memory } = setup();
    const first = put(SHARD, 'a', 1);
    put(SHARD, 'between', 1);
    const second = put(SHARD, 'a', 2);
    // Act
    const details = await replayShardMessages(
      [rangeMessage('m-1', first), rangeMessage('m-2', second)],
      false,
      deps,
    );
    // Assess: one iterator for both ranges; the record between is read, and neither replayed nor counted.
    expect(details.map((d) => [d?.messageId, d?.outcome, d?.recordsReplayed, d?.written])).toEqual([
      ['m-1', 'replayed', 1, 1],
      ['m-2', 'replayed', 1, 1],
    ]);
    expect([...memory.items.keys()].sort()).toEqual([identityOf('a', 1), identityOf('a', 2)].sort());
    expect(fake.calls.map((call) => call.command)).toEqual(['GetShardIterator', 'GetRecords', 'GetRecords']);
  });

  it('asks for as many records as a call may once records lie between the ranges, so few calls read past them', async () => {
    // Prepare: two one-record batches with 40 records between them, a reader of 100 records a call.
    const { deps, fake, put } = setup();
    const first = put(SHARD, 'a', 1);
    for (let n = 1; n <= 40; n += 1) put(SHARD, `between-${n}`, 1);
    const second = put(SHARD, 'a', 2);
    // Act
    const details = await replayShardMessages(
      [rangeMessage('m-1', first), rangeMessage('m-2', second)],
      false,
      { ...deps, reader: { limit: 100, callsPerSecond: 5 } },
    );
    // Assess: the first call asks for the two batches' records, the next for a call's worth, which reaches m-2.
    expect(details.map((d) => [d?.messageId, d?.outcome, d?.written])).toEqual([
      ['m-1', 'replayed', 1],
      ['m-2', 'replayed', 1],
    ]);
    expect(fake.mock.commandCalls(GetRecordsCommand).map((call) => call.args[0].input.Limit)).toEqual([
      2, 100,
    ]);
    expect(fake.callsOf('GetShardIterator')).toHaveLength(1);
  });

  it('reads a range from its own start when more records lie before it than one GetRecords holds', async () => {
    // Prepare: six records between the ranges; the reader asks for at most 5 records a call.
    const { deps, fake, put, memory } = setup();
    const first = put(SHARD, 'a', 1);
    for (let n = 1; n <= 6; n += 1) put(SHARD, `between-${n}`, 1);
    const second = put(SHARD, 'a', 2);
    // Act
    const details = await replayShardMessages(
      [rangeMessage('m-1', first), rangeMessage('m-2', second)],
      false,
      { ...deps, reader: { limit: 5, callsPerSecond: 5 } },
    );
    // Assess: the joint read gives up past 5 records between; m-2 is read from its own start.
    expect(details.map((d) => [d?.messageId, d?.outcome, d?.written])).toEqual([
      ['m-1', 'replayed', 1],
      ['m-2', 'replayed', 1],
    ]);
    expect([...memory.items.keys()].sort()).toEqual([identityOf('a', 1), identityOf('a', 2)].sort());
    const starts = fake.callsOf('GetShardIterator').map((call) => call.input.StartingSequenceNumber);
    expect(starts).toEqual([first.SequenceNumber, second.SequenceNumber]);
  });

  it('quarantines a range that aged out as expired, and still reads the ranges after it together', async () => {
    // Prepare: the first range's record is past the trim horizon.
    const { deps, fake, put, messageQuarantine } = setup();
    const records = [put(SHARD, 'a', 1), put(SHARD, 'a', 2), put(SHARD, 'a', 3)];
    fake.trim(SHARD, 1);
    // Act
    const details = await replayShardMessages(
      records.map((record, i) => rangeMessage(`m-${i}`, record)),
      false,
      deps,
    );
    // Assess
    expect(details.map((d) => d?.outcome)).toEqual(['expired', 'replayed', 'replayed']);
    expect(messageQuarantine.entries.map((entry) => entry.messageId)).toEqual(['m-0']);
    const starts = fake.callsOf('GetShardIterator').map((call) => call.input.StartingSequenceNumber);
    expect(starts.at(-1)).toBe(records[1]!.SequenceNumber);
    expect(fake.callsOf('GetRecords').at(-1)!.input.Limit).toBe(2);
  });

  it("reads together no more batches than one GetRecords of the reader's limit holds", async () => {
    // Prepare: four batches of 2 records one after another; the reader asks for at most 5 records a call.
    const { deps, fake, put } = setup();
    const records = Array.from({ length: 8 }, (_, i) => put(SHARD, `k-${i}`, 1));
    const messages = [0, 2, 4, 6].map((i) => rangeMessage(`m-${i}`, records[i]!, records[i + 1]!, 2));
    // Act
    const details = await replayShardMessages(messages, false, {
      ...deps,
      reader: { limit: 5, callsPerSecond: 5 },
    });
    // Assess: two messages (4 records) a read.
    expect(details.map((d) => d?.written)).toEqual([2, 2, 2, 2]);
    expect(fake.callsOf('GetRecords').map((call) => call.input.Limit)).toEqual([4, 4]);
    expect(fake.callsOf('GetShardIterator')).toHaveLength(2);
  });

  it('leaves the messages it did not start when the time budget runs out, and answers the others', async () => {
    // Prepare: the budget runs out once the first message is done.
    let remaining = 60_000;
    const { deps, put } = setup({ remainingMs: () => remaining });
    const first = put(SHARD, 'a', 1);
    put(SHARD, 'between', 1);
    const second = put(SHARD, 'a', 2);
    // Act
    const details = await replayShardMessages(
      [rangeMessage('m-1', first), rangeMessage('m-2', second)],
      false,
      deps,
      undefined,
      () => {
        remaining = 500;
      },
    );
    // Assess
    expect(details.map((d) => d?.outcome)).toEqual(['replayed', undefined]);
  });
});

describe('Recovery: drainFailureQueue', () => {
  it('fails at once, saying why, when it starts with no more than the stop reserve left', async () => {
    // Prepare: a Timeout no longer than STOP_RESERVE_MS (1 s here) leaves no message time to be replayed.
    const { deps } = setup({ remainingMs: () => 1_000 });
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    // Act & Assess: nothing is received, so no message spends a receive on nothing.
    await expect(drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps })).rejects.toThrow(NO_TIME);
    expect(sqsMock).not.toHaveReceivedCommand(ReceiveMessageCommand);
  });

  it('deletes the messages whose records all landed and leaves the others, with a report', async () => {
    // Prepare
    const store = new FailingStore([identityOf('b', 3)]);
    const { deps, put, clock } = setup({ store });
    const ok = [put(SHARD, 'a', 1), put(SHARD, 'a', 2)];
    const bad = put(OTHER, 'b', 3);
    const receivedAt = clock.now();
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('bad', failureRecord(OTHER, bad.SequenceNumber, bad.SequenceNumber), 2),
          message('ok', failureRecord(SHARD, ok[0]!.SequenceNumber, ok[1]!.SequenceNumber)),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess
    expect(report).toMatchObject({
      messages: 2,
      recordsReplayed: 3,
      written: 2,
      duplicates: 0,
      quarantined: 0,
      stillFailing: 1,
      expired: 0,
      deleted: 1,
      dryRun: false,
    });
    expect(report.details.map((d) => [d.messageId, d.outcome, d.deleted, d.receiveCount])).toEqual([
      ['ok', 'replayed', true, 1],
      ['bad', 'still-failing', false, 2],
    ]);
    // The message left comes back when the visibility timeout set at its receive ends; a replayed one has none.
    expect(report.details.map((d) => d.visibleAgainAt)).toEqual([
      undefined,
      new Date(receivedAt + 90_000).toISOString(),
    ]);
    expect(deletedIds()).toEqual(['receipt-ok']);
    expect(sqsMock).toHaveReceivedCommandWith(ReceiveMessageCommand, {
      QueueUrl: 'https://sqs/failures',
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 90,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    expect(sqsMock).not.toHaveReceivedCommand(ChangeMessageVisibilityBatchCommand);
  });

  it('deletes an expired message once it is quarantined, and counts it', async () => {
    // Prepare
    const { deps, fake, put, messageQuarantine } = setup();
    const record = put(SHARD, 'a', 1);
    fake.trim(SHARD, 1);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [message('old', failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber))],
      })
      .resolves({});
    // Act
    const report = await drainFailureQueue({}, { ...deps, ...queueDeps });
    // Assess
    expect(report).toMatchObject({ messages: 1, expired: 1, stillFailing: 0, deleted: 1 });
    expect(messageQuarantine.entries).toHaveLength(1);
    expect(deletedIds()).toEqual(['receipt-old']);
  });

  it('in a dry run writes, quarantines and deletes nothing, reports what it would do, and shows the messages again', async () => {
    // Prepare
    const { deps, fake, memory, put, messageQuarantine, metrics } = setup();
    const records = [put(SHARD, 'a', 1), put(SHARD, 'a', 2), put(SHARD, 'b', 3)];
    await memory.put({
      identity: identityOf('a', 1),
      kind: 'cloudevent',
      attributes: {},
      position: {
        shardId: SHARD,
        sequenceNumber: records[0]!.SequenceNumber,
        partitionKey: 'a',
        approximateArrivalTimestamp: '2026-11-27T00:00:00.000Z',
      },
    });
    const old = put(OTHER, 'c', 4);
    fake.trim(OTHER, 1);
    const writes = memory.calls.length;
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('m-1', failureRecord(SHARD, records[0]!.SequenceNumber, records[2]!.SequenceNumber)),
          message('m-2', failureRecord(OTHER, old.SequenceNumber, old.SequenceNumber)),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const lines: Array<{ message: unknown; extra: unknown[] }> = [];
    const keep =
      (level: string) =>
      (message: unknown, ...extra: unknown[]) =>
        lines.push({ message: `${level} ${String(message)}`, extra });
    const logger = { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
    const report = await drainFailureQueue(
      { dryRun: true, maxMessages: 5 },
      { ...deps, ...queueDeps, logger: logger as unknown as typeof deps.logger },
    );
    // Assess
    // The batch's own lines say it was a dry run: its "written" is what a replay would write.
    const batchLines = lines.filter((line) => line.message === 'info batch processed');
    expect(batchLines.length).toBeGreaterThan(0);
    for (const line of batchLines) expect(line.extra[0]).toEqual({ dryRun: true });
    expect(report).toMatchObject({
      dryRun: true,
      messages: 2,
      written: 2,
      duplicates: 1,
      expired: 1,
      deleted: 0,
    });
    expect(memory.calls).toHaveLength(writes);
    expect(memory.items.size).toBe(1);
    expect(messageQuarantine.entries).toEqual([]);
    expect(metrics.values.ReplayExpired).toBeUndefined();
    // What it would write or quarantine is in its report, not in the metrics the dashboard and the alarms read.
    for (const name of [
      'RecordsQuarantined',
      'EventsWritten',
      'DuplicatesSkipped',
      'RecordsProcessed',
      'BatchLag',
    ]) {
      expect(metrics.values[name], name).toBeUndefined();
    }
    expect(sqsMock).not.toHaveReceivedCommand(DeleteMessageCommand);
    expect(sqsMock).toHaveReceivedCommandWith(ChangeMessageVisibilityBatchCommand, {
      Entries: [
        { Id: '0', ReceiptHandle: 'receipt-m-1', VisibilityTimeout: 0 },
        { Id: '1', ReceiptHandle: 'receipt-m-2', VisibilityTimeout: 0 },
      ],
    });
  });

  it('replays the ranges of different shards at once and the ranges of one shard in their order', async () => {
    // Prepare
    const writes: string[] = [];
    let inFlight = new Set<string>();
    let overlapped = false;
    const memory = new MemoryEventStore(1);
    // Each write takes a moment, so writes of two shards overlap only if their messages run at the same time.
    const store: EventStore = {
      projectionVersion: 1,
      put: async (event) => {
        const key = event.identity.split(':').at(-1)!.split('-')[0]!;
        inFlight.add(key);
        if (inFlight.size > 1) overlapped = true;
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight = new Set([...inFlight].filter((k) => k !== key));
        writes.push(event.identity);
        return memory.put(event);
      },
    };
    const { deps, put } = setup({ store });
    const a1 = put(SHARD, 'a', 1);
    const b1 = put(OTHER, 'b', 1);
    const a2 = put(SHARD, 'a', 2);
    const b2 = put(OTHER, 'b', 2);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        // Received newest first: the replay sorts each shard's ranges by position.
        Messages: [
          message('a2', failureRecord(SHARD, a2.SequenceNumber, a2.SequenceNumber)),
          message('b2', failureRecord(OTHER, b2.SequenceNumber, b2.SequenceNumber)),
          message('a1', failureRecord(SHARD, a1.SequenceNumber, a1.SequenceNumber)),
          message('b1', failureRecord(OTHER, b1.SequenceNumber, b1.SequenceNumber)),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess
    expect(report).toMatchObject({ messages: 4, written: 4, deleted: 4 });
    expect(overlapped).toBe(true);
    expect(writes.filter((identity) => identity.endsWith(':a-1') || identity.endsWith(':a-2'))).toEqual([
      identityOf('a', 1),
      identityOf('a', 2),
    ]);
    expect(writes.filter((identity) => identity.endsWith(':b-1') || identity.endsWith(':b-2'))).toEqual([
      identityOf('b', 1),
      identityOf('b', 2),
    ]);
    expect(report.details.map((d) => d.messageId)).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it("paces the reads of one shard's messages as one reader: the next message waits for the calls and bytes of the one before", async () => {
    // Prepare: the first message's range ends with a 4 MiB record, which holds the shard's next GetRecords 2 s;
    // one record per GetRecords (batchSize 1). The second message comes in the next receive, while the first is
    // replayed, so it is read on its own.
    const { deps, fake, put } = setup();
    const first = put(SHARD, 'a', 1);
    const big = fake.put(SHARD, 'a', eventOfSize('a', 2, 4 * MiB));
    const next = put(SHARD, 'a', 3);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [message('m-1', failureRecord(SHARD, first.SequenceNumber, big.SequenceNumber))],
      })
      .resolvesOnce({
        Messages: [message('m-2', failureRecord(SHARD, next.SequenceNumber, next.SequenceNumber))],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess: GetRecords 200 ms apart (5 a second) across both messages, GetShardIterator too on a limit of its
    // own, and m-2's GetRecords 2 s after the big answer.
    expect(report).toMatchObject({ messages: 2, recordsReplayed: 3, written: 3, deleted: 2 });
    expect(report.details.map((d) => d.messageId)).toEqual(['m-1', 'm-2']);
    const calls = callsOn(fake, SHARD);
    expect(calls.map(([command]) => command)).toEqual([
      'GetShardIterator',
      'GetRecords',
      'GetRecords',
      'GetShardIterator',
      'GetRecords',
    ]);
    const start = calls[0]![1];
    expect(calls.map(([, at]) => at - start)).toEqual([0, 0, 200, 200, 2_200]);
  });

  it.each([
    { kib: undefined, wait: 1_000 },
    { kib: '512', wait: 2_000 },
    { kib: '2048', wait: 500 },
  ])(
    'holds the GetRecords after a 1 MiB answer back $wait ms with GET_RECORDS_KIB_PER_SECOND=$kib',
    async ({ kib, wait }) => {
      // Prepare: the reader the function makes of its environment; m-1's range is one 1 MiB record; m-2 comes in
      // the next receive, while m-1 is replayed, so it is read on its own.
      const { deps, fake, put } = setup();
      const config = loadDlqReplayConfig({
        ...FUNCTION_ENV,
        GET_RECORDS_PER_SECOND: '5',
        ...(kib === undefined ? {} : { GET_RECORDS_KIB_PER_SECOND: kib }),
      });
      const big = fake.put(SHARD, 'a', eventOfSize('a', 1, MiB));
      const next = put(SHARD, 'a', 2);
      sqsMock
        .on(ReceiveMessageCommand)
        .resolvesOnce({
          Messages: [message('m-1', failureRecord(SHARD, big.SequenceNumber, big.SequenceNumber))],
        })
        .resolvesOnce({
          Messages: [message('m-2', failureRecord(SHARD, next.SequenceNumber, next.SequenceNumber))],
        })
        .resolves({ Messages: [] });
      // Act
      const report = await drainFailureQueue(
        { maxMessages: 10 },
        { ...deps, reader: replayReaderOptions(config), ...queueDeps },
      );
      // Assess: m-2's GetShardIterator keeps to the call rate; its GetRecords waits for the big answer's bytes.
      expect(report).toMatchObject({ messages: 2, recordsReplayed: 2, written: 2, deleted: 2 });
      const calls = callsOn(fake, SHARD);
      expect(calls.map(([command]) => command)).toEqual([
        'GetShardIterator',
        'GetRecords',
        'GetShardIterator',
        'GetRecords',
      ]);
      const start = calls[0]![1];
      expect(calls.map(([, at]) => at - start)).toEqual([0, 0, 200, wait]);
    },
  );

  it("does not make one shard's messages wait for the reads of another shard", async () => {
    // Prepare: a record that no message holds lies between big's range and later's, read past in the same read.
    const { deps, fake, put } = setup();
    const big = fake.put(SHARD, 'a', eventOfSize('a', 1, 4 * MiB));
    const small = put(OTHER, 'b', 1);
    put(SHARD, 'z', 1);
    const later = put(SHARD, 'a', 2);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('big', failureRecord(SHARD, big.SequenceNumber, big.SequenceNumber)),
          message('small', failureRecord(OTHER, small.SequenceNumber, small.SequenceNumber)),
          message('later', failureRecord(SHARD, later.SequenceNumber, later.SequenceNumber)),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess: the other shard reads at its own call rate; only the big answer's shard waits for its bytes.
    expect(report).toMatchObject({ messages: 3, written: 3, deleted: 3 });
    const start = callsOn(fake, SHARD)[0]![1];
    expect(callsOn(fake, OTHER).map(([, at]) => at - start)).toEqual([0, 0]);
    // One iterator for both ranges; the GetRecords that reads on to later's range waits for the big answer's 2 s.
    expect(callsOn(fake, SHARD).map(([, at]) => Math.round(at - start))).toEqual([0, 0, 2_000]);
  });

  it("receives again while a shard's messages are still replayed, so another shard's next message does not wait for them", async () => {
    // Prepare: the first receive brings a range with a 4 MiB record and a later range on one shard (read on its
    // own, as a reader of 1 record a call cannot hold both: its GetShardIterator waits for the call rate, its
    // GetRecords 2 s for the first's bytes), and one message of another shard; the second receive that shard's
    // next.
    const { deps, fake, put } = setup();
    const big = fake.put(SHARD, 'a', eventOfSize('a', 1, 4 * MiB));
    put(SHARD, 'z', 1);
    const later = put(SHARD, 'a', 2);
    const first = put(OTHER, 'b', 1);
    const second = put(OTHER, 'b', 2);
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('later', failureRecord(SHARD, later.SequenceNumber, later.SequenceNumber)),
          message('b-1', failureRecord(OTHER, first.SequenceNumber, first.SequenceNumber)),
          message('big', failureRecord(SHARD, big.SequenceNumber, big.SequenceNumber)),
        ],
      })
      .resolvesOnce({
        Messages: [message('b-2', failureRecord(OTHER, second.SequenceNumber, second.SequenceNumber))],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue(
      { maxMessages: 10 },
      { ...deps, reader: { limit: 1, callsPerSecond: 5 }, ...queueDeps },
    );
    // Assess: b-2 is read at its shard's own call rate, not once the first receive's messages are all done.
    expect(report).toMatchObject({ messages: 4, written: 4, deleted: 4 });
    expect(report.details.map((d) => d.messageId)).toEqual(['big', 'later', 'b-1', 'b-2']);
    const start = callsOn(fake, SHARD)[0]![1];
    expect(callsOn(fake, SHARD).map(([, at]) => Math.round(at - start))).toEqual([0, 0, 200, 2_000]);
    expect(callsOn(fake, OTHER).map(([, at]) => at - start)).toEqual([0, 0, 200, 200]);
  });

  it('goes on receiving when a receive brings back only messages it is still replaying, and deletes them by their newest handle', async () => {
    // Prepare: a visibility timeout shorter than the work shows m-1 again while it is replayed; m-3 comes after.
    const { deps, put } = setup();
    const records = [1, 2, 3].map((n) => put(SHARD, 'a', n));
    const bodyOf = (i: number) =>
      failureRecord(SHARD, records[i]!.SequenceNumber, records[i]!.SequenceNumber);
    const receives = [
      [message('m-1', bodyOf(0)), message('m-2', bodyOf(1))],
      [{ ...message('m-1', bodyOf(0), 2), ReceiptHandle: 'receipt-m-1-again' }],
      [message('m-3', bodyOf(2))],
    ];
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => ({ Messages: receives.shift() ?? [] }));
    sqsMock.on(DeleteMessageCommand).resolves({});
    // Act
    const report = await drainFailureQueue(
      { maxMessages: 10, visibilityTimeoutSeconds: 0 },
      { ...deps, ...queueDeps },
    );
    // Assess
    expect(report).toMatchObject({ messages: 3, deleted: 3 });
    expect(deletedIds().sort()).toEqual(['receipt-m-1-again', 'receipt-m-2', 'receipt-m-3']);
  });

  it('holds at most 40 messages it has not finished, receiving again as they finish', async () => {
    // Prepare: 60 messages of one shard, 10 to a receive; each one finished is deleted.
    const { deps, put } = setup();
    const record = put(SHARD, 'a', 1);
    const body = failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber);
    let received = 0;
    let deleted = 0;
    const heldAtReceive: number[] = [];
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      heldAtReceive.push(received - deleted);
      const ids = Array.from({ length: Math.min(10, 60 - received) }, (_, i) => `m-${received + i}`);
      received += ids.length;
      return { Messages: ids.map((id) => message(id, body)) };
    });
    sqsMock.on(DeleteMessageCommand).callsFake(async () => {
      deleted += 1;
      return {};
    });
    // Act
    const report = await drainFailureQueue({ maxMessages: 100 }, { ...deps, ...queueDeps });
    // Assess: it fills up to 40 held (30 before the receive that brings 10 more), and never past.
    expect(report).toMatchObject({ messages: 60, deleted: 60 });
    expect(Math.max(...heldAtReceive)).toBe(30);
    expect(heldAtReceive.slice(0, 4)).toEqual([0, 10, 20, 30]);
  });

  it('fails with the error a message hit, once the messages under way are done, counts those, and shows the rest again', async () => {
    // Prepare: an expired range whose quarantine fails, behind which its shard has one more message waiting; and
    // a message of another shard.
    const { deps, fake, put, metrics } = setup();
    const old = put(SHARD, 'a', 1);
    const next = put(SHARD, 'a', 2);
    const other = put(OTHER, 'b', 1);
    fake.trim(SHARD, 1);
    const failing = { put: async () => Promise.reject(new Error('the quarantine bucket is gone')) };
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('old', failureRecord(SHARD, old.SequenceNumber, old.SequenceNumber)),
          message('next', failureRecord(SHARD, next.SequenceNumber, next.SequenceNumber)),
          message('other', failureRecord(OTHER, other.SequenceNumber, other.SequenceNumber)),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const result = drainFailureQueue({}, { ...deps, messageQuarantine: failing, ...queueDeps });
    // Assess: the other shard's message was replayed and deleted; the two left are visible again at once.
    await expect(result).rejects.toThrow('the quarantine bucket is gone');
    expect(deletedIds()).toEqual(['receipt-other']);
    // The message replayed and deleted before the failure is counted, as a run that ends well counts it.
    expect(metrics.values).toMatchObject({
      ReplayMessages: 1,
      ReplayMessagesDeleted: 1,
      ReplayMessagesStillFailing: 0,
    });
    const shown = sqsMock
      .commandCalls(ChangeMessageVisibilityBatchCommand)
      .flatMap((call) => call.args[0].input.Entries ?? []);
    expect(shown.map((entry) => [entry.ReceiptHandle, entry.VisibilityTimeout])).toEqual([
      ['receipt-old', 0],
      ['receipt-next', 0],
    ]);
  });

  it('asks GetRecords for no more records than the range holds', async () => {
    // Prepare
    const { deps, put, fake } = setup();
    const records = [put(SHARD, 'a', 1), put(SHARD, 'a', 2), put(SHARD, 'a', 3), put(SHARD, 'a', 4)];
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message(
            'm',
            failureRecord(SHARD, records[0]!.SequenceNumber, records[1]!.SequenceNumber, { batchSize: 2 }),
          ),
        ],
      })
      .resolves({ Messages: [] });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess
    expect(report).toMatchObject({ messages: 1, recordsReplayed: 2, written: 2 });
    const limits = fake.mock.commandCalls(GetRecordsCommand).map((call) => call.args[0].input.Limit);
    expect(limits).toEqual([2]);
  });

  it('handles at most maxMessages messages', async () => {
    // Prepare
    const { deps, put } = setup();
    const record = put(SHARD, 'a', 1);
    const body = failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber);
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [message('m-1', body), message('m-2', body)] });
    // Act
    const report = await drainFailureQueue(
      { maxMessages: 2, visibilityTimeoutSeconds: 60 },
      { ...deps, ...queueDeps },
    );
    // Assess
    expect(report.messages).toBe(2);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
    expect(sqsMock).toHaveReceivedCommandWith(ReceiveMessageCommand, {
      MaxNumberOfMessages: 2,
      VisibilityTimeout: 60,
    });
  });

  it('stops before its time budget ends and shows the messages it did not start again', async () => {
    // Prepare
    let remaining = 60_000;
    const { deps, put } = setup({ remainingMs: () => remaining });
    const record = put(SHARD, 'a', 1);
    const body = failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber);
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [message('m-1', body), message('m-2', body)] });
    sqsMock.on(DeleteMessageCommand).callsFake(async () => {
      remaining = 500;
      return {};
    });
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, { ...deps, ...queueDeps });
    // Assess
    expect(report.details.map((d) => d.messageId)).toEqual(['m-1']);
    expect(sqsMock).toHaveReceivedCommandWith(ChangeMessageVisibilityBatchCommand, {
      Entries: [{ Id: '0', ReceiptHandle: 'receipt-m-2', VisibilityTimeout: 0 }],
    });
  });

  it.each([
    [{ maxMessages: 0 }, 'maxMessages must be an integer from 1 to 10000'],
    [{ maxMessages: 1.5 }, 'maxMessages must be an integer'],
    [{ dryRun: 'yes' }, 'dryRun must be true or false'],
    [{ visibilityTimeoutSeconds: 50_000 }, 'visibilityTimeoutSeconds must be an integer from 0 to 43200'],
    [{ maxMesages: 3 }, 'unknown field(s) maxMesages'],
  ])('refuses %j', async (request, error) => {
    // Prepare
    const { deps } = setup();
    // Act
    const result = drainFailureQueue(request, { ...deps, ...queueDeps });
    // Assess
    await expect(result).rejects.toThrow(ReplayRequestError);
    await expect(result).rejects.toThrow(error);
  });
});

describe('Recovery: replaySqsEvent', () => {
  const sqsEvent = (messages: Array<{ id: string; body: unknown }>): SQSEvent => ({
    Records: messages.map(({ id, body }) => ({
      messageId: id,
      receiptHandle: `receipt-${id}`,
      body: JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1545082649183',
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: '1545082649185',
      },
      messageAttributes: {},
      md5OfBody: '098f6bcd4621d373cade4e832627b4f6',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:failures',
      awsRegion: 'us-east-1',
    })),
  });

  it('reports exactly the messages that still fail, by messageId, and deletes nothing itself', async () => {
    // Prepare
    const store = new FailingStore([identityOf('b', 2)]);
    const { deps, put } = setup({ store });
    const a = put(SHARD, 'a', 1);
    const b = put(OTHER, 'b', 2);
    const event = sqsEvent([
      { id: 'ok', body: failureRecord(SHARD, a.SequenceNumber, a.SequenceNumber) },
      { id: 'bad', body: failureRecord(OTHER, b.SequenceNumber, b.SequenceNumber) },
      { id: 'junk', body: { nope: true } },
    ]);
    // Act
    const { batchItemFailures, report } = await replaySqsEvent(event, deps);
    // Assess
    expect(batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual(['bad', 'junk']);
    expect(batchItemFailures.every((failure) => Object.keys(failure).join() === 'itemIdentifier')).toBe(true);
    expect(report).toMatchObject({ messages: 3, written: 1, stillFailing: 2, deleted: 1 });
    expect(sqsMock).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it("replays a shard's next message after one that still fails, and reports only the failing one", async () => {
    // Prepare: two messages of one shard, the older one's record failing every write.
    const written = new MemoryEventStore(1);
    const store = new FailingStore([identityOf('a', 1)], written);
    const { deps, put } = setup({ store });
    const first = put(SHARD, 'a', 1);
    const second = put(SHARD, 'c', 2);
    const event = sqsEvent([
      { id: 'second', body: failureRecord(SHARD, second.SequenceNumber, second.SequenceNumber) },
      { id: 'first', body: failureRecord(SHARD, first.SequenceNumber, first.SequenceNumber) },
    ]);
    // Act
    const { batchItemFailures, report } = await replaySqsEvent(event, deps);
    // Assess
    expect(batchItemFailures).toEqual([{ itemIdentifier: 'first' }]);
    expect(report.details.map((d) => [d.messageId, d.outcome])).toEqual([
      ['first', 'still-failing'],
      ['second', 'replayed'],
    ]);
    expect([...written.items.keys()]).toEqual([identityOf('c', 2)]);
  });

  it("paces the messages of one shard as one reader, and replays another shard's messages at the same time", async () => {
    // Prepare: on SHARD, a 4 MiB record then, past a record no message holds, a small one, each its own message
    // and read in one read; on OTHER, one small message.
    const { deps, fake, put } = setup();
    const big = fake.put(SHARD, 'a', eventOfSize('a', 1, 4 * MiB));
    put(SHARD, 'z', 1);
    const next = put(SHARD, 'a', 2);
    const other = put(OTHER, 'b', 1);
    const event = sqsEvent([
      { id: 'other', body: failureRecord(OTHER, other.SequenceNumber, other.SequenceNumber) },
      { id: 'next', body: failureRecord(SHARD, next.SequenceNumber, next.SequenceNumber) },
      { id: 'big', body: failureRecord(SHARD, big.SequenceNumber, big.SequenceNumber) },
    ]);
    // Act
    const { batchItemFailures, report } = await replaySqsEvent(event, deps);
    // Assess: big then next on their shard, next's read waiting for big's bytes; other at once, on its own pace.
    // The report keeps stream order.
    expect(batchItemFailures).toEqual([]);
    expect(report.details.map((d) => d.messageId)).toEqual(['big', 'next', 'other']);
    const start = callsOn(fake, SHARD)[0]![1];
    expect(callsOn(fake, SHARD).map(([, at]) => Math.round(at - start))).toEqual([0, 0, 2_000]);
    expect(callsOn(fake, OTHER).map(([, at]) => at - start)).toEqual([0, 0]);
  });

  it("reads a batch's ranges that follow one another on a shard together, and reports each message", async () => {
    // Prepare: three batches one after another on SHARD, one failing for good.
    const store = new FailingStore([identityOf('b', 1)]);
    const { deps, fake, put } = setup({ store });
    const records = [put(SHARD, 'a', 1), put(SHARD, 'b', 1), put(SHARD, 'c', 1)];
    const event = sqsEvent(
      records.map((record, i) => ({
        id: `m-${i}`,
        body: failureRecord(SHARD, record.SequenceNumber, record.SequenceNumber),
      })),
    );
    // Act
    const { batchItemFailures, report } = await replaySqsEvent(event, deps);
    // Assess
    expect(fake.calls.map((call) => call.command)).toEqual(['GetShardIterator', 'GetRecords']);
    expect(batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
    expect(report.details.map((d) => [d.messageId, d.outcome])).toEqual([
      ['m-0', 'replayed'],
      ['m-1', 'still-failing'],
      ['m-2', 'replayed'],
    ]);
  });

  it('fails the messages of a shard whose replay hit an error, and answers for the other shards', async () => {
    // Prepare: SHARD's only range aged out and its quarantine fails; OTHER's message replays.
    const { deps, fake, put } = setup();
    const old = put(SHARD, 'a', 1);
    const other = put(OTHER, 'b', 1);
    fake.trim(SHARD, 1);
    const failing = { put: async () => Promise.reject(new Error('the quarantine bucket is gone')) };
    const event = sqsEvent([
      { id: 'old', body: failureRecord(SHARD, old.SequenceNumber, old.SequenceNumber) },
      { id: 'other', body: failureRecord(OTHER, other.SequenceNumber, other.SequenceNumber) },
    ]);
    // Act
    const { batchItemFailures, report } = await replaySqsEvent(event, {
      ...deps,
      messageQuarantine: failing,
    });
    // Assess
    expect(batchItemFailures).toEqual([{ itemIdentifier: 'old' }]);
    expect(report).toMatchObject({ messages: 1, written: 1, deleted: 1 });
  });

  it('fails the whole batch at once, saying why, when it starts with no more than the stop reserve left', async () => {
    // Prepare
    const { deps, fake, put } = setup({ remainingMs: () => 1_000 });
    const a = put(SHARD, 'a', 1);
    // Act & Assess: the error is the invocation's, in its log, rather than a "not attempted" per message.
    await expect(
      replaySqsEvent(
        sqsEvent([{ id: 'ok', body: failureRecord(SHARD, a.SequenceNumber, a.SequenceNumber) }]),
        deps,
      ),
    ).rejects.toThrow(NO_TIME);
    expect(fake.callsOf('GetShardIterator')).toHaveLength(0);
  });

  it('answers an empty list when every message replayed', async () => {
    // Prepare
    const { deps, put } = setup();
    const a = put(SHARD, 'a', 1);
    // Act
    const { batchItemFailures } = await replaySqsEvent(
      sqsEvent([{ id: 'ok', body: failureRecord(SHARD, a.SequenceNumber, a.SequenceNumber) }]),
      deps,
    );
    // Assess
    expect(batchItemFailures).toEqual([]);
  });
});

describe('DLQ replay: the lines of a dry run', () => {
  it('add dryRun to attributes, and keep an error or a string given alone under their Powertools keys', () => {
    // Prepare
    const error = new Error('boom');
    // Act / Assess
    expect(withDryRun([{ shardId: 's' }, { records: 2 }])).toEqual([
      { dryRun: true },
      { shardId: 's' },
      { records: 2 },
    ]);
    expect(withDryRun([])).toEqual([{ dryRun: true }]);
    expect(withDryRun([error])).toEqual([{ dryRun: true, error }]);
    expect(withDryRun(['detail'])).toEqual([{ dryRun: true, extra: 'detail' }]);
  });
});
