import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clientConfig } from '#local/emulators/index.ts';
import {
  EMULATOR_ANSWER_TIMEOUT_MS,
  EmulatorThreadError,
  startEmulatorThread,
  type ThreadedEmulator,
} from '#local/emulators/thread.ts';

const headers = (operation: string) => ({
  'x-amz-target': `Kinesis_20131202.${operation}`,
  'content-type': 'application/x-amz-json-1.1',
  'x-amz-date': '20260101T000000Z',
  authorization:
    'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
});

/** kinesalite throws on this from a callback (a NextToken it never gave), past its validation. */
const THROWING = { operation: 'ListShards', body: JSON.stringify({ NextToken: 'not-a-token' }) };

let emulator: ThreadedEmulator;
let kinesis: KinesisClient;

const putOne = () =>
  kinesis.send(
    new PutRecordsCommand({ StreamName: 'crash', Records: [{ PartitionKey: 'a', Data: Buffer.from('x') }] }),
  );

describe('Local runtime: one bad request cannot take an emulator thread down', () => {
  beforeAll(async () => {
    emulator = await startEmulatorThread('kinesis');
    kinesis = new KinesisClient({
      ...clientConfig(emulator.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    await kinesis.send(new CreateStreamCommand({ StreamName: 'crash', ShardCount: 1 }));
  });

  afterAll(async () => {
    kinesis.destroy();
    await emulator.close();
  });

  it('refuses a null list member with ValidationException, and the stream still takes writes', async () => {
    // Act
    const answer = await emulator.dispatch({
      method: 'POST',
      url: '/',
      headers: headers('PutRecords'),
      body: Buffer.from(
        JSON.stringify({ StreamName: 'crash', Records: [{ PartitionKey: 'a', Data: 'AA==' }, null] }),
      ),
    });
    const after = await putOne();
    // Assess
    expect(answer.status).toBe(400);
    expect(JSON.parse(String(answer.body))).toEqual({
      __type: 'ValidationException',
      message:
        "1 validation error detected: Value null at 'records.2.member' failed to satisfy constraint: Member must not be null",
    });
    expect(after.FailedRecordCount).toBe(0);
  });

  it('answers a null list member nested deeper than a recursive walk can go', async () => {
    // Prepare: 20,000 lists deep, far past the stack a walk by recursion has.
    const depth = 20_000;
    const body = `{"StreamName":"crash","Records":${'['.repeat(depth)}null${']'.repeat(depth)}}`;
    // Act
    const answer = await emulator.dispatch({
      method: 'POST',
      url: '/',
      headers: headers('PutRecords'),
      body: Buffer.from(body),
    });
    const after = await putOne();
    // Assess
    expect(answer.status).toBe(400);
    const { __type, message } = JSON.parse(String(answer.body)) as { __type: string; message: string };
    expect(__type).toBe('ValidationException');
    expect(message).toBe(
      `1 validation error detected: Value null at 'records${'.1.member'.repeat(depth)}' failed to satisfy constraint: Member must not be null`,
    );
    expect(after.FailedRecordCount).toBe(0);
  });

  it('fails a dispatched request the emulator throws on with 500 InternalFailure, and keeps serving', async () => {
    // Act
    const answer = await emulator.dispatch({
      method: 'POST',
      url: '/',
      headers: headers(THROWING.operation),
      body: Buffer.from(THROWING.body),
    });
    const after = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'crash' }));
    // Assess
    expect(answer.status).toBe(500);
    expect(answer.headers['x-amzn-errortype']).toBe('InternalFailure');
    expect(JSON.parse(String(answer.body))).toEqual({
      __type: 'InternalFailure',
      message: expect.stringContaining('the kinesalite emulator failed on this request: '),
    });
    expect(after.StreamDescriptionSummary?.StreamName).toBe('crash');
  });

  it("does the same for a request on the emulator's own port", async () => {
    // Act
    const answer = await fetch(emulator.endpoint, {
      method: 'POST',
      headers: headers(THROWING.operation),
      body: THROWING.body,
    });
    const after = await putOne();
    // Assess
    expect(answer.status).toBe(500);
    expect(await answer.json()).toMatchObject({ __type: 'InternalFailure' });
    expect(after.FailedRecordCount).toBe(0);
  });

  it('fails a request the emulator has not answered in time, drops its late answer, and answers the next', async () => {
    // Prepare: the clock runs on only when told to, so the timeout comes before the emulator's answer can.
    const describeStream = () =>
      emulator.dispatch({
        method: 'POST',
        url: '/',
        headers: headers('DescribeStreamSummary'),
        body: Buffer.from(JSON.stringify({ StreamName: 'crash' })),
      });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let unanswered: Promise<unknown>;
    try {
      unanswered = describeStream();
      vi.advanceTimersByTime(EMULATOR_ANSWER_TIMEOUT_MS - 1);
      const early = await Promise.race([
        unanswered.then(
          () => 'settled',
          () => 'settled',
        ),
        Promise.resolve('pending'),
      ]);
      expect(early).toBe('pending');
      // Act
      vi.advanceTimersByTime(1);
    } finally {
      vi.useRealTimers();
    }
    const error = await unanswered.catch((e: unknown) => e);
    const next = await describeStream();
    // Assess
    expect(error).toBeInstanceOf(EmulatorThreadError);
    expect((error as Error).message).toBe(
      `kinesis emulator gave no answer within ${EMULATOR_ANSWER_TIMEOUT_MS} ms (POST / Kinesis_20131202.DescribeStreamSummary)`,
    );
    expect(next.status).toBe(200);
    expect(JSON.parse(String(next.body))).toMatchObject({
      StreamDescriptionSummary: { StreamName: 'crash' },
    });
  });
});
