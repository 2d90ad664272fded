import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from '#shared/powertools/logger.ts';

/** The start of Powertools' warning for an invocation that published no metric. */
const NOTHING_TO_PUBLISH = 'No application metrics to publish';

/**
 * Metrics' own messages, through the function's Logger (JSON, filtered by its log level). Its warning for an
 * invocation that published no metric is written at DEBUG: here many invocations publish none by design (every
 * reprocess `status` request, which `npm run reprocess` sends once a second, and a detached start), so at WARN it
 * would flood the log and hide the warnings that matter. Its other warnings stay warnings. Metrics writes each
 * message as one string.
 */
const metricsLogger = {
  debug: (message: string) => logger.debug(message),
  info: (message: string) => logger.info(message),
  warn: (message: string) =>
    message.startsWith(NOTHING_TO_PUBLISH) ? logger.debug(message) : logger.warn(message),
  error: (message: string) => logger.error(message),
};

/** Every function publishes under one namespace, so a dashboard can put them side by side. */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'KinesisPipeline',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'kinesis-pipeline',
  logger: metricsLogger,
});

export { MetricUnit };

/**
 * A middy middleware for an invocation that fails: one structured line in the function's log (a refused request
 * as a warning, any other failure as an error, with the error's name, message and stack), where Lambda would
 * otherwise write only its own text line, which Logs Insights queries on `level` and `service` do not match; and
 * a count, as `RequestsRefused`, of each one that failed because its request was refused (`isRefusal` says which: a
 * malformed window, an unknown job). The functions' errors alarms leave that count out, so an operator's typo is not
 * paged as a failure. Use it after `injectLambdaContext` and `logMetrics`: its `onError` then runs first, with the
 * invocation's keys still on the logger, and the count is published with the invocation's other metrics.
 */
export const reportFailedInvocations = (isRefusal: (error: unknown, event: unknown) => boolean) => ({
  onError: async (request: { error?: unknown; event?: unknown }): Promise<void> => {
    const { error } = request;
    if (isRefusal(error, request.event)) {
      metrics.addMetric('RequestsRefused', MetricUnit.Count, 1);
      logger.warn('request refused', { error: error as Error });
    } else {
      logger.error('invocation failed', { error: error as Error });
    }
  },
});
