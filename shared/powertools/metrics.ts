import { Metrics } from '@aws-lambda-powertools/metrics';

/** Every function publishes under one namespace, so a dashboard can put them side by side. */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'KinesisPipeline',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'kinesis-pipeline',
});

export { MetricUnit } from '@aws-lambda-powertools/metrics';
