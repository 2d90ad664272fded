import { createServer } from 'node:http';
import { CreateStreamCommand, GetRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listenOn } from '#local/net.ts';
import { waitForStream } from '#local/resources.ts';
import { type Clock, systemClock } from '#shared/kinesis/rate-limiter.ts';
import { SHARD_READ_BYTES_PER_SECOND } from '#shared/kinesis/shard-reader.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import { DryRunEventStore, DryRunQuarantine, dynamoDbVersionLookup } from '#shared/recovery/dry-run.ts';
import {
  DynamoDbJobStore,
  type JobItem,
  type JobStore,
  LeaseLostError,
  type ShardItem,
} from '#shared/recovery/job-store.ts';
import {
  type ContinueRequest,
  handleReprocessRequest,
  type JobStatus,
  newShardItem,
  type ReprocessDependencies,
  type ReprocessSettings,
} from '#shared/recovery/reprocessor.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';
import { uniqueName } from '#test/helpers/esm-fixtures.ts';
import { testClock } from '#test/helpers/fake-kinesis.ts';
import { metricsRecorder, silentLogger } from '#test/helpers/kinesis-factories.ts';
import {
  createEventTable,
  createJobsTable,
  HASH,
  mergeShards,
  pause,
  putEvent,
  type RecoveryEmulators,
  scanTable,
  splitShard,
  startRecoveryEmulators,
} from '#test/helpers/recovery-emulators.ts';
import { existingJob, identityOf, RecordingStore } from '#test/helpers/recovery-fixtures.ts';

const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';
let env: RecoveryEmulators;
/** Every Kinesis call the reprocessor makes, with the (test) clock's time. */
const calls: Array<{ command: string; input: Record<string, unknown>; at: number }> = [];
let clock: Clock = testClock({ realTime: true });

beforeAll(async () => {
  env = await startRecoveryEmulators({ sqs: false });
  env.kinesis.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({
        command: String(context.commandName).replace(/Command$/, ''),
        input: args.input as Record<string, unknown>,
        at: clock.now(),
      });
      return next(args);
    },
    { step: 'initialize', name: 'recordReprocessorCalls' },
  );
});

afterAll(async () => {
  await env?.close();
});

beforeEach(() => {
  calls.length = 0;
  // Sleeps move this clock on instead of waiting: rate limits and leases are decided by it, not by the wall.
  clock = testClock({ realTime: true });
});

const SETTINGS: ReprocessSettings = {
  streamName: '',
  projectionVersion: 1,
  keyConcurrency: 4,
  timeReserveMs: 0,
  stopReserveMs: 1_000,
  leaseDurationMs: 5_000,
  windowGraceMs: 200,
  defaultMaxRecordsPerSecond: 1_000,
  getRecordsPerSecond: 5,
  getRecordsBytesPerSecond: SHARD_READ_BYTES_PER_SECOND,
  getRecordsLimit: 4,
  shardConcurrency: 4,
  timestampPositioning: 'iterator',
  timestampIteratorTimeoutMs: 1_000,
  retryAttempts: 2,
  maxInvocations: 100,
  jobRetentionDays: 1,
};

const scenario = async (shards = 1) => {
  const streamName = uniqueName('reprocess');
  await env.kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  await waitForStream(env.kinesis, streamName);
  const tableName = await createEventTable(env.documentClient);
  const jobs = new DynamoDbJobStore({
    client: env.documentClient,
    tableName: await createJobsTable(env.documentClient),
    retentionDays: 1,
  });
  const quarantine = new S3Quarantine({
    client: env.s3,
    bucket: env.bucket,
    prefix: `${streamName}/quarantine/`,
  });
  const continued: ContinueRequest[] = [];
  const sink = (projectionVersion = 1) =>
    new RecordingStore(new DynamoDbEventStore({ client: env.dynamodb, tableName, projectionVersion }));
  const deps = (
    options: {
      owner?: string;
      store?: RecordingStore;
      remainingMs?: () => number;
      settings?: Partial<ReprocessSettings>;
      jobs?: JobStore;
      continueJob?: (request: ContinueRequest) => Promise<void>;
    } = {},
  ): ReprocessDependencies => {
    const store = options.store ?? sink();
    return {
      kinesis: env.kinesis,
      jobs: options.jobs ?? jobs,
      sink: { store, quarantine },
      dryRunSink: () => ({
        store: new DryRunEventStore(store.projectionVersion, dynamoDbVersionLookup(env.dynamodb, tableName)),
        quarantine: new DryRunQuarantine(),
      }),
      logger: silentLogger(),
      metrics: metricsRecorder(),
      owner: options.owner ?? 'invocation-1',
      remainingMs: options.remainingMs ?? (() => 600_000),
      continueJob:
        options.continueJob ??
        (async (request) => {
          continued.push(request);
        }),
      settings: { ...SETTINGS, streamName, ...options.settings },
      clock,
    };
  };
  const put = (key: string, n: number, hash?: string) => putEvent(env.kinesis, streamName, key, n, hash);
  const items = () => scanTable(env.documentClient, tableName);
  return { streamName, tableName, jobs, continued, sink, deps, put, items };
};

const iso = (ms: number) => new Date(ms).toISOString();

/** A shard of a job, not yet read, as the plan makes it. */
const pendingShard = (jobId: string, shardId: string, at: string): ShardItem =>
  newShardItem(jobId, { ShardId: shardId }, new Set(), 'AT_TIMESTAMP', at);

/** A running job of a window that starts and ends at `at`, not yet worked on; `over` changes any field. */
const jobItem = (jobId: string, at: string, over: Partial<JobItem> = {}): JobItem => ({
  jobId,
  parameters: { from: at, dryRun: false, maxRecordsPerSecond: 10 },
  projectionVersion: 1,
  windowEnd: at,
  state: 'running',
  createdAt: at,
  updatedAt: at,
  invocations: 0,
  ...over,
});

/** The event numbers of each key, in the order they reached the sink. */
const orderByKey = (store: RecordingStore): Record<string, number[]> => {
  const order: Record<string, number[]> = {};
  for (const put of store.puts) {
    const { key, n } = put.data as { key: string; n: number };
    order[key] = [...(order[key] ?? []), n];
  }
  return order;
};

describe('Recovery: reprocessor against the emulators', () => {
  it('keeps each key in order across a split and a merge, reading parents before children', async () => {
    // Prepare: a and b start on shard 0, c on shard 1; shard 0 splits into 2 (a) and 3 (b); 3 and 1 merge into 4.
    const { streamName, sink, deps, put } = await scenario(2);
    const from = Date.now();
    for (let n = 1; n <= 5; n += 1) {
      await put('a', n, HASH.low);
      await put('b', n, HASH.lowerMiddle);
      await put('c', n, HASH.high);
    }
    await splitShard(env.kinesis, streamName, S0, 2n ** 126n);
    await put('a', 6, HASH.low);
    await put('b', 6, HASH.lowerMiddle);
    await put('c', 6, HASH.high);
    await mergeShards(env.kinesis, streamName, 'shardId-000000000003', 'shardId-000000000001');
    await put('b', 7, HASH.lowerMiddle);
    await put('c', 7, HASH.high);
    await put('a', 7, HASH.low);
    // kinesalite dates the records of a new shard up to a second ahead; the job starts once they are all past.
    await pause(1_100);
    const store = sink();
    // Act
    const status = await handleReprocessRequest(
      { from: iso(from), jobId: 'reshard' },
      deps({ store, settings: { shardConcurrency: 10 } }),
    );
    // Assess
    expect(orderByKey(store)).toEqual({
      a: [1, 2, 3, 4, 5, 6, 7],
      b: [1, 2, 3, 4, 5, 6, 7],
      c: [1, 2, 3, 4, 5, 6, 7],
    });
    expect(status.state).toBe('done');
    expect(status.totals).toMatchObject({ recordsRead: 21, written: 21, duplicates: 0, failed: 0 });
    expect(status.shards.map((shard) => [shard.shardId, shard.parents, shard.endReason])).toEqual([
      [S0, [], 'shard-end'],
      ['shardId-000000000001', [], 'shard-end'],
      ['shardId-000000000002', [S0], 'tip'],
      ['shardId-000000000003', [S0], 'shard-end'],
      ['shardId-000000000004', ['shardId-000000000003', 'shardId-000000000001'], 'tip'],
    ]);
  });

  it('positions at `from` with a real AT_TIMESTAMP iterator where the shard has newer records', async () => {
    // Prepare
    const { deps, put, items } = await scenario(1);
    await put('a', 1);
    await pause();
    const from = Date.now();
    await put('a', 2);
    await put('a', 3);
    // Act
    const status = await handleReprocessRequest(
      { from: iso(from) },
      deps({ settings: { timestampPositioning: 'iterator' } }),
    );
    // Assess
    expect(status.totals.written).toBe(2);
    expect((await items()).map((item) => item.identity).sort()).toEqual([
      identityOf('a', 2),
      identityOf('a', 3),
    ]);
    expect(calls.find((call) => call.command === 'GetShardIterator')?.input).toMatchObject({
      ShardIteratorType: 'AT_TIMESTAMP',
    });
  });

  it('positions at the next record to come where a shard has no record after `from`', async () => {
    // Prepare: shard 1 has no record after `from` (plain kinesalite never answered such an AT_TIMESTAMP request).
    const { deps, put, items } = await scenario(2);
    await put('b', 1, HASH.high);
    await pause();
    const from = Date.now();
    await put('a', 1, HASH.low);
    // Act
    const status = await handleReprocessRequest({ from: iso(from) }, deps());
    // Assess
    expect(status.state).toBe('done');
    expect((await items()).map((item) => item.identity)).toEqual([identityOf('a', 1)]);
    expect(
      calls.filter((call) => call.command === 'GetShardIterator').map((call) => call.input.ShardIteratorType),
    ).toEqual(['AT_TIMESTAMP', 'AT_TIMESTAMP']);
  });

  it('reads a shard by scan when the emulator gives no AT_TIMESTAMP iterator for it', async () => {
    // Prepare: shard 1 has no record after `from`, and its AT_TIMESTAMP request goes to a server that never answers,
    // as emulators without the local runtime's fix do; shard 0's, to kinesalite, gets the suite's 1 s to answer, not
    // 300 ms, which a busy machine can spend, so that it is not scanned as well.
    const { deps, put, items } = await scenario(2);
    await put('b', 1, HASH.high);
    await pause();
    const from = Date.now();
    await put('a', 1, HASH.low);
    const silent = createServer(() => undefined);
    const { port: silentPort, close: closeSilent } = await listenOn(silent, 0);
    env.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ShardIteratorType?: string; ShardId?: string };
        if (
          context.commandName === 'GetShardIteratorCommand' &&
          input.ShardIteratorType === 'AT_TIMESTAMP' &&
          input.ShardId === S1
        )
          (args.request as { port?: number }).port = silentPort;
        return next(args);
      },
      { step: 'finalizeRequest', name: 'silentAtTimestamp' },
    );
    try {
      // Act
      const status = await handleReprocessRequest({ from: iso(from) }, deps());
      // Assess
      expect(status.state).toBe('done');
      expect((await items()).map((item) => item.identity)).toEqual([identityOf('a', 1)]);
      expect(
        calls
          .filter((call) => call.command === 'GetShardIterator')
          .map((call) => call.input.ShardIteratorType)
          .sort(),
      ).toEqual(['AT_TIMESTAMP', 'AT_TIMESTAMP', 'TRIM_HORIZON']);
    } finally {
      env.kinesis.middlewareStack.remove('silentAtTimestamp');
      await closeSilent();
    }
  });

  it('processes nothing after `to`, and stops reading past its grace', async () => {
    // Prepare
    const { deps, put, items } = await scenario(1);
    await put('a', 1);
    await pause();
    const from = Date.now();
    for (let n = 2; n <= 4; n += 1) await put('a', n);
    const to = Date.now();
    await pause(300);
    for (let n = 5; n <= 12; n += 1) await put('a', n);
    // Act
    const status = await handleReprocessRequest({ from: iso(from), to: iso(to) }, deps());
    // Assess
    expect((await items()).map((item) => item.identity).sort()).toEqual(
      [2, 3, 4].map((n) => identityOf('a', n)).sort(),
    );
    expect(status.shards[0]).toMatchObject({ state: 'done', endReason: 'window-end', recordsRead: 3 });
    // 12 records at 4 per call: reading stops within the batch that crosses the window, not at the tip.
    expect(calls.filter((call) => call.command === 'GetRecords').length).toBeLessThan(4);
  });

  it('resumes a job killed in the middle from its last checkpoint, losing nothing', async () => {
    // Prepare: the job store stops answering after the second checkpoint, as when an invocation dies.
    const { jobs, deps, put, items } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 14; n += 1) await put('k', n);
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
    await expect(
      handleReprocessRequest({ from: iso(from), jobId: 'killed' }, deps({ jobs: dying })),
    ).rejects.toThrow('the invocation died');
    const before = (await jobs.listShards('killed'))[0]!;
    // Act
    const status = await handleReprocessRequest({ jobId: 'killed' }, deps({ owner: 'invocation-2' }));
    // Assess
    expect(before).toMatchObject({ state: 'reading', recordsRead: 8, leaseOwner: 'invocation-1' });
    const resumedAt = calls.filter((call) => call.command === 'GetShardIterator').at(-1)!.input;
    expect(resumedAt).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      StartingSequenceNumber: before.position,
    });
    expect(status).toMatchObject({ state: 'done', invocations: 2 });
    expect(status.totals.recordsRead).toBe(14);
    const stored = await items();
    expect(stored.map((item) => item.identity).sort()).toEqual(
      Array.from({ length: 14 }, (_, i) => identityOf('k', i + 1)).sort(),
    );
  });

  it('lets only one of two workers lease a shard, and writes every event once', async () => {
    // Prepare
    const { jobs, sink, deps, put } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 10; n += 1) await put('k', n);
    // Real time here: the waiting worker's sleeps must not run the holder's lease out faster than it works.
    clock = systemClock;
    await handleReprocessRequest({ from: iso(from), jobId: 'contended', detach: true }, deps());
    const grants: Array<[string, boolean]> = [];
    const spying = new Proxy(jobs, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (name !== 'acquireLease') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<JobStore['acquireLease']>) => {
          const leased = await target.acquireLease(...args);
          grants.push([args[2], leased !== undefined]);
          return leased;
        };
      },
    });
    const store = sink();
    // Act
    const [one, two] = await Promise.all([
      handleReprocessRequest({ jobId: 'contended' }, deps({ owner: 'worker-1', jobs: spying, store })),
      handleReprocessRequest({ jobId: 'contended' }, deps({ owner: 'worker-2', jobs: spying, store })),
    ]);
    // Assess
    const winners = new Set(grants.filter(([, granted]) => granted).map(([owner]) => owner));
    expect(winners.size).toBe(1);
    expect(store.puts).toHaveLength(10);
    expect([one.state, two.state]).toEqual(['done', 'done']);
    expect(one.totals).toMatchObject({ recordsRead: 10, written: 10, duplicates: 0 });
  });

  it('grants a shard lease to one of two owners asking at once, and fences the first after a takeover', async () => {
    // Prepare
    const { jobs } = await scenario(1);
    const now = Date.now();
    const at = iso(now);
    await jobs.createJob(jobItem('lease', at));
    await jobs.addShard(pendingShard('lease', S0, at));
    // Act
    const both = await Promise.all(
      ['worker-1', 'worker-2', 'worker-3'].map((owner) =>
        jobs.acquireLease('lease', S0, owner, now, now + 5_000),
      ),
    );
    const holder = both.find((leased) => leased !== undefined)!.leaseOwner!;
    const other = holder === 'worker-1' ? 'worker-2' : 'worker-1';
    const beforeExpiry = await jobs.acquireLease('lease', S0, other, now + 4_000, now + 9_000);
    const afterExpiry = await jobs.acquireLease('lease', S0, other, now + 6_000, now + 11_000);
    const fenced = jobs.checkpoint('lease', S0, holder, { recordsRead: 1 }, now + 12_000, at);
    // Assess
    expect(both.filter((leased) => leased !== undefined)).toHaveLength(1);
    expect(beforeExpiry).toBeUndefined();
    expect(afterExpiry).toMatchObject({ leaseOwner: other, leaseExpiresAt: now + 11_000 });
    await expect(fenced).rejects.toThrow(LeaseLostError);
  });

  it("moves a shard item's expiry with every write that changes it, an operator's skip and retry included", async () => {
    // Prepare
    const tableName = await createJobsTable(env.documentClient);
    const jobs = new DynamoDbJobStore({ client: env.documentClient, tableName, retentionDays: 30 });
    const created = '2026-11-01T00:00:00.000Z';
    const later = '2026-11-20T00:00:00.000Z';
    await jobs.addShard(pendingShard('ttl', 'shardId-000000000001', created));
    await jobs.addShard(pendingShard('ttl', 'shardId-000000000002', created));
    const now = Date.parse(created);
    await jobs.acquireLease('ttl', 'shardId-000000000002', 'worker', now, now + 5_000);
    await jobs.checkpoint('ttl', 'shardId-000000000002', 'worker', { state: 'failed' }, now + 5_000, created);
    const expiryOf = async (shardId: string) =>
      (
        await env.documentClient.send(
          new GetCommand({ TableName: tableName, Key: { jobId: 'ttl', item: `shard#${shardId}` } }),
        )
      ).Item?.expiresAt;
    const before = await expiryOf('shardId-000000000001');

    // Act
    await jobs.skipShard('ttl', 'shardId-000000000001', Date.parse(later), later);
    await jobs.retryShard('ttl', 'shardId-000000000002', later);

    // Assess
    const thirtyDaysAfter = (at: string) => Date.parse(at) / 1000 + 30 * 86_400;
    expect(before).toBe(thirtyDaysAfter(created));
    expect(await expiryOf('shardId-000000000001')).toBe(thirtyDaysAfter(later));
    expect(await expiryOf('shardId-000000000002')).toBe(thirtyDaysAfter(later));
  });

  it("removes a failed job's last error when it is taken up again, and keeps the other fields", async () => {
    // Prepare: a job that failed with an error.
    const tableName = await createJobsTable(env.documentClient);
    const jobs = new DynamoDbJobStore({ client: env.documentClient, tableName, retentionDays: 30 });
    const at = '2026-11-01T00:00:00.000Z';
    await jobs.createJob(
      jobItem('again', at, {
        state: 'failed',
        invocations: 1,
        lastError: '1 shard(s) failed',
        planned: true,
      }),
    );
    // Act
    await jobs.updateJob('again', { state: 'running', updatedAt: at, lastError: null });
    // Assess
    const job = await jobs.getJob('again');
    expect(job).toMatchObject({ state: 'running', planned: true, invocations: 1 });
    expect(job).not.toHaveProperty('lastError');
  });

  it('removes a field in an update that sets nothing else', async () => {
    // Prepare
    const tableName = await createJobsTable(env.documentClient);
    const jobs = new DynamoDbJobStore({ client: env.documentClient, tableName, retentionDays: 30 });
    const at = '2026-11-01T00:00:00.000Z';
    await jobs.createJob(jobItem('only-remove', at, { state: 'failed', lastError: 'stuck' }));
    // Act: no value to send, so no ExpressionAttributeValues either (DynamoDB refuses an empty map).
    await jobs.updateJob('only-remove', { lastError: null });
    // Assess
    const job = await jobs.getJob('only-remove');
    expect(job).toMatchObject({ state: 'failed', updatedAt: at });
    expect(job).not.toHaveProperty('lastError');
  });

  it('holds GetRecords to its per-shard rate and records to maxRecordsPerSecond', async () => {
    // Prepare
    const { sink, deps, put } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 15; n += 1) await put('k', n);
    // A clock that only sleeps move: the times below are the limiters' decisions, with no wall-clock jitter.
    clock = testClock({ start: Date.now() + 1_000 });
    const times: number[] = [];
    const store = sink();
    const put_ = store.put.bind(store);
    store.put = async (event) => {
      times.push(clock.now());
      return put_(event);
    };
    // Act
    await handleReprocessRequest(
      { from: iso(from), maxRecordsPerSecond: 5 },
      deps({ store, settings: { getRecordsLimit: 100, getRecordsPerSecond: 3 } }),
    );
    // Assess
    const getRecords = calls.filter((call) => call.command === 'GetRecords');
    expect(getRecords.every((call) => call.input.Limit === 5)).toBe(true);
    const gaps = getRecords.slice(1).map((call, i) => call.at - getRecords[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(333);
    expect(times).toHaveLength(15);
    const busiestSecond = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1_000).length));
    expect(busiestSecond).toBeLessThanOrEqual(5);
  });

  it('in a dry run reports what it would write and writes nothing', async () => {
    // Prepare
    const { sink, deps, put, items } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 5; n += 1) await put('k', n);
    const store = sink();
    // Act
    const status = await handleReprocessRequest({ from: iso(from), dryRun: true }, deps({ store }));
    // Assess
    expect(status).toMatchObject({ dryRun: true, state: 'done' });
    expect(status.totals).toMatchObject({ recordsRead: 5, written: 5 });
    expect(store.puts).toEqual([]);
    expect(await items()).toEqual([]);
  });

  it('writes nothing again with the same projection version, and rewrites each item exactly once after a raise', async () => {
    // Prepare
    const { sink, deps, put, items } = await scenario(2);
    const from = Date.now();
    for (let n = 1; n <= 6; n += 1) await put(`k${n}`, n);
    const to = iso(Date.now());
    const first = await handleReprocessRequest({ from: iso(from), to }, deps());
    // Act
    const same = await handleReprocessRequest({ from: iso(from), to }, deps());
    const raised = await handleReprocessRequest(
      { from: iso(from), to },
      deps({ store: sink(2), settings: { projectionVersion: 2 } }),
    );
    const raisedAgain = await handleReprocessRequest(
      { from: iso(from), to },
      deps({ store: sink(2), settings: { projectionVersion: 2 } }),
    );
    // Assess
    expect(first.totals).toMatchObject({ written: 6, duplicates: 0 });
    expect(same.totals).toMatchObject({ written: 0, duplicates: 6 });
    expect(raised.totals).toMatchObject({ written: 6, duplicates: 0 });
    expect(raisedAgain.totals).toMatchObject({ written: 0, duplicates: 6 });
    expect((await items()).map((item) => Number(item.projectionVersion))).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('continues itself across invocations until the job is done, each resuming where the last one stopped', async () => {
    // Prepare: each invocation has time for about two batches; the continuation runs the next invocation.
    const { sink, deps, put } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 20; n += 1) await put('k', n);
    const store = sink();
    const statuses: JobStatus[] = [];
    const invocation = (owner: string) => {
      const deadline = clock.now() + 3_000;
      return deps({
        owner,
        store,
        settings: { getRecordsPerSecond: 1 },
        remainingMs: () => deadline - clock.now(),
        continueJob: async (request) => {
          statuses.push(
            await handleReprocessRequest(request, invocation(`invocation-${request.continuation + 1}`)),
          );
        },
      });
    };
    // Act
    const first = await handleReprocessRequest(
      { from: iso(from), jobId: 'chain' },
      invocation('invocation-1'),
    );
    // Assess
    const last = statuses[0]!;
    expect(first.continued).toBe(true);
    expect(last).toMatchObject({ state: 'done', continued: false });
    expect(last.invocations).toBeGreaterThan(2);
    expect(last.totals).toMatchObject({ recordsRead: 20, written: 20, duplicates: 0 });
    expect(orderByKey(store)).toEqual({ k: Array.from({ length: 20 }, (_, i) => i + 1) });
  });

  it('fails the invocation, reading the shard once, when the jobs table refuses the failed state of a read error', async () => {
    // Prepare: GetRecords is refused after the first batch, and so is the jobs table's write of the shard's failed state.
    const { sink, deps, put, items } = await scenario(1);
    const from = Date.now();
    for (let n = 1; n <= 6; n += 1) await put('k', n);
    const jobsTable = {
      client: env.documentClient,
      tableName: await createJobsTable(env.documentClient),
      retentionDays: 1,
    };
    class RefusingFailedState extends DynamoDbJobStore {
      override async checkpoint(...args: Parameters<DynamoDbJobStore['checkpoint']>) {
        if (args[3].state === 'failed') {
          throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError' });
        }
        return super.checkpoint(...args);
      }
    }
    let getRecords = 0;
    const kinesis: Pick<KinesisClient, 'send'> = {
      send: (async (command: unknown, ...rest: unknown[]) => {
        if (command instanceof GetRecordsCommand) getRecords += 1;
        if (command instanceof GetRecordsCommand && getRecords >= 2) {
          throw Object.assign(new Error('not authorized to perform kinesis:GetRecords'), {
            name: 'AccessDeniedException',
          });
        }
        return (env.kinesis.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
      }) as KinesisClient['send'],
    };
    const store = sink();
    const deadline = clock.now() + 10_000;
    // Act
    const failure = await handleReprocessRequest(
      { from: iso(from), jobId: 'unrecorded' },
      {
        ...deps({
          store,
          jobs: new RefusingFailedState(jobsTable),
          remainingMs: () => deadline - clock.now(),
        }),
        kinesis,
      },
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    const iterators = calls.filter((call) => call.command === 'GetShardIterator').length;
    const jobs = new DynamoDbJobStore(jobsTable);
    const status = existingJob(
      await handleReprocessRequest({ action: 'status', jobId: 'unrecorded' }, deps({ jobs })),
    );
    const resumed = await handleReprocessRequest(
      { from: iso(from), jobId: 'unrecorded' },
      deps({ store, jobs, owner: 'invocation-2' }),
    );
    // Assess: one reader of the shard; the job is left running at its last checkpoint, and a new run of it goes on
    // from there and writes every event once.
    expect(iterators).toBe(1);
    expect(getRecords).toBe(2);
    expect((failure as Error).message).toMatch(
      /^reading shardId-000000000000 of job unrecorded failed \(not authorized to perform kinesis:GetRecords\), and the failure could not be recorded \(Internal server error\)/,
    );
    expect(status).toMatchObject({ state: 'running' });
    expect(status.shards[0]).toMatchObject({ state: 'reading', recordsRead: 4 });
    expect(status.shards[0]!.lease).toBeUndefined();
    expect(resumed).toMatchObject({ state: 'done', totals: { recordsRead: 6, written: 6, duplicates: 0 } });
    expect(orderByKey(store)).toEqual({ k: [1, 2, 3, 4, 5, 6] });
    expect(await items()).toHaveLength(6);
  });
});
