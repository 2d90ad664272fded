import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { DescribeTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '#local/emulators/index.ts';
import { listenOn } from '#local/net.ts';
import { createResources, leftOverLines, type ResourceClients } from '#local/resources.ts';
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

  it('brings a kept stream to the template: its retention, and its shard count by resharding', async () => {
    // Prepare: a stream made by an earlier start, with 1 shard and 24 hours.
    const stream = (properties: Record<string, unknown>) =>
      ({
        resources: { Stream: resource('Stream', 'AWS::Kinesis::Stream', 'kept', properties) },
      }) as unknown as LocalStack;
    const clients = { kinesis, dynamodb } as unknown as ResourceClients;
    await createResources(stream({ ShardCount: 1 }), clients);
    const summary = async () =>
      (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'kept' })))
        .StreamDescriptionSummary!;
    // Act: started again with 2 shards and 48 hours, then back to 1 shard and 24 hours.
    const raised = await createResources(stream({ ShardCount: 2, RetentionPeriodHours: 48 }), clients);
    const raisedSummary = await summary();
    const same = await createResources(stream({ ShardCount: 1 }), clients);
    // Assess
    expect(raised).toEqual([
      "stream kept (kept; retention 24 → 48 hours; resharded from 1 to 2 open shards, as ShardCount asks (uniform scaling: 1 split; the closed shards' records stay readable, and are read before their children's))",
    ]);
    expect(raisedSummary).toMatchObject({ RetentionPeriodHours: 48, OpenShardCount: 2 });
    expect(same).toEqual([
      "stream kept (kept; retention 48 → 24 hours; resharded from 2 to 1 open shards, as ShardCount asks (uniform scaling: 1 merge; the closed shards' records stay readable, and are read before their children's))",
    ]);
    expect(await summary()).toMatchObject({ RetentionPeriodHours: 24, OpenShardCount: 1 });
  });

  it('names a kept table whose key or indexes the template has changed, which it cannot change', async () => {
    // Prepare: a table made by an earlier start, keyed by identity alone.
    const table = (properties: Record<string, unknown>) =>
      ({
        resources: { Table: resource('Table', 'AWS::DynamoDB::Table', 'kept-table', properties) },
      }) as unknown as LocalStack;
    const byIdentity = {
      KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'identity', AttributeType: 'S' }],
    };
    const clients = { kinesis, dynamodb } as unknown as ResourceClients;
    await createResources(table(byIdentity), clients);
    // Act: started again with a sort key and an index, then as it was.
    const changed = await createResources(
      table({
        KeySchema: [...byIdentity.KeySchema, { AttributeName: 'version', KeyType: 'RANGE' }],
        AttributeDefinitions: [
          ...byIdentity.AttributeDefinitions,
          { AttributeName: 'version', AttributeType: 'N' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byVersion',
            KeySchema: [{ AttributeName: 'version', KeyType: 'HASH' }],
            Projection: {},
          },
        ],
      }),
      clients,
    );
    const same = await createResources(table(byIdentity), clients);
    // Assess
    expect(changed).toEqual([
      'table kept-table (kept; WARNING: keyed by identity (S) HASH where the template now asks for identity (S) HASH, ' +
        'version (N) RANGE; global secondary indexes [] where the template now asks for [byVersion (version (N) HASH)]; its key and ' +
        'indexes are not changed: start with --fresh to make it anew (its items and the rest of the local data are dropped))',
    ]);
    expect(same).toEqual(['table kept-table (kept)']);
  });

  it('names a kept index whose key the template has changed under the same name', async () => {
    // Prepare: a table with an index on version, made by an earlier start
    const table = (indexKey: string) =>
      ({
        resources: {
          Table: resource('Table', 'AWS::DynamoDB::Table', 'kept-index', {
            KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
            AttributeDefinitions: [
              { AttributeName: 'identity', AttributeType: 'S' },
              { AttributeName: indexKey, AttributeType: 'S' },
            ],
            GlobalSecondaryIndexes: [
              {
                IndexName: 'byKey',
                KeySchema: [{ AttributeName: indexKey, KeyType: 'HASH' }],
                Projection: { ProjectionType: 'ALL' },
              },
            ],
          }),
        },
      }) as unknown as LocalStack;
    const clients = { kinesis, dynamodb } as unknown as ResourceClients;
    await createResources(table('version'), clients);
    // Act
    const changed = await createResources(table('source'), clients);
    // Assess
    expect(changed[0]).toContain(
      'WARNING: global secondary indexes [byKey (version (S) HASH)] where the template now asks for [byKey (source (S) HASH)]',
    );
  });

  it("makes a table in the template's billing mode, and changes a kept table's in place as a stack update does", async () => {
    // Prepare: a table the template makes PROVISIONED, later changed to PAY_PER_REQUEST and back.
    const table = (billing: Record<string, unknown>) =>
      ({
        resources: {
          Table: resource('Table', 'AWS::DynamoDB::Table', 'billed', {
            KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'identity', AttributeType: 'S' }],
            ...billing,
          }),
        },
      }) as unknown as LocalStack;
    const provisioned = {
      BillingMode: 'PROVISIONED',
      ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 7 },
    };
    const clients = { kinesis, dynamodb } as unknown as ResourceClients;
    const describe = async () =>
      (await dynamodb.send(new DescribeTableCommand({ TableName: 'billed' }))).Table!;
    // Act
    const made = await createResources(table(provisioned), clients);
    const madeTable = await describe();
    const onDemand = await createResources(table({ BillingMode: 'PAY_PER_REQUEST' }), clients);
    const onDemandTable = await describe();
    const back = await createResources(table(provisioned), clients);
    // Assess
    expect(made).toEqual(['table billed']);
    expect(madeTable.BillingModeSummary?.BillingMode ?? 'PROVISIONED').toBe('PROVISIONED');
    expect(madeTable.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 5, WriteCapacityUnits: 7 });
    expect(onDemand).toEqual(['table billed (kept; billing mode PROVISIONED → PAY_PER_REQUEST)']);
    expect(onDemandTable.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(back).toEqual(['table billed (kept; billing mode PAY_PER_REQUEST → PROVISIONED)']);
    expect(await describe()).toMatchObject({
      TableStatus: 'ACTIVE',
      BillingModeSummary: { BillingMode: 'PROVISIONED' },
      ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 7 },
    });
  });

  it('names the kept streams and tables that the template no longer declares', async () => {
    // Prepare: a stream and a table made by an earlier start.
    const both = {
      resources: {
        Stream: resource('Stream', 'AWS::Kinesis::Stream', 'removed-stream', { ShardCount: 1 }),
        Table: resource('Table', 'AWS::DynamoDB::Table', 'removed-table', {
          KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'identity', AttributeType: 'S' }],
        }),
      },
    } as unknown as LocalStack;
    const clients = { kinesis, dynamodb } as unknown as ResourceClients;
    await createResources(both, clients);
    // Act: started again with a template that has neither.
    const lines = await leftOverLines({ resources: {} } as unknown as LocalStack, clients);
    // Assess
    expect(lines).toContain(
      'stream removed-stream is no longer in the template: kept with its records (a stack update would delete it ' +
        'unless its DeletionPolicy retains it); start with --fresh to drop it (and the rest of the local data)',
    );
    expect(lines).toContain(
      'table removed-table is no longer in the template: kept with its items (a stack update would delete it ' +
        'unless its DeletionPolicy retains it); start with --fresh to drop it (and the rest of the local data)',
    );
  });
});
