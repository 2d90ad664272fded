import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamodb } from '#shared/clients/dynamodb.ts';
import { kinesisReader } from '#shared/clients/kinesis.ts';
import { s3 } from '#shared/clients/s3.ts';
import { sqs } from '#shared/clients/sqs.ts';
import { logger } from '#shared/powertools/logger.ts';
import { metrics, reportFailedInvocations } from '#shared/powertools/metrics.ts';
import { loadDlqReplayConfig, replayReaderOptions } from '#shared/recovery/config.ts';
import {
  drainFailureQueue,
  type ReplayDependencies,
  type ReplayReport,
  ReplayRequestError,
  replaySqsEvent,
} from '#shared/recovery/dlq-replay.ts';
import { S3MessageQuarantine } from '#shared/recovery/message-quarantine.ts';
import { createDryRunSink, createSink } from '#shared/sink/sink-factory.ts';

const config = loadDlqReplayConfig();

const sink = createSink(config, { dynamodb, s3 });

const dryRunSink = () => createDryRunSink(config, { dynamodb });

const messageQuarantine = new S3MessageQuarantine({
  client: s3,
  bucket: config.quarantineBucket,
  prefix: config.quarantinePrefix,
});

/**
 * The stream's ARN: the template's stream, in the function's own partition, region and account, which the
 * function's ARN names.
 */
const streamArnOf = (context: Context): string | undefined => {
  const [, partition, , region, account] = context.invokedFunctionArn.split(':');
  return partition && region && account
    ? `arn:${partition}:kinesis:${region}:${account}:stream/${config.streamName}`
    : undefined;
};

const dependencies = (context: Context, streamArn = streamArnOf(context)): ReplayDependencies => ({
  kinesis: kinesisReader,
  streamName: config.streamName,
  ...(streamArn === undefined ? {} : { streamArn }),
  sink,
  dryRunSink,
  messageQuarantine,
  logger,
  metrics,
  keyConcurrency: config.keyConcurrency,
  timeReserveMs: config.timeReserveMs,
  remainingMs: () => context.getRemainingTimeInMillis(),
  stopReserveMs: config.stopReserveMs,
  reader: replayReaderOptions(config),
  attempts: config.retryAttempts,
});

const isSqsEvent = (event: unknown): event is SQSEvent =>
  Array.isArray((event as SQSEvent | null)?.Records) &&
  (event as SQSEvent).Records.every((record) => record.eventSource === 'aws:sqs');

/**
 * Two modes in one function: an SQS event from the failure queue's trigger (answered with a partial batch
 * response), or an on-demand request `{ maxMessages?, dryRun?, visibilityTimeoutSeconds? }` (answered with the
 * report).
 */
const replay = async (event: unknown, context: Context): Promise<SQSBatchResponse | ReplayReport> => {
  if (isSqsEvent(event)) {
    const { batchItemFailures } = await replaySqsEvent(event, dependencies(context));
    return { batchItemFailures };
  }
  return drainFailureQueue(event, { ...dependencies(context), sqs, queueUrl: config.failureQueueUrl });
};

export const handler = middy<unknown, SQSBatchResponse | ReplayReport>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .use(reportFailedInvocations((error) => error instanceof ReplayRequestError))
  .handler(replay);
