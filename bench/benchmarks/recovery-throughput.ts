import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Benchmark, ResultRow } from '#bench/lib/results.ts';
import { clientConfig, startDynamoDb, startKinesis } from '#local/emulators/index.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { MemoryQuarantine } from '#shared/quarantine/quarantine.ts';
import { DryRunEventStore, DryRunQuarantine, dynamoDbVersionLookup } from '#shared/recovery/dry-run.ts';
import { DynamoDbJobStore } from '#shared/recovery/job-store.ts';
import {
  type ContinueRequest,
  handleReprocessRequest,
  type JobStatus,
  type ReprocessSettings,
} from '#shared/recovery/reprocessor.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';

/**
 * Benchmark 4, the reprocessor half: records per second for a reprocess of N records through the real
 * reprocessor (shared/recovery/reprocessor.ts, the real DynamoDB sink and job store) on kinesalite and dynalite,
 * against raw GetRecords plus raw conditional PutItem over the same records in the same run.
 */

export const recoveryRecords = (env: NodeJS.ProcessEnv = process.env): number => {
  const value = Number(env.BENCH_RECOVERY_RECORDS ?? (env.BENCH_QUICK ? 2_000 : 20_000));
  if (!Number.isInteger(value) || value < 100)
    throw new Error(`BENCH_RECOVERY_RECORDS must be a whole number ≥ 100`);
  return value;
};

const SHARDS = 4;
const WRITERS = 16;

const SETTINGS: Omit<ReprocessSettings, 'streamName'> = {
  projectionVersion: 1,
  keyConcurrency: WRITERS,
  timeReserveMs: 0,
  stopReserveMs: 1_000,
  leaseDurationMs: 60_000,
  windowGraceMs: 1_000,
  defaultMaxRecordsPerSecond: 100_000,
  getRecordsPerSecond: 5,
  getRecordsLimit: 10_000,
  shardConcurrency: SHARDS,
  // kinesalite never answers an AT_TIMESTAMP iterator on a shard with no record that recent.
  timestampPositioning: 'scan',
  timestampIteratorTimeoutMs: 1_000,
  retryAttempts: 2,
  maxInvocations: 1_000,
  jobRetentionDays: 1,
};

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const event = (n: number) => ({
  specversion: '1.0',
  id: `bench-${n}`,
  source: 'urn:bench:recovery',
  type: 'bench.click',
  subject: `user-${n % 1000}`,
  data: { n, u: `user-${n % 1000}`, a: 'click', padding: 'x'.repeat(200) },
});

const createTable = (dynamodb: DynamoDBClient, name: string, keys: Array<[string, 'HASH' | 'RANGE']>) =>
  dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keys.map(([AttributeName]) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
    }),
  );

/** Raw GetRecords of every shard, then raw conditional PutItem of every record with WRITERS in parallel. */
const rawRate = async (kinesis: KinesisClient, dynamodb: DynamoDBClient, stream: string): Promise<number> => {
  const started = performance.now();
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const records: Array<{ key: string; data: Uint8Array }> = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) records.push({ key: r.SequenceNumber!, data: r.Data! });
      if ((page.Records ?? []).length === 0 || (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < records.length) {
        const record = records[next++]!;
        await dynamodb.send(
          new PutItemCommand({
            TableName: 'raw',
            Item: { identity: { S: record.key }, payload: { B: record.data } },
            ConditionExpression: 'attribute_not_exists(#identity)',
            ExpressionAttributeNames: { '#identity': 'identity' },
          }),
        );
      }
    }),
  );
  return records.length / ((performance.now() - started) / 1000);
};

export const recoveryThroughput: Benchmark = {
  id: 4,
  title: 'Recovery throughput',
  async run({ log }) {
    const n = recoveryRecords();
    const kinesisEmulator = await startKinesis();
    const dynamoEmulator = await startDynamoDb();
    const kinesis = new KinesisClient({
      ...clientConfig(kinesisEmulator.endpoint),
      requestHandler: keepAliveHandler(),
    });
    const dynamodb = new DynamoDBClient({
      ...clientConfig(dynamoEmulator.endpoint),
      requestHandler: keepAliveHandler(),
    });
    const documentClient = DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true },
    });
    try {
      const stream = 'bench-recovery';
      await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: SHARDS }));
      await createTable(dynamodb, 'events', [['identity', 'HASH']]);
      await createTable(dynamodb, 'raw', [['identity', 'HASH']]);
      await createTable(dynamodb, 'jobs', [
        ['jobId', 'HASH'],
        ['item', 'RANGE'],
      ]);
      const from = new Date(Date.now() - 60_000).toISOString();
      log(`writing ${n.toLocaleString('en-US')} records to ${SHARDS} shards`);
      for (let start = 0; start < n; start += 500) {
        const records = Array.from({ length: Math.min(500, n - start) }, (_, i) => {
          const e = event(start + i);
          return { PartitionKey: e.subject, Data: Buffer.from(JSON.stringify(e), 'utf8') };
        });
        await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records }));
      }
      // kinesalite may date fresh records up to a second ahead; a window must not start before they settle.
      await new Promise((resolve) => setTimeout(resolve, 1_100));

      log('raw GetRecords plus conditional PutItem');
      const raw = await rawRate(kinesis, dynamodb, stream);

      log('reprocessing the window');
      const pending: ContinueRequest[] = [];
      const deps = {
        kinesis,
        jobs: new DynamoDbJobStore({ client: documentClient, tableName: 'jobs', retentionDays: 1 }),
        sink: {
          store: new DynamoDbEventStore({
            client: documentClient,
            tableName: 'events',
            projectionVersion: 1,
          }),
          quarantine: new MemoryQuarantine(),
        },
        dryRunSink: () => ({
          store: new DryRunEventStore(1, dynamoDbVersionLookup(documentClient, 'events')),
          quarantine: new DryRunQuarantine(),
        }),
        logger: silent,
        metrics: { addMetric: () => undefined },
        owner: 'bench',
        remainingMs: () => 600_000,
        continueJob: async (request: ContinueRequest) => {
          pending.push(request);
        },
        settings: { ...SETTINGS, streamName: stream },
      };
      const started = performance.now();
      let status: JobStatus = await handleReprocessRequest({ from }, deps);
      while (status.state === 'running' && pending.length > 0) {
        status = await handleReprocessRequest(pending.shift()!, deps);
      }
      const seconds = (performance.now() - started) / 1000;
      const reprocessRate = status.totals.recordsRead / seconds;
      const rows: ResultRow[] = [
        {
          case: `reprocess of ${n.toLocaleString('en-US')} records, ${SHARDS} shards`,
          measured: { label: 'reprocessor', value: reprocessRate, unit: 'records/s' },
          baseline: { label: 'raw GetRecords + conditional PutItem', value: raw, unit: 'records/s' },
          ratio: { value: reprocessRate / raw, label: 'of the raw rate' },
          detail: `${status.state}: read ${status.totals.recordsRead}, written ${status.totals.written}, duplicates ${status.totals.duplicates}, failed ${status.totals.failed}`,
        },
      ];
      return {
        rows,
        notes: [
          `N = ${n.toLocaleString('en-US')} (the issue names 100,000; BENCH_RECOVERY_RECORDS=100000 runs that, about five times as long; the default keeps npm run bench within minutes on 2 cores).`,
          'The DLQ-replay half of benchmark 4 is not measured yet: only the reprocessor is.',
          `Reprocessor settings: ${SHARDS} shards read at once, ${WRITERS} keys written at once, no rate limit below 100,000 records/s, GetRecords at 5 calls/s per shard (Kinesis's limit).`,
        ],
      };
    } finally {
      kinesis.destroy();
      dynamodb.destroy();
      await kinesisEmulator.close();
      await dynamoEmulator.close();
    }
  },
};
