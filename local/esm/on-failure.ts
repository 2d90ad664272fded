import { randomUUID } from 'node:crypto';
import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_CALL_TIMEOUT_MS, withCallTimeout } from './signal.ts';
import type { FailureCondition, KinesisOnFailureRecord, OnFailureSink } from './types.ts';

export interface FailedBatch {
  shardId: string;
  streamArn: string;
  functionArn: string;
  /** The discarded records, in sequence order. */
  records: ReadonlyArray<{ sequenceNumber: string; arrivalMs: number }>;
  condition: FailureCondition;
  approximateInvokeCount: number;
  /** Of the last invocation; ignored for RecordAgeExceeded, whose record has no responseContext. */
  functionError: 'Unhandled' | null;
  requestId?: string;
  nowMs: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The invocation record of aws-behaviour.md §3: pointers to the discarded records, never the records.
 * RecordAgeExceeded records carry no responseContext key at all, as observed on AWS.
 */
export const kinesisOnFailureRecord = (batch: FailedBatch): KinesisOnFailureRecord => {
  const first = batch.records[0];
  const last = batch.records[batch.records.length - 1];
  if (!first || !last) throw new Error('An on-failure record needs at least one record');
  return {
    requestContext: {
      requestId: batch.requestId ?? randomUUID(),
      functionArn: batch.functionArn,
      condition: batch.condition,
      approximateInvokeCount: batch.approximateInvokeCount,
    },
    ...(batch.condition === 'RecordAgeExceeded'
      ? {}
      : {
          responseContext: {
            statusCode: 200 as const,
            executedVersion: '$LATEST',
            functionError: batch.functionError,
          },
        }),
    version: '1.0',
    timestamp: iso(batch.nowMs),
    KinesisBatchInfo: {
      shardId: batch.shardId,
      startSequenceNumber: first.sequenceNumber,
      endSequenceNumber: last.sequenceNumber,
      approximateArrivalOfFirstRecord: iso(first.arrivalMs),
      approximateArrivalOfLastRecord: iso(last.arrivalMs),
      batchSize: batch.records.length,
      streamArn: batch.streamArn,
    },
  };
};

/** `arn:aws:sqs:<region>:<account>:<name>` → its parts. */
export const parseQueueArn = (arn: string): { region: string; accountId: string; queueName: string } => {
  const [prefix, partition, service, region, accountId, queueName] = arn.split(':');
  if (prefix !== 'arn' || !partition || service !== 'sqs' || !region || !accountId || !queueName) {
    throw new Error(`Not an SQS queue ARN: ${arn}`);
  }
  return { region, accountId, queueName };
};

/**
 * An on-failure destination that sends the record as the body of an SQS message, as Lambda does. `destination`
 * is the queue's ARN (as in DestinationConfig.OnFailure.Destination) or its URL.
 */
export const sqsOnFailureSink = (options: {
  client: SQSClient;
  destination: string;
  /** Each call fails after this long without an answer (it is then retried, as any failed delivery). */
  callTimeoutMs?: number;
  /**
   * Makes a sent message durable before the send counts as done: the mapping's checkpoint moves past the records
   * right after, so a message the queue could still lose (the local SQS saves its messages once a second) would
   * lose them for good.
   */
  persist?: () => void | Promise<void>;
}): OnFailureSink => {
  const timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  let queueUrl: Promise<string> | undefined;
  const resolveUrl = async (abortSignal: AbortSignal): Promise<string> => {
    if (!options.destination.startsWith('arn:')) return options.destination;
    const { accountId, queueName } = parseQueueArn(options.destination);
    const { QueueUrl } = await options.client.send(
      new GetQueueUrlCommand({ QueueName: queueName, QueueOwnerAWSAccountId: accountId }),
      { abortSignal },
    );
    if (!QueueUrl) throw new Error(`No URL for queue ${options.destination}`);
    return QueueUrl;
  };
  // Records whose message is on the queue but was not saved: the poller's retry only saves again. Sending again
  // would leave one more pointer to the same records on the queue at every attempt while the save fails.
  const sentNotSaved = new WeakSet<KinesisOnFailureRecord>();
  return async (record, { signal = NEVER_ABORTED }) => {
    if (!sentNotSaved.has(record)) {
      queueUrl ??= withCallTimeout(timeoutMs, signal, resolveUrl).catch((error: unknown) => {
        queueUrl = undefined;
        throw error;
      });
      const url = await queueUrl;
      await withCallTimeout(timeoutMs, signal, (abortSignal) =>
        options.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(record) }), {
          abortSignal,
        }),
      );
      sentNotSaved.add(record);
    }
    await options.persist?.();
    sentNotSaved.delete(record);
  };
};

const NEVER_ABORTED = new AbortController().signal;
