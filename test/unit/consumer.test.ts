import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { describe, expect, it, vi } from 'vitest';
import { type BatchEntry, KeyOrderedBatchProcessor } from '#shared/consumer/key-ordered-processor.ts';
import { type ConsumerDependencies, processRecords } from '#shared/consumer/process-records.ts';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import { MemoryQuarantine, type Quarantine } from '#shared/quarantine/quarantine.ts';
import {
  type EventStore,
  type EventToStore,
  type PutResult,
  UnstorableEventError,
} from '#shared/sink/event-store.ts';
import { MemoryEventStore } from '#shared/sink/memory-event-store.ts';
import { lambdaContext } from '#test/helpers/factories.ts';
import {
  eventRecord,
  identityOfId,
  kplAggregate,
  metricsRecorder,
  SHARD_ID,
  sequenceNumber,
  settle,
  silentLogger,
  streamRecord,
} from '#test/helpers/kinesis-factories.ts';

/** A store that fails the events whose ids are listed, with the error given (a throttle by default). */
class FlakyStore implements EventStore {
  readonly inner: MemoryEventStore;
  readonly failing: Set<string>;
  readonly error: () => Error;
  get projectionVersion() {
    return this.inner.projectionVersion;
  }
  constructor(failing: string[], inner = new MemoryEventStore(), error = () => throttle()) {
    this.inner = inner;
    this.failing = new Set(failing.map(identityOfId));
    this.error = error;
  }
  async put(event: EventToStore): Promise<PutResult> {
    if (this.failing.has(event.identity)) {
      this.inner.calls.push(event);
      throw this.error();
    }
    return this.inner.put(event);
  }
}

const throttle = () =>
  Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
    name: 'ProvisionedThroughputExceededException',
  });

const setup = (overrides: Partial<ConsumerDependencies> = {}, keyConcurrency = 4) => {
  const metrics = metricsRecorder();
  const quarantine = new MemoryQuarantine();
  const store = new MemoryEventStore();
  const deps: ConsumerDependencies = {
    store,
    quarantine,
    processor: new KeyOrderedBatchProcessor({ keyConcurrency }),
    logger: silentLogger(),
    metrics,
    ...overrides,
  };
  return { deps, metrics, quarantine, store };
};

const failures = (...ns: number[]) => ns.map((n) => ({ itemIdentifier: sequenceNumber(n) }));
const ids = (calls: EventToStore[]) => calls.map((c) => c.identity.split(':').pop());

describe('Consumer: processRecords', () => {
  it('stores every record of a clean batch and reports no failure', async () => {
    // Prepare
    const { deps, store, metrics } = setup();
    const records = [eventRecord(1, 'a'), eventRecord(2, 'b'), eventRecord(3, 'a')];
    // Act
    const report = await processRecords(records, deps);
    // Assess
    expect(report.batchItemFailures).toEqual([]);
    expect(report.counts).toEqual({ written: 3, duplicates: 0, staleVersions: 0, quarantined: 0, failed: 0 });
    expect([...store.items.keys()].sort()).toEqual(['evt-1', 'evt-2', 'evt-3'].map(identityOfId).sort());
    expect(metrics.values).toMatchObject({ RecordsProcessed: 3, EventsWritten: 3, RecordsFailed: 0 });
  });

  it('warns of a duplicate whose item holds other content, and counts it apart', async () => {
    // Prepare: a store whose item for the second event already holds other content under its identity.
    const inner = new MemoryEventStore();
    const store: EventStore = {
      projectionVersion: inner.projectionVersion,
      put: async (event) =>
        event.identity === identityOfId('evt-2')
          ? { outcome: 'duplicate', stored: { projectionVersion: inner.projectionVersion }, conflict: true }
          : inner.put(event),
    };
    const logger = silentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const { deps, metrics } = setup({ store, logger });
    // Act
    const report = await processRecords([eventRecord(1, 'a'), eventRecord(2, 'b')], deps);
    // Assess
    expect(report.counts).toMatchObject({ written: 1, duplicates: 1 });
    expect(metrics.values).toMatchObject({ DuplicatesSkipped: 1, ConflictingDuplicates: 1 });
    expect(warn).toHaveBeenCalledWith(
      'duplicate with other content skipped: the item keeps the first event of this identity',
      expect.objectContaining({ identity: identityOfId('evt-2') }),
    );
  });

  it('processes one partition key in sequence-number order, whatever order the batch lists it in', async () => {
    // Prepare
    const { deps, store } = setup();
    const records = [5, 2, 9, 1, 7].map((n) => eventRecord(n, 'same-key'));
    // Act
    await processRecords(records, deps);
    // Assess
    expect(ids(store.calls)).toEqual(['evt-1', 'evt-2', 'evt-5', 'evt-7', 'evt-9']);
  });

  it('stops a key at its first failure and reports that record and every later record of the key', async () => {
    // Prepare
    const store = new FlakyStore(['evt-3']);
    const { deps } = setup({ store });
    const records = [1, 2, 3, 4, 5].map((n) => eventRecord(n, 'k'));
    // Act
    const report = await processRecords(records, deps);
    // Assess
    expect(report.batchItemFailures).toEqual(failures(3, 4, 5));
    expect(ids(store.inner.calls)).toEqual(['evt-1', 'evt-2', 'evt-3']);
  });

  it('keeps processing the other keys when one key fails', async () => {
    // Prepare
    const store = new FlakyStore(['evt-2']);
    const { deps } = setup({ store });
    const records = [eventRecord(1, 'a'), eventRecord(2, 'b'), eventRecord(3, 'a'), eventRecord(4, 'b')];
    // Act
    const report = await processRecords(records, deps);
    // Assess
    expect(report.batchItemFailures).toEqual(failures(2, 4));
    expect(store.inner.items.has(identityOfId('evt-1'))).toBe(true);
    expect(store.inner.items.has(identityOfId('evt-3'))).toBe(true);
    expect(report.counts).toMatchObject({ written: 2, failed: 2 });
  });

  describe.each([
    { name: 'first record of one key', keys: ['a', 'a', 'b'], failing: [1], expected: [1, 2] },
    { name: 'last record of one key', keys: ['a', 'a', 'b'], failing: [2], expected: [2] },
    {
      name: 'one record in each of two keys',
      keys: ['a', 'b', 'a', 'b'],
      failing: [3, 2],
      expected: [2, 3, 4],
    },
    { name: 'a record whose key came earlier', keys: ['a', 'b', 'c', 'b'], failing: [4], expected: [4] },
  ])('exact batchItemFailures: $name', ({ keys, failing, expected }) => {
    it(`reports ${expected.join(', ')}, lowest sequence number first`, async () => {
      // Prepare
      const store = new FlakyStore(failing.map((n) => `evt-${n}`));
      const { deps } = setup({ store });
      const records = keys.map((key, i) => eventRecord(i + 1, key));
      // Act
      const report = await processRecords(records, deps);
      // Assess
      expect(report).toMatchObject({ batchItemFailures: failures(...expected) });
      expect(Object.keys(report.batchItemFailures[0] ?? {})).toEqual(['itemIdentifier']);
    });
  });

  it('throws FullBatchFailureError when every record fails, so that bisect applies', async () => {
    // Prepare
    const store = new FlakyStore(['evt-1', 'evt-2']);
    const { deps, metrics } = setup({ store });
    const records = [eventRecord(1, 'a'), eventRecord(2, 'b'), eventRecord(3, 'a')];
    // Act
    const result = processRecords(records, deps);
    // Assess
    await expect(result).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(metrics.values.RecordsFailed).toBe(3);
  });

  it('returns the full list instead of throwing when asked to', async () => {
    // Prepare
    const store = new FlakyStore(['evt-1']);
    const { deps } = setup({ store, throwOnFullBatchFailure: false });
    // Act
    const report = await processRecords([eventRecord(1, 'a'), eventRecord(2, 'a')], deps);
    // Assess
    expect(report.batchItemFailures).toEqual(failures(1, 2));
  });

  it('answers an empty batch with an empty list', async () => {
    // Prepare
    const { deps } = setup();
    // Act
    const report = await processRecords([], deps);
    // Assess
    expect(report).toEqual({
      batchItemFailures: [],
      counts: { written: 0, duplicates: 0, staleVersions: 0, quarantined: 0, failed: 0 },
    });
  });

  describe.each([1, 3])('concurrency across keys (limit %i)', (limit) => {
    it('runs up to the limit of keys at once and never two records of one key', async () => {
      // Prepare
      let inFlight = 0;
      let maxInFlight = 0;
      const keysInFlight = new Set<string>();
      let sameKeyOverlap = false;
      const inner = new MemoryEventStore();
      const store: EventStore = {
        projectionVersion: 1,
        put: async (event) => {
          const key = event.position.partitionKey;
          if (keysInFlight.has(key)) sameKeyOverlap = true;
          keysInFlight.add(key);
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await settle(3);
          inFlight -= 1;
          keysInFlight.delete(key);
          return inner.put(event);
        },
      };
      const { deps } = setup({ store }, limit);
      const records = Array.from({ length: 15 }, (_, i) => eventRecord(i + 1, `key-${i % 5}`));
      // Act
      const report = await processRecords(records, deps);
      // Assess
      expect(report.batchItemFailures).toEqual([]);
      expect(maxInFlight).toBe(limit);
      expect(sameKeyOverlap).toBe(false);
      expect(inner.items.size).toBe(15);
    });
  });

  it('counts a redelivered batch as duplicates and writes nothing again', async () => {
    // Prepare
    const { deps, store, metrics } = setup();
    const records = [eventRecord(1, 'a'), eventRecord(2, 'b')];
    await processRecords(records, deps);
    const before = structuredClone([...store.items.entries()]);
    // Act
    const report = await processRecords(records, deps);
    // Assess
    expect(report.counts).toMatchObject({ written: 0, duplicates: 2 });
    expect([...store.items.entries()]).toEqual(before);
    expect(metrics.values.DuplicatesSkipped).toBe(2);
  });

  it('counts an older projection version as refused, not failed', async () => {
    // Prepare
    const newer = new MemoryEventStore(2);
    const { deps } = setup({ store: newer });
    await processRecords([eventRecord(1, 'a')], deps);
    const older = setup({ store: newer.withVersion(1) });
    // Act
    const report = await processRecords([eventRecord(1, 'a')], older.deps);
    // Assess
    expect(report).toMatchObject({ batchItemFailures: [], counts: { staleVersions: 1, written: 0 } });
    expect(newer.items.get(identityOfId('evt-1'))?.projectionVersion).toBe(2);
  });

  it('does not start records with too little time left, and reports them as failures', async () => {
    // Prepare
    const { deps, store } = setup({
      processor: new KeyOrderedBatchProcessor({ keyConcurrency: 2, timeReserveMs: 5_000 }),
      context: lambdaContext('ConsumerFunction', 1_000),
    });
    // Act
    const report = await processRecords([eventRecord(1, 'a'), eventRecord(2, 'b'), eventRecord(3, 'a')], {
      ...deps,
      throwOnFullBatchFailure: false,
    });
    // Assess
    expect(report.batchItemFailures).toEqual(failures(1, 2, 3));
    expect(store.calls).toEqual([]);
  });

  it('publishes the batch lag from the oldest arrival', async () => {
    // Prepare
    const { deps, metrics } = setup({ now: () => new Date('2026-11-24T16:00:10.000Z').getTime() });
    const records = [eventRecord(500, 'a'), eventRecord(2, 'b')];
    // Act
    await processRecords(records, deps);
    // Assess
    expect(metrics.values.BatchLag).toBe(10_000 - 2);
  });
});

describe('Consumer: KPL aggregation', () => {
  const aggregateRecord = (n: number, ids: string[]): StreamRecord =>
    streamRecord(
      n,
      'outer-key',
      kplAggregate(
        ids.map((id, i) => ({
          partitionKey: `inner-${i}`,
          data: Buffer.from(
            JSON.stringify({ specversion: '1.0', id, source: 'urn:test:producer', type: 't' }),
          ),
        })),
      ),
    );

  it('stores each user record under its outer sequence number and its sub-sequence number', async () => {
    // Prepare
    const { deps, store } = setup();
    // Act
    const report = await processRecords([aggregateRecord(7, ['u-0', 'u-1', 'u-2'])], deps);
    // Assess
    expect(report.batchItemFailures).toEqual([]);
    expect(store.calls.map((c) => [c.identity, c.position])).toEqual(
      ['u-0', 'u-1', 'u-2'].map((id, i) => [
        identityOfId(id),
        {
          shardId: SHARD_ID,
          sequenceNumber: sequenceNumber(7),
          subSequenceNumber: i,
          partitionKey: `inner-${i}`,
          approximateArrivalTimestamp: '2026-11-24T16:00:00.007Z',
        },
      ]),
    );
  });

  it('reports a failing user record by the outer sequence number, and a retry finds the others duplicate', async () => {
    // Prepare
    const flaky = new FlakyStore(['u-1']);
    const { deps } = setup({ store: flaky });
    const records = [aggregateRecord(7, ['u-0', 'u-1', 'u-2']), eventRecord(8, 'other')];
    // Act
    const first = await processRecords(records, deps);
    flaky.failing.clear();
    const retry = await processRecords([records[0]!], deps);
    // Assess
    expect(first.batchItemFailures).toEqual(failures(7));
    expect(retry).toMatchObject({ batchItemFailures: [], counts: { duplicates: 1, written: 2 } });
  });

  it('keeps a user key in order across aggregates of different outer keys, as the KPL packs them', async () => {
    // Prepare: the KPL put x-1 in an aggregate under a-1's key; x-2 follows under its own key. x-1 fails once.
    const user = (key: string, id: string) => ({
      partitionKey: key,
      data: Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'urn:test:producer', type: 't' })),
    });
    const records = [
      streamRecord(1, 'a', kplAggregate([user('a', 'a-1'), user('x', 'x-1')])),
      eventRecord(2, 'x', 'x-2'),
      eventRecord(3, 'b', 'b-1'),
    ];
    const flaky = new FlakyStore(['x-1']);
    const { deps } = setup({ store: flaky });
    // Act
    const first = await processRecords(records, deps);
    const writtenFirst = ids(flaky.inner.calls);
    flaky.failing.clear();
    const retry = await processRecords(records.slice(0, 2), deps);
    // Assess: x-2 waits for x-1; b-1, of a key of its own, does not.
    expect(first.batchItemFailures).toEqual(failures(1, 2));
    expect([...writtenFirst].sort()).toEqual(['a-1', 'b-1', 'x-1']);
    expect(ids(flaky.inner.calls).slice(writtenFirst.length)).toEqual(['a-1', 'x-1', 'x-2']);
    expect(retry).toMatchObject({ batchItemFailures: [], counts: { duplicates: 1, written: 2 } });
  });

  it('groups aggregates that chain their user keys one to the next in time linear in the batch', async () => {
    // Prepare: 9,000 aggregates, each under a key of its own and holding a record of the one before's key, then 3
    // aggregates holding a record of every one of those keys: groups merged by copying and found by walking every
    // merge took seconds.
    const keys = Array.from({ length: 9_000 }, (_, i) => `k-${i}`);
    const entry = (n: number, partitionKey: string, userKeys: string[]): BatchEntry => ({
      kinesis: { sequenceNumber: sequenceNumber(n), partitionKey },
      record: streamRecord(n, partitionKey, Buffer.from('{}')),
      userKeys,
    });
    const entries = [
      ...keys.map((key, i) => entry(i, key, i === 0 ? [] : [keys[i - 1]!])),
      ...Array.from({ length: 3 }, (_, i) => entry(keys.length + i, `all-${i}`, keys)),
    ];
    const processor = new KeyOrderedBatchProcessor({ keyConcurrency: 4 });
    const processed: string[] = [];
    processor.register(entries as never, async (record: BatchEntry) => {
      processed.push(record.kinesis.sequenceNumber);
    });
    // Act
    const started = performance.now();
    await processor.process();
    const elapsedMs = performance.now() - started;
    // Assess: one group, processed in sequence-number order.
    expect(processed).toEqual(entries.map((e) => e.kinesis.sequenceNumber));
    // Some tens of milliseconds, which awaiting each of the 9,003 records takes the most of.
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it('starts no further user record of an aggregate with too little time left, and reports the aggregate', async () => {
    // Prepare: each write takes 3 s of a clock the test keeps; 5 s are kept back, 10 s are left at the start.
    let remainingMs = 10_000;
    const store = new MemoryEventStore();
    const slowStore: EventStore = {
      projectionVersion: store.projectionVersion,
      put: async (event) => {
        remainingMs -= 3_000;
        return store.put(event);
      },
    };
    const { deps } = setup({
      store: slowStore,
      processor: new KeyOrderedBatchProcessor({ keyConcurrency: 1, timeReserveMs: 5_000 }),
      context: { ...lambdaContext('ConsumerFunction'), getRemainingTimeInMillis: () => remainingMs },
    });
    const records = [aggregateRecord(7, ['u-0', 'u-1', 'u-2', 'u-3']), eventRecord(8, 'outer-key')];
    // Act
    const report = await processRecords(records, { ...deps, throwOnFullBatchFailure: false });
    // Assess: u-0 leaves 7 s and u-1 4 s, under the reserve, so u-2 and u-3 wait for the retry.
    expect(ids(store.calls)).toEqual(['u-0', 'u-1']);
    expect(report.batchItemFailures).toEqual(failures(7, 8));
    expect(report.counts).toMatchObject({ written: 2, failed: 2 });
  });

  it('quarantines a corrupt aggregate whole, with its outer bytes', async () => {
    // Prepare
    const { deps, quarantine } = setup();
    const good = kplAggregate([{ partitionKey: 'p', data: Buffer.from('{"a":1}') }]);
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] ?? 0) ^ 0xff;
    // Act
    const report = await processRecords([streamRecord(3, 'outer', corrupt)], deps);
    // Assess
    expect(report.batchItemFailures).toEqual([]);
    expect(quarantine.entries).toHaveLength(1);
    expect(quarantine.entries[0]).toMatchObject({ reason: 'undecodable', sequenceNumber: sequenceNumber(3) });
    expect(quarantine.entries[0]?.detail).toContain('checksum');
    expect(Buffer.from(quarantine.entries[0]!.data).equals(corrupt)).toBe(true);
  });
});

describe('Consumer: quarantine', () => {
  it.each([
    ['undecodable', 'bytes that are not UTF-8', Buffer.from([0xff, 0xfe, 0x41])],
    ['undecodable', 'text that is not JSON', Buffer.from('hello, world')],
    ['invalid', 'a CloudEvent without a type', Buffer.from('{"specversion":"1.0","id":"x","source":"s"}')],
  ])('quarantines %s records (%s) and counts them as processed', async (reason, _case, data) => {
    // Prepare
    const { deps, quarantine, store, metrics } = setup();
    const records = [streamRecord(1, 'k', data), eventRecord(2, 'k')];
    // Act
    const report = await processRecords(records, deps);
    // Assess
    expect(report.batchItemFailures).toEqual([]);
    expect(quarantine.entries).toEqual([
      {
        reason,
        detail: expect.any(String),
        shardId: SHARD_ID,
        sequenceNumber: sequenceNumber(1),
        partitionKey: 'k',
        approximateArrivalTimestamp: new Date('2026-11-24T16:00:00.001Z'),
        data,
      },
    ]);
    expect(ids(store.calls)).toEqual(['evt-2']);
    expect(metrics.values).toMatchObject({ RecordsQuarantined: 1, RecordsProcessed: 2, RecordsFailed: 0 });
  });

  it.each([
    ['an array', '['.repeat(200_000) + ']'.repeat(200_000)],
    ['an array holding a number', `${'['.repeat(200_000)}1e3${']'.repeat(200_000)}`],
  ])(
    'quarantines plain JSON nested deeper than the stack can walk (%s) as unstorable, and goes on with its key',
    async (_case, text) => {
      // Prepare
      const { deps, quarantine, store } = setup();
      const records = [eventRecord(1, 'k'), streamRecord(2, 'k', text), eventRecord(3, 'k')];
      // Act
      const report = await processRecords(records, deps);
      // Assess
      expect(report.batchItemFailures).toEqual([]);
      expect(quarantine.entries.map((e) => [e.reason, e.sequenceNumber])).toEqual([
        ['unstorable', sequenceNumber(2)],
      ]);
      expect(quarantine.entries[0]?.detail).toContain(
        'nested deeper than the 31 levels of maps and lists DynamoDB takes',
      );
      expect(ids(store.calls)).toEqual(['evt-1', 'evt-3']);
    },
  );

  it('quarantines an event the store can never hold', async () => {
    // Prepare
    const store = new FlakyStore(
      ['evt-1'],
      new MemoryEventStore(),
      () => new UnstorableEventError('too big'),
    );
    const { deps, quarantine } = setup({ store });
    // Act
    const report = await processRecords([eventRecord(1, 'k'), eventRecord(2, 'k')], deps);
    // Assess
    expect(report.batchItemFailures).toEqual([]);
    expect(quarantine.entries.map((e) => [e.reason, e.detail])).toEqual([['unstorable', 'too big']]);
    expect(store.inner.items.has(identityOfId('evt-2'))).toBe(true);
  });

  it('reports a record as failed when the quarantine itself cannot be written', async () => {
    // Prepare
    const quarantine: Quarantine = {
      put: async () => {
        throw Object.assign(new Error('slow down'), { name: 'SlowDown' });
      },
    };
    const { deps } = setup({ quarantine });
    // Act
    const report = await processRecords([streamRecord(1, 'k', 'not json'), eventRecord(2, 'k')], {
      ...deps,
      throwOnFullBatchFailure: false,
    });
    // Assess
    expect(report.batchItemFailures).toEqual(failures(1, 2));
  });
});
