import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { CreateQueueCommand, type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  clientConfig,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type RunningEmulator,
  startKinesis,
} from '#local/emulators/index.ts';
import { InMemoryCheckpointStore } from '#local/esm/checkpoint-store.ts';
import { KinesisPoller, type KinesisPollerOptions } from '#local/esm/kinesis-poller.ts';
import type {
  InvokeResult,
  KinesisEventProperties,
  KinesisOnFailureRecord,
  KinesisPollerEvent,
} from '#local/esm/types.ts';

/** Polls `predicate` until it holds; fails the test with `what` after `timeoutMs`. */
export const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

export const kinesisClient = (endpoint: string): KinesisClient =>
  new KinesisClient({ ...clientConfig(endpoint), requestHandler: new NodeHttpHandler() });

export const sqsClient = (endpoint: string): SQSClient =>
  new SQSClient({ ...clientConfig(endpoint), requestHandler: new NodeHttpHandler() });

let streams = 0;
/** A fresh stream name per test, so tests in one file share an emulator but not data. */
export const uniqueName = (prefix: string): string => {
  streams += 1;
  return `${prefix}-${process.pid}-${streams}`;
};

export const waitForActive = async (client: KinesisClient, streamName: string): Promise<void> => {
  for (;;) {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

export const createStream = async (
  client: KinesisClient,
  shardCount = 1,
  prefix = 'stream',
): Promise<string> => {
  const streamName = uniqueName(prefix);
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await waitForActive(client, streamName);
  return streamName;
};

/** Writes records in one PutRecords call (in order) and returns their sequence numbers. */
export const putRecords = async (
  client: KinesisClient,
  streamName: string,
  records: Array<{ key: string; data: string | Uint8Array }>,
): Promise<PutRecordsResultEntry[]> => {
  const { Records, FailedRecordCount } = await client.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: records.map(({ key, data }) => ({
        PartitionKey: key,
        Data: typeof data === 'string' ? Buffer.from(data) : data,
      })),
    }),
  );
  if (FailedRecordCount) throw new Error(`${FailedRecordCount} records were not written`);
  return Records ?? [];
};

/** Every record of a shard, as the Kinesis API returns them (to compare with what the function received). */
export const readShard = async (client: KinesisClient, streamName: string, shardId: string) => {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({
      StreamName: streamName,
      ShardId: shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  const { Records } = await client.send(new GetRecordsCommand({ ShardIterator }));
  return Records ?? [];
};

/** A stand-in for the Lambda function: keeps a copy of every event and answers with `respond`. */
export class RecordingFunction<TEvent extends KinesisStreamEvent | SQSEvent> {
  readonly events: TEvent[] = [];
  respond: (event: TEvent, call: number) => InvokeResult | Promise<InvokeResult> = () => ({});

  readonly invoke = async (event: TEvent): Promise<InvokeResult> => {
    this.events.push(structuredClone(event));
    return this.respond(event, this.events.length);
  };

  /** The data of each invocation's records, decoded (Kinesis) or the bodies (SQS). */
  batches(): string[][] {
    return this.events.map((event) =>
      event.Records.map((record) =>
        'kinesis' in record ? Buffer.from(record.kinesis.data, 'base64').toString('utf8') : record.body,
      ),
    );
  }
}

export const decodeData = (record: KinesisStreamEvent['Records'][number]): string =>
  Buffer.from(record.kinesis.data, 'base64').toString('utf8');

/** Collects on-failure records as an SQS sink would receive them. */
export class FailureCollector {
  readonly records: KinesisOnFailureRecord[] = [];
  /** The event of the discarded records that came with each on-failure record. */
  readonly payloads: KinesisStreamEvent[] = [];
  readonly sink = async (
    record: KinesisOnFailureRecord,
    details: { payload: KinesisStreamEvent },
  ): Promise<void> => {
    this.records.push(structuredClone(record));
    this.payloads.push(structuredClone(details.payload));
  };
}

export const createQueue = async (
  client: SQSClient,
  attributes: Record<string, string> = {},
  prefix = 'queue',
): Promise<{ url: string; arn: string; name: string }> => {
  const name = uniqueName(prefix);
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return { url: QueueUrl!, arn: `arn:aws:sqs:us-east-1:000000000000:${name}`, name };
};

/** Receives until `count` messages have arrived (they stay invisible for the queue's visibility timeout). */
export const receiveMessages = async (
  client: SQSClient,
  queueUrl: string,
  count: number,
  timeoutMs = 10_000,
): Promise<Message[]> => {
  const messages: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (messages.length < count) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${count} messages on ${queueUrl}`);
    const { Messages } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        AttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    messages.push(...(Messages ?? []));
    if (!Messages?.length) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return messages;
};

/** A time base that tests can move forward, to age records without waiting. */
export class TestClock {
  offsetMs = 0;
  fixedMs: number | undefined;
  readonly now = (): number => this.fixedMs ?? Date.now() + this.offsetMs;
}

export interface KinesisPollerFixture {
  poller: KinesisPoller;
  fn: RecordingFunction<KinesisStreamEvent>;
  failures: FailureCollector;
  events: KinesisPollerEvent[];
}

/**
 * Starts a poller on `streamName` with fast timings (20 ms idle polls, no retry backoff) and a recording
 * function that answers with `respond`. Stop it with `poller.stop()`.
 */
export const startKinesisPoller = async (
  client: KinesisClient,
  streamName: string,
  properties: KinesisEventProperties,
  options: Partial<KinesisPollerOptions> & {
    respond?: RecordingFunction<KinesisStreamEvent>['respond'];
    start?: boolean;
  } = {},
): Promise<KinesisPollerFixture> => {
  const { respond, start = true, ...overrides } = options;
  const fn = new RecordingFunction<KinesisStreamEvent>();
  if (respond) fn.respond = respond;
  const failures = new FailureCollector();
  const events: KinesisPollerEvent[] = [];
  const poller = new KinesisPoller({
    client,
    stream: streamName,
    properties,
    invoke: fn.invoke,
    onFailure: failures.sink,
    checkpoints: new InMemoryCheckpointStore(),
    mappingId: `Consumer/${streamName}`,
    functionName: 'Consumer',
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    pollIntervalMs: 20,
    retryBaseDelayMs: 0,
    onEvent: (event) => events.push(event),
    ...overrides,
  });
  if (start) await poller.start();
  return { poller, fn, failures, events };
};

/**
 * A describe block's kinesalite and its pollers: the emulator starts before the block, every poller started with
 * `start` stops after its test, and the emulator closes after the block.
 */
export const kinesisPollerSuite = () => {
  let emulator: RunningEmulator | undefined;
  let client: KinesisClient | undefined;
  const pollers: KinesisPoller[] = [];
  beforeAll(async () => {
    emulator = await startKinesis();
    client = kinesisClient(emulator.endpoint);
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });
  afterAll(async () => {
    client?.destroy();
    await emulator?.close();
  });
  return {
    get client(): KinesisClient {
      if (!client) throw new Error('the kinesalite suite has not started');
      return client;
    },
    start: async (
      ...args: Parameters<typeof startKinesisPoller> extends [unknown, ...infer R] ? R : never
    ) => {
      const fixture = await startKinesisPoller(client!, ...args);
      pollers.push(fixture.poller);
      return fixture;
    },
  };
};
