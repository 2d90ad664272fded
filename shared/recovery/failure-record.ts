/**
 * The on-failure record that the Kinesis event source mapping sends to the failure queue when it gives up on a
 * batch (aws-behaviour.md §3). It points at the records (shard and sequence range); it does not hold them.
 */

export interface KinesisBatchInfo {
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  approximateArrivalOfFirstRecord?: string;
  approximateArrivalOfLastRecord?: string;
  batchSize?: number;
  streamArn: string;
}

export interface FailureRecord {
  requestContext?: {
    requestId?: string;
    functionArn?: string;
    /** `RetryAttemptsExhausted` or `RecordAgeExceeded`. */
    condition?: string;
    approximateInvokeCount?: number;
  };
  /** Absent when the records were discarded for their age. */
  responseContext?: { statusCode?: number; executedVersion?: string; functionError?: string | null };
  version?: string;
  timestamp?: string;
  KinesisBatchInfo: KinesisBatchInfo;
}

/** The message body is not an on-failure record for a Kinesis stream. */
export class InvalidFailureRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFailureRecordError';
  }
}

const SEQUENCE = /^\d{1,128}$/;
const SHARD = /^shardId-\d{12}$/;
const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/([a-zA-Z0-9_.-]{1,128})$/;

/** Reads and checks a failure-queue message body. */
export const parseFailureRecord = (body: string): FailureRecord => {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidFailureRecordError('the message body is not JSON');
  }
  const info = (value as { KinesisBatchInfo?: Record<string, unknown> } | null)?.KinesisBatchInfo;
  if (typeof info !== 'object' || info === null) {
    throw new InvalidFailureRecordError(
      'the message has no KinesisBatchInfo: it is not a Kinesis on-failure record',
    );
  }
  const problems: string[] = [];
  if (typeof info.shardId !== 'string' || !SHARD.test(info.shardId)) problems.push('shardId');
  for (const field of ['startSequenceNumber', 'endSequenceNumber'] as const) {
    if (typeof info[field] !== 'string' || !SEQUENCE.test(info[field] as string)) problems.push(field);
  }
  if (typeof info.streamArn !== 'string' || !STREAM_ARN.test(info.streamArn)) problems.push('streamArn');
  if (
    problems.length === 0 &&
    BigInt(info.startSequenceNumber as string) > BigInt(info.endSequenceNumber as string)
  ) {
    problems.push('startSequenceNumber (after endSequenceNumber)');
  }
  if (problems.length > 0) {
    throw new InvalidFailureRecordError(`KinesisBatchInfo has a missing or malformed ${problems.join(', ')}`);
  }
  return value as FailureRecord;
};

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` → `<name>`. */
export const streamNameOf = (streamArn: string): string => {
  const match = STREAM_ARN.exec(streamArn);
  if (!match) throw new InvalidFailureRecordError(`not a Kinesis stream ARN: ${streamArn}`);
  return match[1]!;
};
