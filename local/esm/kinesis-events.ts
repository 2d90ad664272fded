import type { _Record } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** What every record of one mapping shares. */
export interface KinesisEventContext {
  region: string;
  streamArn: string;
  /** The function's execution role, as Lambda reports it in `invokeIdentityArn`. */
  invokeIdentityArn: string;
}

/**
 * One record as Lambda delivers it (aws-behaviour.md §4): data in base64, the arrival time in epoch seconds
 * with a millisecond fraction, and `eventID` `<shardId>:<sequenceNumber>`.
 */
export const kinesisEventRecord = (
  shardId: string,
  record: Pick<_Record, 'SequenceNumber' | 'PartitionKey' | 'Data' | 'ApproximateArrivalTimestamp'>,
  context: KinesisEventContext,
): KinesisStreamRecord => {
  const sequenceNumber = record.SequenceNumber ?? '';
  const data = record.Data ?? new Uint8Array();
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber,
      data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: context.invokeIdentityArn,
    awsRegion: context.region,
    eventSourceARN: context.streamArn,
  };
};

export const kinesisEvent = (records: KinesisStreamRecord[]): KinesisStreamEvent => ({ Records: records });

/** `{"Records":[` + `]}` around the records, plus one comma between each. */
const EVENT_ENVELOPE_BYTES = '{"Records":[]}'.length;

/** The size of an invocation payload built from records of the given serialised sizes. */
export const eventBytes = (recordBytes: number, count: number): number =>
  EVENT_ENVELOPE_BYTES + recordBytes + Math.max(0, count - 1);

export const serialisedBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Lambda's limit for a synchronous invocation payload: batches stop growing at 6 MB. */
export const INVOCATION_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` from a name, or the name from such an ARN. */
export const streamIdentity = (
  stream: string,
  region: string,
  accountId: string,
): { streamName: string; streamArn: string } => {
  if (stream.startsWith('arn:')) {
    const name = stream.split(':stream/')[1];
    if (!name) throw new Error(`Not a Kinesis stream ARN: ${stream}`);
    return { streamName: name, streamArn: stream };
  }
  return { streamName: stream, streamArn: `arn:aws:kinesis:${region}:${accountId}:stream/${stream}` };
};
