import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordCommand,
  type PutRecordCommandOutput,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createTable } from '#bench/lib/tables.ts';
import {
  clientConfig,
  type RunningEmulator,
  startDynamoDb,
  startKinesis,
  startS3,
  startSqs,
} from '#local/emulators/index.ts';
import { waitForStream } from '#local/resources.ts';
import { DYNAMODB_CLIENT_SETTINGS } from '#shared/clients/dynamodb.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { MARSHALL_OPTIONS } from '#shared/clients/marshall-options.ts';
import { kinesisClient, sqsClient, uniqueName } from './esm-fixtures.ts';
import { keyedCloudEvent } from './recovery-fixtures.ts';

/**
 * kinesalite, dynalite, local-aws-sqs and s3rver for the recovery integration tests, with the tables, bucket and
 * records those tests need.
 */
export interface RecoveryEmulators {
  kinesis: KinesisClient;
  /** The sink's client, with the functions' settings (shared/clients/dynamodb.ts). */
  dynamodb: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
  s3: S3Client;
  sqs: SQSClient;
  bucket: string;
  close(): Promise<void>;
}

export const startRecoveryEmulators = async (options: { sqs?: boolean } = {}): Promise<RecoveryEmulators> => {
  const directory = mkdtempSync(join(tmpdir(), 'recovery-s3-'));
  const [kinesisEmulator, dynamoEmulator, s3Emulator, sqsEmulator] = await Promise.all([
    startKinesis(),
    startDynamoDb(),
    startS3({ directory }),
    options.sqs === false ? Promise.resolve(undefined) : startSqs(),
  ]);
  const emulators: RunningEmulator[] = [kinesisEmulator, dynamoEmulator, s3Emulator];
  if (sqsEmulator) emulators.push(sqsEmulator);
  const kinesis = kinesisClient(kinesisEmulator.endpoint);
  const dynamodb = new DynamoDBClient({
    ...clientConfig(dynamoEmulator.endpoint),
    ...DYNAMODB_CLIENT_SETTINGS,
    requestHandler: keepAliveHandler(),
  });
  // A client of its own: lib-dynamodb refuses one with cacheMiddleware.
  const documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...clientConfig(dynamoEmulator.endpoint), requestHandler: keepAliveHandler() }),
    { marshallOptions: { ...MARSHALL_OPTIONS } },
  );
  const s3 = new S3Client({
    ...clientConfig(s3Emulator.endpoint),
    forcePathStyle: true,
    requestHandler: keepAliveHandler(),
  });
  const sqs = sqsEmulator ? sqsClient(sqsEmulator.endpoint) : (undefined as unknown as SQSClient);
  const bucket = 'recovery';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    kinesis,
    dynamodb,
    documentClient,
    s3,
    sqs,
    bucket,
    close: async () => {
      kinesis.destroy();
      dynamodb.destroy();
      documentClient.destroy();
      s3.destroy();
      sqs?.destroy();
      await Promise.all(emulators.map((emulator) => emulator.close()));
      rmSync(directory, { recursive: true, force: true });
    },
  };
};

/** The event table, as template.yaml declares it. */
export const createEventTable = async (client: DynamoDBDocumentClient): Promise<string> => {
  const name = uniqueName('events');
  await createTable(client, name, [['identity', 'HASH']]);
  return name;
};

/** The jobs table, as template.yaml declares it. */
export const createJobsTable = async (client: DynamoDBDocumentClient): Promise<string> => {
  const name = uniqueName('jobs');
  await createTable(client, name, [
    ['jobId', 'HASH'],
    ['item', 'RANGE'],
  ]);
  return name;
};

export const scanTable = async (client: DynamoDBDocumentClient, tableName: string) => {
  const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
  return Items;
};

/** Hash keys that put a key's records where a test wants them: 0 and 2^127 are the halves of a 2-shard stream. */
export const HASH = {
  low: '1',
  lowerMiddle: (2n ** 126n + 1n).toString(),
  high: (2n ** 127n + 1n).toString(),
} as const;

/** Puts the n-th CloudEvent of `key`, at the hash key given (or the key's own). */
export const putEvent = (
  client: KinesisClient,
  streamName: string,
  key: string,
  n: number,
  explicitHashKey?: string,
): Promise<PutRecordCommandOutput> =>
  client.send(
    new PutRecordCommand({
      StreamName: streamName,
      PartitionKey: key,
      Data: Buffer.from(JSON.stringify(keyedCloudEvent(key, n))),
      ...(explicitHashKey ? { ExplicitHashKey: explicitHashKey } : {}),
    }),
  );

export const splitShard = async (client: KinesisClient, streamName: string, shardId: string, at: bigint) => {
  await client.send(
    new SplitShardCommand({
      StreamName: streamName,
      ShardToSplit: shardId,
      NewStartingHashKey: at.toString(),
    }),
  );
  await waitForStream(client, streamName);
};

export const mergeShards = async (
  client: KinesisClient,
  streamName: string,
  shardId: string,
  adjacentShardId: string,
) => {
  await client.send(
    new MergeShardsCommand({
      StreamName: streamName,
      ShardToMerge: shardId,
      AdjacentShardToMerge: adjacentShardId,
    }),
  );
  await waitForStream(client, streamName);
};

export const listShards = async (client: KinesisClient, streamName: string) =>
  (await client.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];

/** Lets the wall clock move on, so that arrival times on either side of a boundary differ. */
export const pause = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));
