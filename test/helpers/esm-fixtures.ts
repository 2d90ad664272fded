import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type _Record,
  CreateStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type GetShardIteratorCommandOutput,
  InvalidArgumentException,
  KinesisClient,
  PutRecordsCommand,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  clientConfig,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  startKinesis,
  startSqs,
} from '#local/emulators/index.ts';
import { InMemoryCheckpointStore } from '#local/esm/checkpoint-store.ts';
import { KinesisPoller, type KinesisPollerOptions } from '#local/esm/kinesis-poller.ts';
import { SqsPoller, type SqsPollerOptions } from '#local/esm/sqs-poller.ts';
import type {
  InvokeResult,
  KinesisEventProperties,
  KinesisOnFailureRecord,
  KinesisPollerEvent,
  SqsEventProperties,
  SqsPollerEvent,
} from '#local/esm/types.ts';
import { waitForStream } from '#local/resources.ts';

/** Polls `predicate` until it holds; fails the test with `what` after `timeoutMs`. */
export const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** `client`, counting the GetRecords calls made through it (a poller's reads, whatever they return). */
export const countingGetRecords = (client: KinesisClient): { client: KinesisClient; calls: () => number } => {
  let calls = 0;
  const counting = new Proxy(client, {
    get: (target, property, receiver) =>
      property === 'send'
        ? (...args: Parameters<KinesisClient['send']>) => {
            if (args[0] instanceof GetRecordsCommand) calls += 1;
            return target.send(...args);
          }
        : Reflect.get(target, property, receiver),
  });
  return { client: counting, calls: () => calls };
};

/**
 * `client`, whose GetRecords answers carry the arrival time `arrivals` gives a record (by its sequence number)
 * instead of kinesalite's. Arrival times are approximate (aws-behaviour.md §4) and not always in sequence order:
 * kinesalite dates the records of a freshly split or merged shard up to a second ahead. Tests set them out of
 * order with this, at times of their choosing, instead of resharding and waiting.
 */
export const rewrittenArrivals = (client: KinesisClient, arrivals: Map<string, Date>): KinesisClient => {
  const send = async (command: unknown, options: unknown): Promise<unknown> => {
    const output = await (client.send as (c: unknown, o: unknown) => Promise<unknown>)(command, options);
    if (!(command instanceof GetRecordsCommand)) return output;
    const { Records, ...rest } = output as GetRecordsCommandOutput;
    return {
      ...rest,
      Records: Records?.map((record) => ({
        ...record,
        ApproximateArrivalTimestamp:
          arrivals.get(record.SequenceNumber ?? '') ?? record.ApproximateArrivalTimestamp,
      })),
    };
  };
  return new Proxy(client, {
    get: (target, property, receiver) =>
      property === 'send' ? send : Reflect.get(target, property, receiver),
  });
};

/** What a client made with `expiringIterators` was asked and answered, in order. */
export type IteratorCall =
  | { call: 'GetShardIterator'; input: GetShardIteratorCommandInput }
  /** A GetRecords answered with records; `lastSequenceNumber` is the last of them. */
  | { call: 'GetRecords'; lastSequenceNumber: string }
  | { call: 'Expired' };

/**
 * `client`, with shard iterators that expire as on AWS ("5 minutes after it is returned", aws-behaviour.md §5) by
 * `clock` instead of the wall clock: a GetRecords with an iterator returned more than `lifetimeMs` earlier fails
 * with ExpiredIteratorException. Tests move `clock` on, instead of waiting the 5 minutes kinesalite would.
 * `trim(sequenceNumber, message)` ages out the records before it, which kinesalite never does: AT/AFTER_SEQUENCE_NUMBER
 * of an earlier number is refused with InvalidArgumentException (with `message`, or one saying it is no longer
 * available), and TRIM_HORIZON starts at `sequenceNumber`. `refuse(sequenceNumber, message)` refuses
 * AT/AFTER_SEQUENCE_NUMBER of that number alone with InvalidArgumentException, its record kept (as Kinesis refuses a
 * number of another shard or stream); `refuse(undefined)` ends that.
 */
export const expiringIterators = (
  client: KinesisClient,
  clock: () => number,
  lifetimeMs = 300_000,
): {
  client: KinesisClient;
  calls: IteratorCall[];
  trim: (sequenceNumber: string, message?: string) => void;
  refuse: (sequenceNumber: string | undefined, message?: string) => void;
} => {
  const returnedAt = new Map<string, number>();
  const calls: IteratorCall[] = [];
  let oldestLeft: bigint | undefined;
  let trimmedMessage: string | undefined;
  let refused: { sequenceNumber: string; message: string } | undefined;
  const send = async (asked: unknown, options: unknown): Promise<unknown> => {
    let command = asked;
    const forward = () => (client.send as (c: unknown, o: unknown) => Promise<unknown>)(command, options);
    if (command instanceof GetShardIteratorCommand) {
      const { input } = command;
      calls.push({ call: 'GetShardIterator', input: { ...input } });
      if (oldestLeft !== undefined && input.ShardIteratorType === 'TRIM_HORIZON') {
        command = new GetShardIteratorCommand({
          ...input,
          ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          StartingSequenceNumber: oldestLeft.toString(),
        });
      } else if (
        oldestLeft !== undefined &&
        input.StartingSequenceNumber !== undefined &&
        BigInt(input.StartingSequenceNumber) < oldestLeft
      ) {
        throw new InvalidArgumentException({
          message:
            trimmedMessage ??
            `StartingSequenceNumber ${input.StartingSequenceNumber} used in GetShardIterator on shard ${input.ShardId} in stream ${input.StreamName} is no longer available`,
          $metadata: { httpStatusCode: 400 },
        });
      } else if (refused !== undefined && input.StartingSequenceNumber === refused.sequenceNumber) {
        throw new InvalidArgumentException({ message: refused.message, $metadata: { httpStatusCode: 400 } });
      }
      const output = (await forward()) as GetShardIteratorCommandOutput;
      if (output.ShardIterator) returnedAt.set(output.ShardIterator, clock());
      return output;
    }
    if (command instanceof GetRecordsCommand) {
      const at = returnedAt.get(command.input.ShardIterator ?? '');
      if (at !== undefined && clock() - at > lifetimeMs) {
        calls.push({ call: 'Expired' });
        throw new ExpiredIteratorException({
          message: `Iterator expired: returned ${clock() - at} ms ago, over ${lifetimeMs} ms`,
          $metadata: { httpStatusCode: 400 },
        });
      }
      const output = (await forward()) as GetRecordsCommandOutput;
      if (output.NextShardIterator) returnedAt.set(output.NextShardIterator, clock());
      const last = output.Records?.at(-1)?.SequenceNumber;
      if (last) calls.push({ call: 'GetRecords', lastSequenceNumber: last });
      return output;
    }
    return forward();
  };
  const expiring = new Proxy(client, {
    get: (target, property, receiver) =>
      property === 'send' ? send : Reflect.get(target, property, receiver),
  });
  const trim = (sequenceNumber: string, message?: string) => {
    oldestLeft = BigInt(sequenceNumber);
    trimmedMessage = message;
  };
  const refuse = (sequenceNumber: string | undefined, message = 'StartingSequenceNumber is invalid.') => {
    refused = sequenceNumber === undefined ? undefined : { sequenceNumber, message };
  };
  return { client: expiring, calls, trim, refuse };
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

export const createStream = async (
  client: KinesisClient,
  shardCount = 1,
  prefix = 'stream',
): Promise<string> => {
  const streamName = uniqueName(prefix);
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await waitForStream(client, streamName);
  return streamName;
};

/** A record to write: its partition key and its data (a string is written as UTF-8). */
export interface RecordInput {
  key: string;
  data: string | Uint8Array;
}

/** Writes records in one PutRecords call (in order) and returns their sequence numbers. */
export const putRecords = async (
  client: KinesisClient,
  streamName: string,
  records: RecordInput[],
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

/** Records that share one partition key, so they land on one shard in this order. */
export const sameKey = (data: string[], key = 'k'): RecordInput[] =>
  data.map((value) => ({ key, data: value }));

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

/** FunctionResponseTypes for a mapping whose function reports partial batch failures. */
export const REPORT_ITEM_FAILURES = ['ReportBatchItemFailures'];

/** A partial batch response naming the records whose data (Kinesis) or body (SQS) is one of `data`. */
export const failuresFor = (event: KinesisStreamEvent | SQSEvent, data: string[]): InvokeResult => {
  const records: Array<KinesisStreamEvent['Records'][number] | SQSEvent['Records'][number]> = event.Records;
  return {
    payload: {
      batchItemFailures: records
        .filter((record) => data.includes('kinesis' in record ? decodeData(record) : record.body))
        .map((record) => ({
          itemIdentifier: 'kinesis' in record ? record.kinesis.sequenceNumber : record.messageId,
        })),
    },
  };
};

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

const inRange = (record: _Record, { KinesisBatchInfo: info }: KinesisOnFailureRecord): boolean => {
  const sequence = BigInt(record.SequenceNumber ?? -1);
  return BigInt(info.startSequenceNumber) <= sequence && sequence <= BigInt(info.endSequenceNumber);
};

/**
 * Where each record of a shard (`stored`, as `readShard` gives them) ended: whether an invocation that succeeded
 * held it (`succeeded`, sequence numbers) and in how many on-failure records' startSequenceNumber..endSequenceNumber
 * ranges it lies. A record the mapping neither lost nor reported twice has exactly one of the two.
 */
export const recordFates = (
  stored: _Record[],
  succeeded: string[],
  failures: KinesisOnFailureRecord[],
): Array<{ data: string; succeeded: boolean; ranges: number }> =>
  stored.map((record) => ({
    data: Buffer.from(record.Data ?? []).toString('utf8'),
    succeeded: succeeded.includes(record.SequenceNumber ?? ''),
    ranges: failures.filter((failure) => inRange(record, failure)).length,
  }));

/** The data of the shard's records inside each on-failure record's range, as a replay reading it gets them. */
export const rangeContents = (stored: _Record[], failures: KinesisOnFailureRecord[]): string[][] =>
  failures.map((failure) =>
    stored
      .filter((record) => inRange(record, failure))
      .map((record) => Buffer.from(record.Data ?? []).toString('utf8')),
  );

export const createQueue = async (
  client: SQSClient,
  attributes: Record<string, string> = {},
  prefix = 'queue',
): Promise<{ url: string; arn: string; name: string }> => {
  const name = uniqueName(prefix);
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return { url: QueueUrl!, arn: `arn:aws:sqs:us-east-1:000000000000:${name}`, name };
};

/** Sends `bodies` in order, ten to a SendMessageBatch call. */
export const sendMessages = async (client: SQSClient, queueUrl: string, bodies: string[]): Promise<void> => {
  for (let start = 0; start < bodies.length; start += 10) {
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies
          .slice(start, start + 10)
          .map((body, index) => ({ Id: `m${start + index}`, MessageBody: body })),
      }),
    );
  }
};

/** The messages on a queue, visible or in flight. */
export const queueDepth = async (client: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
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

/** An SQS on-failure destination for pollers whose on-failure records a `FailureCollector` keeps instead. */
export const ON_FAILURE_DESTINATION = {
  OnFailure: { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
};

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

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * The hooks every poller suite shares: `setUp` runs before the describe block, each poller handed to `track`
 * stops after its test, and what `setUp` returned closes after the block.
 */
const pollerSuite = <T extends { close(): Promise<void> }>(name: string, setUp: () => Promise<T>) => {
  let resources: T | undefined;
  const pollers: Stoppable[] = [];
  beforeAll(async () => {
    resources = await setUp();
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });
  afterAll(async () => {
    await resources?.close();
  });
  return {
    resources: (): T => {
      if (!resources) throw new Error(`the ${name} suite has not started`);
      return resources;
    },
    track: <P extends Stoppable>(poller: P): P => {
      pollers.push(poller);
      return poller;
    },
  };
};

export interface KinesisPollerSuiteOptions {
  /** Also start local-aws-sqs, for a real on-failure queue (`queues`). */
  sqs?: boolean;
  /** The prefix of a temporary folder for JSON checkpoint files (`checkpointFile`), removed after the block. */
  checkpointDirectory?: string;
}

/**
 * A describe block's kinesalite (and local-aws-sqs when asked) and its pollers: the emulators start before the
 * block, every poller started with `start` stops after its test, and the emulators close after the block.
 */
export const kinesisPollerSuite = (options: KinesisPollerSuiteOptions = {}) => {
  const { resources, track } = pollerSuite('kinesalite', async () => {
    const [kinesis, sqs] = await Promise.all([startKinesis(), options.sqs ? startSqs() : undefined]);
    const client = kinesisClient(kinesis.endpoint);
    const queues = sqs ? sqsClient(sqs.endpoint) : undefined;
    const directory = options.checkpointDirectory
      ? await mkdtemp(join(tmpdir(), options.checkpointDirectory))
      : undefined;
    return {
      client,
      queues,
      directory,
      close: async () => {
        client.destroy();
        queues?.destroy();
        await Promise.all([kinesis.close(), sqs?.close()]);
        if (directory) await rm(directory, { recursive: true, force: true });
      },
    };
  });
  return {
    get client(): KinesisClient {
      return resources().client;
    },
    get queues(): SQSClient {
      const { queues } = resources();
      if (!queues) throw new Error('the kinesalite suite was started without { sqs: true }');
      return queues;
    },
    /** A fresh stream holding `records` (written in one PutRecords call); `written` are their entries, in order. */
    stream: async (
      records: RecordInput[] = [],
      shardCount = 1,
    ): Promise<{ streamName: string; written: PutRecordsResultEntry[] }> => {
      const { client } = resources();
      const streamName = await createStream(client, shardCount);
      const written = records.length > 0 ? await putRecords(client, streamName, records) : [];
      return { streamName, written };
    },
    /** Writes `records` to the stream in one PutRecords call, as `putRecords` does. */
    put: (streamName: string, records: RecordInput[]): Promise<PutRecordsResultEntry[]> =>
      putRecords(resources().client, streamName, records),
    /** A checkpoint file named for `name` in the suite's temporary folder. */
    checkpointFile: (name: string): string => {
      const { directory } = resources();
      if (!directory) throw new Error('the kinesalite suite was started without a checkpointDirectory');
      return join(directory, `${name}.json`);
    },
    start: async (
      ...args: Parameters<typeof startKinesisPoller> extends [unknown, ...infer R] ? R : never
    ): Promise<KinesisPollerFixture> => {
      const fixture = await startKinesisPoller(resources().client, ...args);
      track(fixture.poller);
      return fixture;
    },
  };
};

export interface SqsPollerFixture {
  poller: SqsPoller;
  fn: RecordingFunction<SQSEvent>;
  events: SqsPollerEvent[];
}

/**
 * A describe block's local-aws-sqs and its pollers: `start` runs a poller for a function named Worker, one batch
 * at a time with 20 ms idle polls, that answers with `respond`; it stops after its test.
 */
export const sqsPollerSuite = () => {
  const { resources, track } = pollerSuite('local-aws-sqs', async () => {
    const emulator = await startSqs();
    const client = sqsClient(emulator.endpoint);
    return {
      client,
      close: async () => {
        client.destroy();
        await emulator.close();
      },
    };
  });
  return {
    get client(): SQSClient {
      return resources().client;
    },
    start: async (
      queue: string,
      properties: SqsEventProperties,
      options: Partial<SqsPollerOptions> & { respond?: RecordingFunction<SQSEvent>['respond'] } = {},
    ): Promise<SqsPollerFixture> => {
      const { respond, ...overrides } = options;
      const fn = new RecordingFunction<SQSEvent>();
      if (respond) fn.respond = respond;
      const events: SqsPollerEvent[] = [];
      const poller = track(
        new SqsPoller({
          client: resources().client,
          queue,
          properties,
          invoke: fn.invoke,
          functionName: 'Worker',
          region: LOCAL_REGION,
          accountId: LOCAL_ACCOUNT_ID,
          concurrency: 1,
          pollIntervalMs: 20,
          onEvent: (event) => events.push(event),
          ...overrides,
        }),
      );
      await poller.start();
      return { poller, fn, events };
    },
  };
};
