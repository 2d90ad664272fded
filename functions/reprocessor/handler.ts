import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { documentClient } from '#shared/clients/document-client.ts';
import { dynamodb } from '#shared/clients/dynamodb.ts';
import { kinesisReader } from '#shared/clients/kinesis.ts';
import { lambda } from '#shared/clients/lambda.ts';
import { s3 } from '#shared/clients/s3.ts';
import { logger } from '#shared/powertools/logger.ts';
import { metrics, reportFailedInvocations } from '#shared/powertools/metrics.ts';
import { loadReprocessorConfig } from '#shared/recovery/config.ts';
import { DynamoDbJobStore } from '#shared/recovery/job-store.ts';
import {
  type ContinueRequest,
  handleReprocessRequest,
  type ReprocessAnswer,
  ReprocessRequestError,
} from '#shared/recovery/reprocessor.ts';
import { createDryRunSink, createSink } from '#shared/sink/sink-factory.ts';

const config = loadReprocessorConfig();

const sink = createSink(config, { dynamodb, s3 });

const dryRunSink = () => createDryRunSink(config, { dynamodb });

const jobs = new DynamoDbJobStore({
  client: documentClient,
  tableName: config.jobsTableName,
  retentionDays: config.settings.jobRetentionDays,
});

/** The job goes on in a new asynchronous invocation of this very function (InvocationType Event). */
const invokeSelf =
  (context: Context) =>
  async (request: ContinueRequest): Promise<void> => {
    // Imported here, not at the top: the package loads on first use (shared/clients/lazy.ts).
    const { InvokeCommand } = await import('@aws-sdk/client-lambda');
    await lambda.send(
      new InvokeCommand({
        FunctionName: context.invokedFunctionArn,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(request)),
      }),
    );
  };

/**
 * `{ from, to?, shardIds?, dryRun?, jobId?, maxRecordsPerSecond?, action? }` → the job's status; a status request
 * for a job that does not exist answers `{ jobId, state: 'not-found', message }`.
 */
const reprocess = (event: unknown, context: Context): Promise<ReprocessAnswer> =>
  handleReprocessRequest(event, {
    kinesis: kinesisReader,
    jobs,
    sink,
    dryRunSink,
    logger,
    metrics,
    owner: context.awsRequestId,
    remainingMs: () => context.getRemainingTimeInMillis(),
    continueJob: invokeSelf(context),
    settings: config.settings,
  });

/** A job's own next invocation, as `continueJob` sends it: `continuation` counts from 1. */
const isContinuation = (event: unknown): boolean => {
  const continuation = (event as { continuation?: unknown } | null)?.continuation;
  return typeof continuation === 'number' && continuation > 0;
};

export const handler = middy<unknown, ReprocessAnswer>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  // A job's own continuation refused (after a deploy that raised the projection version) is a failure to see,
  // not a typo: only the requests people send count as refused.
  .use(
    reportFailedInvocations(
      (error, event) => error instanceof ReprocessRequestError && !isContinuation(event),
    ),
  )
  .handler(reprocess);
