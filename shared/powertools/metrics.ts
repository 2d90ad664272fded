import { Metrics } from '@aws-lambda-powertools/metrics';
import { logger } from '#shared/powertools/logger.ts';

/**
 * Every function publishes under one namespace, so a dashboard can put them side by side. Its own warnings (an
 * invocation that published no metric) go through the function's Logger: JSON at WARN, filtered by its log level.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'KinesisPipeline',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'kinesis-pipeline',
  logger,
});

export { MetricUnit } from '@aws-lambda-powertools/metrics';
