import { fileURLToPath } from 'node:url';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Benchmark, ResultRow } from '#bench/lib/results.ts';
import { benchEvent, countItems, createTable } from '#bench/lib/tables.ts';
import { clientConfig, LOCAL_ACCOUNT_ID, LOCAL_REGION, startSqs } from '#local/emulators/index.ts';
import { startEmulatorThread } from '#local/emulators/thread.ts';
import { kinesisOnFailureRecord, sqsOnFailureSink } from '#local/esm/on-failure.ts';
import type { KinesisOnFailureRecord } from '#local/esm/types.ts';
import { loadTemplate, type Template } from '#local/template/parse.ts';
import { DYNAMODB_CLIENT_SETTINGS } from '#shared/clients/dynamodb.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { KINESIS_CLIENT_SETTINGS } from '#shared/clients/kinesis-settings.ts';
import { MARSHALL_OPTIONS } from '#shared/clients/marshall-options.ts';
import { SHARD_READ_BYTES_PER_SECOND } from '#shared/kinesis/shard-reader.ts';
import { MemoryQuarantine } from '#shared/quarantine/quarantine.ts';
import {
  drainFailureQueue,
  type MessageDetail,
  type ReplayReport,
  replayReport,
} from '#shared/recovery/dlq-replay.ts';
import { DryRunEventStore, DryRunQuarantine, dynamoDbVersionLookup } from '#shared/recovery/dry-run.ts';
import { DynamoDbJobStore } from '#shared/recovery/job-store.ts';
import { MemoryMessageQuarantine } from '#shared/recovery/message-quarantine.ts';
import {
  type ContinueRequest,
  handleReprocessRequest,
  type JobStatus,
  type ReprocessSettings,
} from '#shared/recovery/reprocessor.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';

/**
 * Benchmark 4: records per second for a reprocess and for a DLQ replay of N records, each through the real
 * recovery code (shared/recovery: the reprocessor, and the DLQ replay worker draining on-failure records) with the
 * real DynamoDB sink on kinesalite, dynalite and local-aws-sqs, against raw GetRecords plus raw conditional
 * PutItem over the same records in the same run.
 */

export const recoveryRecords = (env: NodeJS.ProcessEnv = process.env): number => {
  const value = Number(env.BENCH_RECOVERY_RECORDS ?? (env.BENCH_QUICK ? 2_000 : 100_000));
  if (!Number.isInteger(value) || value < 100)
    throw new Error(`BENCH_RECOVERY_RECORDS must be a whole number ≥ 100`);
  return value;
};

const SHARDS = 4;
const WRITERS = 16;
/** GetRecords (and GetShardIterator) calls per second per shard in both halves: Kinesis's limit. */
const GET_RECORDS_PER_SECOND = 5;
/** Records asked of one GetRecords call by the DLQ replay: the function's default (GET_RECORDS_LIMIT). */
const REPLAY_GET_RECORDS_LIMIT = 1_000;

const SETTINGS: Omit<ReprocessSettings, 'streamName'> = {
  projectionVersion: 1,
  keyConcurrency: WRITERS,
  timeReserveMs: 0,
  stopReserveMs: 1_000,
  leaseDurationMs: 60_000,
  windowGraceMs: 1_000,
  defaultMaxRecordsPerSecond: 100_000,
  getRecordsPerSecond: GET_RECORDS_PER_SECOND,
  getRecordsBytesPerSecond: SHARD_READ_BYTES_PER_SECOND,
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

const noMetrics = { addMetric: () => undefined };

const event = (n: number) => benchEvent(n, 'urn:bench:recovery', 'bench.click');

const TEMPLATE = fileURLToPath(new URL('../../template.yaml', import.meta.url));

/** What shapes an on-failure record: records per batch, and invocations before the batch is given up. */
export interface BatchShape {
  batchSize: number;
  approximateInvokeCount: number;
}

/**
 * The consumer's event source mapping as template.yaml deploys it by default: a failed batch holds up to
 * ConsumerBatchSize records and is sent on after 1 + ConsumerMaximumRetryAttempts invocations.
 */
export const consumerBatchShape = (template: Template = loadTemplate(TEMPLATE)): BatchShape => {
  const parameter = (name: string): number => {
    const value = Number(template.Parameters?.[name]?.Default);
    if (!Number.isInteger(value)) throw new Error(`template.yaml has no whole-number default for ${name}`);
    return value;
  };
  return {
    batchSize: parameter('ConsumerBatchSize'),
    // -1 retries until the records expire: counted here as a single invocation.
    approximateInvokeCount: Math.max(0, parameter('ConsumerMaximumRetryAttempts')) + 1,
  };
};

/** The emulators, clients and stream both halves share; the stream holds N records. */
export interface RecoveryBench {
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
  sqs: SQSClient;
  stream: string;
  streamArn: string;
  /** A time before the first record was written: the start of the reprocess window. */
  writtenFrom: string;
  close(): Promise<void>;
}

export const startRecoveryBench = async (
  n: number,
  log: (message: string) => void,
): Promise<RecoveryBench> => {
  const [kinesisEmulator, dynamoEmulator, sqsEmulator] = await Promise.all([
    startEmulatorThread('kinesis'),
    startEmulatorThread('dynamodb'),
    startSqs(),
  ]);
  const kinesis = new KinesisClient({
    ...clientConfig(kinesisEmulator.endpoint),
    ...KINESIS_CLIENT_SETTINGS,
    requestHandler: keepAliveHandler(),
  });
  // With the functions' settings, for the store and for the baseline's writes alike.
  const dynamodb = new DynamoDBClient({
    ...clientConfig(dynamoEmulator.endpoint),
    ...DYNAMODB_CLIENT_SETTINGS,
    requestHandler: keepAliveHandler(),
  });
  // The document client (jobs) needs a client of its own, as in shared/clients/document-client.ts.
  const documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...clientConfig(dynamoEmulator.endpoint), requestHandler: keepAliveHandler() }),
    { marshallOptions: { ...MARSHALL_OPTIONS } },
  );
  const sqs = new SQSClient({ ...clientConfig(sqsEmulator.endpoint), requestHandler: keepAliveHandler() });
  const close = async () => {
    kinesis.destroy();
    dynamodb.destroy();
    documentClient.destroy();
    sqs.destroy();
    await Promise.all([kinesisEmulator.close(), dynamoEmulator.close(), sqsEmulator.close()]);
  };
  try {
    const stream = 'bench-recovery';
    await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: SHARDS }));
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: stream }),
    );
    const writtenFrom = new Date(Date.now() - 60_000).toISOString();
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
    return {
      kinesis,
      dynamodb,
      documentClient,
      sqs,
      stream,
      streamArn: StreamDescriptionSummary!.StreamARN!,
      writtenFrom,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
};

/** A record as GetRecords returned it, with its shard. */
export interface ShardRecord {
  shardId: string;
  sequenceNumber: string;
  arrival: Date;
  data: Uint8Array;
}

/**
 * Raw GetRecords of every shard from its trim horizon until a call answers no record: kinesalite answers
 * MillisBehindLatest 0 on every page, so it cannot tell the tip.
 */
export const readStream = async (
  kinesis: KinesisClient,
  stream: string,
  limit = 10_000,
): Promise<ShardRecord[]> => {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const records: ShardRecord[] = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
      for (const r of page.Records ?? []) {
        records.push({
          shardId: shard.ShardId!,
          sequenceNumber: r.SequenceNumber!,
          arrival: r.ApproximateArrivalTimestamp!,
          data: r.Data!,
        });
      }
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return records;
};

/**
 * Raw GetRecords of every shard, then raw conditional PutItem of every record with WRITERS in parallel. Returns the
 * rate and the records read, which the DLQ half points its on-failure records at.
 */
const rawRate = async (bench: RecoveryBench): Promise<{ perSecond: number; records: ShardRecord[] }> => {
  await createTable(bench.dynamodb, 'raw', [['identity', 'HASH']]);
  const started = performance.now();
  const records = await readStream(bench.kinesis, bench.stream);
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < records.length) {
        const record = records[next++]!;
        await bench.dynamodb.send(
          new PutItemCommand({
            TableName: 'raw',
            Item: { identity: { S: record.sequenceNumber }, payload: { B: record.data } },
            ConditionExpression: 'attribute_not_exists(#identity)',
            ExpressionAttributeNames: { '#identity': 'identity' },
          }),
        );
      }
    }),
  );
  return { perSecond: records.length / ((performance.now() - started) / 1000), records };
};

const eventStore = (bench: RecoveryBench, tableName: string) =>
  new DynamoDbEventStore({ client: bench.dynamodb, tableName, projectionVersion: 1 });

const dryRunSink = (bench: RecoveryBench, tableName: string) => () => ({
  store: new DryRunEventStore(1, dynamoDbVersionLookup(bench.dynamodb, tableName)),
  quarantine: new DryRunQuarantine(),
});

/** A reprocess of the window holding every record, run to its end through continuations. */
const reprocess = async (bench: RecoveryBench) => {
  await createTable(bench.dynamodb, 'events', [['identity', 'HASH']]);
  await createTable(bench.dynamodb, 'jobs', [
    ['jobId', 'HASH'],
    ['item', 'RANGE'],
  ]);
  const pending: ContinueRequest[] = [];
  const deps = {
    kinesis: bench.kinesis,
    jobs: new DynamoDbJobStore({ client: bench.documentClient, tableName: 'jobs', retentionDays: 1 }),
    sink: { store: eventStore(bench, 'events'), quarantine: new MemoryQuarantine() },
    dryRunSink: dryRunSink(bench, 'events'),
    logger: silent,
    metrics: noMetrics,
    owner: 'bench',
    remainingMs: () => 600_000,
    continueJob: async (request: ContinueRequest) => {
      pending.push(request);
    },
    settings: { ...SETTINGS, streamName: bench.stream },
  };
  const started = performance.now();
  let status: JobStatus = await handleReprocessRequest({ from: bench.writtenFrom }, deps);
  while (status.state === 'running' && pending.length > 0) {
    status = await handleReprocessRequest(pending.shift()!, deps);
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, status, items: await countItems(bench.dynamodb, 'events') };
};

export interface FailureMessageOptions extends BatchShape {
  streamArn: string;
  /** When the records were given up. */
  nowMs?: number;
}

/**
 * The on-failure records the consumer's event source mapping would send if every batch of every shard ran out of
 * retries: each shard's records in sequence order, cut into batches of `batchSize`, one record per batch, the
 * shards' batches interleaved.
 */
export const failureMessages = (
  records: readonly ShardRecord[],
  options: FailureMessageOptions,
): KinesisOnFailureRecord[] => {
  const byShard = new Map<string, ShardRecord[]>();
  for (const record of records) {
    const shard = byShard.get(record.shardId) ?? [];
    shard.push(record);
    byShard.set(record.shardId, shard);
  }
  const perShard: KinesisOnFailureRecord[][] = [];
  for (const [shardId, shard] of [...byShard].sort(([a], [b]) => a.localeCompare(b))) {
    const messages: KinesisOnFailureRecord[] = [];
    perShard.push(messages);
    shard.sort((a, b) => {
      const [x, y] = [BigInt(a.sequenceNumber), BigInt(b.sequenceNumber)];
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (let start = 0; start < shard.length; start += options.batchSize) {
      messages.push(
        kinesisOnFailureRecord({
          shardId,
          streamArn: options.streamArn,
          functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:ConsumerFunction`,
          records: shard.slice(start, start + options.batchSize).map((record) => ({
            sequenceNumber: record.sequenceNumber,
            arrivalMs: record.arrival.getTime(),
          })),
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: options.approximateInvokeCount,
          functionError: 'Unhandled',
          nowMs: options.nowMs ?? Date.now(),
        }),
      );
    }
  }
  // In the order the shards' batches would fail, each shard's pollers running side by side: the first batch of
  // every shard, then the second, and so on.
  const messages: KinesisOnFailureRecord[] = [];
  for (let i = 0; perShard.some((shard) => i < shard.length); i += 1) {
    for (const shard of perShard) if (i < shard.length) messages.push(shard[i]!);
  }
  return messages;
};

/** Several on-demand requests, as an operator would send them, so that progress shows: about ten, each 10-10,000. */
const messagesPerRequest = (messages: number): number =>
  Math.min(10_000, Math.max(10, Math.ceil(messages / 10)));

export interface DlqReplayResult {
  messages: number;
  seconds: number;
  report: ReplayReport;
  /** Items in the replay's table afterwards. */
  items: number;
  /** Messages left on the failure queue afterwards, in flight or not. */
  left: number;
}

/**
 * Sends the on-failure records of `records` to a fresh failure queue as the SQS on-failure destination does, then
 * drains it with the on-demand mode of the DLQ replay worker into a fresh table, until every message is handled.
 */
export const replayFailureQueue = async (
  bench: RecoveryBench,
  records: readonly ShardRecord[],
  shape: BatchShape,
  log: (message: string) => void,
): Promise<DlqReplayResult> => {
  const tableName = 'replayed';
  await createTable(bench.dynamodb, tableName, [['identity', 'HASH']]);
  const { QueueUrl: queueUrl } = await bench.sqs.send(
    new CreateQueueCommand({ QueueName: 'bench-failures' }),
  );
  const messages = failureMessages(records, { ...shape, streamArn: bench.streamArn });
  log(`sending ${messages.length.toLocaleString('en-US')} on-failure records to the failure queue`);
  const send = sqsOnFailureSink({ client: bench.sqs, destination: queueUrl! });
  // An SQS destination gets the record alone; the payload is kept only by an S3 destination.
  for (const message of messages) await send(message, { payload: { Records: [] } });

  const deps = {
    kinesis: bench.kinesis,
    streamName: bench.stream,
    sink: { store: eventStore(bench, tableName), quarantine: new MemoryQuarantine() },
    dryRunSink: dryRunSink(bench, tableName),
    messageQuarantine: new MemoryMessageQuarantine(),
    logger: silent,
    metrics: noMetrics,
    keyConcurrency: WRITERS,
    timeReserveMs: 0,
    remainingMs: () => 600_000,
    stopReserveMs: 1_000,
    reader: {
      limit: REPLAY_GET_RECORDS_LIMIT,
      callsPerSecond: GET_RECORDS_PER_SECOND,
      bytesPerSecond: SHARD_READ_BYTES_PER_SECOND,
    },
    attempts: 2,
    sqs: bench.sqs,
    queueUrl: queueUrl!,
    waitTimeSeconds: 0,
  };
  const perRequest = messagesPerRequest(messages.length);
  const details: MessageDetail[] = [];
  const started = performance.now();
  while (details.length < messages.length) {
    const report = await drainFailureQueue(
      { maxMessages: Math.min(perRequest, messages.length - details.length) },
      deps,
    );
    if (report.messages === 0) break;
    details.push(...report.details);
    log(
      `replayed ${details.length.toLocaleString('en-US')} of ${messages.length.toLocaleString('en-US')} messages`,
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const { Attributes } = await bench.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    messages: messages.length,
    seconds,
    report: replayReport(details, false),
    items: await countItems(bench.dynamodb, tableName),
    // Waiting or in flight: either is a message not deleted.
    left:
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
};

/** A rate over records that did not all land means nothing: the run fails instead. */
const checkLanded = (what: string, items: number, n: number) => {
  if (items !== n) throw new Error(`${what}: ${items} items in the table, expected ${n}`);
};

export const recoveryThroughput: Benchmark = {
  id: 4,
  title: 'Recovery throughput',
  async run({ log }) {
    const n = recoveryRecords();
    const shape = consumerBatchShape();
    const bench = await startRecoveryBench(n, log);
    try {
      log('raw GetRecords plus conditional PutItem');
      const raw = await rawRate(bench);

      log('reprocessing the window');
      const { seconds, status, items } = await reprocess(bench);
      checkLanded('reprocess', items, n);
      // Over the records of the window, each landed once: a record read twice costs time, and counts once.
      const reprocessRate = n / seconds;

      log('replaying the failure queue');
      const replay = await replayFailureQueue(bench, raw.records, shape, log);
      checkLanded('DLQ replay', replay.items, n);
      if (replay.left > 0) throw new Error(`DLQ replay: ${replay.left} messages left on the failure queue`);
      const replayRate = n / replay.seconds;
      const failedRecords = replay.report.details.reduce((total, detail) => total + detail.failed, 0);

      const baseline = {
        label: 'raw GetRecords + conditional PutItem',
        value: raw.perSecond,
        unit: 'records/s',
      };
      const rows: ResultRow[] = [
        {
          case: `reprocess of ${n.toLocaleString('en-US')} records, ${SHARDS} shards`,
          measured: { label: 'reprocessor', value: reprocessRate, unit: 'records/s' },
          baseline,
          ratio: { value: reprocessRate / raw.perSecond, label: 'of the raw rate' },
          detail: `${status.state}: read ${status.totals.recordsRead}, written ${status.totals.written}, duplicates ${status.totals.duplicates}, failed ${status.totals.failed}; ${items} items`,
        },
        {
          case: `DLQ replay of ${n.toLocaleString('en-US')} records, ${replay.messages.toLocaleString('en-US')} messages`,
          measured: { label: 'DLQ replay', value: replayRate, unit: 'records/s' },
          baseline,
          ratio: { value: replayRate / raw.perSecond, label: 'of the raw rate' },
          detail: `${replay.report.deleted} of ${replay.messages} messages deleted: read ${replay.report.recordsReplayed}, written ${replay.report.written}, duplicates ${replay.report.duplicates}, failed ${failedRecords}; ${replay.items} items`,
        },
      ];
      return {
        rows,
        notes: [
          `N = ${n.toLocaleString('en-US')} (100,000 by default, the figure the benchmark is specified for; --quick runs 2,000, BENCH_RECOVERY_RECORDS=N any other number). Each rate is N ÷ the elapsed time, and counts only when the table holds exactly N items afterwards: a record read twice costs time and counts once.`,
          "kinesalite and dynalite run each in a worker thread of its own, as the local runtime runs them, for both the recovery code and its baseline: in the benchmark's own thread, a GetRecords of thousands of records held every other request back, past the SDK's 10 s request timeout.",
          "The recovery code and the baseline send through the same clients, with the functions' settings (shared/clients: middleware resolved once per command, SigV4 keys made once).",
          `Reprocessor settings: ${SHARDS} shards read at once, ${WRITERS} keys written at once, no rate limit below 100,000 records/s, GetRecords at ${GET_RECORDS_PER_SECOND} calls/s and 2 MiB/s per shard (Kinesis's limits; the function's defaults are 2 calls/s and 1 MiB/s).`,
          `DLQ replay setup: the same N records, cut per shard into batches of ${shape.batchSize} (ConsumerBatchSize's default), each sent to an SQS failure queue as the on-failure record the event source mapping sends once a batch runs out of retries (RetryAttemptsExhausted, approximateInvokeCount ${shape.approximateInvokeCount}): ${replay.messages.toLocaleString('en-US')} messages of up to ${shape.batchSize} records. They are replayed into a fresh table, so every record is written once.`,
          `DLQ replay settings: the on-demand mode (drainFailureQueue) in requests of up to ${messagesPerRequest(replay.messages)} messages, receives of up to 10 while it holds at most 40 unfinished, those of different shards at once and those of one shard one after another, the held ranges of a shard that follow one another read back together (one GetShardIterator(AT_SEQUENCE_NUMBER), GetRecords of up to their batch sizes together, at most ${REPLAY_GET_RECORDS_LIMIT.toLocaleString('en-US')}, the function's default) at ${GET_RECORDS_PER_SECOND} calls/s of each API and 2 MiB/s per shard (the function's defaults are 2 calls/s and 1 MiB/s), ${WRITERS} keys written at once.`,
        ],
      };
    } finally {
      await bench.close();
    }
  },
};
