import { createHash } from 'node:crypto';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  clientConfig,
  LOCAL_CREDENTIALS,
  type RunningEmulator,
  startKinesis,
} from '#local/emulators/index.ts';
import {
  type FaultDecider,
  injectPutRecordsFaults,
  internalFailure,
} from '#local/faults/put-records-faults.ts';
import { apiRequest, cloudEvent, lambdaContext } from '#test/helpers/factories.ts';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: unknown,
) => Promise<APIGatewayProxyStructuredResultV2>;

let emulator: RunningEmulator;
let admin: KinesisClient;
let handler: Handler;
let streamCounter = 0;
let currentFault: FaultDecider = () => undefined;

interface StoredRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  event: Record<string, unknown>;
}

/** Every record in the stream, shard by shard, oldest first. */
const readStream = async (streamName: string): Promise<StoredRecord[]> => {
  const { Shards = [] } = await admin.send(new ListShardsCommand({ StreamName: streamName }));
  const records: StoredRecord[] = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await admin.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await admin.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of page.Records ?? []) {
        records.push({
          shardId: shard.ShardId!,
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          event: JSON.parse(Buffer.from(r.Data!).toString('utf8')),
        });
      }
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return records;
};

/** The shard whose hash-key range holds MD5(partition key), as Kinesis maps keys. */
const shardFor = (shards: Shard[], partitionKey: string): string => {
  const hash = BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
  const shard = shards.find(
    (s) => BigInt(s.HashKeyRange!.StartingHashKey!) <= hash && hash <= BigInt(s.HashKeyRange!.EndingHashKey!),
  );
  return shard!.ShardId!;
};

const newStream = async (shardCount: number): Promise<string> => {
  const name = `ingest-it-${++streamCounter}`;
  await admin.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  process.env.STREAM_NAME = name;
  return name;
};

/** Loads a fresh copy of the handler module bound to the current STREAM_NAME. */
const loadHandler = async (): Promise<Handler> => {
  const { vi } = await import('vitest');
  vi.resetModules();
  const module = (await import('../../functions/ingest/handler.ts')) as unknown as { handler: Handler };
  const { kinesis } = await import('#shared/clients/kinesis.ts');
  injectPutRecordsFaults(kinesis, (entry, position) => currentFault(entry, position));
  return module.handler;
};

const post = async (events: unknown[], timeoutMs = 10_000) => {
  const response = await handler(
    apiRequest(JSON.stringify(events), 'application/cloudevents-batch+json'),
    lambdaContext('IngestFunction', timeoutMs),
  );
  return { status: response.statusCode, json: JSON.parse(response.body ?? 'null') };
};

const groupIds = (items: Array<{ key: string; id: string }>): Record<string, string[]> => {
  const byKey: Record<string, string[]> = {};
  for (const { key, id } of items) byKey[key] = [...(byKey[key] ?? []), id];
  return byKey;
};

/** Per partition key, the event ids in stream (sequence-number) order. */
const idsByKey = (records: StoredRecord[]): Record<string, string[]> => {
  const sorted = [...records].sort((a, b) => (BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1));
  return groupIds(sorted.map((r) => ({ key: r.partitionKey, id: r.event.id as string })));
};

describe('Integration: ingest handler → kinesalite', () => {
  beforeAll(async () => {
    emulator = await startKinesis();
    process.env.AWS_ENDPOINT_URL = emulator.endpoint;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    admin = new KinesisClient({ ...clientConfig(emulator.endpoint), requestHandler: new NodeHttpHandler() });
  });

  afterAll(async () => {
    admin?.destroy();
    await emulator?.close();
  });

  beforeEach(() => {
    currentFault = () => undefined;
  });

  it('writes events that are read back intact, each on the shard its partition key maps to', async () => {
    // Prepare
    const stream = await newStream(3);
    handler = await loadHandler();
    const events = Array.from({ length: 40 }, (_, i) => cloudEvent(i, { subject: `customer-${i % 11}` }));
    // Act
    const response = await post(events);
    // Assess
    expect(response.status).toBe(202);
    const stored = await readStream(stream);
    expect(stored).toHaveLength(40);
    const { Shards = [] } = await admin.send(new ListShardsCommand({ StreamName: stream }));
    expect(new Set(stored.map((r) => r.shardId)).size).toBeGreaterThan(1);
    for (const record of stored) {
      const sent = events.find((e) => e.id === record.event.id);
      expect(record.event).toEqual(sent);
      expect(record.partitionKey).toBe(sent!.subject);
      expect(record.shardId).toBe(shardFor(Shards, record.partitionKey));
      const answer = response.json.events.find((e: { id: string }) => e.id === record.event.id);
      expect(answer).toMatchObject({ shardId: record.shardId, sequenceNumber: record.sequenceNumber });
    }
  });

  it('keeps each key in request order when entries fail and are retried', async () => {
    // Prepare: the first attempt of every third event fails with InternalFailure.
    const stream = await newStream(2);
    handler = await loadHandler();
    const failedOnce = new Set<string>();
    currentFault = (entry) => {
      const { id } = JSON.parse(Buffer.from(entry.Data!).toString('utf8')) as { id: string };
      const n = Number(id.split('-')[1]);
      if (n % 3 === 0 && !failedOnce.has(id)) {
        failedOnce.add(id);
        return internalFailure();
      }
      return undefined;
    };
    const events = Array.from({ length: 30 }, (_, i) => cloudEvent(i, { subject: `key-${i % 4}` }));
    // Act
    const response = await post(events);
    // Assess
    expect(response.status).toBe(202);
    expect(failedOnce.size).toBe(10);
    const expected = groupIds(events.map((e) => ({ key: e.subject, id: e.id })));
    expect(idsByKey(await readStream(stream))).toEqual(expected);
  });

  it('answers 503 for a key that keeps failing, holds back its later events, and a resend completes it in order', async () => {
    // Prepare: key-1 fails until the fault is lifted.
    const stream = await newStream(2);
    handler = await loadHandler();
    currentFault = (entry) => (entry.PartitionKey === 'key-1' ? internalFailure() : undefined);
    const events = Array.from({ length: 9 }, (_, i) => cloudEvent(i, { subject: `key-${i % 3}` }));
    // Act
    const first = await post(events, 2_000);
    // Assess
    expect(first.status).toBe(503);
    const statuses = first.json.events.map((e: { id: string; status: string }) => `${e.id}:${e.status}`);
    expect(statuses).toEqual([
      'evt-0:written',
      'evt-1:failed',
      'evt-2:written',
      'evt-3:written',
      'evt-4:not_attempted',
      'evt-5:written',
      'evt-6:written',
      'evt-7:not_attempted',
      'evt-8:written',
    ]);
    expect(idsByKey(await readStream(stream))['key-1']).toBeUndefined();

    // Act: the client resends exactly the unwritten events, in order, once the fault is gone.
    currentFault = () => undefined;
    const unwritten = first.json.events
      .filter((e: { status: string }) => e.status !== 'written')
      .map((e: { index: number }) => events[e.index]);
    const second = await post(unwritten);
    // Assess
    expect(second.status).toBe(202);
    expect(idsByKey(await readStream(stream))).toEqual({
      'key-0': ['evt-0', 'evt-3', 'evt-6'],
      'key-1': ['evt-1', 'evt-4', 'evt-7'],
      'key-2': ['evt-2', 'evt-5', 'evt-8'],
    });
  });
});
