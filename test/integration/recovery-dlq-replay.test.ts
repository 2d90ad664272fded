import { CreateStreamCommand, GetShardIteratorCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForStream } from '#local/resources.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import {
  drainFailureQueue,
  type QueueDependencies,
  type ReplayDependencies,
} from '#shared/recovery/dlq-replay.ts';
import { DryRunEventStore, DryRunQuarantine, dynamoDbVersionLookup } from '#shared/recovery/dry-run.ts';
import { S3MessageQuarantine } from '#shared/recovery/message-quarantine.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';
import type { EventStore } from '#shared/sink/event-store.ts';
import { createQueue, queueDepth, uniqueName } from '#test/helpers/esm-fixtures.ts';
import { testClock } from '#test/helpers/fake-kinesis.ts';
import { metricsRecorder, silentLogger } from '#test/helpers/kinesis-factories.ts';
import {
  createEventTable,
  listShards,
  pause,
  putEvent,
  type RecoveryEmulators,
  scanTable,
  splitShard,
  startRecoveryEmulators,
} from '#test/helpers/recovery-emulators.ts';
import {
  FailingStore,
  failureRecord,
  identityOf,
  keyedCloudEvent,
  streamArnOf,
} from '#test/helpers/recovery-fixtures.ts';

const SHARD = 'shardId-000000000000';
let env: RecoveryEmulators;

beforeAll(async () => {
  env = await startRecoveryEmulators();
});

afterAll(async () => {
  await env?.close();
});

/** A stream, an event table, and a failure queue that parks a message after `maxReceiveCount` receives. */
const scenario = async (maxReceiveCount = 5) => {
  const streamName = uniqueName('replay');
  await env.kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
  await waitForStream(env.kinesis, streamName);
  const tableName = await createEventTable(env.documentClient);
  const parking = await createQueue(env.sqs, {}, 'parking');
  const failures = await createQueue(
    env.sqs,
    { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: parking.arn, maxReceiveCount }) },
    'failures',
  );
  const prefix = `${streamName}/quarantine/`;
  const metrics = metricsRecorder();
  const store = new DynamoDbEventStore({ client: env.dynamodb, tableName, projectionVersion: 1 });
  const deps = (sink: EventStore = store): ReplayDependencies & QueueDependencies => ({
    kinesis: env.kinesis,
    streamName,
    sink: { store: sink, quarantine: new S3Quarantine({ client: env.s3, bucket: env.bucket, prefix }) },
    dryRunSink: () => ({
      store: new DryRunEventStore(1, dynamoDbVersionLookup(env.dynamodb, tableName)),
      quarantine: new DryRunQuarantine(),
    }),
    messageQuarantine: new S3MessageQuarantine({ client: env.s3, bucket: env.bucket, prefix }),
    logger: silentLogger(),
    metrics,
    keyConcurrency: 4,
    timeReserveMs: 0,
    remainingMs: () => 60_000,
    stopReserveMs: 1_000,
    reader: { callsPerSecond: 5, limit: 2 },
    attempts: 2,
    // Paces calls without waiting for real.
    clock: testClock({ realTime: true }),
    sqs: env.sqs,
    queueUrl: failures.url,
    waitTimeSeconds: 0,
  });
  const send = (body: unknown) =>
    env.sqs.send(new SendMessageCommand({ QueueUrl: failures.url, MessageBody: JSON.stringify(body) }));
  /** Messages on the queue, waiting or in flight. */
  const count = (queueUrl: string) => queueDepth(env.sqs, queueUrl);
  const identities = async () =>
    (await scanTable(env.documentClient, tableName)).map((item) => item.identity).sort();
  return { streamName, tableName, failures, parking, prefix, metrics, store, deps, send, count, identities };
};

describe('Recovery: DLQ replay against the emulators', () => {
  it('replays a message whose range runs to the end of a shard that split after the records were written', async () => {
    // Prepare
    const { streamName, deps, send, count, failures, identities } = await scenario();
    const written = [];
    for (let n = 1; n <= 3; n += 1) written.push(await putEvent(env.kinesis, streamName, 'a', n));
    await splitShard(env.kinesis, streamName, SHARD, 2n ** 127n);
    await putEvent(env.kinesis, streamName, 'a', 4);
    const parent = (await listShards(env.kinesis, streamName)).find((shard) => shard.ShardId === SHARD)!;
    const streamArn = streamArnOf(streamName, '000000000000');
    // One range ends at the shard's last record; the other at the closed shard's ending sequence number.
    await send(failureRecord(SHARD, written[1]!.SequenceNumber!, written[2]!.SequenceNumber!, { streamArn }));
    await send(
      failureRecord(SHARD, written[0]!.SequenceNumber!, parent.SequenceNumberRange!.EndingSequenceNumber!, {
        streamArn,
      }),
    );
    // Act
    const report = await drainFailureQueue({ maxMessages: 10 }, deps());
    // Assess
    expect(report).toMatchObject({
      messages: 2,
      recordsReplayed: 5,
      written: 3,
      duplicates: 2,
      stillFailing: 0,
      expired: 0,
      deleted: 2,
    });
    expect(await identities()).toEqual([identityOf('a', 1), identityOf('a', 2), identityOf('a', 3)]);
    expect(await count(failures.url)).toBe(0);
  });

  it('replays every range of a busy shard, reading on its own a range more records than a GetRecords holds past the last', async () => {
    // Prepare: ranges A, B and C of one record each; 1,500 records the consumer wrote lie between A and B (more
    // than the reader's 1,000 a call), and 10 between B and C.
    const { streamName, deps, send, count, failures, identities } = await scenario();
    const between = async (records: number, key: string) => {
      for (let first = 0; first < records; first += 500) {
        const entries = Array.from({ length: Math.min(500, records - first) }, (_, i) => ({
          PartitionKey: key,
          Data: Buffer.from(JSON.stringify(keyedCloudEvent(key, first + i))),
        }));
        const answer = await env.kinesis.send(
          new PutRecordsCommand({ StreamName: streamName, Records: entries }),
        );
        expect(answer.FailedRecordCount).toBe(0);
      }
    };
    const a = await putEvent(env.kinesis, streamName, 'a', 1);
    await between(1_500, 'ok-1');
    const b = await putEvent(env.kinesis, streamName, 'a', 2);
    await between(10, 'ok-2');
    const c = await putEvent(env.kinesis, streamName, 'a', 3);
    const streamArn = streamArnOf(streamName, '000000000000');
    for (const record of [a, b, c]) {
      await send(
        failureRecord(SHARD, record.SequenceNumber!, record.SequenceNumber!, { streamArn, batchSize: 1 }),
      );
    }
    const iterators: string[] = [];
    const kinesis = {
      send: (command: Parameters<typeof env.kinesis.send>[0]) => {
        if (command instanceof GetShardIteratorCommand) iterators.push(command.input.StartingSequenceNumber!);
        return env.kinesis.send(command);
      },
    } as typeof env.kinesis;
    // Act
    const report = await drainFailureQueue(
      { maxMessages: 10 },
      { ...deps(), kinesis, reader: { callsPerSecond: 5, limit: 1_000 } },
    );
    // Assess: every range replayed, none of the records between them. A, B and C come in one receive and are read
    // together from A's start; the read gives up past 1,000 records between, and B is read from its own start.
    expect(report).toMatchObject({
      messages: 3,
      recordsReplayed: 3,
      written: 3,
      stillFailing: 0,
      deleted: 3,
    });
    expect(await identities()).toEqual([identityOf('a', 1), identityOf('a', 2), identityOf('a', 3)]);
    expect(iterators.slice(0, 2)).toEqual([a.SequenceNumber, b.SequenceNumber]);
    expect(await count(failures.url)).toBe(0);
  });

  it('quarantines and deletes a message whose records the shard no longer has, and counts it', async () => {
    // Prepare: the range starts before the shard's first record, as when its oldest records aged out.
    const { streamName, deps, send, count, failures, prefix, metrics, identities } = await scenario();
    const kept = [
      await putEvent(env.kinesis, streamName, 'a', 1),
      await putEvent(env.kinesis, streamName, 'a', 2),
    ];
    const shard = (await listShards(env.kinesis, streamName))[0]!;
    const streamArn = streamArnOf(streamName, '000000000000');
    const start = shard.SequenceNumberRange!.StartingSequenceNumber!;
    await send(failureRecord(SHARD, start, kept[1]!.SequenceNumber!, { streamArn }));
    await send(failureRecord('shardId-000000000007', '1', '2', { streamArn }));
    // Act
    const report = await drainFailureQueue({}, deps());
    // Assess
    expect(report).toMatchObject({ messages: 2, expired: 2, stillFailing: 0, deleted: 2, written: 2 });
    expect(metrics.values.ReplayExpired).toBe(2);
    expect(await identities()).toEqual([identityOf('a', 1), identityOf('a', 2)]);
    expect(await count(failures.url)).toBe(0);
    const { Contents = [] } = await env.s3.send(
      new ListObjectsV2Command({ Bucket: env.bucket, Prefix: `${prefix}expired/` }),
    );
    expect(Contents.map((object) => object.Key).sort()).toEqual([
      `${prefix}expired/${SHARD}/${start}-${kept[1]!.SequenceNumber}.json`,
      `${prefix}expired/shardId-000000000007/1-2.json`,
    ]);
    const object = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: Contents[0]!.Key! }));
    const document = JSON.parse(await object.Body!.transformToString());
    expect(document).toMatchObject({ reason: 'expired', shardId: SHARD, recordsReplayed: 2 });
    expect(JSON.parse(document.message).KinesisBatchInfo.startSequenceNumber).toBe(start);
  });

  it('leaves a message whose records partly fail, and deletes it once a replay after the fix succeeds', async () => {
    // Prepare
    const { streamName, store, deps, send, count, failures, parking, identities } = await scenario(2);
    const written = [];
    for (const [key, n] of [
      ['a', 1],
      ['b', 1],
      ['a', 2],
      ['b', 2],
    ] as const) {
      written.push(await putEvent(env.kinesis, streamName, key, n));
    }
    await send(
      failureRecord(SHARD, written[0]!.SequenceNumber!, written[3]!.SequenceNumber!, {
        streamArn: streamArnOf(streamName, '000000000000'),
      }),
    );
    const failing = new FailingStore([identityOf('b', 1)], store);
    // Act: the first replay fails (the message stays), the second one is fixed.
    const first = await drainFailureQueue({ visibilityTimeoutSeconds: 1 }, deps(failing));
    const afterFirst = await identities();
    const left = await count(failures.url);
    failing.failing.clear();
    await pause(1_100);
    const second = await drainFailureQueue({}, deps(failing));
    // Assess
    expect(first).toMatchObject({
      messages: 1,
      stillFailing: 1,
      deleted: 0,
      written: 2,
      // The message it left is hidden until its visibility timeout ends.
      queue: { waiting: 0, inFlight: 1 },
    });
    expect(first.details[0]!.detail).toContain(written[1]!.SequenceNumber);
    expect(afterFirst).toEqual([identityOf('a', 1), identityOf('a', 2)]);
    expect(left).toBe(1);
    expect(second).toMatchObject({
      messages: 1,
      stillFailing: 0,
      deleted: 1,
      written: 2,
      duplicates: 2,
      queue: { waiting: 0, inFlight: 0 },
    });
    expect(second.details[0]!.receiveCount).toBe(2);
    expect(await identities()).toEqual([
      identityOf('a', 1),
      identityOf('a', 2),
      identityOf('b', 1),
      identityOf('b', 2),
    ]);
    expect(await count(failures.url)).toBe(0);
    expect(await count(parking.url)).toBe(0);
  });

  it('lets the queue park a message that keeps failing', async () => {
    // Prepare
    const { streamName, store, deps, send, count, failures, parking } = await scenario(2);
    const record = await putEvent(env.kinesis, streamName, 'a', 1);
    await send(
      failureRecord(SHARD, record.SequenceNumber!, record.SequenceNumber!, {
        streamArn: streamArnOf(streamName, '000000000000'),
      }),
    );
    const failing = new FailingStore([identityOf('a', 1)], store);
    // Act
    const reports = [];
    for (let i = 0; i < 3; i += 1) {
      reports.push(await drainFailureQueue({ visibilityTimeoutSeconds: 1 }, deps(failing)));
      await pause(1_100);
    }
    // Assess
    expect(reports.map((report) => report.stillFailing)).toEqual([1, 1, 0]);
    expect(await count(failures.url)).toBe(0);
    expect(await count(parking.url)).toBe(1);
  });

  it('in a dry run writes and deletes nothing, and reports what it would do', async () => {
    // Prepare
    const { streamName, deps, send, count, failures, identities, prefix } = await scenario();
    const written = [
      await putEvent(env.kinesis, streamName, 'a', 1),
      await putEvent(env.kinesis, streamName, 'b', 1),
    ];
    await send(
      failureRecord(SHARD, written[0]!.SequenceNumber!, written[1]!.SequenceNumber!, {
        streamArn: streamArnOf(streamName, '000000000000'),
      }),
    );
    // Act
    const report = await drainFailureQueue({ dryRun: true }, deps());
    // Assess
    expect(report).toMatchObject({ dryRun: true, messages: 1, recordsReplayed: 2, written: 2, deleted: 0 });
    expect(await identities()).toEqual([]);
    expect(await count(failures.url)).toBe(1);
    const { KeyCount } = await env.s3.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: prefix }));
    expect(KeyCount ?? 0).toBe(0);
  });
});
