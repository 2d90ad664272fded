import { KinesisClient } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { putRecordsInOrder } from '#shared/kinesis/put-records.ts';

/**
 * Kept apart from put-records.test.ts, whose aws-sdk-client-mock replaces `send` on every KinesisClient: here the
 * SDK itself must run, since what is checked is the abort signal it hands its HTTP handler.
 */

/** A Kinesis that never answers: its requests end only when their abort signal fires. */
const silentKinesis = () => {
  const signals: AbortSignal[] = [];
  const client = new KinesisClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    requestHandler: {
      handle: (_request: unknown, options: { abortSignal?: AbortSignal } = {}) =>
        new Promise((_resolve, reject) => {
          const signal = options.abortSignal;
          if (!signal) return;
          signals.push(signal);
          signal.addEventListener('abort', () =>
            reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
          );
        }),
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
    } as never,
  });
  return { client, signals };
};

describe('PutRecords writer: the deadline', () => {
  it('ends a call that outlives the deadline, and reports its entries instead of hanging', async () => {
    // Prepare
    const { client, signals } = silentKinesis();

    // Act
    const outcome = await putRecordsInOrder(
      client,
      [
        { partitionKey: 'a', data: Buffer.from('1') },
        { partitionKey: 'a', data: Buffer.from('2') },
      ],
      {
        streamName: 's',
        deadline: Date.now() + 300,
        // A call is started while this much time is left; the silent Kinesis then holds it to the deadline.
        callAllowanceMs: 50,
      },
    );
    client.destroy();

    // Assess
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(outcome.results).toEqual([
      { status: 'failed', errorCode: 'AbortError', errorMessage: 'Request aborted', attempts: 1 },
      {
        status: 'not_attempted',
        reason: 'an earlier record with the same partition key was not written',
        attempts: 0,
      },
    ]);
  });
});
