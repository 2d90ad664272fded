import { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { SHARD_READ_BYTES_PER_SECOND } from '#shared/kinesis/shard-reader.ts';
import { MemoryQuarantine } from '#shared/quarantine/quarantine.ts';
import { DryRunEventStore, DryRunQuarantine } from '#shared/recovery/dry-run.ts';
import { type JobStore, LeaseLostError, MemoryJobStore } from '#shared/recovery/job-store.ts';
import {
  agedOutRanges,
  type ContinueRequest,
  handleReprocessRequest,
  parseReprocessRequest,
  type ReprocessDependencies,
  ReprocessRequestError,
  type ReprocessSettings,
} from '#shared/recovery/reprocessor.ts';
import type { EventStore } from '#shared/sink/event-store.ts';
import { MemoryEventStore } from '#shared/sink/memory-event-store.ts';
import { FakeKinesis, testClock } from '#test/helpers/fake-kinesis.ts';
import { metricsRecorder, silentLogger } from '#test/helpers/kinesis-factories.ts';
import {
  existingJob,
  FailingStore,
  identityOf,
  keyedCloudEvent,
  RecordingStore,
  STREAM_NAME,
} from '#test/helpers/recovery-fixtures.ts';

const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';
let fake: FakeKinesis | undefined;

afterEach(() => {
  fake?.mock.restore();
  fake = undefined;
});

const SETTINGS: ReprocessSettings = {
  streamName: STREAM_NAME,
  projectionVersion: 1,
  keyConcurrency: 4,
  timeReserveMs: 0,
  stopReserveMs: 1_000,
  leaseDurationMs: 10_000,
  windowGraceMs: 50,
  defaultMaxRecordsPerSecond: 1_000,
  getRecordsPerSecond: 5,
  getRecordsBytesPerSecond: SHARD_READ_BYTES_PER_SECOND,
  getRecordsLimit: 3,
  shardConcurrency: 4,
  timestampPositioning: 'iterator',
  timestampIteratorTimeoutMs: 1_000,
  retryAttempts: 2,
  maxInvocations: 100,
  jobRetentionDays: 30,
};

const setup = (shards = 2) => {
  const clock = testClock();
  fake = new FakeKinesis(STREAM_NAME, clock, shards);
  const memory = new MemoryEventStore(1);
  const jobs = new MemoryJobStore();
  const continued: ContinueRequest[] = [];
  const metrics = metricsRecorder();
  /** Dependencies of one invocation; `budgetMs` is its time left when it starts. */
  const deps = (
    options: {
      owner?: string;
      store?: EventStore;
      budgetMs?: number;
      remainingMs?: () => number;
      settings?: Partial<ReprocessSettings>;
      jobs?: JobStore;
    } = {},
  ): ReprocessDependencies => {
    const deadline = clock.now() + (options.budgetMs ?? 600_000);
    const store = options.store ?? memory;
    return {
      kinesis: new KinesisClient({ region: 'us-east-1' }),
      jobs: options.jobs ?? jobs,
      sink: { store, quarantine: new MemoryQuarantine() },
      dryRunSink: () => ({
        store: new DryRunEventStore(store.projectionVersion, async (identity) => memory.items.get(identity)),
        quarantine: new DryRunQuarantine(),
      }),
      logger: silentLogger(),
      metrics,
      owner: options.owner ?? 'invocation-1',
      remainingMs: options.remainingMs ?? (() => deadline - clock.now()),
      continueJob: async (request) => {
        continued.push(request);
      },
      settings: { ...SETTINGS, ...options.settings },
      clock,
    };
  };
  const put = (shardId: string, key: string, n: number) => {
    clock.advance(10);
    return fake!.put(shardId, key, JSON.stringify(keyedCloudEvent(key, n)));
  };
  /** An event whose record (data and partition key) is 1 MiB, the largest Kinesis takes. */
  const putMiB = (shardId: string, key: string, n: number) => {
    const event = keyedCloudEvent(key, n);
    const bare = JSON.stringify({ ...event, data: { ...event.data, pad: '' } });
    const pad = 'x'.repeat(1024 * 1024 - key.length - bare.length);
    return fake!.put(shardId, key, JSON.stringify({ ...event, data: { ...event.data, pad } }));
  };
  return { clock, fake: fake!, memory, jobs, continued, metrics, deps, put, putMiB };
};

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Ten records put to S0, then the first invocation of job `jobId` over them, which reads the shard only in part: each
 * record costs the clock 200 ms on its way to the store, and the invocation has 1.7 s. Returns the window's end.
 */
const firstInvocationReadsPart = async (
  { clock, memory, deps, put }: ReturnType<typeof setup>,
  jobId: string,
  options: { jobs?: JobStore } = {},
) => {
  const from = clock.now();
  for (let n = 1; n <= 10; n += 1) put(S0, 'a', n);
  const to = clock.now();
  const store = {
    projectionVersion: 1,
    put: async (event: Parameters<EventStore['put']>[0]) => {
      clock.advance(200);
      return memory.put(event);
    },
  };
  await handleReprocessRequest(
    { from: iso(from), to: iso(to), jobId },
    deps({ store, ...options, budgetMs: 1_700 }),
  );
  return to;
};

/** The event numbers of each key, in the order they were put to the store. */
const orderByKey = (store: RecordingStore): Record<string, number[]> => {
  const order: Record<string, number[]> = {};
  for (const put of store.puts) {
    const { key, n } = put.data as { key: string; n: number };
    order[key] = [...(order[key] ?? []), n];
  }
  return order;
};

describe('Recovery: reprocessor', () => {
  it('reads parents before children across a split and a merge, so each key stays in order', async () => {
    // Prepare: a and b start on shard 0, c on shard 1; shard 0 splits (a → 2, b → 3); 3 and 1 merge into 4.
    // Parents hold several batches each, so a child read too early would overtake them.
    const { clock, fake, memory, deps, put } = setup();
    const from = clock.now();
    for (let n = 1; n <= 4; n += 1) {
      put(S0, 'a', n);
      put(S0, 'b', n);
      put(S1, 'c', n);
    }
    const [s2, s3] = fake.split(S0);
    put(s2!, 'a', 5);
    put(s3!, 'b', 5);
    put(S1, 'c', 5);
    const s4 = fake.merge(s3!, S1);
    put(s4, 'b', 6);
    put(s4, 'c', 6);
    put(s2!, 'a', 6);
    const store = new RecordingStore(memory);
    // Act
    const status = await handleReprocessRequest(
      { from: iso(from), jobId: 'split-merge' },
      deps({ store, settings: { shardConcurrency: 10 } }),
    );
    // Assess
    expect(orderByKey(store)).toEqual({
      a: [1, 2, 3, 4, 5, 6],
      b: [1, 2, 3, 4, 5, 6],
      c: [1, 2, 3, 4, 5, 6],
    });
    expect(status).toMatchObject({ jobId: 'split-merge', state: 'done', continued: false });
    expect(status.totals).toEqual({
      recordsRead: 18,
      written: 18,
      duplicates: 0,
      staleVersions: 0,
      quarantined: 0,
      failed: 0,
    });
    expect(
      status.shards.map((shard) => [shard.shardId, shard.parents, shard.state, shard.endReason]),
    ).toEqual([
      [S0, [], 'done', 'shard-end'],
      [S1, [], 'done', 'shard-end'],
      [s2, [S0], 'done', 'tip'],
      [s3, [S0], 'done', 'shard-end'],
      [s4, [s3, S1], 'done', 'tip'],
    ]);
  });

  it('starts at the shards open at `from` (AT_TIMESTAMP) and at the beginning of their children', async () => {
    // The shards open at or after `from` are listed (FROM_TIMESTAMP); those whose parents are listed are children.
    // Prepare
    const { clock, fake, deps, put } = setup(1);
    put(S0, 'a', 1);
    const from = clock.now() + 1;
    put(S0, 'a', 2);
    const [s1, s2] = fake.split(S0);
    put(s1!, 'a', 3);
    put(s2!, 'b', 1);
    // Act
    const status = await handleReprocessRequest({ from: iso(from) }, deps());
    // Assess
    expect(status.totals.written).toBe(3);
    expect(fake.callsOf('ListShards')[0]!.input).toMatchObject({
      StreamName: STREAM_NAME,
      ShardFilter: { Type: 'FROM_TIMESTAMP', Timestamp: new Date(from) },
    });
    expect(
      fake.callsOf('GetShardIterator').map((call) => [call.input.ShardId, call.input.ShardIteratorType]),
    ).toEqual([
      [S0, 'AT_TIMESTAMP'],
      [s1, 'TRIM_HORIZON'],
      [s2, 'TRIM_HORIZON'],
    ]);
    expect(status.jobId).toMatch(/^reprocess-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
  });

  it('stops at `to` plus the grace: later records are neither processed nor read past, and children are skipped', async () => {
    // Prepare
    const { clock, fake, memory, deps, put } = setup(1);
    put(S0, 'a', 1);
    const from = clock.now() + 1;
    put(S0, 'a', 2);
    put(S0, 'a', 3);
    const to = clock.now();
    clock.advance(20);
    put(S0, 'a', 4); // within the grace: read, not processed
    clock.advance(100);
    put(S0, 'a', 5); // past the grace: reading stops here
    put(S0, 'a', 6);
    const [s1] = fake.split(S0);
    put(s1!, 'a', 7);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), to: iso(to) }, deps());
    // Assess
    expect([...memory.items.keys()].sort()).toEqual([identityOf('a', 2), identityOf('a', 3)]);
    expect(status.shards.map((shard) => [shard.shardId, shard.state, shard.endReason])).toEqual([
      [S0, 'done', 'window-end'],
      [s1, 'done', 'skipped'],
      [expect.any(String), 'done', 'skipped'],
    ]);
    expect(status.totals.recordsRead).toBe(2);
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardId)).toEqual([S0]);
    expect(status.state).toBe('done');
  });

  it('in a dry run reports what it would write and writes nothing', async () => {
    // Prepare
    const { clock, memory, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    put(S0, 'b', 1);
    await handleReprocessRequest({ from: iso(from), jobId: 'real', to: iso(clock.now()) }, deps());
    put(S0, 'c', 1);
    const writes = memory.calls.length;
    // Act
    const status = await handleReprocessRequest({ from: iso(from), dryRun: true }, deps());
    // Assess
    expect(status).toMatchObject({ dryRun: true, state: 'done' });
    expect(status.totals).toMatchObject({ recordsRead: 3, written: 1, duplicates: 2 });
    expect(memory.calls).toHaveLength(writes);
    expect(memory.items.has(identityOf('c', 1))).toBe(false);
  });

  it('in a dry run publishes none of the processing metrics, which the dashboard and the alarms read', async () => {
    // Prepare
    const { clock, fake, metrics, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    clock.advance(10);
    fake.put(S0, 'bad', 'not json');
    // Act
    const status = await handleReprocessRequest({ from: iso(from), dryRun: true }, deps());
    // Assess: what it would do is in its status, not in the metrics
    expect(status.totals).toMatchObject({ recordsRead: 2, written: 1, quarantined: 1 });
    for (const name of [
      'RecordsQuarantined',
      'EventsWritten',
      'RecordsProcessed',
      'RecordsFailed',
      'BatchLag',
    ]) {
      expect(metrics.values[name], name).toBeUndefined();
    }
  });

  it('with the same projection version writes nothing; after a raise rewrites each item exactly once', async () => {
    // Prepare
    const { clock, memory, deps, put } = setup(2);
    const from = clock.now();
    for (let n = 1; n <= 4; n += 1) put(n % 2 ? S0 : S1, `k${n}`, n);
    const to = iso(clock.now());
    await handleReprocessRequest({ from: iso(from), to }, deps());
    // Act
    const same = await handleReprocessRequest({ from: iso(from), to }, deps());
    const v2 = memory.withVersion(2);
    const raised = await handleReprocessRequest(
      { from: iso(from), to },
      deps({ store: v2, settings: { projectionVersion: 2 } }),
    );
    const again = await handleReprocessRequest(
      { from: iso(from), to },
      deps({ store: v2, settings: { projectionVersion: 2 } }),
    );
    // Assess
    expect(same.totals).toMatchObject({ written: 0, duplicates: 4 });
    expect(raised.totals).toMatchObject({ written: 4, duplicates: 0 });
    expect(again.totals).toMatchObject({ written: 0, duplicates: 4 });
    expect([...memory.items.values()].map((item) => item.projectionVersion)).toEqual([2, 2, 2, 2]);
  });

  it('stops before the timeout, checkpoints, continues itself, and the continuation finishes without repeating', async () => {
    // Prepare: each batch (3 records) costs the clock 100 ms of processing.
    const { clock, fake, memory, jobs, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 10; n += 1) put(S0, 'a', n);
    const slow = new RecordingStore(memory);
    const store = {
      projectionVersion: 1,
      put: async (event: Parameters<EventStore['put']>[0]) => {
        clock.advance(40);
        return slow.put(event);
      },
    };
    // Act
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'budget' },
      deps({ store, budgetMs: 1_500 }),
    );
    const checkpoint = (await jobs.listShards('budget'))[0]!;
    const second = await handleReprocessRequest(continued[0]!, deps({ store, owner: 'invocation-2' }));
    // Assess
    expect(first).toMatchObject({ state: 'running', continued: true });
    expect(first.totals.recordsRead).toBeGreaterThan(0);
    expect(first.totals.recordsRead).toBeLessThan(10);
    expect(continued).toEqual([{ action: 'start', jobId: 'budget', continuation: 1 }]);
    expect(checkpoint.leaseOwner).toBeUndefined();
    expect(fake.callsOf('GetShardIterator').at(-1)!.input).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      StartingSequenceNumber: checkpoint.position,
    });
    expect(second).toMatchObject({ state: 'done', continued: false, invocations: 2 });
    expect(second.totals).toMatchObject({ recordsRead: 10, written: 10, duplicates: 0 });
    expect(orderByKey(slow)).toEqual({ a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  });

  it('fails at once, saying why, when an invocation starts with no more than the stop reserve left', async () => {
    // Prepare: a Timeout no longer than STOP_RESERVE_MS (1 s here) leaves every read no time to start.
    const { clock, fake, memory, jobs, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 3; n += 1) put(S0, 'a', n);
    // Act
    const started = handleReprocessRequest({ from: iso(from), jobId: 'short' }, deps({ budgetMs: 1_000 }));
    // Assess: no read, no hand-over to another invocation as short, and the job waits for a longer one.
    await expect(started).rejects.toThrow(
      'the invocation starts with 1000 ms left, no more than STOP_RESERVE_MS (1000 ms), so it could read ' +
        'nothing: give the function a Timeout well above STOP_RESERVE_MS, or lower STOP_RESERVE_MS',
    );
    expect(fake.callsOf('GetShardIterator')).toHaveLength(0);
    expect(continued).toEqual([]);
    expect(await jobs.getJob('short')).toMatchObject({ state: 'running', invocations: 0 });
    const resumed = await handleReprocessRequest({ jobId: 'short' }, deps());
    expect(resumed).toMatchObject({ state: 'done', invocations: 1 });
    expect(memory.items.size).toBe(3);
  });

  it('goes on from the oldest record left when its checkpoint has aged out and Kinesis refuses it', async () => {
    // Prepare: the first invocation stops after a few records (about 300 ms of work); then the stream trims past
    // its checkpoint.
    const { clock, fake, memory, jobs, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 10; n += 1) put(S0, 'a', n);
    const store = {
      projectionVersion: 1,
      put: async (event: Parameters<EventStore['put']>[0]) => {
        clock.advance(40);
        return memory.put(event);
      },
    };
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'aged' },
      deps({ store, budgetMs: 1_300 }),
    );
    const checkpointed = first.totals.recordsRead;
    fake.trim(S0, checkpointed + 2);
    fake.faults.refuseTrimmed = true;
    // Act
    const second = await handleReprocessRequest(continued[0]!, deps({ store, owner: 'invocation-2' }));
    // Assess
    expect(checkpointed).toBeGreaterThan(0);
    expect(second.state).toBe('done');
    expect(second.totals.recordsRead).toBe(10 - 2);
    expect(memory.items.size).toBe(10 - 2);
    expect((await jobs.listShards('aged'))[0]!.state).toBe('done');
    expect(
      fake
        .callsOf('GetShardIterator')
        .map((call) => call.input.ShardIteratorType)
        .slice(-3),
    ).toEqual(['AFTER_SEQUENCE_NUMBER', 'TRIM_HORIZON', 'TRIM_HORIZON']);
  });

  it('takes an InvalidArgumentException after it has read from its checkpoint as a failure, not as the checkpoint aged out', async () => {
    // Prepare: as above, the stream trims past the checkpoint (the read starts at the oldest record left); then a
    // GetRecords after the first batch is refused.
    const { clock, fake, memory, jobs, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 10; n += 1) put(S0, 'a', n);
    let refuseNext = false;
    const store = {
      projectionVersion: 1,
      put: async (event: Parameters<EventStore['put']>[0]) => {
        clock.advance(40);
        if (refuseNext) {
          refuseNext = false;
          fake.faults.refuseGetRecords = 1;
        }
        return memory.put(event);
      },
    };
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'refused' },
      deps({ store, budgetMs: 1_300 }),
    );
    const checkpointed = first.totals.recordsRead;
    fake.trim(S0, checkpointed + 2);
    refuseNext = true;
    // Act
    const second = await handleReprocessRequest(continued[0]!, deps({ store, owner: 'invocation-2' }));
    // Assess: the records read from the checkpoint on count once, and the shard is left failed with the reason.
    expect(checkpointed).toBeGreaterThan(0);
    expect(second.totals.recordsRead).toBeLessThanOrEqual(10 - 2);
    expect(fake.callsOf('GetShardIterator').map((call) => call.input.ShardIteratorType)).not.toContain(
      'TRIM_HORIZON',
    );
    expect((await jobs.listShards('refused'))[0]).toMatchObject({
      state: 'failed',
      lastError: expect.stringContaining('ShardIterator is not valid'),
    });
  });

  it('resumes a job named again from its checkpoints, and does nothing more for a finished job', async () => {
    // Prepare
    const { clock, fake, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    const request = { from: iso(from), to: iso(clock.now()), jobId: 'again' };
    await handleReprocessRequest(request, deps());
    const calls = fake.calls.length;
    // Act
    const byParameters = await handleReprocessRequest(request, deps());
    const byId = await handleReprocessRequest({ jobId: 'again' }, deps());
    // Assess
    expect(byParameters).toMatchObject({ state: 'done', totals: { written: 1 } });
    expect(byId).toMatchObject({ state: 'done', totals: { written: 1 } });
    expect(fake.calls).toHaveLength(calls);
  });

  it('refuses a request whose jobId names a job with other parameters', async () => {
    // Prepare
    const { clock, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    const to = clock.now();
    await handleReprocessRequest({ from: iso(from), to: iso(to), jobId: 'fixed' }, deps());
    // Act
    const result = handleReprocessRequest({ from: iso(from), to: iso(to - 5), jobId: 'fixed' }, deps());
    // Assess
    await expect(result).rejects.toThrow(ReprocessRequestError);
    await expect(result).rejects.toThrow(
      `job fixed exists with other parameters: to (stored "${iso(to)}", asked "${iso(to - 5)}")`,
    );
  });

  it('says which parameter a job was started without when a request names a job with other parameters', async () => {
    // Prepare: a job started without `to`, which reads up to the moment it started
    const { clock, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    const started = await handleReprocessRequest({ from: iso(from), jobId: 'open' }, deps());
    // Act: the window's end, as the commands print it, given as `to`
    const result = handleReprocessRequest({ from: iso(from), to: started.windowEnd, jobId: 'open' }, deps());
    // Assess
    await expect(result).rejects.toThrow(
      `job open exists with other parameters: to (not given in the job's start, asked "${started.windowEnd}")`,
    );
  });

  it('resumes a job with its own rate when the request leaves the rate out, and refuses another rate', async () => {
    // Prepare: a job started at 10 records a second, stopped by its time budget.
    const { clock, deps, put, jobs } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 6; n += 1) put(S0, 'a', n);
    const to = clock.now();
    const request = { from: iso(from), to: iso(to), jobId: 'paced' };
    await handleReprocessRequest({ ...request, maxRecordsPerSecond: 10 }, deps({ budgetMs: 1_300 }));
    // Act
    const resumed = await handleReprocessRequest(request, deps());
    const other = handleReprocessRequest({ ...request, maxRecordsPerSecond: 20 }, deps());
    // Assess
    expect(resumed.state).toBe('done');
    expect((await jobs.getJob('paced'))!.parameters.maxRecordsPerSecond).toBe(10);
    await expect(other).rejects.toThrow(
      'job paced exists with other parameters: maxRecordsPerSecond (stored 10, asked 20)',
    );
  });

  it('answers a finished job with its status after a projection-version raise, and refuses to resume an unfinished one', async () => {
    // Prepare: one job finished and one stopped by its time budget, both at version 1.
    const { clock, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 6; n += 1) put(S0, 'a', n);
    const to = clock.now();
    await handleReprocessRequest({ from: iso(from), to: iso(to), jobId: 'finished' }, deps());
    const slow = { from: iso(from), to: iso(to), jobId: 'unfinished', maxRecordsPerSecond: 2 };
    await handleReprocessRequest(slow, deps({ budgetMs: 1_300 }));
    const v2 = deps({ settings: { projectionVersion: 2 } });
    // Act
    const finished = await handleReprocessRequest({ jobId: 'finished' }, v2);
    const unfinished = handleReprocessRequest({ jobId: 'unfinished' }, v2);
    const looked = existingJob(await handleReprocessRequest({ action: 'status', jobId: 'unfinished' }, v2));
    // Assess: the status says which version the function writes, so that a caller can tell it cannot resume it.
    expect(finished).toMatchObject({ jobId: 'finished', state: 'done', continued: false });
    expect(looked).toMatchObject({ state: 'running', projectionVersion: 1, functionProjectionVersion: 2 });
    await expect(unfinished).rejects.toThrow(
      'job unfinished writes projection version 1, and this function writes 2: start a new job for the new version',
    );
  });

  it('lets one of two workers have a shard; the other waits, and every event is written once', async () => {
    // Prepare
    const { clock, memory, jobs, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 6; n += 1) put(S0, 'a', n);
    await handleReprocessRequest({ from: iso(from), jobId: 'shared', detach: true }, deps());
    // Act
    const [one, two] = await Promise.all([
      handleReprocessRequest({ jobId: 'shared' }, deps({ owner: 'worker-1' })),
      handleReprocessRequest({ jobId: 'shared' }, deps({ owner: 'worker-2' })),
    ]);
    // Assess
    const granted = jobs.leaseDecisions.filter((decision) => decision.granted);
    expect(granted.map((decision) => decision.owner)).toEqual(['worker-1']);
    expect(jobs.leaseDecisions.filter((decision) => !decision.granted).length).toBeLessThanOrEqual(1);
    expect(one.state).toBe('done');
    expect(two.state).toBe('done');
    expect(one.totals).toMatchObject({ written: 6, duplicates: 0 });
    expect(memory.calls).toHaveLength(6);
  });

  it('after a crash, waits for the dead worker’s lease to run out and resumes from its last checkpoint', async () => {
    // Prepare: the job store stops answering after the second checkpoint, as if the invocation died.
    const { clock, memory, jobs, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 9; n += 1) put(S0, 'a', n);
    let checkpoints = 0;
    const dying = new Proxy(jobs, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (checkpoints >= 2) throw new Error('the invocation died');
          if (name === 'checkpoint') checkpoints += 1;
          return value.apply(target, args);
        };
      },
    });
    const crashed = handleReprocessRequest({ from: iso(from), jobId: 'crash' }, deps({ jobs: dying }));
    await expect(crashed).rejects.toThrow('the invocation died');
    const left = (await jobs.listShards('crash'))[0]!;
    const started = clock.now();
    // Act
    const resumed = await handleReprocessRequest({ jobId: 'crash' }, deps({ owner: 'invocation-2' }));
    // Assess
    expect(left).toMatchObject({ leaseOwner: 'invocation-1', recordsRead: 6, state: 'reading' });
    expect(clock.now() - started).toBeGreaterThanOrEqual(left.leaseExpiresAt! - started);
    expect(resumed).toMatchObject({ state: 'done' });
    expect(resumed.totals.recordsRead).toBe(9);
    expect([...memory.items.keys()].sort()).toEqual(
      Array.from({ length: 9 }, (_, i) => identityOf('a', i + 1)).sort(),
    );
    // The batch after the last checkpoint was written before the crash: read again, it is a duplicate.
    expect(resumed.totals.written + resumed.totals.duplicates).toBeGreaterThanOrEqual(9);
    expect(memory.calls.filter((event) => event.identity === identityOf('a', 1))).toHaveLength(1);
  });

  it('holds records per second to maxRecordsPerSecond, and GetRecords calls to the per-shard rate', async () => {
    // Prepare
    const { clock, fake, memory, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 14; n += 1) put(S0, 'a', n);
    const times: number[] = [];
    const store = {
      projectionVersion: 1,
      put: async (event: Parameters<EventStore['put']>[0]) => {
        times.push(clock.now());
        return memory.put(event);
      },
    };
    // Act
    await handleReprocessRequest(
      { from: iso(from), maxRecordsPerSecond: 4 },
      deps({ store, settings: { getRecordsLimit: 10, getRecordsPerSecond: 2 } }),
    );
    // Assess
    const calls = fake.callsOf('GetRecords');
    expect(calls.every((call) => call.input.Limit === 4)).toBe(true);
    const gaps = calls.slice(1).map((call, i) => call.at - calls[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500);
    expect(times).toHaveLength(14);
    const mostInOneSecond = Math.max(
      ...times.map((t) => times.filter((u) => u >= t && u < t + 1_000).length),
    );
    expect(mostInOneSecond).toBeLessThanOrEqual(4);
  });

  it.each([
    { bytesPerSecond: SHARD_READ_BYTES_PER_SECOND, wait: 500 },
    { bytesPerSecond: 512 * 1024, wait: 2_000 },
  ])(
    'holds the GetRecords after a 1 MiB answer back $wait ms at getRecordsBytesPerSecond $bytesPerSecond',
    async ({ bytesPerSecond, wait }) => {
      // Prepare: a 1 MiB record, then two small ones; one record per GetRecords.
      const { clock, fake, memory, deps, put, putMiB } = setup(1);
      const from = clock.now();
      clock.advance(10);
      putMiB(S0, 'a', 1);
      put(S0, 'a', 2);
      put(S0, 'a', 3);
      // Act
      const status = await handleReprocessRequest(
        { from: iso(from) },
        deps({
          settings: { getRecordsLimit: 1, getRecordsPerSecond: 5, getRecordsBytesPerSecond: bytesPerSecond },
        }),
      );
      // Assess: the big answer holds the next call back; the small ones leave only the call rate (200 ms).
      expect(status).toMatchObject({ state: 'done', totals: { recordsRead: 3, written: 3 } });
      expect(memory.items.size).toBe(3);
      const calls = fake.callsOf('GetRecords');
      expect(calls.slice(1).map((call, i) => call.at - calls[i]!.at)).toEqual([wait, 200, 200]);
    },
  );

  it('reads a shard it takes back after losing its lease with the same budget: the new reader waits for the last answer’s bytes', async () => {
    // Prepare: a 1 MiB record, then two small ones; one record per GetRecords. Writing the big one outlasts the
    // lease: another worker takes the lapsed lease and dies before its first checkpoint, so this invocation loses
    // the shard at its checkpoint and takes it back once that worker's lease has run out.
    const { clock, fake, memory, jobs, deps, put, putMiB } = setup(1);
    const from = clock.now();
    clock.advance(10);
    putMiB(S0, 'a', 1);
    put(S0, 'a', 2);
    put(S0, 'a', 3);
    let stalled = false;
    const store = {
      projectionVersion: 1,
      put: async (written: Parameters<EventStore['put']>[0]) => {
        if (!stalled) {
          stalled = true;
          clock.advance(1_500);
          await jobs.acquireLease('lost', S0, 'worker-2', clock.now(), clock.now() + 1_000);
        }
        return memory.put(written);
      },
    };
    // Act
    const status = await handleReprocessRequest(
      { from: iso(from), jobId: 'lost' },
      deps({
        store,
        settings: {
          getRecordsLimit: 1,
          getRecordsPerSecond: 5,
          getRecordsBytesPerSecond: 64 * 1024,
          leaseDurationMs: 1_000,
        },
      }),
    );
    // Assess: two readers of the shard in one invocation; the second one's first GetRecords comes 16 s (1 MiB at
    // 64 KiB/s) after the call that answered the big record, not as soon as the lease was taken back.
    expect(status).toMatchObject({ state: 'done', totals: { recordsRead: 3 } });
    expect(memory.items.size).toBe(3);
    expect(
      jobs.leaseDecisions.filter((decision) => decision.granted).map((decision) => decision.owner),
    ).toEqual(['invocation-1', 'worker-2', 'invocation-1']);
    expect(fake.callsOf('GetShardIterator')).toHaveLength(2);
    const calls = fake.callsOf('GetRecords');
    expect(calls[1]!.at - calls[0]!.at).toBe(16_000);
  });

  it('hands a shard the time reserve stopped over to the next invocation instead of reading it again', async () => {
    // Prepare: a time reserve above the stop reserve leaves this invocation time for a GetRecords call, and none
    // for its records.
    const { clock, fake, memory, jobs, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 5; n += 1) put(S0, 'a', n);
    // Act
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'reserve' },
      deps({ budgetMs: 4_000, settings: { timeReserveMs: 5_000, stopReserveMs: 1_000 } }),
    );
    const checkpoint = (await jobs.listShards('reserve'))[0]!;
    const reads = {
      GetShardIterator: fake.callsOf('GetShardIterator').length,
      GetRecords: fake.callsOf('GetRecords').length,
    };
    const second = await handleReprocessRequest(continued[0]!, deps({ owner: 'invocation-2' }));
    // Assess: one read that processed nothing, then the hand-over; the next invocation reads every record.
    expect(reads).toEqual({ GetShardIterator: 1, GetRecords: 1 });
    expect(first).toMatchObject({
      state: 'running',
      continued: true,
      totals: { recordsRead: 0, written: 0 },
    });
    expect(continued).toEqual([{ action: 'start', jobId: 'reserve', continuation: 1 }]);
    expect(checkpoint).toMatchObject({ state: 'reading', recordsRead: 0 });
    expect(checkpoint.position).toBeUndefined();
    expect(checkpoint.leaseOwner).toBeUndefined();
    expect(second).toMatchObject({ state: 'done', totals: { recordsRead: 5, written: 5, duplicates: 0 } });
    expect(memory.items.size).toBe(5);
  });

  it('hands a shard over when its next GetRecords would wait for bytes past the stop reserve, and does not take it up again', async () => {
    // Prepare: a 1 MiB record, then a small one, one per GetRecords. At 64 KiB/s the second call waits 16 s for
    // the first answer's bytes, more than the 10 s this invocation has.
    const { clock, fake, memory, continued, deps, put, putMiB } = setup(1);
    const from = clock.now();
    clock.advance(10);
    putMiB(S0, 'a', 1);
    put(S0, 'a', 2);
    const settings = { getRecordsLimit: 1, getRecordsBytesPerSecond: 64 * 1024 };
    // Act
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'bytes' },
      deps({ budgetMs: 10_000, settings }),
    );
    const reads = {
      GetShardIterator: fake.callsOf('GetShardIterator').length,
      GetRecords: fake.callsOf('GetRecords').length,
    };
    const second = await handleReprocessRequest(continued[0]!, deps({ owner: 'invocation-2', settings }));
    // Assess
    expect(reads).toEqual({ GetShardIterator: 1, GetRecords: 1 });
    expect(first).toMatchObject({
      state: 'running',
      continued: true,
      totals: { recordsRead: 1, written: 1 },
    });
    expect(continued).toEqual([{ action: 'start', jobId: 'bytes', continuation: 1 }]);
    expect(second).toMatchObject({ state: 'done', totals: { recordsRead: 2, written: 2, duplicates: 0 } });
    expect(memory.items.size).toBe(2);
  });

  it('touches the checkpoint of a shard it hands over, so that the job reads as worked on until the continuation starts', async () => {
    // Prepare: the scenario above, with time passing at every look at the clock left, and every checkpoint kept.
    const { clock, jobs, deps, put, putMiB } = setup(1);
    const from = clock.now();
    clock.advance(10);
    putMiB(S0, 'a', 1);
    put(S0, 'a', 2);
    const checkpoints: Array<{ position?: string; at: string }> = [];
    const checkpoint = jobs.checkpoint.bind(jobs);
    jobs.checkpoint = async (jobId, shardId, owner, progress, until, at) => {
      checkpoints.push({ ...(progress.position === undefined ? {} : { position: progress.position }), at });
      await checkpoint(jobId, shardId, owner, progress, until, at);
    };
    const deadline = clock.now() + 10_000;
    const remainingMs = () => {
      clock.advance(1);
      return deadline - clock.now();
    };
    const settings = { getRecordsLimit: 1, getRecordsBytesPerSecond: 64 * 1024 };
    // Act
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'touch' },
      deps({ remainingMs, settings }),
    );
    // Assess: the shard's last write is the hand-over, after the checkpoint of its last record.
    const shard = (await jobs.listShards('touch'))[0]!;
    const lastRecord = checkpoints.findLast((entry) => entry.position !== undefined)!;
    expect(first).toMatchObject({ state: 'running', continued: true });
    expect(shard.leaseOwner).toBeUndefined();
    expect(shard.updatedAt).toBe(checkpoints.at(-1)!.at);
    expect(Date.parse(shard.updatedAt)).toBeGreaterThan(Date.parse(lastRecord.at));
    expect(first.shards[0]!.updatedAt).toBe(shard.updatedAt);
  });

  it('stops and waits for the shards under way before it fails, when planning the next shard fails', async () => {
    // Prepare: one shard ends at once, the other has many records to read one by one; the job store then fails
    // the look at the job's shards that follows the first shard's end.
    const { clock, fake, jobs, deps, put } = setup(2);
    const from = clock.now();
    put(S0, 'a', 1);
    for (let n = 1; n <= 40; n += 1) put(S1, 'b', n);
    const listShards = jobs.listShards.bind(jobs);
    jobs.listShards = async (jobId) => {
      const shards = await listShards(jobId);
      const stateOf = (id: string) => shards.find((shard) => shard.shardId === id)?.state;
      if (stateOf(S0) === 'done' && stateOf(S1) === 'reading')
        throw new Error('the jobs table is unreachable');
      return shards;
    };
    // Act
    const failure = await handleReprocessRequest(
      { from: iso(from), jobId: 'plan-fails' },
      deps({ settings: { getRecordsLimit: 1, shardConcurrency: 2 } }),
    ).catch((error: Error) => error);
    const readsWhenFailed = fake.callsOf('GetRecords').length;
    for (let tick = 0; tick < 20; tick += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    // Assess: the long shard stopped, let go of its lease, and reads nothing after the invocation failed.
    const shard = (await listShards('plan-fails')).find((item) => item.shardId === S1)!;
    expect((failure as Error).message).toBe('the jobs table is unreachable');
    expect(shard).toMatchObject({ state: 'reading' });
    expect(shard.leaseOwner).toBeUndefined();
    expect(shard.recordsRead).toBeLessThan(40);
    expect(fake.callsOf('GetRecords').length).toBe(readsWhenFailed);
  });

  it('fails the invocation, instead of reading the shard again, when a read error cannot be recorded as failed', async () => {
    // Prepare: after the first batch's checkpoint the shard answers ResourceNotFoundException, and the jobs table
    // refuses the write that would leave the shard failed.
    const { clock, fake, memory, continued, deps, put } = setup(1);
    const from = clock.now();
    const records = Array.from({ length: 5 }, (_, n) => put(S0, 'a', n + 1));
    let broken = false;
    class RefusingFailedState extends MemoryJobStore {
      override async checkpoint(...args: Parameters<MemoryJobStore['checkpoint']>) {
        const progress = args[3];
        if (progress.state === 'failed') {
          throw Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' });
        }
        await super.checkpoint(...args);
        if (!broken && progress.position !== undefined) {
          broken = true;
          fake.faults.gone.add(S0);
        }
      }
    }
    const jobs = new RefusingFailedState();
    // Act
    const failure = await handleReprocessRequest(
      { from: iso(from), jobId: 'unrecorded' },
      deps({ jobs, budgetMs: 30_000 }),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    const reads = {
      GetShardIterator: fake.callsOf('GetShardIterator').length,
      GetRecords: fake.callsOf('GetRecords').length,
    };
    const status = existingJob(
      await handleReprocessRequest({ action: 'status', jobId: 'unrecorded' }, deps({ jobs })),
    );
    fake.faults.gone.clear();
    const resumed = await handleReprocessRequest(
      { from: iso(from), jobId: 'unrecorded' },
      deps({ jobs, owner: 'invocation-2' }),
    );
    // Assess: the shard was read once; the job is left running at the last checkpoint, which a new run goes on
    // from, writing every record once.
    expect(reads).toEqual({ GetShardIterator: 1, GetRecords: 2 });
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(
      /^reading shardId-000000000000 of job unrecorded failed \(.*does not exist\), and the failure could not be recorded \(Service unavailable\)/,
    );
    expect(continued).toEqual([]);
    expect(status).toMatchObject({ state: 'running' });
    expect(status.shards[0]).toMatchObject({
      state: 'reading',
      recordsRead: 3,
      position: records[2]!.SequenceNumber,
    });
    expect(status.shards[0]!.lease).toBeUndefined();
    expect(status.shards[0]!.lastError).toBeUndefined();
    expect(resumed).toMatchObject({ state: 'done', totals: { recordsRead: 5, written: 5, duplicates: 0 } });
    expect(memory.items.size).toBe(5);
  });

  it('leaves a shard failed at the record that keeps failing, resumes it only when asked again', async () => {
    // Prepare
    const { clock, memory, continued, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 5; n += 1) put(S0, 'a', n);
    const store = new FailingStore([identityOf('a', 4)], memory);
    // Act
    const failed = await handleReprocessRequest({ from: iso(from), jobId: 'flaky' }, deps({ store }));
    const byContinuation = await handleReprocessRequest({ jobId: 'flaky', continuation: 1 }, deps({ store }));
    store.failing.clear();
    const retried = await handleReprocessRequest({ jobId: 'flaky' }, deps({ store }));
    // Assess
    expect(failed).toMatchObject({ state: 'failed', continued: false });
    expect(failed.shards[0]).toMatchObject({ state: 'failed', recordsRead: 3, written: 3, failed: 2 });
    // The shard and the job say why: the store's own error.
    const cause =
      'ProvisionedThroughputExceededException: Throughput exceeds the current capacity of your table';
    expect(failed.shards[0]!.lastError).toMatch(
      /^2 record\(s\) still failed after 2 attempt\(s\), from \d+: /,
    );
    expect(failed.shards[0]!.lastError).toContain(cause);
    expect(failed.lastError).toBe(`1 shard(s) failed: ${S0}: ${failed.shards[0]!.lastError}`);
    expect(byContinuation.totals.recordsRead).toBe(3);
    expect(continued).toEqual([]);
    expect(retried).toMatchObject({ state: 'done', totals: { recordsRead: 5, written: 5, failed: 0 } });
    expect(retried).not.toHaveProperty('lastError');
    expect(memory.items.size).toBe(5);
  });

  it('leaves a shard failed, not done, when the record that fails is in the answer that passes the window end', async () => {
    // Prepare: one GetRecords answer holds the window's records and the first one past its end and grace.
    const { clock, memory, deps, put } = setup(1);
    const from = clock.now() + 1;
    put(S0, 'a', 1);
    put(S0, 'a', 2);
    const to = clock.now();
    clock.advance(100);
    put(S0, 'a', 3);
    const store = new FailingStore([identityOf('a', 2)], memory);
    const window = { from: iso(from), to: iso(to), jobId: 'edge' };
    // Act
    const failed = existingJob(
      await handleReprocessRequest(window, deps({ store, settings: { getRecordsLimit: 10 } })),
    );
    store.failing.clear();
    const retried = await handleReprocessRequest({ jobId: 'edge' }, deps({ store }));
    // Assess: the failed record is kept for the retry, which writes it.
    expect(failed).toMatchObject({ state: 'failed', totals: { recordsRead: 1, written: 1, failed: 1 } });
    expect(failed.shards[0]).toMatchObject({ state: 'failed' });
    expect(retried).toMatchObject({ state: 'done', totals: { recordsRead: 2, written: 2, failed: 0 } });
    expect([...memory.items.keys()].sort()).toEqual([identityOf('a', 1), identityOf('a', 2)].sort());
  });

  it('hands over, not done, a shard whose time reserve ran out in the answer that passes the window end', async () => {
    // Prepare: a time reserve above the budget, and one answer that holds the window and the record past it.
    const { clock, memory, continued, deps, put } = setup(1);
    const from = clock.now() + 1;
    for (let n = 1; n <= 3; n += 1) put(S0, 'a', n);
    const to = clock.now();
    clock.advance(100);
    put(S0, 'a', 4);
    const window = { from: iso(from), to: iso(to), jobId: 'edge-budget' };
    const settings = { getRecordsLimit: 10, timeReserveMs: 5_000, stopReserveMs: 1_000 };
    // Act
    const first = await handleReprocessRequest(window, deps({ budgetMs: 4_000, settings }));
    const second = await handleReprocessRequest(continued[0]!, deps({ owner: 'invocation-2' }));
    // Assess
    expect(first).toMatchObject({ state: 'running', continued: true, totals: { written: 0 } });
    expect(second).toMatchObject({ state: 'done', totals: { recordsRead: 3, written: 3 } });
    expect(memory.items.size).toBe(3);
  });

  it("names a failed parent's own error in the job's, beside the children left waiting on it", async () => {
    // Prepare: a record of the parent keeps failing; its children hold later records.
    const { clock, fake, memory, deps, put } = setup(1);
    const from = clock.now();
    for (let n = 1; n <= 3; n += 1) put(S0, 'a', n);
    const children = fake.split(S0);
    put(children[0]!, 'a', 4);
    const store = new FailingStore([identityOf('a', 2)], memory);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), jobId: 'orphans' }, deps({ store }));
    // Assess
    expect(status.state).toBe('failed');
    expect(status.lastError).toMatch(
      new RegExp(`^1 shard\\(s\\) failed: ${S0}: 2 record\\(s\\) still failed after 2 attempt\\(s\\)`),
    );
    expect(status.lastError).toContain(`; shard(s) ${children.join(', ')} wait on parents that failed`);
  });

  it('reports, per shard, what it read and wrote, its position and its lag behind the window end', async () => {
    // Prepare
    const { clock, jobs, deps, put } = setup(1);
    const from = clock.now();
    const records = Array.from({ length: 6 }, (_, n) => put(S0, 'a', n + 1));
    const to = clock.now();
    await handleReprocessRequest(
      { from: iso(from), to: iso(to), jobId: 'status' },
      deps({ remainingMs: () => ((jobs.shards.get('status')?.get(S0)?.recordsRead ?? 0) >= 3 ? 0 : 60_000) }),
    );
    // Act
    const status = existingJob(await handleReprocessRequest({ action: 'status', jobId: 'status' }, deps()));
    // Assess
    expect(status.shards).toEqual([
      {
        shardId: S0,
        parents: [],
        state: 'reading',
        recordsRead: 3,
        written: 3,
        duplicates: 0,
        staleVersions: 0,
        quarantined: 0,
        failed: 0,
        position: records[2]!.SequenceNumber,
        lastArrival: records[2]!.ApproximateArrivalTimestamp.toISOString(),
        lagMs: 30,
        updatedAt: iso(clock.now()),
      },
    ]);
    expect(status).toMatchObject({ state: 'running', windowEnd: iso(to), invocations: 1 });
  });

  it('measures the lag of a job started without a window end against the end it took, its start', async () => {
    // Prepare: a job without `to` stopped after 3 of 6 records, then a minute in which nothing arrives
    const { clock, jobs, deps, put } = setup(1);
    const from = clock.now();
    Array.from({ length: 6 }, (_, n) => put(S0, 'a', n + 1));
    const started = await handleReprocessRequest(
      { from: iso(from), jobId: 'open' },
      deps({ remainingMs: () => ((jobs.shards.get('open')?.get(S0)?.recordsRead ?? 0) >= 3 ? 0 : 60_000) }),
    );
    clock.advance(60_000);
    // Act
    const status = existingJob(await handleReprocessRequest({ action: 'status', jobId: 'open' }, deps()));
    // Assess: 30 ms of the window is left to read, whatever the time now
    expect(status.shards[0]).toMatchObject({ state: 'reading', recordsRead: 3 });
    expect(status.shards[0]!.lagMs).toBe(
      Date.parse(started.windowEnd) - Date.parse(status.shards[0]!.lastArrival!),
    );
    expect(status.shards[0]!.lagMs).toBe(30);
  });

  it('narrows a job to the asked shards and their descendants, and refuses unknown ones', async () => {
    // Prepare
    const { clock, fake, memory, deps, put } = setup(2);
    const from = clock.now();
    put(S0, 'a', 1);
    put(S1, 'b', 1);
    const [child] = fake.split(S1);
    put(child!, 'b', 2);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), shardIds: [S1] }, deps());
    const unknown = handleReprocessRequest({ from: iso(from), shardIds: ['shardId-000000000009'] }, deps());
    // Assess
    expect(status.shards.map((shard) => shard.shardId)).toEqual([S1, child, expect.any(String)]);
    expect([...memory.items.keys()].sort()).toEqual([identityOf('b', 1), identityOf('b', 2)]);
    await expect(unknown).rejects.toThrow('shard(s) shardId-000000000009 were not open at or after');
  });

  it('hands the work to a new invocation at once when detached', async () => {
    // Prepare
    const { clock, fake, continued, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), jobId: 'bg', detach: true }, deps());
    // Assess
    expect(status).toMatchObject({ jobId: 'bg', state: 'running', continued: true, invocations: 0 });
    expect(continued).toEqual([{ action: 'start', jobId: 'bg', continuation: 1 }]);
    expect(fake.callsOf('GetRecords')).toEqual([]);
  });

  it('stops a chain of continuations at maxInvocations, as a failed job that a new start goes on with', async () => {
    // Prepare
    const { clock, fake, deps, put, memory } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    await handleReprocessRequest({ from: iso(from), jobId: 'loop', detach: true }, deps());
    // Act
    const status = await handleReprocessRequest(
      { jobId: 'loop', continuation: 5 },
      deps({ settings: { maxInvocations: 5 } }),
    );
    const again = await handleReprocessRequest({ jobId: 'loop' }, deps());
    // Assess
    expect(status).toMatchObject({
      state: 'failed',
      lastError: expect.stringContaining('stopped after 5 invocations'),
    });
    expect(again.state).toBe('done');
    expect(memory.items.size).toBe(1);
    expect(fake.callsOf('GetRecords').length).toBeGreaterThan(0);
  });

  it('reads from the oldest shards left when no listed shard was open at `from`', async () => {
    // Prepare: `from` is a minute before the stream existed, so the AT_TIMESTAMP filter lists no shard.
    const { clock, deps, put, memory } = setup(2);
    const from = clock.now() - 60_000;
    put(S0, 'a', 1);
    put(S1, 'b', 2);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), jobId: 'early' }, deps());
    // Assess
    expect(status.state).toBe('done');
    expect(status.shards.map((shard) => shard.shardId)).toEqual([S0, S1]);
    expect(status.totals.written).toBe(2);
    expect(memory.items.size).toBe(2);
  });

  it('reads the children of a shard open at `from` that has since expired, whose records are still kept', async () => {
    // Prepare: S0 was open at `from`, split an hour later, and has passed the retention since (ListShards no longer
    // lists it); its children's records arrived a day later and are still on the stream.
    const { clock, deps, put, memory } = setup(2);
    const from = clock.now();
    put(S0, 'a', 1);
    clock.advance(3_600_000);
    const [s2, s3] = fake!.split(S0);
    clock.advance(25 * 3_600_000);
    fake!.expire(S0);
    put(s2!, 'a', 2);
    put(s3!, 'c', 3);
    put(S1, 'b', 4);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), jobId: 'orphans' }, deps());
    // Assess
    expect(status.state).toBe('done');
    expect(status.shards.map((shard) => shard.shardId)).toEqual([S1, s2, s3]);
    expect([...memory.items.keys()].sort()).toEqual(
      [identityOf('a', 2), identityOf('b', 4), identityOf('c', 3)].sort(),
    );
  });

  it('retries a throttled or failed ListShards and DescribeStreamSummary, which the one-attempt client does not', async () => {
    // Prepare: DescribeStreamSummary allows 20 calls a second per account, ListShards is limited per stream.
    const { clock, deps, put, memory } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    fake!.faults.controlPlane.push('LimitExceededException', 'InternalFailure', 'LimitExceededException');
    // Act
    const status = await handleReprocessRequest({ from: iso(from), jobId: 'throttled' }, deps());
    // Assess
    expect(status.state).toBe('done');
    expect(memory.items.has(identityOf('a', 1))).toBe(true);
    expect(
      fake!.callsOf('DescribeStreamSummary').length + fake!.callsOf('ListShards').length,
    ).toBeGreaterThan(3);
  });

  it('reports access denied on the stream at once, without retrying it', async () => {
    // Prepare
    const { clock, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    fake!.faults.controlPlane.push('AccessDeniedException');
    // Act
    const started = handleReprocessRequest({ from: iso(from), jobId: 'denied' }, deps());
    // Assess
    await expect(started).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(fake!.callsOf('DescribeStreamSummary')).toHaveLength(1);
    expect(fake!.callsOf('ListShards')).toHaveLength(0);
  });

  it('refuses a window that ends before the stream was created, naming both times', async () => {
    // Prepare: the stream was made an hour after the window ended.
    const { clock, fake, deps, jobs } = setup(1);
    const end = clock.now() - 3 * 3_600_000;
    fake.createdAt = end + 3_600_000;
    // Act
    const result = handleReprocessRequest({ from: iso(end - 60_000), to: iso(end), jobId: 'before' }, deps());
    // Assess: refused with both times, and no job is left behind.
    await expect(result).rejects.toThrow(ReprocessRequestError);
    await expect(result).rejects.toThrow(
      `the window ends (${iso(end)}) before stream ${STREAM_NAME} was created (${iso(end + 3_600_000)})`,
    );
    expect(await jobs.getJob('before')).toBeUndefined();
  });

  it.each([
    [
      'starts before the oldest records the stream keeps',
      { fromHoursAgo: 30, toHoursAgo: 2 },
      `the window starts before the oldest records the stream keeps (stream ${STREAM_NAME} keeps records for 24 hours): records that arrived from FROM to KEPT are dropped and are not reprocessed`,
    ],
    [
      'lies wholly past the retention',
      { fromHoursAgo: 30, toHoursAgo: 25 },
      `the whole window is older than the stream's retention (stream ${STREAM_NAME} keeps records for 24 hours): records that arrived before KEPT are dropped, so little or nothing of it is left to read`,
    ],
  ])('warns, in the job and its status, of a window that %s', async (_, window, warning) => {
    // Prepare: a stream made two days ago that keeps records for 24 hours.
    const { clock, fake, deps, jobs } = setup(1);
    fake.createdAt = clock.now() - 48 * 3_600_000;
    const from = iso(clock.now() - window.fromHoursAgo * 3_600_000);
    const to = iso(clock.now() - window.toHoursAgo * 3_600_000);
    const expected = warning.replace('FROM', from).replace('KEPT', iso(clock.now() - 24 * 3_600_000));
    // Act
    const started = await handleReprocessRequest({ from, to, jobId: 'old', detach: true }, deps());
    const status = existingJob(await handleReprocessRequest({ action: 'status', jobId: 'old' }, deps()));
    // Assess
    expect(started.warnings).toEqual([expected]);
    expect(status.warnings).toEqual([expected]);
    expect((await jobs.getJob('old'))!.warnings).toEqual([expected]);
  });

  it("records, per shard and in the job's warnings, a range that passed the retention before it was read", async () => {
    // Prepare: a job whose first invocation read part of a shard (each record costs the clock 200 ms) and whose
    // continuation then waited 25 hours: the stream keeps 24.
    const stream = setup(1);
    const { clock, deps, jobs, continued } = stream;
    const to = await firstInvocationReadsPart(stream, 'slow');
    const checkpoint = (await jobs.listShards('slow'))[0]!;
    clock.advance(25 * 3_600_000);
    // Act
    const status = await handleReprocessRequest(continued[0]!, deps({ owner: 'invocation-2' }));
    // Assess: the shard's range from its checkpoint to the window's end (older than the retention) is named.
    expect(checkpoint).toMatchObject({ state: 'reading', lastArrival: expect.any(String) });
    const range = { from: checkpoint.lastArrival!, to: iso(to) };
    expect(status.shards[0]!.agedOut).toEqual([range]);
    expect(status.warnings).toEqual([
      `${S0}: records that arrived from ${range.from} to ${range.to} passed the stream's retention before they were read: any there were are gone`,
    ]);
    expect(status.state).toBe('done');
  });

  it('lets a shard go, without failing the invocation, when its lease is lost as it records a range past the retention', async () => {
    // Prepare: as above; then another worker holds the shard's lease by the time the range is recorded.
    const stream = setup(1);
    const { clock, deps, continued } = stream;
    class LosingAtAgedOut extends MemoryJobStore {
      lose = false;
      override async checkpoint(...args: Parameters<MemoryJobStore['checkpoint']>) {
        const [jobId, shardId, owner, progress] = args;
        if (this.lose && progress.agedOut !== undefined) {
          // Another worker takes the shard (its lease is given as if this one's had expired) before the write.
          this.lose = false;
          const later = clock.now() + 3_600_000;
          await this.acquireLease(jobId, shardId, 'other-worker', later, later + 3_600_000);
          throw new LeaseLostError(jobId, shardId, owner);
        }
        await super.checkpoint(...args);
      }
    }
    const jobs = new LosingAtAgedOut();
    await firstInvocationReadsPart(stream, 'taken', { jobs });
    clock.advance(25 * 3_600_000);
    jobs.lose = true;
    // Act
    const status = await handleReprocessRequest(continued[0]!, deps({ owner: 'invocation-2', jobs }));
    // Assess: the invocation answers; the shard, the other worker's now, is not read by this one nor marked failed.
    expect(status.state).not.toBe('failed');
    const shard = (await jobs.listShards('taken'))[0]!;
    expect(shard).toMatchObject({ state: 'reading', leaseOwner: 'other-worker' });
    expect(shard.lastError).toBeUndefined();
  });

  it.each([
    ['within the retention', { createdHoursAgo: 48, fromHoursAgo: 23 }],
    ['from before a stream younger than its retention', { createdHoursAgo: 10, fromHoursAgo: 30 }],
  ])('gives no warning for a window %s', async (_, times) => {
    // Prepare
    const { clock, fake, deps } = setup(1);
    fake.createdAt = clock.now() - times.createdHoursAgo * 3_600_000;
    // Act
    const status = await handleReprocessRequest(
      { from: iso(clock.now() - times.fromHoursAgo * 3_600_000), detach: true },
      deps(),
    );
    // Assess
    expect(status.warnings).toBeUndefined();
  });

  it('plans again a job whose planner stopped before adding its shards, instead of finding it finished', async () => {
    // Prepare: the job item exists, its shards do not (another request is still adding them, or died).
    const { clock, deps, put, jobs, memory } = setup(2);
    const from = clock.now();
    put(S0, 'a', 1);
    put(S1, 'b', 2);
    await jobs.createJob({
      jobId: 'half',
      parameters: { from: iso(from), dryRun: false, maxRecordsPerSecond: 1000 },
      projectionVersion: 1,
      windowEnd: iso(clock.now()),
      state: 'running',
      createdAt: iso(clock.now()),
      updatedAt: iso(clock.now()),
      invocations: 0,
    });
    // Act
    const status = await handleReprocessRequest({ jobId: 'half' }, deps());
    // Assess
    expect(status.state).toBe('done');
    expect(status.shards).toHaveLength(2);
    expect(memory.items.size).toBe(2);
    expect((await jobs.getJob('half'))?.planned).toBe(true);
  });

  it('refuses to resume a job written with another projection version', async () => {
    // Prepare
    const { clock, deps, put } = setup(1);
    const from = clock.now();
    put(S0, 'a', 1);
    await handleReprocessRequest({ from: iso(from), jobId: 'v1', detach: true }, deps());
    // Act
    const result = handleReprocessRequest({ jobId: 'v1' }, deps({ settings: { projectionVersion: 2 } }));
    // Assess
    await expect(result).rejects.toThrow('job v1 writes projection version 1, and this function writes 2');
  });

  it.each([
    [null, 'the request must be a JSON object'],
    [{}, 'from is required to start a job'],
    [{ to: '2026-01-01T00:00:00Z' }, 'from is required with to'],
    [
      { from: 'yesterday' },
      'from must be an RFC 3339 time with its offset (2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00), a date (2026-11-27, midnight UTC) or epoch milliseconds, got "yesterday"',
    ],
    [{ from: 'Sun Nov 29 2026' }, 'from must be an RFC 3339 time with its offset'],
    [{ from: '2026-02-30T00:00:00Z' }, 'from is not a real time'],
    [{ from: '2026-02-30' }, 'from is not a real date'],
    [{ from: '2026-01-01T00:00:00Z', to: '2026-13-01T00:00:00Z' }, 'to must be an RFC 3339 time'],
    [
      { from: '2026-11-29T08:40:00' },
      "from has no UTC offset: add Z or ±hh:mm (a time without one is read in each machine's own time zone)",
    ],
    [{ from: '2026-11-29 08:40' }, 'from has no UTC offset'],
    [
      { from: 1764405600 },
      'from looks like epoch seconds (2025-11-29T08:40:00.000Z): in epoch milliseconds that is 1764405600000',
    ],
    [{ from: -5 }, 'from must be an RFC 3339 time'],
    [{ from: 1.5 }, 'from must be an RFC 3339 time'],
    [{ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'to must be after from'],
    [{ from: '2099-01-01T00:00:00Z' }, 'is in the future'],
    [
      { from: '2026-01-01T00:00:00Z', shardIds: ['shard-1'] },
      'shardIds must be a non-empty list of shard ids',
    ],
    [{ from: '2026-01-01T00:00:00Z', maxRecordsPerSecond: 0 }, 'maxRecordsPerSecond must be a whole number'],
    [{ from: '2026-01-01T00:00:00Z', jobId: 'a b' }, 'jobId must be 1-80 letters'],
    [{ from: '2026-01-01T00:00:00Z', form: 1 }, 'unknown field(s) form'],
    [{ action: 'status' }, 'a status request needs the jobId'],
    [{ action: 'status', jobId: 'x', from: '2026-01-01T00:00:00Z' }, 'takes only the jobId'],
    [{ jobId: 'nope' }, 'there is no job nope; give from'],
    [{ action: 'stop', jobId: 'x' }, "action must be 'start' or 'status'"],
  ])('refuses %j', async (request, message) => {
    // Prepare
    const { deps } = setup(1);
    // Act
    const result = handleReprocessRequest(request, deps());
    // Assess
    await expect(result).rejects.toThrow(ReprocessRequestError);
    await expect(result).rejects.toThrow(message);
  });

  it('answers a status request for a job that does not exist as not found, without refusing it', async () => {
    // Prepare
    const { deps, jobs } = setup(1);
    // Act
    const answer = await handleReprocessRequest({ action: 'status', jobId: 'nope' }, deps());
    // Assess: an answer, and nothing created by the look.
    expect(answer).toEqual({ jobId: 'nope', state: 'not-found', message: 'there is no job nope' });
    expect(await jobs.getJob('nope')).toBeUndefined();
  });

  it.each([
    ['2026-11-29T08:40:00Z', '2026-11-29T08:40:00.000Z'],
    ['2026-11-29T08:40:00.5+01:00', '2026-11-29T07:40:00.500Z'],
    ['2026-11-29t08:40:00z', '2026-11-29T08:40:00.000Z'],
    ['2026-11-29', '2026-11-29T00:00:00.000Z'],
    [1764405600000, '2025-11-29T08:40:00.000Z'],
  ])('reads the window bound %j as %s on every machine', (from, expected) => {
    // Act
    const parsed = parseReprocessRequest({ from }, SETTINGS);
    // Assess
    expect(parsed.parameters!.from).toBe(expected);
  });
});

describe('Recovery: reprocessor, ranges past the retention', () => {
  const HOUR = 3_600_000;
  const NOW = Date.parse('2026-11-28T12:00:00Z');
  const stream = { createdAt: NOW - 100 * HOUR, retentionHours: 24 };
  const kept = iso(NOW - 24 * HOUR);
  const at = (hoursAgo: number) => iso(NOW - hoursAgo * HOUR);

  it.each([
    ['a shard not started yet (the window warning covers it)', {}, NOW, undefined],
    ['a shard whose checkpoint is within the retention', { lastArrival: at(23) }, NOW, undefined],
    [
      'a shard whose checkpoint is older: up to the oldest time kept',
      { lastArrival: at(30) },
      NOW,
      [{ from: at(30), to: kept }],
    ],
    [
      'up to the window end when that is earlier',
      { lastArrival: at(30) },
      NOW - 28 * HOUR,
      [{ from: at(30), to: at(28) }],
    ],
    [
      'a shard that has not moved since the last range: replaced, not repeated',
      { lastArrival: at(30), agedOut: [{ from: at(30), to: at(25) }] },
      NOW,
      [{ from: at(30), to: kept }],
    ],
    [
      'a shard that moved on and fell behind again: both ranges',
      { lastArrival: at(30), agedOut: [{ from: at(40), to: at(35) }] },
      NOW,
      [
        { from: at(40), to: at(35) },
        { from: at(30), to: kept },
      ],
    ],
  ])('%s', (_, shard, windowEnd, expected) => {
    expect(agedOutRanges(shard, windowEnd, stream, NOW)).toEqual(expected);
  });
});
