import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ConsumerConfig } from '#shared/consumer/config.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import { DryRunEventStore, DryRunQuarantine, dynamoDbVersionLookup } from '#shared/recovery/dry-run.ts';
import { S3ClaimCheck } from '#shared/sink/claim-check.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';

/** The sink every function that stores events writes through: the DynamoDB store with its claim check, and the quarantine. */
export const createSink = (
  config: ConsumerConfig,
  clients: { dynamodb: Pick<DynamoDBClient, 'send'>; s3: Pick<S3Client, 'send'> },
) => ({
  store: new DynamoDbEventStore({
    client: clients.dynamodb,
    tableName: config.tableName,
    projectionVersion: config.projectionVersion,
    claimCheck: new S3ClaimCheck({
      client: clients.s3,
      bucket: config.claimCheckBucket,
      prefix: config.claimCheckPrefix,
    }),
    claimCheckThresholdBytes: config.claimCheckThresholdBytes,
  }),
  quarantine: new S3Quarantine({
    client: clients.s3,
    bucket: config.quarantineBucket,
    prefix: config.quarantinePrefix,
  }),
});

/** The same sink for a dry run: it reads stored versions to tell what would happen, and writes nothing. */
export const createDryRunSink = (
  config: ConsumerConfig,
  clients: { dynamodb: Pick<DynamoDBClient, 'send'> },
) => ({
  store: new DryRunEventStore(
    config.projectionVersion,
    dynamoDbVersionLookup(clients.dynamodb, config.tableName),
    config.claimCheckThresholdBytes,
  ),
  quarantine: new DryRunQuarantine(),
});
