import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { withInjectedFunctionErrors } from '#local/esm/fault-injection.ts';
import { kinesisEventRecord, streamIdentity } from '#local/esm/kinesis-events.ts';
import { sqsEventRecord } from '#local/esm/sqs-poller.ts';
import type { InvokeResult } from '#local/esm/types.ts';

const context = {
  region: 'us-east-2',
  streamArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
  invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
};

describe('Event records', () => {
  it('builds a Kinesis record exactly as Lambda delivers it', () => {
    // Act
    const record = kinesisEventRecord(
      'shardId-000000000006',
      {
        SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
        PartitionKey: '1',
        Data: Buffer.from('Hello, this is a test.'),
        ApproximateArrivalTimestamp: new Date(1_545_084_650_987),
      },
      context,
    );

    // Assess
    expect(JSON.stringify(record)).toBe(
      JSON.stringify({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: '1',
          sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
          data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
          approximateArrivalTimestamp: 1545084650.987,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: 'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
        awsRegion: 'us-east-2',
        eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
      }),
    );
  });

  it('encodes the bytes of a record, not a text form of them, and a subarray only by its own bytes', () => {
    // Prepare
    const backing = Uint8Array.from([0xff, 0x00, 0xc3, 0x28, 0xee]);

    // Act
    const record = kinesisEventRecord(
      'shardId-000000000000',
      {
        SequenceNumber: '1',
        PartitionKey: 'k',
        Data: backing.subarray(1, 4),
        ApproximateArrivalTimestamp: new Date(0),
      },
      context,
    );

    // Assess
    expect(Buffer.from(record.kinesis.data, 'base64')).toEqual(Buffer.from([0x00, 0xc3, 0x28]));
  });

  it('derives the stream ARN from a name, and the name from an ARN', () => {
    expect(streamIdentity('orders', 'us-east-1', '000000000000')).toEqual({
      streamName: 'orders',
      streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/orders',
    });
    expect(streamIdentity('arn:aws:kinesis:eu-west-1:1:stream/x', 'us-east-1', '0')).toEqual({
      streamName: 'x',
      streamArn: 'arn:aws:kinesis:eu-west-1:1:stream/x',
    });
  });

  it('builds an SQS record exactly as Lambda delivers it', () => {
    // Act
    const record = sqsEventRecord(
      {
        MessageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
        ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
        Body: 'test',
        MD5OfBody: '098f6bcd4621d373cade4e832627b4f6',
        Attributes: {
          SenderId: 'AIDAIENQZJOLO23YVJ4VO',
          ApproximateFirstReceiveTimestamp: '1545082649185',
          ApproximateReceiveCount: '1',
          SentTimestamp: '1545082649183',
        },
      },
      { queueArn: 'arn:aws:sqs:us-east-2:123456789012:my-queue', region: 'us-east-2' },
    );

    // Assess
    expect(JSON.stringify(record)).toBe(
      JSON.stringify({
        messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
        receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
        body: 'test',
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '1545082649183',
          SenderId: 'AIDAIENQZJOLO23YVJ4VO',
          ApproximateFirstReceiveTimestamp: '1545082649185',
        },
        messageAttributes: {},
        md5OfBody: '098f6bcd4621d373cade4e832627b4f6',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-2:123456789012:my-queue',
        awsRegion: 'us-east-2',
      }),
    );
  });

  it('renames SQS message attributes to the camel-case form of the Lambda event', () => {
    // Act
    const record = sqsEventRecord(
      {
        MessageId: 'm',
        Body: 'b',
        MD5OfMessageAttributes: 'abc',
        MessageAttributes: {
          tenant: { DataType: 'String', StringValue: 'acme' },
          blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([1, 2]) },
        },
      },
      { queueArn: 'arn:aws:sqs:us-east-1:0:q', region: 'us-east-1' },
    );

    // Assess
    expect(record.messageAttributes).toEqual({
      tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
      blob: { binaryValue: 'AQI=', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
    });
    expect(record.md5OfMessageAttributes).toBe('abc');
  });
});

describe('Injected function errors', () => {
  const kinesisRecord = (data: string, sequenceNumber: string) =>
    kinesisEventRecord(
      'shardId-000000000000',
      {
        SequenceNumber: sequenceNumber,
        PartitionKey: 'k',
        Data: Buffer.from(data),
        ApproximateArrivalTimestamp: new Date(0),
      },
      context,
    );

  it('fails a batch holding a matching record without running the function', async () => {
    // Prepare
    const calls: KinesisStreamEvent[] = [];
    const invoke = withInjectedFunctionErrors<KinesisStreamEvent>(
      async (event): Promise<InvokeResult> => {
        calls.push(event);
        return {};
      },
      { pattern: /"poison":true/ },
    );

    // Act
    const failed = await invoke({
      Records: [kinesisRecord('{"n":1}', '1'), kinesisRecord('{"poison":true}', '2')],
    });
    const passed = await invoke({ Records: [kinesisRecord('{"n":3}', '3')] });

    // Assess
    expect(failed).toEqual({
      functionError: 'Unhandled',
      payload: {
        errorType: 'InjectedFault',
        errorMessage: 'Injected failure: record 2 matches /"poison":true/',
      },
    });
    expect(passed).toEqual({});
    expect(calls).toHaveLength(1);
  });

  it('matches SQS bodies by substring and can be switched off', async () => {
    // Prepare
    let enabled = true;
    const invoke = withInjectedFunctionErrors<SQSEvent>(async () => ({ payload: 'ran' }), {
      pattern: 'FAIL',
      enabled: () => enabled,
    });
    const event = {
      Records: [
        sqsEventRecord(
          { MessageId: 'm-1', Body: 'please FAIL' },
          { queueArn: 'arn:aws:sqs:r:0:q', region: 'r' },
        ),
      ],
    };

    // Act
    const whileOn = await invoke(event);
    enabled = false;
    const whileOff = await invoke(event);

    // Assess
    expect(whileOn.functionError).toBe('Unhandled');
    expect(whileOff).toEqual({ payload: 'ran' });
  });
});
