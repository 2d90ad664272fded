import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { dynamodb } from '#shared/clients/dynamodb.ts';
import { s3 } from '#shared/clients/s3.ts';
import { loadConsumerConfig } from '#shared/consumer/config.ts';
import { KeyOrderedBatchProcessor } from '#shared/consumer/key-ordered-processor.ts';
import { processRecords } from '#shared/consumer/process-records.ts';
import { streamRecordsFromKinesisEvent } from '#shared/events/stream-record.ts';
import { logger } from '#shared/powertools/logger.ts';
import { metrics } from '#shared/powertools/metrics.ts';
import { createSink } from '#shared/sink/sink-factory.ts';

const config = loadConsumerConfig();

const { store, quarantine } = createSink(config, { dynamodb, s3 });

const consume = async (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> => {
  // A processor per invocation, as it holds one batch's state: a batch abandoned at the timeout (middy answers just
  // before it) goes on in the background when the environment is next thawed, and must not report into the next.
  const processor = new KeyOrderedBatchProcessor({
    keyConcurrency: config.keyConcurrency,
    timeReserveMs: config.timeReserveMs,
  });
  const { batchItemFailures } = await processRecords(streamRecordsFromKinesisEvent(event), {
    store,
    quarantine,
    processor,
    logger,
    metrics,
    context,
  });
  return { batchItemFailures };
};

export const handler = middy<KinesisStreamEvent, KinesisStreamBatchResponse>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .handler(consume);
