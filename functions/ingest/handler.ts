import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { kinesis } from '#shared/clients/kinesis.ts';
import { problemOnError } from '#shared/http/problem-on-error.ts';
import { loadIngestConfig } from '#shared/ingest/config.ts';
import { ingestRequest } from '#shared/ingest/ingest-request.ts';
import { putRecordsInOrder } from '#shared/kinesis/put-records.ts';
import { logger } from '#shared/powertools/logger.ts';
import { MetricUnit, metrics } from '#shared/powertools/metrics.ts';

const config = loadIngestConfig();

const counters = {
  accepted: (n: number) => n > 0 && metrics.addMetric('EventsAccepted', MetricUnit.Count, n),
  rejected: (n: number, reason: string) => {
    metrics.addMetric('EventsRejected', MetricUnit.Count, n);
    logger.info('request rejected', { reason, events: n });
  },
  retried: (n: number) => metrics.addMetric('EntriesRetried', MetricUnit.Count, n),
  failed: (n: number) => {
    metrics.addMetric('EntriesFailed', MetricUnit.Count, n);
    logger.warn('events left unwritten after retries', { events: n });
  },
};

const ingest = (
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> => {
  logger.setCorrelationId(event.requestContext?.requestId);
  const deadline = Date.now() + context.getRemainingTimeInMillis() - config.responseReserveMs;
  return ingestRequest(event, {
    limits: config,
    counters,
    write: (entries, onRetry) =>
      putRecordsInOrder(kinesis, entries, { streamName: config.streamName, deadline, onRetry }),
  });
};

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .use(problemOnError(logger))
  .handler(ingest);
