import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  chunkEntries,
  MAX_REQUEST_BYTES,
  type PutEntry,
  putRecordsInOrder,
} from '#shared/kinesis/put-records.ts';

const kinesisMock = mockClient(KinesisClient);
const client = new KinesisClient({ region: 'us-east-1' });

const entry = (partitionKey: string, text = partitionKey): PutEntry => ({
  partitionKey,
  data: Buffer.from(text),
});

/** A fake clock: sleeping advances it, so backoff is observable without waiting. */
const fakeClock = (start = 1_000_000) => {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
    sleeps,
  };
};

let seq = 0;
const ok = () => ({ ShardId: 'shardId-000000000000', SequenceNumber: String(++seq).padStart(20, '0') });
const throttled = {
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: 'Rate exceeded for shard shardId-000000000000',
};

const sentRecords = (): PutRecordsRequestEntry[][] =>
  kinesisMock.commandCalls(PutRecordsCommand).map((call) => call.args[0].input.Records ?? []);
const texts = (records: PutRecordsRequestEntry[]) => records.map((r) => Buffer.from(r.Data!).toString());

describe('PutRecords writer', () => {
  afterEach(() => {
    kinesisMock.reset();
  });

  describe('chunking', () => {
    it('splits by record count at 500', () => {
      // Prepare
      const entries = Array.from({ length: 1201 }, (_, i) => entry(`k${i}`));
      // Act
      const chunks = chunkEntries(entries);
      // Assess
      expect(chunks.map((c) => c.length)).toEqual([500, 500, 201]);
      expect(chunks.flat()).toEqual(entries);
    });

    it('splits by request bytes, counting data plus partition key', () => {
      // Prepare: three 4 MiB records fit two per 10 MiB request.
      const big = (key: string) => ({ partitionKey: key, data: new Uint8Array(4 * 1024 * 1024) });
      const entries = [big('a'), big('b'), big('c')];
      // Act
      const chunks = chunkEntries(entries);
      // Assess
      expect(chunks.map((c) => c.map((e) => e.partitionKey))).toEqual([['a', 'b'], ['c']]);
    });

    it('puts a record exactly at the byte limit into a request of its own', () => {
      // Prepare
      const exact = { partitionKey: 'k', data: new Uint8Array(MAX_REQUEST_BYTES - 1) };
      // Act
      const chunks = chunkEntries([entry('a'), exact, entry('b')]);
      // Assess
      expect(chunks.map((c) => c.length)).toEqual([1, 1, 1]);
    });
  });

  describe('writing', () => {
    it('writes a batch of distinct keys in one request and reports each shard and sequence number', async () => {
      // Prepare
      const clock = fakeClock();
      kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
        FailedRecordCount: 0,
        Records: input.Records.map(ok),
      }));
      // Act
      const outcome = await putRecordsInOrder(client, [entry('a'), entry('b'), entry('c')], {
        streamName: 's',
        deadline: clock.now() + 10_000,
        ...clock,
      });
      // Assess
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 1);
      expect(kinesisMock).toHaveReceivedCommandWith(PutRecordsCommand, { StreamName: 's' });
      expect(outcome.results.map((r) => r.status)).toEqual(['written', 'written', 'written']);
      expect(outcome.results[0]).toMatchObject({ shardId: 'shardId-000000000000', attempts: 1 });
    });

    it('sends 1,200 distinct keys in three requests', async () => {
      // Prepare
      const clock = fakeClock();
      kinesisMock.on(PutRecordsCommand).callsFake((input) => ({ Records: input.Records.map(ok) }));
      const entries = Array.from({ length: 1200 }, (_, i) => entry(`k${i}`));
      // Act
      const outcome = await putRecordsInOrder(client, entries, {
        streamName: 's',
        deadline: clock.now() + 10_000,
        ...clock,
      });
      // Assess
      expect(sentRecords().map((r) => r.length)).toEqual([500, 500, 200]);
      expect(outcome.results.every((r) => r.status === 'written')).toBe(true);
    });

    it('keeps one record per partition key per request, so a key is written in request order', async () => {
      // Prepare
      const clock = fakeClock();
      kinesisMock.on(PutRecordsCommand).callsFake((input) => ({ Records: input.Records.map(ok) }));
      // Act
      await putRecordsInOrder(
        client,
        [entry('a', 'a1'), entry('a', 'a2'), entry('b', 'b1'), entry('a', 'a3')],
        {
          streamName: 's',
          deadline: clock.now() + 10_000,
          ...clock,
        },
      );
      // Assess
      expect(sentRecords().map(texts)).toEqual([['a1', 'b1'], ['a2'], ['a3']]);
    });

    it('retries only the failed entries, before any later record of the same key', async () => {
      // Prepare: the first request fails a1 and c1.
      const clock = fakeClock();
      kinesisMock
        .on(PutRecordsCommand)
        .resolvesOnce({ FailedRecordCount: 2, Records: [throttled, ok(), throttled] })
        .callsFake((input) => ({ Records: input.Records.map(ok) }));
      const retried: number[] = [];
      // Act
      const outcome = await putRecordsInOrder(
        client,
        [entry('a', 'a1'), entry('b', 'b1'), entry('c', 'c1'), entry('a', 'a2'), entry('b', 'b2')],
        { streamName: 's', deadline: clock.now() + 10_000, ...clock, onRetry: (n) => retried.push(n) },
      );
      // Assess
      expect(sentRecords().map(texts)).toEqual([['a1', 'b1', 'c1'], ['a1', 'b2', 'c1'], ['a2']]);
      expect(retried).toEqual([2]);
      expect(outcome.results.map((r) => r.status)).toEqual([
        'written',
        'written',
        'written',
        'written',
        'written',
      ]);
      expect(outcome.results[0]!.attempts).toBe(2);
      expect(outcome.results[1]!.attempts).toBe(1);
    });

    it('retries an entry that failed in a later request of the same wave, keeping each key in order', async () => {
      // Prepare: two records per request, so the first wave takes two requests; the second fails c1.
      const clock = fakeClock();
      kinesisMock
        .on(PutRecordsCommand)
        .resolvesOnce({ Records: [ok(), ok()] })
        .resolvesOnce({ FailedRecordCount: 1, Records: [throttled] })
        .callsFake((input) => ({ Records: input.Records.map(ok) }));
      const retried: number[] = [];
      // Act
      const outcome = await putRecordsInOrder(
        client,
        [entry('a', 'a1'), entry('b', 'b1'), entry('c', 'c1'), entry('a', 'a2'), entry('c', 'c2')],
        {
          streamName: 's',
          deadline: clock.now() + 10_000,
          maxRecordsPerRequest: 2,
          ...clock,
          onRetry: (n) => retried.push(n),
        },
      );
      // Assess
      expect(sentRecords().map(texts)).toEqual([['a1', 'b1'], ['c1'], ['a2', 'c1'], ['c2']]);
      expect(retried).toEqual([1]);
      expect(outcome.results.map((r) => r.status)).toEqual(Array(5).fill('written'));
      expect(outcome.results.map((r) => r.attempts)).toEqual([1, 1, 2, 1, 1]);
    });

    it('backs off exponentially with full jitter between retries', async () => {
      // Prepare
      const clock = fakeClock();
      kinesisMock
        .on(PutRecordsCommand)
        .resolvesOnce({ Records: [throttled] })
        .resolvesOnce({ Records: [throttled] })
        .resolvesOnce({ Records: [throttled] })
        .callsFake((input) => ({ Records: input.Records.map(ok) }));
      // Act
      await putRecordsInOrder(client, [entry('a')], {
        streamName: 's',
        deadline: clock.now() + 60_000,
        backoffBaseMs: 100,
        backoffCapMs: 10_000,
        random: () => 0.5,
        ...clock,
      });
      // Assess: half of 100, 200, 400.
      expect(clock.sleeps).toEqual([50, 100, 200]);
      expect(backoffDelay(10, 100, 1_000, () => 0.999)).toBeLessThan(1_000);
    });

    it('stops retrying when the next attempt would not fit in the time left, and reports what is left', async () => {
      // Prepare: every attempt fails; each call takes 300 ms of the budget.
      const clock = fakeClock();
      kinesisMock.on(PutRecordsCommand).callsFake((input) => {
        clock.advance(300);
        return { Records: input.Records.map(() => throttled) };
      });
      // Act
      const outcome = await putRecordsInOrder(
        client,
        [entry('a', 'a1'), entry('a', 'a2'), entry('b', 'b1')],
        {
          streamName: 's',
          deadline: clock.now() + 2_000,
          callAllowanceMs: 400,
          backoffBaseMs: 100,
          random: () => 1,
          ...clock,
        },
      );
      // Assess: no call starts later than deadline - allowance.
      const calls = sentRecords().length;
      expect(calls).toBeGreaterThan(1);
      expect(clock.now()).toBeLessThanOrEqual(1_000_000 + 2_000);
      expect(outcome.results.map((r) => r.status)).toEqual(['failed', 'not_attempted', 'failed']);
      expect(outcome.results[0]).toMatchObject({
        errorCode: 'ProvisionedThroughputExceededException',
        attempts: calls,
      });
      expect(outcome.results[1]).toMatchObject({ reason: expect.stringContaining('same partition key') });
      expect(outcome.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    });

    it('sends nothing when the budget is already spent', async () => {
      // Prepare
      const clock = fakeClock();
      // Act
      const outcome = await putRecordsInOrder(client, [entry('a')], {
        streamName: 's',
        deadline: clock.now() + 100,
        ...clock,
      });
      // Assess
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 0);
      expect(outcome.results[0]).toMatchObject({ status: 'not_attempted' });
    });

    it('retries a whole request that failed with a retryable error', async () => {
      // Prepare
      const clock = fakeClock();
      const error = Object.assign(new Error('slow down'), {
        name: 'ProvisionedThroughputExceededException',
      });
      kinesisMock
        .on(PutRecordsCommand)
        .rejectsOnce(error)
        .callsFake((input) => ({ Records: input.Records.map(ok) }));
      // Act
      const outcome = await putRecordsInOrder(client, [entry('a'), entry('b')], {
        streamName: 's',
        deadline: clock.now() + 10_000,
        ...clock,
      });
      // Assess
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 2);
      expect(outcome.results.map((r) => r.status)).toEqual(['written', 'written']);
    });

    it('throws a non-retryable error, such as a missing stream', async () => {
      // Prepare
      const clock = fakeClock();
      kinesisMock
        .on(PutRecordsCommand)
        .rejects(Object.assign(new Error('Stream s not found'), { name: 'ResourceNotFoundException' }));
      // Act
      const act = putRecordsInOrder(client, [entry('a')], {
        streamName: 's',
        deadline: clock.now() + 10_000,
        ...clock,
      });
      // Assess
      await expect(act).rejects.toThrow('Stream s not found');
      expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 1);
    });

    it('sends no further request of the wave once one has failed for good', async () => {
      // Prepare: 10 requests of 500 distinct keys, 4 at a time; the first fails for good, the others would succeed.
      const clock = fakeClock();
      kinesisMock
        .on(PutRecordsCommand)
        .rejectsOnce(Object.assign(new Error('Stream s not found'), { name: 'ResourceNotFoundException' }))
        .callsFake(async (input) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return { Records: input.Records.map(ok) };
        });
      const entries = Array.from({ length: 5_000 }, (_, i) => entry(`k${i}`));
      // Act
      const act = putRecordsInOrder(client, entries, {
        streamName: 's',
        deadline: clock.now() + 10_000,
        concurrency: 4,
        ...clock,
      });
      // Assess: the four already in flight when the first failed, and none after, however long one waits.
      await expect(act).rejects.toThrow('Stream s not found');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(kinesisMock.commandCalls(PutRecordsCommand).length).toBeLessThanOrEqual(4);
    });

    it.each([
      ['ECONNRESET', 'socket hang up'],
      ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.1:443'],
      ['ENETUNREACH', 'connect ENETUNREACH 10.0.0.1:443'],
    ])(
      'retries entries whose request died on the socket (%s), once the SDK has used its own retries',
      async (code, message) => {
        // Prepare: the network errors the SDK's own retry strategy takes as transient.
        const clock = fakeClock();
        const reset = Object.assign(new Error(message), { name: 'Error', code });
        kinesisMock
          .on(PutRecordsCommand)
          .rejectsOnce(reset)
          .callsFake((input) => ({ Records: input.Records.map(ok) }));
        // Act
        const outcome = await putRecordsInOrder(client, [entry('a')], {
          streamName: 's',
          deadline: clock.now() + 10_000,
          ...clock,
        });
        // Assess
        expect(kinesisMock).toHaveReceivedCommandTimes(PutRecordsCommand, 2);
        expect(outcome.results.map((r) => r.status)).toEqual(['written']);
      },
    );
  });
});
