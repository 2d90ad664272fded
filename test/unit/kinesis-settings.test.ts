import {
  GetRecordsCommand,
  KinesisClient,
  type KinesisClientConfig,
  ProvisionedThroughputExceededException,
  PutRecordCommand,
  PutRecordsCommand,
  PutRecordsInput$,
} from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import {
  KINESIS_CLIENT_SETTINGS,
  KinesisJsonProtocol,
  type NativeBase64JsonSerializer,
} from '#shared/clients/kinesis-settings.ts';

/** An HTTP handler that keeps each request and answers with the given status and body. */
const capturing = (status = 200, answer: unknown = { FailedRecordCount: 0, Records: [] }) => {
  const requests: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  const handler = {
    async handle(request: { headers: Record<string, string>; body: Uint8Array | string }) {
      const { body } = request;
      // A copy of the bytes; reading the SDK's body as a string would make it warn.
      const bytes =
        typeof body === 'string'
          ? Buffer.from(body)
          : Buffer.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
      requests.push({ headers: { ...request.headers }, body: bytes });
      return {
        response: {
          statusCode: status,
          headers: { 'content-type': 'application/x-amz-json-1.1' },
          body: Buffer.from(JSON.stringify(answer)),
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  return { requests, handler: handler as unknown as KinesisClientConfig['requestHandler'] };
};

const clientWith = (settings: Partial<KinesisClientConfig>, status?: number, answer?: unknown) => {
  const capture = capturing(status, answer);
  const client = new KinesisClient({
    ...settings,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://kinesis.test.invalid',
    maxAttempts: 1,
    requestHandler: capture.handler,
  });
  return { client, requests: capture.requests };
};

/** Bytes that exercise every base64 remainder, every byte value and a long run. */
const blobs = (): Uint8Array[] => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const sized = Array.from({ length: 8 }, (_, n) => all.subarray(256 - n));
  const long = Buffer.alloc(1_500);
  for (let i = 0; i < long.length; i += 1) long[i] = (i * 131 + 7) % 256;
  // A view into a larger buffer: its offset must be honoured.
  const view = new Uint8Array(long.buffer, long.byteOffset + 11, 1_001);
  return [...sized, all, long, view, Buffer.from('{"é":"ü"}')];
};

describe('the Kinesis clients’ protocol', () => {
  it('sends exactly the bytes and headers the SDK’s own serializer sends', async () => {
    // Prepare
    const records = blobs().map((Data, i) => ({ Data, PartitionKey: `key-${i}-ü` }));
    const sdk = clientWith({});
    const project = clientWith(KINESIS_CLIENT_SETTINGS);
    // Act
    for (const { client } of [sdk, project]) {
      await client.send(new PutRecordsCommand({ StreamName: 'events', Records: records }));
      await client.send(
        new PutRecordCommand({
          StreamName: 'events',
          Data: records[9]!.Data,
          PartitionKey: 'one',
          ExplicitHashKey: '42',
        }),
      );
    }
    // Assess
    expect(project.requests).toHaveLength(2);
    for (const [index, request] of project.requests.entries()) {
      const expected = sdk.requests[index]!;
      expect(request.body.equals(expected.body)).toBe(true);
      for (const header of ['x-amz-target', 'content-type', 'content-length'])
        expect(request.headers[header]).toBe(expected.headers[header]);
    }
    const sent = JSON.parse(project.requests[0]!.body.toString('utf8')) as {
      Records: Array<{ Data: string }>;
    };
    expect(sent.Records.map(({ Data }) => Buffer.from(Data, 'base64'))).toEqual(
      records.map(({ Data }) => Buffer.from(Data)),
    );
  });

  it('sends the SDK’s bytes for every body when each starts in a buffer the size of the one before', async () => {
    // Prepare: large, small, larger and empty bodies, one after another, on one client of each kind.
    const all = blobs();
    const batches = [all, all.slice(0, 1), [...all, ...all, ...all], all.slice(0, 2)].map((blobsOf) =>
      blobsOf.map((Data, i) => ({ Data, PartitionKey: `key-${i}` })),
    );
    const sdk = clientWith({});
    const project = clientWith(KINESIS_CLIENT_SETTINGS);
    // Act
    for (const { client } of [sdk, project]) {
      for (const Records of batches)
        await client.send(new PutRecordsCommand({ StreamName: 'events', Records }));
      await client.send(new GetRecordsCommand({ ShardIterator: 'it' }));
    }
    // Assess
    expect(project.requests).toHaveLength(batches.length + 1);
    for (const [index, request] of project.requests.entries()) {
      expect(request.body.equals(sdk.requests[index]!.body), `request ${index}`).toBe(true);
    }
  });

  it('starts the next body in a buffer as large as the last one', () => {
    // Prepare
    const protocol = new KinesisJsonProtocol({
      defaultNamespace: 'com.amazonaws.kinesis',
      serviceTarget: 'Kinesis_20131202',
    });
    // The serializer the protocol made for itself, with the client's codec settings.
    const serializer = (protocol as unknown as { serializer: NativeBase64JsonSerializer }).serializer;
    const buffer = () => (serializer as unknown as { json: Uint8Array }).json.byteLength;
    const large = { Data: Buffer.alloc(300_000, 1), PartitionKey: 'k' };
    // Act
    const first = buffer();
    serializer.write(PutRecordsInput$, { StreamName: 's', Records: [large] });
    const body = serializer.flush();
    // Assess: the SDK's 2 KiB to begin with, then room for the 400,000-byte body at once.
    expect(first).toBe(2048);
    expect(body.byteLength).toBeGreaterThan(400_000);
    expect(buffer()).toBeGreaterThanOrEqual(body.byteLength);
    expect(JSON.parse(Buffer.from(body).toString('utf8')).Records[0].Data).toBe(
      large.Data.toString('base64'),
    );
  });

  it('uses the project protocol and resolves the middleware once per command', () => {
    // Prepare
    const { client } = clientWith(KINESIS_CLIENT_SETTINGS);
    // Assess
    expect(client.config.protocol.constructor.name).toBe('KinesisJsonProtocol');
    expect(client.config.cacheMiddleware).toBe(true);
  });

  it('reads answers and errors as the SDK does', async () => {
    // Prepare
    const data = Buffer.from([0, 1, 2, 250, 255]);
    const answer = {
      Records: [
        {
          SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
          ApproximateArrivalTimestamp: 1_700_000_000.5,
          Data: data.toString('base64'),
          PartitionKey: 'k',
        },
      ],
      MillisBehindLatest: 0,
      NextShardIterator: 'next',
    };
    const reader = clientWith(KINESIS_CLIENT_SETTINGS, 200, answer).client;
    const throttled = clientWith(KINESIS_CLIENT_SETTINGS, 400, {
      __type: 'ProvisionedThroughputExceededException',
      message: 'Rate exceeded for shard shardId-000000000000',
    }).client;
    // Act
    const read = await reader.send(new GetRecordsCommand({ ShardIterator: 'it' }));
    const error = await throttled
      .send(new PutRecordsCommand({ StreamName: 'events', Records: [{ Data: data, PartitionKey: 'k' }] }))
      .catch((caught: unknown) => caught);
    // Assess
    expect(Buffer.from(read.Records![0]!.Data!)).toEqual(data);
    expect(read.Records![0]!.ApproximateArrivalTimestamp).toEqual(new Date(1_700_000_000_500));
    expect(error).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect((error as Error).message).toBe('Rate exceeded for shard shardId-000000000000');
  });
});
