import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';

/**
 * Types shared by the event-source-mapping emulation. Property names follow AWS SAM (`Events.<Name>.Properties`
 * of `Type: Kinesis` / `Type: SQS`); the runtime passes them in after resolving intrinsic functions.
 */

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';

/** The on-failure destination as SAM names it. `Type` is SAM-only (SQS, SNS, S3 or Kafka). */
export interface OnFailureDestination {
  Destination?: string;
  Type?: string;
}

/** `Events.<Name>.Properties` of a `Type: Kinesis` event, as written in the template. */
export interface KinesisEventProperties {
  Stream?: unknown;
  StartingPosition?: unknown;
  /** Unix time in seconds; may be fractional. Only with AT_TIMESTAMP. */
  StartingPositionTimestamp?: unknown;
  BatchSize?: unknown;
  MaximumBatchingWindowInSeconds?: unknown;
  ParallelizationFactor?: unknown;
  MaximumRetryAttempts?: unknown;
  MaximumRecordAgeInSeconds?: unknown;
  BisectBatchOnFunctionError?: unknown;
  FunctionResponseTypes?: unknown;
  DestinationConfig?: unknown;
  Enabled?: unknown;
  [property: string]: unknown;
}

/** `Events.<Name>.Properties` of a `Type: SQS` event, as written in the template. */
export interface SqsEventProperties {
  Queue?: unknown;
  BatchSize?: unknown;
  MaximumBatchingWindowInSeconds?: unknown;
  FunctionResponseTypes?: unknown;
  Enabled?: unknown;
  ScalingConfig?: unknown;
  [property: string]: unknown;
}

/** A validated Kinesis mapping with every default filled in (the defaults of AWS's create response). */
export interface KinesisMappingConfig {
  StartingPosition: StartingPosition;
  StartingPositionTimestamp?: number;
  BatchSize: number;
  MaximumBatchingWindowInSeconds: number;
  ParallelizationFactor: number;
  MaximumRetryAttempts: number;
  MaximumRecordAgeInSeconds: number;
  BisectBatchOnFunctionError: boolean;
  FunctionResponseTypes: 'ReportBatchItemFailures'[];
  DestinationConfig: { OnFailure?: { Destination: string; Type?: string } };
  Enabled: boolean;
}

/** A validated SQS mapping with every default filled in. */
export interface SqsMappingConfig {
  BatchSize: number;
  MaximumBatchingWindowInSeconds: number;
  FunctionResponseTypes: 'ReportBatchItemFailures'[];
  Enabled: boolean;
  ScalingConfig: { MaximumConcurrency?: number };
}

/**
 * What an invocation returned. `payload` is the function's response parsed from JSON (`undefined` for an empty
 * body); `functionError` is set when the function threw or timed out, as Lambda's X-Amz-Function-Error header is.
 * The callback rejects only when the function could not be invoked at all (throttled, not found): AWS retries
 * those without counting them against MaximumRetryAttempts.
 */
export interface InvokeResult {
  payload?: unknown;
  functionError?: 'Unhandled';
  /** The invocation's request id; a random one is used when absent. */
  requestId?: string;
}

export type InvokeFunction<TEvent> = (event: TEvent) => Promise<InvokeResult>;
export type KinesisInvoke = InvokeFunction<KinesisStreamEvent>;
export type SqsInvoke = InvokeFunction<SQSEvent>;

export type FailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/** The invocation record AWS sends to a Kinesis mapping's on-failure destination (SQS body, SNS Message). */
export interface KinesisOnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: FailureCondition;
    approximateInvokeCount: number;
  };
  /** Absent for RecordAgeExceeded. */
  responseContext?: {
    statusCode: 200;
    executedVersion: string;
    functionError: 'Unhandled' | null;
  };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/**
 * Receives the on-failure record; rejects when it could not be delivered (it is then retried). `payload` is the
 * event of the discarded records, for destinations that keep it (an S3 destination stores it beside the record).
 */
export type OnFailureSink = (
  record: KinesisOnFailureRecord,
  details: { payload: KinesisStreamEvent /** Aborts when the mapping stops. */; signal?: AbortSignal },
) => Promise<void>;

export type ShardState = 'waiting' | 'reading' | 'draining' | 'finished' | 'stopped';

/** Live counters of one shard, for a status view. */
export interface ShardStats {
  shardId: string;
  state: ShardState;
  /** Records read from the stream. */
  recordsIn: number;
  /** Records the function processed successfully. */
  recordsOut: number;
  /** Records discarded after retries or age (sent to the on-failure destination when one is set). */
  recordsFailed: number;
  invocations: number;
  /** Invocations that ended in a function error, an invalid response or a partial batch failure. */
  failedInvocations: number;
  /** How far behind the tip this shard is: age of the oldest record read but not yet checkpointed, in ms. */
  iteratorAgeMs: number;
  /** As last reported by GetRecords. */
  millisBehindLatest: number;
  checkpoint?: string;
  lastError?: { message: string; at: string };
}

export interface KinesisPollerStats {
  mappingId: string;
  functionName: string;
  streamName: string;
  state: 'created' | 'disabled' | 'starting' | 'running' | 'stopping' | 'stopped';
  /** Why a running mapping was disabled on its own: its stream was deleted. */
  stateTransitionReason?: string;
  shards: ShardStats[];
}

/** Progress notifications, for logs and a live view. */
export type KinesisPollerEvent =
  | { type: 'shard-started'; shardId: string; position: string }
  | { type: 'records-read'; shardId: string; count: number; millisBehindLatest: number }
  | {
      type: 'invoke';
      shardId: string;
      count: number;
      firstSequenceNumber: string;
      lastSequenceNumber: string;
    }
  | { type: 'batch-succeeded'; shardId: string; count: number }
  | {
      type: 'batch-failed';
      shardId: string;
      count: number;
      reason: 'function-error' | 'invalid-response' | 'partial-failure' | 'invoke-error';
      detail: string;
    }
  | { type: 'bisected'; shardId: string; left: number; right: number }
  | { type: 'on-failure'; shardId: string; record: KinesisOnFailureRecord; delivered: boolean }
  | { type: 'checkpoint'; shardId: string; sequenceNumber?: string; finished: boolean }
  | { type: 'shard-finished'; shardId: string }
  /** The saved checkpoints belonged to an earlier stream of the same name: the mapping starts afresh. */
  | { type: 'checkpoints-discarded'; reason: string }
  /** The stream was deleted: the mapping stopped polling it and is disabled. */
  | { type: 'source-deleted'; reason: string }
  /**
   * GetShardIterator refused AFTER_SEQUENCE_NUMBER `after`, a record retention trimmed: the shard reads on from
   * TRIM_HORIZON, and the records between `after` and the oldest one left are lost.
   */
  | { type: 'records-trimmed'; shardId: string; after: string; detail: string }
  | { type: 'error'; shardId?: string; operation: string; error: Error };

export interface SqsPollerStats {
  functionName: string;
  queueArn: string;
  state: 'created' | 'disabled' | 'starting' | 'running' | 'stopping' | 'stopped';
  /** Why a running mapping was disabled on its own: its queue was deleted. */
  stateTransitionReason?: string;
  messagesIn: number;
  messagesDeleted: number;
  invocations: number;
  failedInvocations: number;
  lastError?: { message: string; at: string };
}

export type SqsPollerEvent =
  | { type: 'invoke'; count: number; messageIds: string[] }
  | { type: 'batch-succeeded'; count: number }
  | {
      type: 'batch-failed';
      count: number;
      reason: 'function-error' | 'invalid-response' | 'partial-failure' | 'invoke-error';
      detail: string;
      failedMessageIds: string[];
    }
  | { type: 'deleted'; messageIds: string[] }
  /** The queue was deleted: the mapping stopped polling it and is disabled. */
  | { type: 'source-deleted'; reason: string }
  | { type: 'error'; operation: string; error: Error };
