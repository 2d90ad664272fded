import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { kinesisOnFailureRecord, parseQueueArn, sqsOnFailureSink } from '#local/esm/on-failure.ts';
import { CallTimeoutError } from '#local/esm/signal.ts';

const base = {
  shardId: 'shardId-000000000001',
  streamArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/mystream',
  functionArn: 'arn:aws:lambda:us-east-2:123456789012:function:myfunction',
  records: [
    {
      sequenceNumber: '49601189658422359378836298521827638475320189012309704722',
      arrivalMs: Date.UTC(2019, 10, 14, 0, 38, 4, 835),
    },
    {
      sequenceNumber: '49601189658422359378836298521827638475320189012309704723',
      arrivalMs: Date.UTC(2019, 10, 14, 0, 38, 5, 0),
    },
    {
      sequenceNumber: '49601189658422359378836298522902373528957594348623495186',
      arrivalMs: Date.UTC(2019, 10, 14, 0, 38, 5, 580),
    },
  ],
  requestId: 'c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5',
  nowMs: Date.UTC(2019, 10, 14, 0, 38, 6, 21),
};

describe('Kinesis on-failure record', () => {
  const sqs = mockClient(SQSClient);

  afterEach(() => {
    sqs.reset();
  });

  it('has exactly the shape of the AWS example for RetryAttemptsExhausted', () => {
    // Act
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 1,
      functionError: 'Unhandled',
    });

    // Assess
    expect(JSON.stringify(record)).toBe(
      JSON.stringify({
        requestContext: {
          requestId: 'c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5',
          functionArn: 'arn:aws:lambda:us-east-2:123456789012:function:myfunction',
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: 1,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: '2019-11-14T00:38:06.021Z',
        KinesisBatchInfo: {
          shardId: 'shardId-000000000001',
          startSequenceNumber: '49601189658422359378836298521827638475320189012309704722',
          endSequenceNumber: '49601189658422359378836298522902373528957594348623495186',
          approximateArrivalOfFirstRecord: '2019-11-14T00:38:04.835Z',
          approximateArrivalOfLastRecord: '2019-11-14T00:38:05.580Z',
          batchSize: 3,
          streamArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/mystream',
        },
      }),
    );
  });

  it('carries functionError null after a partial or invalid response', () => {
    // Act
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 4,
      functionError: null,
    });

    // Assess
    expect(record.responseContext).toEqual({
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: null,
    });
    expect(record.requestContext.approximateInvokeCount).toBe(4);
  });

  it('has no responseContext key at all for RecordAgeExceeded', () => {
    // Act
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RecordAgeExceeded',
      approximateInvokeCount: 1,
      functionError: 'Unhandled',
    });

    // Assess
    expect(Object.keys(record)).toEqual(['requestContext', 'version', 'timestamp', 'KinesisBatchInfo']);
    expect(record.requestContext.condition).toBe('RecordAgeExceeded');
  });

  it('makes up a request id when the invocation gave none', () => {
    // Act
    const { requestId: _, ...withoutId } = base;
    const record = kinesisOnFailureRecord({
      ...withoutId,
      condition: 'RecordAgeExceeded',
      approximateInvokeCount: 1,
      functionError: null,
    });

    // Assess
    expect(record.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends the record as the JSON body of an SQS message, resolving the queue URL from its ARN once', async () => {
    // Prepare
    sqs
      .on(GetQueueUrlCommand)
      .resolves({ QueueUrl: 'http://127.0.0.1:1/000000000000/failures' })
      .on(SendMessageCommand)
      .resolves({ MessageId: 'm' });
    const sink = sqsOnFailureSink({
      client: new SQSClient({ region: 'us-east-1' }),
      destination: 'arn:aws:sqs:us-east-1:000000000000:failures',
    });
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
      functionError: 'Unhandled',
    });

    // Act
    await sink(record, { payload: { Records: [] } });
    await sink(record, { payload: { Records: [] } });

    // Assess
    expect(sqs).toHaveReceivedCommandTimes(GetQueueUrlCommand, 1);
    expect(sqs).toHaveReceivedCommandWith(GetQueueUrlCommand, {
      QueueName: 'failures',
      QueueOwnerAWSAccountId: '000000000000',
    });
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 2);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: 'http://127.0.0.1:1/000000000000/failures',
      MessageBody: JSON.stringify(record),
    });
  });

  it('makes each sent message durable before the send counts as done, and fails the send when it cannot, sending it once', async () => {
    // Prepare: a queue that takes every message, and a save that fails once.
    const order: string[] = [];
    sqs.on(SendMessageCommand).callsFake(async () => {
      order.push('sent');
      return { MessageId: 'm' };
    });
    let failSave = true;
    const sink = sqsOnFailureSink({
      client: new SQSClient({ region: 'us-east-1' }),
      destination: 'http://q/1/f',
      persist: () => {
        order.push('saved');
        if (failSave) {
          failSave = false;
          throw new Error('disk full');
        }
      },
    });
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
      functionError: 'Unhandled',
    });

    // Act
    const first = sink(record, { payload: { Records: [] } });
    await expect(first).rejects.toThrow('disk full');
    await sink(record, { payload: { Records: [] } });

    // Assess: the poller retries a send whose save failed, so its checkpoint never passes an unsaved message; the
    // retry saves again without sending the message again, which would leave a pointer on the queue per attempt.
    expect(order).toEqual(['sent', 'saved', 'saved']);
  });

  it('rejects when the message cannot be sent, so the poller retries', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('queue unavailable'));
    const sink = sqsOnFailureSink({
      client: new SQSClient({ region: 'us-east-1' }),
      destination: 'http://q/1/f',
    });

    // Act
    const send = sink(
      kinesisOnFailureRecord({
        ...base,
        condition: 'RecordAgeExceeded',
        approximateInvokeCount: 1,
        functionError: null,
      }),
      { payload: { Records: [] } },
    );

    // Assess
    await expect(send).rejects.toThrow('queue unavailable');
  });

  it.each([
    ['GetQueueUrl', 'arn:aws:sqs:us-east-1:000000000000:failures'],
    ['SendMessage', 'http://q/1/f'],
  ])(
    'rejects when %s gets no answer within its time limit, so the poller retries',
    async (operation, destination) => {
      // Prepare: the queue takes the call and never answers.
      const never = () => new Promise<never>(() => undefined);
      sqs
        .on(GetQueueUrlCommand)
        .callsFake(operation === 'GetQueueUrl' ? never : () => ({ QueueUrl: 'http://q/1/f' }))
        .on(SendMessageCommand)
        .callsFake(never);
      const sink = sqsOnFailureSink({
        client: new SQSClient({ region: 'us-east-1' }),
        destination,
        callTimeoutMs: 50,
      });
      const record = kinesisOnFailureRecord({
        ...base,
        condition: 'RecordAgeExceeded',
        approximateInvokeCount: 1,
        functionError: null,
      });

      // Act
      const send = sink(record, { payload: { Records: [] } });

      // Assess
      await expect(send).rejects.toThrow(new CallTimeoutError(50));
    },
  );

  it('gives up a call when the mapping stops', async () => {
    // Prepare
    sqs.on(SendMessageCommand).callsFake(() => new Promise<never>(() => undefined));
    const sink = sqsOnFailureSink({
      client: new SQSClient({ region: 'us-east-1' }),
      destination: 'http://q/1/f',
    });
    const stop = new AbortController();
    const record = kinesisOnFailureRecord({
      ...base,
      condition: 'RecordAgeExceeded',
      approximateInvokeCount: 1,
      functionError: null,
    });

    // Act
    const send = sink(record, { payload: { Records: [] }, signal: stop.signal });
    stop.abort();

    // Assess
    await expect(send).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('parses queue ARNs and rejects anything else', () => {
    expect(parseQueueArn('arn:aws:sqs:eu-west-1:123456789012:dlq.fifo')).toEqual({
      region: 'eu-west-1',
      accountId: '123456789012',
      queueName: 'dlq.fifo',
    });
    expect(() => parseQueueArn('arn:aws:sns:eu-west-1:123456789012:topic')).toThrow('Not an SQS queue ARN');
  });
});
