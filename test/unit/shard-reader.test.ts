import { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import { type Clock, type RateDecision, RateLimiter } from '#shared/kinesis/rate-limiter.ts';
import {
  compareSequence,
  type ReadBatch,
  ShardReadBudget,
  ShardReader,
} from '#shared/kinesis/shard-reader.ts';
import { FakeKinesis, testClock } from '#test/helpers/fake-kinesis.ts';

const SHARD = 'shardId-000000000000';
const MiB = 1024 * 1024;
let fake: FakeKinesis | undefined;

afterEach(() => {
  fake?.mock.restore();
  fake = undefined;
});

const setup = (records = 10, options: { limit?: number; callsPerSecond?: number } = {}) => {
  const clock = testClock();
  fake = new FakeKinesis('events', clock);
  const written = Array.from({ length: records }, (_, i) => {
    clock.advance(10);
    return fake!.put(SHARD, `key-${i % 3}`, JSON.stringify({ n: i }));
  });
  const reader = new ShardReader({
    client: new KinesisClient({ region: 'us-east-1' }),
    streamName: 'events',
    shardId: SHARD,
    clock,
    limit: options.limit ?? 4,
    callsPerSecond: options.callsPerSecond ?? 5,
  });
  return { clock, fake, written, reader };
};

/** Reads and collects every batch delivered. */
const collect = () => {
  const batches: ReadBatch[] = [];
  const delivered = (): StreamRecord[] => batches.flatMap((batch) => batch.records);
  return {
    batches,
    delivered,
    onBatch: (batch: ReadBatch) => {
      batches.push(batch);
      return undefined;
    },
  };
};

/** Milliseconds of clock time between consecutive calls. */
const gapsOf = (calls: Array<{ at: number }>): number[] =>
  calls.slice(1).map((call, i) => call.at - calls[i]!.at);

/** Reads from the arrival time of the fourth record written, through `client`, with a 20 ms unanswered-call timeout. */
const readFromFourth = (
  client: KinesisClient,
  clock: Clock,
  written: Array<{ ApproximateArrivalTimestamp: Date }>,
  out: ReturnType<typeof collect>,
) =>
  new ShardReader({
    client,
    streamName: 'events',
    shardId: SHARD,
    clock,
    limit: 4,
    timestampIteratorTimeoutMs: 20,
  }).read({ type: 'AT_TIMESTAMP', timestamp: written[3]!.ApproximateArrivalTimestamp }, {}, out.onBatch);

describe('Kinesis: compareSequence', () => {
  it('compares sequence numbers as numbers, not as strings', () => {
    // Act
    const results = [
      compareSequence('9', '10'),
      compareSequence(
        '49590338271490256608559692538361571095921575989136588898',
        '4959033827149025660855969253836157109592157598913658889',
      ),
      compareSequence('123', '123'),
    ];
    // Assess
    expect(results).toEqual([-1, 1, 0]);
  });
});

describe('Kinesis: ShardReader', () => {
  it('reads from AT_SEQUENCE_NUMBER up to and including the end sequence number, in batches', async () => {
    // Prepare
    const { written, reader } = setup(10);
    const out = collect();
    // Act
    const result = await reader.read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: written[2]!.SequenceNumber },
      { endSequenceNumber: written[7]!.SequenceNumber },
      out.onBatch,
    );
    // Assess
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.slice(2, 8).map((record) => record.SequenceNumber),
    );
    expect(out.batches.map((batch) => batch.records.length)).toEqual([4, 2]);
    expect(result).toMatchObject({
      end: 'end-sequence',
      firstSequenceNumber: written[2]!.SequenceNumber,
      lastSequenceNumber: written[7]!.SequenceNumber,
      recordsDelivered: 6,
      getRecordsCalls: 2,
    });
    expect(out.delivered()[0]).toMatchObject({ shardId: SHARD, partitionKey: 'key-2' });
  });

  it('follows a closed shard to its end (NextShardIterator null) and reports its children', async () => {
    // Prepare
    const { fake, written, reader } = setup(5);
    const children = fake.split(SHARD);
    const out = collect();
    // Act
    const result = await reader.read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: written[1]!.SequenceNumber },
      // An end past the shard's last record: reading stops at the shard's end, not at the tip of a child.
      { endSequenceNumber: '99999999999999999999999999999999999999999999999999999999' },
      out.onBatch,
    );
    // Assess
    expect(out.delivered()).toHaveLength(4);
    expect(result.end).toBe('shard-end');
    expect(result.childShards.map((child) => child.ShardId)).toEqual(children);
  });

  it('replaces an expired iterator after the last record read, losing and repeating nothing', async () => {
    // Prepare
    const { fake, written, reader } = setup(10);
    const out = collect();
    let expired = false;
    // Act
    const result = await reader.read({ type: 'TRIM_HORIZON' }, {}, (batch) => {
      out.batches.push(batch);
      if (!expired) {
        fake.faults.expireGetRecords = 1;
        expired = true;
      }
      return undefined;
    });
    // Assess
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.map((record) => record.SequenceNumber),
    );
    expect(result.iteratorRenewals).toBe(1);
    const iterators = fake.callsOf('GetShardIterator').map((call) => call.input);
    expect(iterators[1]).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      StartingSequenceNumber: written[3]!.SequenceNumber,
    });
    expect(result.end).toBe('tip');
  });

  it('retries a throttled GetRecords call after a backoff', async () => {
    // Prepare
    const { fake, reader } = setup(3);
    fake.faults.throttleGetRecords = 2;
    const out = collect();
    // Act
    const result = await reader.read({ type: 'TRIM_HORIZON' }, {}, out.onBatch);
    // Assess
    expect(out.delivered()).toHaveLength(3);
    expect(result.end).toBe('tip');
    expect(fake.callsOf('GetRecords')).toHaveLength(4);
  });

  it.each(['iterator', 'scan'] as const)(
    'starts AT_TIMESTAMP at the first record that arrived at or after the time (%s)',
    async (timestampPositioning) => {
      // Prepare
      const { clock, fake, written } = setup(10);
      const reader = new ShardReader({
        client: new KinesisClient({ region: 'us-east-1' }),
        streamName: 'events',
        shardId: SHARD,
        clock,
        limit: 3,
        timestampPositioning,
      });
      const out = collect();
      // Act
      await reader.read(
        { type: 'AT_TIMESTAMP', timestamp: written[4]!.ApproximateArrivalTimestamp },
        {},
        out.onBatch,
      );
      // Assess
      expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
        written.slice(4).map((record) => record.SequenceNumber),
      );
      expect(fake.callsOf('GetShardIterator')[0]!.input.ShardIteratorType).toBe(
        timestampPositioning === 'iterator' ? 'AT_TIMESTAMP' : 'TRIM_HORIZON',
      );
    },
  );

  it('scans from the trim horizon when an AT_TIMESTAMP iterator does not come in time', async () => {
    // Prepare: a client whose AT_TIMESTAMP GetShardIterator never answers, as kinesalite's with no newer record.
    const { clock, fake, written } = setup(6);
    const real = new KinesisClient({ region: 'us-east-1' });
    const client = {
      send: (command: { input: { ShardIteratorType?: string } }, options?: { abortSignal?: AbortSignal }) => {
        if (command.input.ShardIteratorType !== 'AT_TIMESTAMP') return real.send(command as never);
        return new Promise((_resolve, reject) => {
          options?.abortSignal?.addEventListener('abort', () => reject(new Error('Request aborted')));
        });
      },
    } as unknown as KinesisClient;
    const out = collect();
    // Act
    const result = await readFromFourth(client, clock, written, out);
    // Assess
    expect(result.timestampScanned).toBe(true);
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.slice(3).map((record) => record.SequenceNumber),
    );
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardIteratorType)).toEqual([
      'TRIM_HORIZON',
    ]);
  });

  it('keeps AT_TIMESTAMP when Kinesis throttles it for longer than the timeout meant for an unanswered call', async () => {
    // Prepare: each AT_TIMESTAMP GetShardIterator is answered at once, throttled, three times over, and each backoff
    // lasts until the timeout of the attempt before it (20 ms) has fired: the throttling outlasts the timeout three
    // times, while every attempt is answered before its own. Answered in the same turn, no timer can fire first.
    const { clock, fake, written } = setup(6);
    const real = new KinesisClient({ region: 'us-east-1' });
    let throttles = 3;
    let lastSignal: AbortSignal | undefined;
    const aborted = () => Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    const client = {
      // As the SDK does, a call ends at once when its abort signal fires.
      send: (command: { input: { ShardIteratorType?: string } }, options?: { abortSignal?: AbortSignal }) => {
        const signal = options?.abortSignal;
        if (signal?.aborted) return Promise.reject(aborted());
        if (command.input.ShardIteratorType !== 'AT_TIMESTAMP' || throttles === 0) {
          return real.send(command as never);
        }
        throttles -= 1;
        lastSignal = signal;
        return Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'LimitExceededException' }));
      },
    } as unknown as KinesisClient;
    const outlastingClock: Clock = {
      now: clock.now,
      sleep: async (ms) => {
        const signal = lastSignal;
        if (signal && !signal.aborted)
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
        await clock.sleep(ms);
      },
    };
    const out = collect();
    // Act
    const result = await readFromFourth(client, outlastingClock, written, out);
    // Assess
    expect(lastSignal?.aborted).toBe(true);
    expect(result.timestampScanned).toBeFalsy();
    expect(throttles).toBe(0);
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardIteratorType)).toEqual([
      'AT_TIMESTAMP',
    ]);
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.slice(3).map((record) => record.SequenceNumber),
    );
  });

  it('retries, paced, a call that failed on its way (a reset connection), since its client makes one attempt', async () => {
    // Prepare
    const { clock, fake, written } = setup(3);
    const real = new KinesisClient({ region: 'us-east-1' });
    let resets = 1;
    const client = {
      send: (command: { input: { ShardIterator?: string } }) => {
        if (command.input.ShardIterator !== undefined && resets > 0) {
          resets -= 1;
          return Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        }
        return real.send(command as never);
      },
    } as unknown as KinesisClient;
    const reader = new ShardReader({ client, streamName: 'events', shardId: SHARD, clock, limit: 4 });
    const out = collect();
    // Act
    await reader.read({ type: 'TRIM_HORIZON' }, {}, out.onBatch);
    const { kinesisReader } = await import('#shared/clients/kinesis.ts');
    // Assess
    expect(resets).toBe(0);
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.map((r) => r.SequenceNumber),
    );
    expect(fake.callsOf('GetRecords').length).toBeGreaterThan(0);
    expect(await kinesisReader.config.maxAttempts()).toBe(1);
  });

  it('delivers records up to the end time, skips those within the grace, and stops after it', async () => {
    // Prepare: records arrive every 10 ms.
    const { fake, written, reader } = setup(10, { limit: 2 });
    const end = written[3]!.ApproximateArrivalTimestamp;
    const out = collect();
    // Act
    const result = await reader.read(
      { type: 'TRIM_HORIZON' },
      { endTimestamp: end, endTimestampGraceMs: 25 },
      out.onBatch,
    );
    // Assess: records 0-3 are in the window, 4-5 within the grace, 6 is past it and ends the read.
    expect(out.delivered().map((record) => record.sequenceNumber)).toEqual(
      written.slice(0, 4).map((record) => record.SequenceNumber),
    );
    expect(result).toMatchObject({ end: 'end-timestamp', lastSequenceNumber: written[5]!.SequenceNumber });
    expect(out.batches.at(-1)!.position).toBe(written[5]!.SequenceNumber);
    expect(fake.callsOf('GetRecords')).toHaveLength(4);
  });

  it("ends as the consumer's stop, not as the window's end, when the answer that stops also passes the end", async () => {
    // Prepare: one answer holds records 0-3 of the window and record 4, past it.
    const { written, reader } = setup(10, { limit: 10 });
    const end = written[3]!.ApproximateArrivalTimestamp;
    // Act: the consumer cannot finish the batch.
    const result = await reader.read({ type: 'TRIM_HORIZON' }, { endTimestamp: end }, () => 'stop');
    const bySequence = await reader.read(
      { type: 'TRIM_HORIZON' },
      { endSequenceNumber: written[3]!.SequenceNumber },
      () => 'stop',
    );
    // Assess
    expect(result.end).toBe('consumer');
    expect(bySequence.end).toBe('consumer');
  });

  it('waits at the tip while asked to, and stops at the tip otherwise', async () => {
    // Prepare
    const { clock, fake, reader } = setup(2);
    const out = collect();
    let tips = 0;
    // Act
    const result = await reader.read(
      { type: 'TRIM_HORIZON' },
      {
        atTip: () => {
          tips += 1;
          if (tips === 2) fake.put(SHARD, 'late', '{"late":true}', clock.now());
          return tips < 4 ? 'wait' : 'stop';
        },
      },
      out.onBatch,
    );
    // Assess
    expect(result.end).toBe('tip');
    expect(out.delivered().map((record) => record.partitionKey)).toEqual(['key-0', 'key-1', 'late']);
  });

  it('stops when told to, before the next call', async () => {
    // Prepare
    const { fake, reader } = setup(10);
    const out = collect();
    // Act
    const result = await reader.read(
      { type: 'TRIM_HORIZON' },
      { shouldStop: () => out.batches.length >= 1 },
      out.onBatch,
    );
    // Assess
    expect(result.end).toBe('stopped');
    expect(out.delivered()).toHaveLength(4);
    expect(fake.callsOf('GetRecords')).toHaveLength(1);
  });

  it('spaces its GetRecords calls to the per-shard rate, and pays the records limiter per batch', async () => {
    // Prepare
    const { clock, fake } = setup(12);
    const decisions: RateDecision[] = [];
    const reader = new ShardReader({
      client: new KinesisClient({ region: 'us-east-1' }),
      streamName: 'events',
      shardId: SHARD,
      clock,
      limit: 3,
      callsPerSecond: 4,
      recordLimiter: new RateLimiter({ ratePerSecond: 6, clock, onDecision: (d) => decisions.push(d) }),
    });
    // Act
    await reader.read({ type: 'TRIM_HORIZON' }, {}, () => undefined);
    // Assess: calls at least 250 ms apart; each batch of 3 records starts at least 500 ms after the previous one.
    const times = fake.callsOf('GetRecords').map((call) => call.at);
    const gaps = times.slice(1).map((at, i) => at - times[i]!);
    expect(gaps.every((gap) => gap >= 250)).toBe(true);
    expect(decisions.map((d) => d.amount)).toEqual([3, 3, 3, 3]);
    const starts = decisions.map((d) => d.at);
    expect(starts.slice(1).map((at, i) => at - starts[i]!)).toEqual([500, 500, 500]);
  });

  it.each([
    { answer: '4 MiB', bytes: 4 * MiB, bytesPerSecond: undefined, wait: 2_000 },
    { answer: '10 MiB', bytes: 10 * MiB, bytesPerSecond: undefined, wait: 5_000 },
    { answer: '4 MiB', bytes: 4 * MiB, bytesPerSecond: MiB, wait: 4_000 },
  ])(
    'makes the call after an answer of $answer wait $wait ms (bytesPerSecond: $bytesPerSecond)',
    async ({ bytes, bytesPerSecond, wait }) => {
      // Prepare: one record of `bytes` (data plus partition key), then two small ones; one record per call.
      const clock = testClock();
      fake = new FakeKinesis('events', clock);
      fake.put(SHARD, 'big', new Uint8Array(bytes - 'big'.length));
      fake.put(SHARD, 'small-1', '{"n":1}');
      fake.put(SHARD, 'small-2', '{"n":2}');
      const reader = new ShardReader({
        client: new KinesisClient({ region: 'us-east-1' }),
        streamName: 'events',
        shardId: SHARD,
        clock,
        limit: 1,
        callsPerSecond: 5,
        ...(bytesPerSecond === undefined ? {} : { bytesPerSecond }),
      });
      const out = collect();
      // Act
      const result = await reader.read({ type: 'TRIM_HORIZON' }, {}, out.onBatch);
      // Assess: the big answer holds the next call back; the small ones leave only the call rate (200 ms).
      expect(out.delivered().map((record) => record.partitionKey)).toEqual(['big', 'small-1', 'small-2']);
      expect(result.end).toBe('tip');
      expect(gapsOf(fake.callsOf('GetRecords'))).toEqual([wait, 200, 200]);
    },
  );

  it('stops instead of starting a byte wait that would end past the budget, and is told each wait ahead', async () => {
    // Prepare: a 4 MiB answer (2 s of the shard's 2 MiB/s), then a small record; a budget with 1.5 s left.
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    fake.put(SHARD, 'big', new Uint8Array(4 * MiB - 'big'.length));
    fake.put(SHARD, 'small', '{"n":1}');
    const reader = new ShardReader({
      client: new KinesisClient({ region: 'us-east-1' }),
      streamName: 'events',
      shardId: SHARD,
      clock,
      limit: 1,
      callsPerSecond: 5,
    });
    const started = clock.now();
    const asked: number[] = [];
    const out = collect();
    // Act
    const result = await reader.read(
      { type: 'TRIM_HORIZON' },
      {
        shouldStop: (waitMs) => {
          asked.push(waitMs);
          return clock.now() - started + waitMs > 1_500;
        },
      },
      out.onBatch,
    );
    // Assess: one call, no sleep of 2 s, and the record after it left for the next read.
    expect(result.end).toBe('stopped');
    expect(out.delivered().map((record) => record.partitionKey)).toEqual(['big']);
    expect(fake.callsOf('GetRecords')).toHaveLength(1);
    expect(asked).toEqual([0, 2_000]);
    expect(clock.now() - started).toBeLessThan(1_500);
  });

  it('adds no wait to answers the byte budget covers within the call rate', async () => {
    // Prepare: answers of 400 KiB at 5 calls a second, just under 2 MiB/s.
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    for (let i = 0; i < 8; i += 1) fake.put(SHARD, `key-${i}`, new Uint8Array(100 * 1024 - 'key-0'.length));
    const reader = new ShardReader({
      client: new KinesisClient({ region: 'us-east-1' }),
      streamName: 'events',
      shardId: SHARD,
      clock,
      limit: 4,
      callsPerSecond: 5,
    });
    const out = collect();
    // Act
    await reader.read({ type: 'TRIM_HORIZON' }, {}, out.onBatch);
    // Assess
    expect(out.delivered()).toHaveLength(8);
    expect(gapsOf(fake.callsOf('GetRecords'))).toEqual([200, 200]);
  });

  it("counts an answer's bytes from when its call was sent, so the time it takes to arrive adds no wait", async () => {
    // Prepare: every GetRecords answer takes 150 ms of clock time to come back.
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    fake.put(SHARD, 'big', new Uint8Array(4 * MiB - 'big'.length));
    for (let i = 0; i < 2; i += 1) fake.put(SHARD, `key-${i}`, new Uint8Array(MiB / 2 - 'key-0'.length));
    const real = new KinesisClient({ region: 'us-east-1' });
    const client = {
      send: async (command: { input: { ShardIterator?: string } }) => {
        const answer = await real.send(command as never);
        if (command.input.ShardIterator !== undefined) clock.advance(150);
        return answer;
      },
    } as unknown as KinesisClient;
    const reader = new ShardReader({
      client,
      streamName: 'events',
      shardId: SHARD,
      clock,
      limit: 1,
      callsPerSecond: 2,
    });
    const out = collect();
    // Act
    await reader.read({ type: 'TRIM_HORIZON' }, {}, out.onBatch);
    // Assess: 2 s after the 4 MiB call was sent; then 500 ms apart, the call rate, which 512 KiB answers fit in.
    expect(out.delivered()).toHaveLength(3);
    expect(gapsOf(fake.callsOf('GetRecords'))).toEqual([2_000, 500, 500]);
  });

  it('retries a throttled call after a large answer once its bytes have had their time, then backs off as before', async () => {
    // Prepare
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    fake.put(SHARD, 'big', new Uint8Array(2 * MiB - 'big'.length));
    fake.put(SHARD, 'small', '{"n":1}');
    const reader = new ShardReader({
      client: new KinesisClient({ region: 'us-east-1' }),
      streamName: 'events',
      shardId: SHARD,
      clock,
      limit: 1,
      callsPerSecond: 5,
    });
    const out = collect();
    // Act
    await reader.read({ type: 'TRIM_HORIZON' }, {}, (batch) => {
      if (batch.records[0]?.partitionKey === 'big') fake!.faults.throttleGetRecords = 1;
      return out.onBatch(batch);
    });
    // Assess: 1 s for the 2 MiB answer, then the first backoff (200 ms) for the throttled attempt.
    expect(out.delivered().map((record) => record.partitionKey)).toEqual(['big', 'small']);
    expect(gapsOf(fake.callsOf('GetRecords'))).toEqual([1_000, 200, 200]);
  });

  it.each([
    { budgets: 'one budget', shared: true, times: [0, 0, 200, 2_000] },
    { budgets: 'budgets of their own', shared: false, times: [0, 0, 0, 0] },
  ])('paces two readers of the shard, one after the other, with $budgets', async ({ shared, times }) => {
    // Prepare: the first reader reads a 4 MiB record, the second the small one after it.
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    const big = fake.put(SHARD, 'big', new Uint8Array(4 * MiB - 'big'.length));
    const small = fake.put(SHARD, 'small', '{"n":1}');
    const budget = new ShardReadBudget({ callsPerSecond: 5, clock });
    const reader = () =>
      new ShardReader({
        client: new KinesisClient({ region: 'us-east-1' }),
        streamName: 'events',
        shardId: SHARD,
        clock,
        limit: 1,
        ...(shared ? { budget } : { callsPerSecond: 5 }),
      });
    const out = collect();
    // Act
    await reader().read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: big.SequenceNumber },
      { endSequenceNumber: big.SequenceNumber },
      out.onBatch,
    );
    await reader().read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: small.SequenceNumber },
      { endSequenceNumber: small.SequenceNumber },
      out.onBatch,
    );
    // Assess: with one budget, the second reader's GetShardIterator waits for the iterator rate (its own limit, not
    // GetRecords'), and its GetRecords for the big answer's 2 s.
    expect(out.delivered().map((record) => record.partitionKey)).toEqual(['big', 'small']);
    expect(fake.calls.map((call) => call.command)).toEqual([
      'GetShardIterator',
      'GetRecords',
      'GetShardIterator',
      'GetRecords',
    ]);
    const start = fake.calls[0]!.at;
    expect(fake.calls.map((call) => call.at - start)).toEqual(times);
  });

  it('paces GetShardIterator and GetRecords each at the rate, on limits of their own as Kinesis counts them', async () => {
    // Prepare: four small records, each read as a range of its own by a reader of one budget (4 calls a second).
    const clock = testClock();
    fake = new FakeKinesis('events', clock);
    const written = [1, 2, 3, 4].map((n) => fake!.put(SHARD, `key-${n}`, JSON.stringify({ n })));
    const budget = new ShardReadBudget({ callsPerSecond: 4, clock });
    const out = collect();
    // Act
    for (const record of written) {
      await new ShardReader({
        client: new KinesisClient({ region: 'us-east-1' }),
        streamName: 'events',
        shardId: SHARD,
        clock,
        budget,
      }).read(
        { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: record.SequenceNumber },
        { endSequenceNumber: record.SequenceNumber },
        out.onBatch,
      );
    }
    // Assess: a range every 250 ms, not every 500: neither API waits for the calls of the other.
    expect(out.delivered()).toHaveLength(4);
    const start = fake.calls[0]!.at;
    const timesOf = (command: string) =>
      fake!.calls.filter((call) => call.command === command).map((call) => call.at - start);
    expect(timesOf('GetShardIterator')).toEqual([0, 250, 500, 750]);
    expect(timesOf('GetRecords')).toEqual(timesOf('GetShardIterator'));
  });

  it('refuses call or byte rates beside a budget, whose rates are the ones that hold', () => {
    // Prepare
    const budget = new ShardReadBudget();
    // Act & Assess
    for (const rates of [{ callsPerSecond: 1 }, { bytesPerSecond: MiB }]) {
      expect(
        () =>
          new ShardReader({
            client: new KinesisClient({ region: 'us-east-1' }),
            streamName: 'events',
            shardId: SHARD,
            budget,
            ...rates,
          }),
      ).toThrow(new TypeError('callsPerSecond and bytesPerSecond cannot be given together with a budget'));
    }
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 * MiB + 1])(
    'refuses a byte rate of %s (above 0 and at most 2 MiB/s per shard)',
    (bytesPerSecond) => {
      // Act & Assess
      expect(
        () =>
          new ShardReader({
            client: new KinesisClient({ region: 'us-east-1' }),
            streamName: 'events',
            shardId: SHARD,
            bytesPerSecond,
          }),
      ).toThrow(
        new RangeError(
          `bytesPerSecond must be above 0 and at most 2097152 (Kinesis's 2 MiB/s read limit per shard), got ${bytesPerSecond}`,
        ),
      );
    },
  );

  it('refuses a call rate above what Kinesis allows per shard', () => {
    // Act & Assess
    expect(
      () =>
        new ShardReader({
          client: new KinesisClient({ region: 'us-east-1' }),
          streamName: 'events',
          shardId: SHARD,
          callsPerSecond: 6,
        }),
    ).toThrow(/at most 5/);
  });
});
