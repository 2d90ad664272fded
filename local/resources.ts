import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  ListTablesCommand,
  type LocalSecondaryIndex,
  type ProvisionedThroughput,
  type TableDescription,
  UpdateTableCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  type KinesisClient,
  ListStreamsCommand,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { nextShardCountStep, reshardUniformly } from '#local/reshard.ts';
import type { LocalStack, PlannedResource } from '#local/stack.ts';

/**
 * Creates the template's data resources on the emulators, idempotently (a restart with kept data finds them
 * already there). Settings that only matter on AWS (encryption, point-in-time recovery, deletion protection,
 * lifecycle rules) are accepted and not emulated.
 */

export interface ResourceClients {
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  sqs: SQSClient;
}

/** Local shard count for an ON_DEMAND stream, which has no ShardCount. */
export const ON_DEMAND_LOCAL_SHARDS = 4;

const notFound = (error: Error & { $metadata?: { httpStatusCode?: number } }) =>
  error.name === 'ResourceNotFoundException' ||
  error.name === 'NotFound' ||
  error.$metadata?.httpStatusCode === 404;

/** The answer of a describe call, or undefined when what it describes does not exist. */
const found = <T>(check: Promise<T>): Promise<T | undefined> =>
  check.catch((error: Error) => {
    if (notFound(error)) return undefined;
    throw error;
  });

const exists = async (check: Promise<unknown>): Promise<boolean> =>
  (await found(check.then(() => true))) ?? false;

/**
 * How long, and how often, to wait for a resource just created to be ready: the emulators take milliseconds. The
 * SDK's waiters poll with their services' delays (20 s for a table) unless told otherwise.
 */
const READY = { maxWaitTime: 60, minDelay: 0.02, maxDelay: 0.5 };

/**
 * Waits until a table just created is ACTIVE. DynamoDB (dynalite too) answers CreateTable while the table is
 * CREATING and refuses its reads and writes until then (ResourceNotFoundException); CloudFormation likewise waits
 * before it creates what depends on the table.
 */
export const waitForTable = async (
  dynamodb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
): Promise<void> => {
  await waitUntilTableExists({ ...READY, client: dynamodb as DynamoDBClient }, { TableName: tableName });
};

/** Waits until a stream just created is ACTIVE: Kinesis refuses changes to a CREATING stream (ResourceInUseException). */
export const waitForStream = async (
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
): Promise<void> => {
  await waitUntilStreamExists({ ...READY, client: kinesis as KinesisClient }, { StreamName: streamName });
};

const shardsText = (count: number) => `${count} shard${count === 1 ? '' : 's'}`;

/**
 * A stream kept from the last run, brought to the template as a stack update would: its retention is changed to
 * the template's, and its open shards are resharded to the template's ShardCount as UpdateShardCount does
 * (local/reshard.ts), unless the count is further than one UpdateShardCount call reaches, which is named in the
 * start line. An ON_DEMAND stream is not resharded (AWS scales it itself; the local one keeps its shards).
 */
const keepStream = async (
  kinesis: Pick<KinesisClient, 'send'>,
  name: string,
  kept: { OpenShardCount?: number; RetentionPeriodHours?: number },
  wanted: { shards: number; hours: number; onDemand: boolean },
): Promise<string> => {
  const notes: string[] = [];
  const hours = kept.RetentionPeriodHours;
  if (hours !== undefined && hours !== wanted.hours) {
    const change = { StreamName: name, RetentionPeriodHours: wanted.hours };
    await kinesis.send(
      wanted.hours > hours
        ? new IncreaseStreamRetentionPeriodCommand(change)
        : new DecreaseStreamRetentionPeriodCommand(change),
    );
    notes.push(`retention ${hours} → ${wanted.hours} hours`);
  }
  const open = kept.OpenShardCount;
  if (open !== undefined && open !== wanted.shards) {
    notes.push(
      wanted.onDemand
        ? `WARNING: ${shardsText(open)} open where ON_DEMAND is emulated with ${wanted.shards}; an ON_DEMAND ` +
            'stream is not resharded locally: start with --fresh to make it anew (its records and the rest of the ' +
            'local data are dropped)'
        : await reshardKept(kinesis, name, wanted.shards),
    );
  }
  return `stream ${name} (kept${notes.length > 0 ? `; ${notes.join('; ')}` : ''})`;
};

/** Reshards a kept stream to the template's ShardCount, and says what was done, or why it was not. */
const reshardKept = async (
  kinesis: Pick<KinesisClient, 'send'>,
  name: string,
  target: number,
): Promise<string> => {
  const outcome = await reshardUniformly(kinesis, name, target, () => waitForStream(kinesis, name));
  if (outcome.kind === 'unchanged') return `${shardsText(outcome.open)} open, as ShardCount asks`;
  if (outcome.kind === 'out-of-reach') {
    const step = nextShardCountStep(outcome.open, target);
    return (
      `WARNING: ${shardsText(outcome.open)} open where ShardCount now asks for ${target}; not resharded: ` +
      'UpdateShardCount goes at most to double or to half the open shards in one call, so a CloudFormation ' +
      `update would fail and keep them: start with ShardCount=${step} first, then ${target}, or with --fresh to ` +
      'make the stream anew (its records and the rest of the local data are dropped)'
    );
  }
  const { from, to, splits, merges } = outcome;
  const steps = [
    ...(splits > 0 ? [`${splits} split${splits === 1 ? '' : 's'}`] : []),
    ...(merges > 0 ? [`${merges} merge${merges === 1 ? '' : 's'}`] : []),
  ];
  return (
    `resharded from ${from} to ${to} open shards, as ShardCount asks (uniform scaling: ${steps.join(', ')}; ` +
    "the closed shards' records stay readable, and are read before their children's)"
  );
};

const createStream = async ({ kinesis }: ResourceClients, resource: PlannedResource): Promise<string> => {
  const p = resource.properties as {
    ShardCount?: number | string;
    RetentionPeriodHours?: number | string;
    StreamModeDetails?: { StreamMode?: string };
  };
  const name = resource.refs.ref;
  const onDemand = p.StreamModeDetails?.StreamMode === 'ON_DEMAND';
  const shards = onDemand ? ON_DEMAND_LOCAL_SHARDS : Number(p.ShardCount ?? 1);
  const hours = Number(p.RetentionPeriodHours ?? 24);
  const kept = (await found(kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))))
    ?.StreamDescriptionSummary;
  if (kept) return keepStream(kinesis, name, kept, { shards, hours, onDemand });
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitForStream(kinesis, name);
  if (hours > 24) {
    await kinesis.send(
      new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: hours }),
    );
  }
  return `stream ${name} (${shardsText(shards)}${onDemand ? ', ON_DEMAND emulated' : ''})`;
};

/** `identity (S) HASH, version (N) RANGE`: a key schema with its attributes' types. */
const keyText = (keys: KeySchemaElement[] = [], definitions: AttributeDefinition[] = []): string =>
  keys
    .map(({ AttributeName, KeyType }) => {
      const type = definitions.find(
        (definition) => definition.AttributeName === AttributeName,
      )?.AttributeType;
      return `${AttributeName} (${type ?? '?'}) ${KeyType}`;
    })
    .join(', ');

/** Indexes by name and key, sorted, for comparing a kept table's indexes with the template's. */
const indexesText = (
  indexes: Array<{ IndexName?: string; KeySchema?: KeySchemaElement[] }> = [],
  definitions: AttributeDefinition[] = [],
): string =>
  indexes
    .map(({ IndexName, KeySchema }) => `${IndexName ?? ''} (${keyText(KeySchema, definitions)})`)
    .sort()
    .join('; ');

/**
 * A table kept from the last run (its billing mode already brought to the template's). Its key and indexes are not changed (CloudFormation replaces a table whose key
 * changes, and writes to the old key would fail): a kept table whose key or indexes differ from the template's
 * is named in the start line, with the way to make it anew.
 */
const keptTable = (
  name: string,
  kept: TableDescription,
  wanted: {
    KeySchema: KeySchemaElement[];
    AttributeDefinitions: AttributeDefinition[];
    GlobalSecondaryIndexes?: GlobalSecondaryIndex[];
    LocalSecondaryIndexes?: LocalSecondaryIndex[];
  },
  changed?: string,
): string => {
  const notes: string[] = [];
  const keptKey = keyText(kept.KeySchema, kept.AttributeDefinitions);
  const wantedKey = keyText(wanted.KeySchema, wanted.AttributeDefinitions);
  if (keptKey !== wantedKey) notes.push(`keyed by ${keptKey} where the template now asks for ${wantedKey}`);
  for (const [what, keptIndexes, wantedIndexes] of [
    ['global secondary indexes', kept.GlobalSecondaryIndexes, wanted.GlobalSecondaryIndexes],
    ['local secondary indexes', kept.LocalSecondaryIndexes, wanted.LocalSecondaryIndexes],
  ] as const) {
    const [have, want] = [
      indexesText(keptIndexes, kept.AttributeDefinitions),
      indexesText(wantedIndexes, wanted.AttributeDefinitions),
    ];
    if (have !== want) notes.push(`${what} [${have}] where the template now asks for [${want}]`);
  }
  const done = changed ? `; ${changed}` : '';
  if (notes.length === 0) return `table ${name} (kept${done})`;
  return (
    `table ${name} (kept${done}; WARNING: ${notes.join('; ')}; its key and indexes are not changed: start with ` +
    '--fresh to make it anew (its items and the rest of the local data are dropped))'
  );
};

/** A table's billing as the template says: PROVISIONED when it says so, or gives throughput without a mode. */
const billingOf = (p: {
  BillingMode?: string;
  ProvisionedThroughput?: { ReadCapacityUnits?: number | string; WriteCapacityUnits?: number | string };
}): { mode: 'PROVISIONED' | 'PAY_PER_REQUEST'; throughput?: ProvisionedThroughput } => {
  const provisioned =
    p.BillingMode === 'PROVISIONED' || (p.BillingMode === undefined && p.ProvisionedThroughput !== undefined);
  if (!provisioned) return { mode: 'PAY_PER_REQUEST' };
  return {
    mode: 'PROVISIONED',
    throughput: {
      ReadCapacityUnits: Number(p.ProvisionedThroughput?.ReadCapacityUnits ?? 1),
      WriteCapacityUnits: Number(p.ProvisionedThroughput?.WriteCapacityUnits ?? 1),
    },
  };
};

/**
 * Brings a kept table's billing mode and provisioned throughput to the template's, as a stack update does it in
 * place (UpdateTable); says what changed, or nothing.
 */
const keepBilling = async (
  dynamodb: Pick<DynamoDBClient, 'send'>,
  name: string,
  kept: TableDescription,
  wanted: ReturnType<typeof billingOf>,
): Promise<string | undefined> => {
  // A table described without a billing mode is PROVISIONED, as DynamoDB documents it.
  const keptMode = kept.BillingModeSummary?.BillingMode ?? 'PROVISIONED';
  const keptThroughput = kept.ProvisionedThroughput;
  const throughputChanged =
    wanted.mode === 'PROVISIONED' &&
    (keptThroughput?.ReadCapacityUnits !== wanted.throughput?.ReadCapacityUnits ||
      keptThroughput?.WriteCapacityUnits !== wanted.throughput?.WriteCapacityUnits);
  if (keptMode === wanted.mode && !throughputChanged) return undefined;
  await dynamodb.send(
    new UpdateTableCommand({
      TableName: name,
      BillingMode: wanted.mode,
      ...(wanted.throughput ? { ProvisionedThroughput: wanted.throughput } : {}),
    }),
  );
  await waitForTable(dynamodb, name);
  const units = (t?: { ReadCapacityUnits?: number; WriteCapacityUnits?: number }) =>
    `${t?.ReadCapacityUnits}/${t?.WriteCapacityUnits}`;
  return keptMode === wanted.mode
    ? `read/write capacity ${units(keptThroughput)} → ${units(wanted.throughput)}`
    : `billing mode ${keptMode} → ${wanted.mode}`;
};

const createTable = async ({ dynamodb }: ResourceClients, resource: PlannedResource): Promise<string> => {
  const p = resource.properties as {
    KeySchema: KeySchemaElement[];
    AttributeDefinitions: AttributeDefinition[];
    GlobalSecondaryIndexes?: GlobalSecondaryIndex[];
    LocalSecondaryIndexes?: LocalSecondaryIndex[];
    BillingMode?: string;
    ProvisionedThroughput?: { ReadCapacityUnits?: number | string; WriteCapacityUnits?: number | string };
  };
  const name = resource.refs.ref;
  const billing = billingOf(p);
  const kept = (await found(dynamodb.send(new DescribeTableCommand({ TableName: name }))))?.Table;
  if (kept) {
    const changed = await keepBilling(dynamodb, name, kept, billing);
    return keptTable(name, kept, p, changed);
  }
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: p.KeySchema,
      AttributeDefinitions: p.AttributeDefinitions,
      BillingMode: billing.mode,
      ...(billing.throughput ? { ProvisionedThroughput: billing.throughput } : {}),
      ...(p.GlobalSecondaryIndexes?.length
        ? {
            GlobalSecondaryIndexes: p.GlobalSecondaryIndexes.map(
              ({ IndexName, KeySchema, Projection, ProvisionedThroughput }) => ({
                IndexName,
                KeySchema,
                Projection,
                // A PROVISIONED table's index has throughput of its own, which CloudFormation requires.
                ...(billing.throughput
                  ? {
                      ProvisionedThroughput: {
                        ReadCapacityUnits: Number(
                          ProvisionedThroughput?.ReadCapacityUnits ?? billing.throughput.ReadCapacityUnits,
                        ),
                        WriteCapacityUnits: Number(
                          ProvisionedThroughput?.WriteCapacityUnits ?? billing.throughput.WriteCapacityUnits,
                        ),
                      },
                    }
                  : {}),
              }),
            ),
          }
        : {}),
      ...(p.LocalSecondaryIndexes?.length ? { LocalSecondaryIndexes: p.LocalSecondaryIndexes } : {}),
    }),
  );
  await waitForTable(dynamodb, name);
  return `table ${name}`;
};

const createBucket = async ({ s3 }: ResourceClients, resource: PlannedResource): Promise<string> => {
  const name = resource.refs.ref;
  if (await exists(s3.send(new HeadBucketCommand({ Bucket: name })))) return `bucket ${name} (kept)`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return `bucket ${name}`;
};

/** CloudFormation queue properties that are SQS attributes of the same name. */
const QUEUE_ATTRIBUTES = [
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'VisibilityTimeout',
  'FifoQueue',
  'ContentBasedDeduplication',
] as const;

const createQueue = async ({ sqs }: ResourceClients, resource: PlannedResource): Promise<string> => {
  const p = resource.properties as Record<string, unknown>;
  const Attributes: Record<string, string> = {};
  for (const name of QUEUE_ATTRIBUTES) if (p[name] !== undefined) Attributes[name] = String(p[name]);
  // CreateQueue with the same name and attributes returns the existing queue.
  await sqs.send(new CreateQueueCommand({ QueueName: resource.refs.attributes.QueueName, Attributes }));
  return `queue ${resource.refs.attributes.QueueName}`;
};

/** Redrive policies go on after every queue exists, since a policy names its dead-letter queue. */
const setRedrive = async (
  { sqs }: ResourceClients,
  resource: PlannedResource,
): Promise<string | undefined> => {
  const policy = (resource.properties as { RedrivePolicy?: unknown }).RedrivePolicy;
  if (policy === undefined) return undefined;
  const value = typeof policy === 'string' ? policy : JSON.stringify(policy);
  await sqs.send(
    new SetQueueAttributesCommand({ QueueUrl: resource.refs.ref, Attributes: { RedrivePolicy: value } }),
  );
  const { deadLetterTargetArn, maxReceiveCount } = JSON.parse(value) as {
    deadLetterTargetArn: string;
    maxReceiveCount: number;
  };
  return `queue ${resource.refs.attributes.QueueName} redrives to ${deadLetterTargetArn.split(':').pop()} after ${maxReceiveCount} receives`;
};

const CREATORS: Record<string, (clients: ResourceClients, resource: PlannedResource) => Promise<string>> = {
  'AWS::Kinesis::Stream': createStream,
  'AWS::DynamoDB::Table': createTable,
  'AWS::S3::Bucket': createBucket,
  'AWS::SQS::Queue': createQueue,
};

/** Creates every data resource of the stack; returns one line per resource for the start-up log. */
export const createResources = async (stack: LocalStack, clients: ResourceClients): Promise<string[]> => {
  const lines: string[] = [];
  const resources = Object.values(stack.resources);
  for (const resource of resources) {
    const create = CREATORS[resource.type];
    if (!create) continue;
    try {
      lines.push(await create(clients, resource));
    } catch (error) {
      throw new Error(
        `Resources.${resource.logicalId}: could not create ${resource.type}: ${(error as Error).message}`,
      );
    }
  }
  for (const resource of resources.filter((r) => r.type === 'AWS::SQS::Queue')) {
    const line = await setRedrive(clients, resource);
    if (line) lines.push(line);
  }
  return lines;
};

/**
 * Streams and tables kept from an earlier start that the template no longer declares (removed, or renamed): a
 * stack update would delete them, unless their DeletionPolicy kept them. They are kept here, and named, so that
 * one put back later under its name is not taken for a new one. One line each, for the start-up log.
 */
export const leftOverLines = async (
  stack: LocalStack,
  { kinesis, dynamodb }: ResourceClients,
): Promise<string[]> => {
  const declared = (type: string) =>
    new Set(
      Object.values(stack.resources)
        .filter((r) => r.type === type)
        .map((r) => r.refs.ref),
    );
  const streams: string[] = [];
  for (let start: string | undefined, more = true; more; ) {
    const page = await kinesis.send(new ListStreamsCommand(start ? { ExclusiveStartStreamName: start } : {}));
    streams.push(...(page.StreamNames ?? []));
    more = page.HasMoreStreams === true && (page.StreamNames?.length ?? 0) > 0;
    start = streams.at(-1);
  }
  const tables: string[] = [];
  for (let start: string | undefined, more = true; more; ) {
    const page = await dynamodb.send(new ListTablesCommand(start ? { ExclusiveStartTableName: start } : {}));
    tables.push(...(page.TableNames ?? []));
    start = page.LastEvaluatedTableName;
    more = start !== undefined;
  }
  const kept = (what: string, names: string[], wanted: Set<string>, holds: string) =>
    names
      .filter((name) => !wanted.has(name))
      .map(
        (name) =>
          `${what} ${name} is no longer in the template: kept with its ${holds} (a stack update would delete it ` +
          'unless its DeletionPolicy retains it); start with --fresh to drop it (and the rest of the local data)',
      );
  return [
    ...kept('stream', streams, declared('AWS::Kinesis::Stream'), 'records'),
    ...kept('table', tables, declared('AWS::DynamoDB::Table'), 'items'),
  ];
};
