import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '#local/emulators/index.ts';
import { listenOn } from '#local/net.ts';
import { createResources, type ResourceClients } from '#local/resources.ts';
import type { LocalStack, PlannedResource } from '#local/stack.ts';

const require = createRequire(import.meta.url);

/** How long a created table or stream stays CREATING here; AWS takes seconds, the local runtime's emulators none. */
const CREATING_MS = 400;

const servers: Array<{ close: () => Promise<void> }> = [];
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;

const resource = (logicalId: string, type: string, ref: string, properties: Record<string, unknown>) =>
  ({ logicalId, type, properties, refs: { ref, attributes: {} }, emulated: true }) as PlannedResource;

describe('Local runtime: template resources are ready before anything uses them', () => {
  beforeAll(async () => {
    const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => Server;
    const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
    const kinesisServer = await listenOn(kinesalite({ createStreamMs: CREATING_MS }), 0, '127.0.0.1');
    const dynamoServer = await listenOn(dynalite({ createTableMs: CREATING_MS }), 0, '127.0.0.1');
    servers.push(kinesisServer, dynamoServer);
    const handler = { requestHandler: new NodeHttpHandler(), maxAttempts: 1 };
    kinesis = new KinesisClient({ ...clientConfig(kinesisServer.endpoint), ...handler });
    dynamodb = new DynamoDBClient({ ...clientConfig(dynamoServer.endpoint), ...handler });
  });

  afterAll(async () => {
    kinesis?.destroy();
    dynamodb?.destroy();
    for (const server of servers) await server.close();
  });

  it('waits until a created table and stream are ACTIVE, so the first write and a retention change succeed', async () => {
    // Prepare: a table, and a stream whose retention above 24 h is set right after it is created.
    const stack = {
      resources: {
        Table: resource('Table', 'AWS::DynamoDB::Table', 'events', {
          KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'identity', AttributeType: 'S' }],
        }),
        Stream: resource('Stream', 'AWS::Kinesis::Stream', 'stream', {
          ShardCount: 1,
          RetentionPeriodHours: 48,
        }),
      },
    } as unknown as LocalStack;
    // Act
    const lines = await createResources(stack, { kinesis, dynamodb } as unknown as ResourceClients);
    // Assess: a write straight after is accepted (a CREATING table answers ResourceNotFoundException).
    expect(lines).toEqual(['table events', 'stream stream (1 shard)']);
    await expect(
      dynamodb.send(new PutItemCommand({ TableName: 'events', Item: { identity: { S: 'first' } } })),
    ).resolves.toBeDefined();
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: 'stream' }),
    );
    expect(StreamDescriptionSummary).toMatchObject({ StreamStatus: 'ACTIVE', RetentionPeriodHours: 48 });
  });
});
