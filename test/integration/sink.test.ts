import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand as RawScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import { clientConfig, type RunningEmulator, startDynamoDb, startS3 } from '#local/emulators/index.ts';
import { DYNAMODB_CLIENT_SETTINGS } from '#shared/clients/dynamodb.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { MARSHALL_OPTIONS } from '#shared/clients/marshall-options.ts';
import { KeyOrderedBatchProcessor } from '#shared/consumer/key-ordered-processor.ts';
import { processRecords } from '#shared/consumer/process-records.ts';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import { type ClaimPointer, S3ClaimCheck } from '#shared/sink/claim-check.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';
import {
  eventRecord,
  identityOfId,
  keyedEvent,
  kplAggregate,
  metricsRecorder,
  sequenceNumber,
  silentLogger,
  streamRecord,
} from '#test/helpers/kinesis-factories.ts';

const BUCKET = 'consumer-sink';

let dynamoEmulator: RunningEmulator;
let s3Emulator: RunningEmulator;
let s3Directory: string;
/** The store's client, with the functions' settings; the document client reads the table for the assertions. */
let dynamodb: DynamoDBClient;
let documentClient: DynamoDBDocumentClient;
let s3: S3Client;
let claimCheck: S3ClaimCheck;
let tableName: string;
let tables = 0;

/** Every request the sink sends, with how it ended, so that a test can tell exactly what was written. */
const sent: Array<{
  service: 'dynamodb' | 's3';
  command: string;
  outcome: string;
  input: Record<string, unknown>;
}> = [];

const record = (service: 'dynamodb' | 's3') =>
  ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: Record<string, unknown> }) => {
      const entry = { service, command: context.commandName ?? '?', outcome: 'ok', input: args.input };
      sent.push(entry);
      try {
        return await next(args);
      } catch (error) {
        entry.outcome = (error as Error).name;
        throw error;
      }
    }) as never;

const consumer = (projectionVersion: number) => {
  const metrics = metricsRecorder();
  return {
    metrics,
    run: (records: StreamRecord[]) =>
      processRecords(records, {
        store: new DynamoDbEventStore({ client: dynamodb, tableName, projectionVersion, claimCheck }),
        quarantine: new S3Quarantine({ client: s3, bucket: BUCKET, prefix: 'quarantine/' }),
        processor: new KeyOrderedBatchProcessor({ keyConcurrency: 4 }),
        logger: silentLogger(),
        metrics,
      }),
  };
};

const scan = async () => {
  const { Items = [] } = await documentClient.send(
    new ScanCommand({ TableName: tableName, ConsistentRead: true }),
  );
  return Items.sort((a, b) => String(a.identity).localeCompare(String(b.identity)));
};

const writesSince = (mark: number) =>
  sent.slice(mark).filter((r) => !['GetItemCommand', 'ScanCommand', 'GetObjectCommand'].includes(r.command));

beforeAll(async () => {
  dynamoEmulator = await startDynamoDb();
  s3Directory = mkdtempSync(join(tmpdir(), 'sink-s3-'));
  s3Emulator = await startS3({ directory: s3Directory });
  dynamodb = new DynamoDBClient({
    ...clientConfig(dynamoEmulator.endpoint),
    ...DYNAMODB_CLIENT_SETTINGS,
    requestHandler: keepAliveHandler(),
  });
  dynamodb.middlewareStack.add(record('dynamodb'), { step: 'initialize', name: 'recordSinkRequests' });
  documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...clientConfig(dynamoEmulator.endpoint), requestHandler: keepAliveHandler() }),
    { marshallOptions: { ...MARSHALL_OPTIONS } },
  );
  s3 = new S3Client({
    ...clientConfig(s3Emulator.endpoint),
    forcePathStyle: true,
    requestHandler: keepAliveHandler(),
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.middlewareStack.add(record('s3'), { step: 'initialize', name: 'recordSinkRequests' });
  claimCheck = new S3ClaimCheck({ client: s3, bucket: BUCKET, prefix: 'claim-check/' });
});

afterAll(async () => {
  dynamodb?.destroy();
  documentClient?.destroy();
  s3?.destroy();
  await dynamoEmulator?.close();
  await s3Emulator?.close();
  if (s3Directory) rmSync(s3Directory, { recursive: true, force: true });
});

beforeEach(async () => {
  tables += 1;
  tableName = `events-${tables}`;
  await createTable(documentClient, tableName, [['identity', 'HASH']]);
});

describe('Sink: DynamoDB conditional upsert (dynalite, s3rver)', () => {
  it('changes nothing when the same batch is delivered twice, and writes only the failed conditional checks', async () => {
    // Prepare
    const batch = [
      eventRecord(1, 'order-1'),
      eventRecord(2, 'order-2'),
      eventRecord(3, 'order-1'),
      streamRecord(4, 'sensor-1', { sensor: 1, celsius: 20.5 }),
      streamRecord(
        5,
        'kpl',
        kplAggregate([
          { partitionKey: 'order-3', data: Buffer.from(JSON.stringify(keyedEvent('order-3', 'evt-agg-1'))) },
          { partitionKey: 'sensor-2', data: Buffer.from('{"sensor":2}') },
        ]),
      ),
      streamRecord(6, 'legacy', Buffer.from([0xff, 0x00, 0xfe])),
    ];
    const { run, metrics } = consumer(1);
    const first = await run(batch);
    const itemsAfterFirst = await scan();
    const mark = sent.length;
    // Act
    const second = await run(batch);
    // Assess
    expect(first).toMatchObject({
      batchItemFailures: [],
      counts: { written: 6, duplicates: 0, quarantined: 1 },
    });
    expect(second).toMatchObject({
      batchItemFailures: [],
      counts: { written: 0, duplicates: 6, quarantined: 1 },
    });
    expect(metrics.values.DuplicatesSkipped).toBe(6);
    expect(itemsAfterFirst).toHaveLength(6);
    expect(await scan()).toEqual(itemsAfterFirst);
    const writes = writesSince(mark);
    const dynamoWrites = writes.filter((w) => w.service === 'dynamodb');
    expect(dynamoWrites).toHaveLength(6);
    expect(dynamoWrites.every((w) => w.command === 'PutItemCommand')).toBe(true);
    expect(dynamoWrites.every((w) => w.outcome === 'ConditionalCheckFailedException')).toBe(true);
    // S3 writes are conditional too: real S3 refuses them with 412 (s3rver does not implement If-None-Match).
    expect(writes.filter((w) => w.service === 's3').map((w) => w.input.IfNoneMatch)).toEqual(['*']);
  });

  it('keeps one item when a producer sends the same event again under a new sequence number', async () => {
    // Prepare
    const { run } = consumer(1);
    await run([eventRecord(1, 'order-1', 'evt-dup'), streamRecord(2, 'sensor', '{"b":[1,2],"a":"x"}')]);
    const before = await scan();
    // Act
    const later = await run([
      eventRecord(9, 'order-1', 'evt-dup'),
      streamRecord(10, 'sensor', '{ "a": "x", "b": [1, 2] }'),
    ]);
    // Assess
    expect(later.counts).toMatchObject({ written: 0, duplicates: 2 });
    const items = await scan();
    expect(items).toHaveLength(2);
    expect(items).toEqual(before);
    const item = items.find((i) => i.identity === identityOfId('evt-dup'));
    expect(item?.stream.sequenceNumber).toBe(sequenceNumber(1));
  });

  it('rewrites each item exactly once when the projection version is raised, and refuses an older version', async () => {
    // Prepare
    const batch = [eventRecord(1, 'a'), eventRecord(2, 'b'), eventRecord(3, 'a')];
    await consumer(1).run(batch);
    // Act
    const raised = await consumer(2).run(batch);
    const again = await consumer(2).run(batch);
    const afterRaise = await scan();
    const older = await consumer(1).run(batch);
    // Assess
    expect(raised.counts).toMatchObject({ written: 3, duplicates: 0, staleVersions: 0 });
    expect(again.counts).toMatchObject({ written: 0, duplicates: 3, staleVersions: 0 });
    expect(older).toMatchObject({ batchItemFailures: [], counts: { written: 0, staleVersions: 3 } });
    expect(afterRaise.map((item) => item.projectionVersion)).toEqual([2, 2, 2]);
    expect(await scan()).toEqual(afterRaise);
  });

  it('stores a large event intact through the claim check, and a redelivery adds nothing', async () => {
    // Prepare
    const data = {
      text: 'ä'.repeat(300 * 1024),
      readings: Array.from({ length: 2_000 }, (_, i) => ({ i, value: i / 7 })),
      bigId: 123456789012345678901234567890n,
    };
    const text = JSON.stringify({ ...keyedEvent('big', 'evt-big'), data: { ...data, bigId: 0 } }).replace(
      '"bigId":0',
      '"bigId":123456789012345678901234567890',
    );
    const binary = {
      ...keyedEvent('big', 'evt-bin'),
      data: undefined,
      data_base64: Buffer.alloc(450 * 1024, 7).toString('base64'),
    };
    const { run } = consumer(1);
    // Act
    const first = await run([streamRecord(1, 'big', text), streamRecord(2, 'big', binary)]);
    const second = await run([streamRecord(1, 'big', text), streamRecord(2, 'big', binary)]);
    // Assess
    expect(first.counts).toMatchObject({ written: 2, quarantined: 0 });
    expect(second.counts).toMatchObject({ written: 0, duplicates: 2 });
    const items = await scan();
    expect(items).toHaveLength(2);
    const json = items.find((item) => item.identity === identityOfId('evt-big'))!;
    const bin = items.find((item) => item.identity === identityOfId('evt-bin'))!;
    expect(json.data).toBeUndefined();
    expect(bin.dataBase64).toBeUndefined();
    expect(await claimCheck.load(json.claimCheck as ClaimPointer)).toEqual(data);
    expect(await claimCheck.load(bin.claimCheck as ClaimPointer)).toBe(binary.data_base64);
    expect(json.attributes).toMatchObject({ id: 'evt-big', subject: 'big' });
  });

  it('quarantines an event DynamoDB can never hold, raw bytes and all', async () => {
    // Prepare
    let nested: unknown = 1;
    for (let i = 0; i < 40; i += 1) nested = [nested];
    const bytes = Buffer.from(JSON.stringify({ deep: nested }));
    const { run } = consumer(1);
    // Act
    const report = await run([streamRecord(7, 'deep', bytes), eventRecord(8, 'deep')]);
    // Assess
    expect(report).toMatchObject({ batchItemFailures: [], counts: { quarantined: 1, written: 1 } });
    const object = await s3.send(
      new GetObjectCommand({
        Bucket: BUCKET,
        Key: `quarantine/shardId-000000000000/${sequenceNumber(7)}.json`,
      }),
    );
    const document = JSON.parse(await object.Body!.transformToString());
    expect(document).toMatchObject({
      reason: 'unstorable',
      partitionKey: 'deep',
      sequenceNumber: sequenceNumber(7),
    });
    expect(Buffer.from(document.data, 'base64').equals(bytes)).toBe(true);
  });

  it('stores numbers beyond 2^53 with their exact digits, whatever form the producer wrote them in', async () => {
    // Prepare
    const { run } = consumer(1);
    const plain =
      '{"sensor":1,"reading":1e20,"total":12345678901234567.5,"id":123456789012345678901234567890}';
    const event =
      '{"specversion":"1.0","id":"big-1","source":"urn:meter","type":"t","subject":"m","data":{"amount":9.5e17}}';
    // Act
    const report = await run([
      streamRecord(1, 'sensor', Buffer.from(plain)),
      streamRecord(2, 'm', Buffer.from(event)),
    ]);
    // Assess
    expect(report).toMatchObject({ batchItemFailures: [], counts: { written: 2, quarantined: 0 } });
    // Read the items unconverted, as DynamoDB holds them: each number is its digits in an N attribute.
    const raw = new DynamoDBClient(clientConfig(dynamoEmulator.endpoint));
    const { Items = [] } = await raw.send(new RawScanCommand({ TableName: tableName, ConsistentRead: true }));
    raw.destroy();
    const numbers = Items.flatMap((item) => Object.entries(item.data?.M ?? {}))
      .filter(([, value]) => value.N !== undefined)
      .map(([name, value]) => [name, value.N]);
    // DynamoDB gives numbers back in its own normal form; what matters is that no digit was rounded away.
    expect(Object.fromEntries(numbers)).toMatchObject({
      reading: '100000000000000000000',
      total: '12345678901234567.5',
      id: '123456789012345678901234567890',
      amount: '950000000000000000',
    });
  });

  it('quarantines, never retries, a CloudEvent whose id holds a lone surrogate', async () => {
    // Prepare
    const { run } = consumer(1);
    const bad = '{"specversion":"1.0","id":"e-\\ud800","source":"urn:p","type":"t","subject":"k"}';
    // Act
    const report = await run([streamRecord(3, 'k', Buffer.from(bad)), eventRecord(4, 'k')]);
    // Assess
    expect(report).toMatchObject({ batchItemFailures: [], counts: { quarantined: 1, written: 1 } });
  });

  it('quarantines, never retries, records whose data has a member with an empty name', async () => {
    // Prepare: a plain JSON record and a CloudEvent; DynamoDB refuses an empty attribute name at any depth.
    const { run } = consumer(1);
    const plain = '{"order":7,"lines":[{"":1}]}';
    const event =
      '{"specversion":"1.0","id":"e-9","source":"urn:p","type":"t","subject":"k","data":{"":true}}';
    // Act
    const report = await run([
      streamRecord(5, 'k', Buffer.from(plain)),
      streamRecord(6, 'k', Buffer.from(event)),
      eventRecord(7, 'k'),
    ]);
    // Assess
    expect(report).toMatchObject({ batchItemFailures: [], counts: { quarantined: 2, written: 1 } });
  });
});
