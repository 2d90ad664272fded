import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { classifyBatchResponse } from './batch-response.ts';
import { sqsMappingConfig } from './config.ts';
import { eventBytes, INVOCATION_PAYLOAD_LIMIT_BYTES, serialisedBytes } from './kinesis-events.ts';
import { parseQueueArn } from './on-failure.ts';
import { asError, backoffMs, DEFAULT_CALL_TIMEOUT_MS, sleep, withCallTimeout } from './signal.ts';
import type {
  InvokeResult,
  SqsEventProperties,
  SqsInvoke,
  SqsMappingConfig,
  SqsPollerEvent,
  SqsPollerStats,
} from './types.ts';

export interface SqsPollerOptions {
  /** A client pointed at the queue's endpoint (the emulator). */
  client: SQSClient;
  /** The queue's ARN (SAM's `Queue`) or URL. */
  queue: string;
  properties: SqsEventProperties;
  invoke: SqsInvoke;
  functionName: string;
  region: string;
  accountId: string;
  /**
   * Batches in flight at once. AWS starts with five for a standard queue; ScalingConfig.MaximumConcurrency caps
   * it. A FIFO queue gets one, which keeps every message group in order.
   */
  concurrency?: number;
  /**
   * The longest a receive waits for a message (SQS long polling, 0–20 s), as AWS's pollers long-poll; default 20.
   * 0 short-polls, every `pollIntervalMs` while the queue is empty.
   */
  waitTimeSeconds?: number;
  /** How long a poller waits after an empty short poll (or a long poll the queue answered at once). */
  pollIntervalMs?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /**
   * After stop(), how long calls to the queue may still take before they are abandoned: a short poll or a delete
   * ends within milliseconds, but an emulator that stopped answering must not hold stop() forever.
   */
  stopGraceMs?: number;
  /**
   * How long one call to the queue may go unanswered (beyond a receive's WaitTimeSeconds) before it is abandoned:
   * a receive is then retried, a delete left to the visibility timeout; default 10 s.
   */
  callTimeoutMs?: number;
  onEvent?: (event: SqsPollerEvent) => void;
}

/** SQS's longest long poll, and what AWS's pollers use ("Lambda uses long polling to poll a queue"). */
const MAX_WAIT_SECONDS = 20;

/** The system attributes Lambda puts in `attributes`, in the order AWS writes them. */
const RECORD_ATTRIBUTES = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
] as const;

const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

const recordAttributes = (attributes: Record<string, string> = {}): SQSRecordAttributes => {
  const picked: Record<string, string> = {};
  for (const name of RECORD_ATTRIBUTES) {
    const value = attributes[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked as unknown as SQSRecordAttributes;
};

/** SQS's `{StringValue, DataType}` become Lambda's `{stringValue, stringListValues, binaryListValues, dataType}`. */
const recordMessageAttributes = (
  attributes: Record<string, MessageAttributeValue> = {},
): SQSMessageAttributes =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      {
        ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
        ...(value.BinaryValue !== undefined ? { binaryValue: toBase64(value.BinaryValue) } : {}),
        stringListValues: value.StringListValues ?? [],
        binaryListValues: (value.BinaryListValues ?? []).map(toBase64),
        dataType: value.DataType ?? 'String',
      },
    ]),
  );

/** One message as Lambda delivers it (aws-behaviour.md §4). */
export const sqsEventRecord = (
  message: Message,
  context: { queueArn: string; region: string },
): SQSRecord => ({
  messageId: message.MessageId ?? '',
  receiptHandle: message.ReceiptHandle ?? '',
  body: message.Body ?? '',
  attributes: recordAttributes(message.Attributes),
  messageAttributes: recordMessageAttributes(message.MessageAttributes),
  md5OfBody: message.MD5OfBody ?? '',
  ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
  eventSource: 'aws:sqs',
  eventSourceARN: context.queueArn,
  awsRegion: context.region,
});

interface Gathered {
  batch: SQSRecord[];
  /** Received, but past the payload limit: the first of the next batch. */
  overflow: SQSRecord[];
}

/**
 * Emulates a Lambda event source mapping on an SQS queue: batches of up to BatchSize gathered within
 * MaximumBatchingWindowInSeconds (and 6 MB), deletes on success, partial batch responses by messageId, and
 * nothing deleted on failure, so failed messages come back after the visibility timeout and the queue's own
 * RedrivePolicy moves them to its dead-letter queue after maxReceiveCount (the emulator implements redrive).
 */
export class SqsPoller {
  readonly config: SqsMappingConfig;
  private readonly options: SqsPollerOptions;
  private readonly abortController = new AbortController();
  /** Aborts the calls to the queue, `stopGraceMs` after stop(). */
  private readonly requestAbort = new AbortController();
  private stopRequested = false;
  private state: SqsPollerStats['state'] = 'created';
  private queueUrl = '';
  private queueArn = '';
  private readonly loops: Promise<void>[] = [];
  private stopping: Promise<void> | undefined;
  private readonly waitSeconds: number;
  /** Why the mapping stopped polling on its own (its queue was deleted); as AWS's StateTransitionReason. */
  private stateTransitionReason: string | undefined;
  private counters = { messagesIn: 0, messagesDeleted: 0, invocations: 0, failedInvocations: 0 };
  private lastError: { message: string; at: string } | undefined;

  constructor(options: SqsPollerOptions) {
    this.options = options;
    this.config = sqsMappingConfig(options.properties, {
      fifo: queueNameOf(options.queue).endsWith('.fifo'),
    });
    this.waitSeconds = Math.max(
      0,
      Math.min(MAX_WAIT_SECONDS, Math.floor(options.waitTimeSeconds ?? MAX_WAIT_SECONDS)),
    );
  }

  /** Resolves the queue and starts the pollers; rejects when the queue does not exist. */
  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`The poller for ${this.options.queue} was already started`);
    if (!this.config.Enabled) {
      // Nothing is called, but the mapping still names its queue (for the start-up line and the status view).
      this.queueArn = this.arnFromOptions();
      this.state = 'disabled';
      return;
    }
    this.state = 'starting';
    try {
      await this.resolveQueue();
    } catch (error) {
      // Nothing was started: the caller may try again, e.g. once the queue exists.
      this.state = 'created';
      throw error;
    }
    const fifo = this.queueArn.endsWith('.fifo');
    const cap = this.config.ScalingConfig.MaximumConcurrency ?? Number.POSITIVE_INFINITY;
    const concurrency = Math.max(1, Math.min(this.options.concurrency ?? (fifo ? 1 : 5), cap));
    for (let index = 0; index < concurrency; index += 1) {
      this.loops.push(
        this.poll().catch((error: unknown) => {
          this.fail('Poll', error);
        }),
      );
    }
    this.state = 'running';
  }

  /** Stops polling; in-flight invocations finish and are settled, messages gathered but not sent are released. */
  stop(): Promise<void> {
    if (this.state === 'created' || (this.state === 'disabled' && !this.stateTransitionReason)) {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.stopping ??= (async () => {
      this.stopRequested = true;
      // A mapping disabled because its queue was deleted stays 'disabled', with its reason.
      if (this.state !== 'disabled') this.state = 'stopping';
      this.abortController.abort();
      const grace = setTimeout(() => this.requestAbort.abort(), this.options.stopGraceMs ?? 2_000);
      await Promise.allSettled(this.loops);
      clearTimeout(grace);
      if (this.state !== 'disabled') this.state = 'stopped';
    })();
    return this.stopping;
  }

  /**
   * The queue was deleted: every poller stops instead of retrying for ever (state 'disabled', with the reason).
   * AWS's own answer to a deleted queue is not documented; a mapping whose source is gone can only fail.
   */
  private queueDeleted(): void {
    if (this.stateTransitionReason || this.stopRequested) return;
    this.stateTransitionReason = `queue ${queueNameOf(this.queueArn)} was deleted: the mapping stopped polling it`;
    this.state = 'disabled';
    this.stopRequested = true;
    this.abortController.abort();
    this.emit({ type: 'source-deleted', reason: this.stateTransitionReason });
  }

  stats(): SqsPollerStats {
    return {
      functionName: this.options.functionName,
      queueArn: this.queueArn,
      state: this.state,
      ...(this.stateTransitionReason ? { stateTransitionReason: this.stateTransitionReason } : {}),
      ...this.counters,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private emit(event: SqsPollerEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A listener's failure must not stop the queue.
    }
  }

  private fail(operation: string, error: unknown): void {
    const cause = asError(error);
    this.lastError = { message: `${operation}: ${cause.message}`, at: new Date().toISOString() };
    this.emit({ type: 'error', operation, error: cause });
  }

  private backoff(attempt: number): Promise<void> {
    return sleep(
      backoffMs(attempt, this.options.retryBaseDelayMs ?? 250, this.options.retryMaxDelayMs ?? 10_000),
      this.abortController.signal,
    );
  }

  /**
   * Sends one call to the queue, abandoned after `callTimeoutMs` (plus `waitSeconds`, a long poll's wait) or
   * `stopGraceMs` after stop().
   */
  private send<T>(call: (abortSignal: AbortSignal) => Promise<T>, waitSeconds = 0): Promise<T> {
    const timeoutMs = (this.options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) + waitSeconds * 1000;
    // A long poll is abandoned at stop(): it may wait up to 20 s. Messages the emulator hands to it after that come
    // back after their visibility timeout, as on SQS when a client drops a long poll.
    const stop =
      waitSeconds > 0
        ? AbortSignal.any([this.requestAbort.signal, this.abortController.signal])
        : this.requestAbort.signal;
    return withCallTimeout(timeoutMs, stop, call);
  }

  private async resolveQueue(): Promise<void> {
    const { client, queue } = this.options;
    if (queue.startsWith('arn:')) {
      const { accountId, queueName } = parseQueueArn(queue);
      const command = new GetQueueUrlCommand({ QueueName: queueName, QueueOwnerAWSAccountId: accountId });
      const { QueueUrl } = await this.send((abortSignal) => client.send(command, { abortSignal }));
      this.queueArn = queue;
      this.queueUrl = QueueUrl ?? '';
      return;
    }
    const command = new GetQueueAttributesCommand({ QueueUrl: queue, AttributeNames: ['QueueArn'] });
    const { Attributes } = await this.send((abortSignal) => client.send(command, { abortSignal }));
    this.queueUrl = queue;
    this.queueArn = Attributes?.QueueArn ?? this.arnFromOptions();
  }

  /** The queue's ARN as the options give it: the ARN itself, or one made from a queue URL's name. */
  private arnFromOptions(): string {
    const { queue, region, accountId } = this.options;
    return queue.startsWith('arn:') ? queue : `arn:aws:sqs:${region}:${accountId}:${queueNameOf(queue)}`;
  }

  private async poll(): Promise<void> {
    let carried: SQSRecord[] = [];
    const pollIntervalMs = this.options.pollIntervalMs ?? 250;
    while (!this.stopRequested) {
      const startedAt = Date.now();
      const { batch, overflow } = await this.gather(carried);
      carried = overflow;
      if (batch.length === 0) {
        // A long poll that came back empty has waited already; a short poll (or a queue that answers a long poll
        // at once) waits here, so an idle queue is not polled in a tight loop.
        await sleep(pollIntervalMs - (Date.now() - startedAt), this.abortController.signal);
        continue;
      }
      if (this.stopRequested) {
        carried = [...batch, ...carried];
        break;
      }
      const failed = await this.process(batch);
      carried = await this.releaseFailedGroups(failed, carried);
    }
    if (!this.stateTransitionReason) await this.release(carried);
  }

  /** Receives until the batch is full, the window has passed since the first message, or 6 MB is reached. */
  private async gather(carried: SQSRecord[]): Promise<Gathered> {
    const batch: SQSRecord[] = [];
    const overflow: SQSRecord[] = [];
    let bytes = 0;
    let deadline: number | undefined;
    const add = (record: SQSRecord): void => {
      const size = serialisedBytes(record);
      if (
        overflow.length > 0 ||
        (batch.length > 0 && eventBytes(bytes + size, batch.length + 1) > INVOCATION_PAYLOAD_LIMIT_BYTES)
      ) {
        overflow.push(record);
        return;
      }
      batch.push(record);
      bytes += size;
    };
    for (const record of carried) add(record);
    let errors = 0;
    const windowMs = this.config.MaximumBatchingWindowInSeconds * 1000;
    while (!this.stopRequested && batch.length < this.config.BatchSize && overflow.length === 0) {
      if (batch.length > 0) {
        deadline ??= Date.now() + windowMs;
        if (Date.now() >= deadline) break;
      }
      // Long-polls while it holds no message; short-polls to fill a batch begun within its window, so that a stop
      // meanwhile finds no receive to abandon and releases the batch's messages at once.
      const waitSeconds = batch.length === 0 ? this.waitSeconds : 0;
      let messages: Message[];
      try {
        const command = new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(10, this.config.BatchSize - batch.length),
          WaitTimeSeconds: waitSeconds,
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        });
        // A short poll is not aborted at once on stop: it ends within milliseconds, and its messages are then
        // released rather than left invisible for the visibility timeout.
        const response = await this.send(
          (abortSignal) => this.options.client.send(command, { abortSignal }),
          waitSeconds,
        );
        messages = response.Messages ?? [];
        errors = 0;
      } catch (error) {
        if (this.stopRequested) break;
        if (queueGone(error)) {
          this.queueDeleted();
          break;
        }
        errors += 1;
        this.fail('ReceiveMessage', error);
        await this.backoff(errors);
        continue;
      }
      this.counters.messagesIn += messages.length;
      for (const message of messages) {
        add(sqsEventRecord(message, { queueArn: this.queueArn, region: this.options.region }));
      }
      if (messages.length === 0) {
        if (batch.length === 0) break;
        await sleep(
          Math.min(this.options.pollIntervalMs ?? 250, (deadline ?? 0) - Date.now()),
          this.abortController.signal,
        );
      }
    }
    return { batch, overflow };
  }

  /**
   * On a FIFO queue, the messages received past a batch's 6 MB cut whose group has a message that failed in it must
   * not go before that message comes back ("the function attempts all retries on the affected messages before Lambda
   * receives additional messages from the same group"): they are made visible again, and the queue gives none of the
   * group while its failed messages are in flight. Returns the messages to carry on with.
   */
  private async releaseFailedGroups(failed: SQSRecord[], carried: SQSRecord[]): Promise<SQSRecord[]> {
    if (!this.queueArn.endsWith('.fifo') || failed.length === 0 || carried.length === 0) return carried;
    const groups = new Set(failed.map((record) => record.attributes.MessageGroupId));
    const waiting = carried.filter((record) => groups.has(record.attributes.MessageGroupId));
    await this.release(waiting);
    return carried.filter((record) => !groups.has(record.attributes.MessageGroupId));
  }

  /** Invokes the function with the batch and deletes what succeeded; returns the messages left on the queue. */
  private async process(batch: SQSRecord[]): Promise<SQSRecord[]> {
    const messageIds = batch.map((record) => record.messageId);
    this.counters.invocations += 1;
    this.emit({ type: 'invoke', count: batch.length, messageIds });
    let result: InvokeResult;
    try {
      result = await this.options.invoke({ Records: batch });
    } catch (error) {
      // Not invoked: the messages come back after their visibility timeout, as for a function error.
      this.counters.failedInvocations += 1;
      this.fail('Invoke', error);
      this.emit({
        type: 'batch-failed',
        count: batch.length,
        reason: 'invoke-error',
        detail: asError(error).message,
        failedMessageIds: messageIds,
      });
      return batch;
    }
    const outcome = classifyBatchResponse(
      result,
      new Set(messageIds),
      this.config.FunctionResponseTypes.includes('ReportBatchItemFailures'),
    );
    if (outcome.kind === 'success') {
      this.emit({ type: 'batch-succeeded', count: batch.length });
      await this.delete(batch);
      return [];
    }
    this.counters.failedInvocations += 1;
    if (outcome.kind === 'partial') {
      this.emit({
        type: 'batch-failed',
        count: batch.length,
        reason: 'partial-failure',
        detail: `${outcome.failedIds.length} of ${batch.length} messages failed`,
        failedMessageIds: outcome.failedIds,
      });
      await this.delete(batch.filter((record) => !outcome.failedIds.includes(record.messageId)));
      return batch.filter((record) => outcome.failedIds.includes(record.messageId));
    }
    this.lastError = { message: outcome.detail, at: new Date().toISOString() };
    this.emit({
      type: 'batch-failed',
      count: batch.length,
      reason: outcome.reason,
      detail: outcome.detail,
      failedMessageIds: messageIds,
    });
    return batch;
  }

  private async delete(records: SQSRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += 10) {
      const chunk = records.slice(start, start + 10);
      try {
        const command = new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        });
        const { Failed } = await this.send((abortSignal) =>
          this.options.client.send(command, { abortSignal }),
        );
        const failed = new Set((Failed ?? []).map((entry) => entry.Id));
        const deleted = chunk
          .filter((_, index) => !failed.has(String(index)))
          .map((record) => record.messageId);
        this.counters.messagesDeleted += deleted.length;
        if (deleted.length > 0) this.emit({ type: 'deleted', messageIds: deleted });
        if (failed.size > 0)
          this.fail('DeleteMessageBatch', new Error(`${failed.size} messages were not deleted`));
      } catch (error) {
        // The messages come back after their visibility timeout: delivered twice, never lost.
        this.fail('DeleteMessageBatch', error);
      }
    }
  }

  /** Makes messages that were received but never sent to the function visible again at once. */
  private async release(records: SQSRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += 10) {
      const chunk = records.slice(start, start + 10);
      try {
        const command = new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((record, index) => ({
            Id: String(index),
            ReceiptHandle: record.receiptHandle,
            VisibilityTimeout: 0,
          })),
        });
        await this.send((abortSignal) => this.options.client.send(command, { abortSignal }));
      } catch (error) {
        this.fail('ChangeMessageVisibilityBatch', error);
      }
    }
  }
}

/** SQS's answer for a queue that does not exist, or is being deleted. */
const queueGone = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'QueueDoesNotExist' ||
    (error as { Code?: string }).Code === 'AWS.SimpleQueueService.NonExistentQueue');

const queueNameOf = (queue: string): string => {
  if (queue.startsWith('arn:')) return parseQueueArn(queue).queueName;
  return queue.split('/').filter(Boolean).pop() ?? queue;
};
