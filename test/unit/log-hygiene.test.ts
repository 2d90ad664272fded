import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiRequest, cloudEvent, lambdaContext, sampleEvent } from '#test/helpers/factories.ts';

// The functions as deployed: INFO, metrics off (EMF lines carry no payload, but they are not under test here).
vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
vi.stubEnv('STREAM_NAME', 'events-stream');
vi.stubEnv('MAX_RECORD_SIZE_KIB', '1024');
vi.stubEnv('TABLE_NAME', 'events-table');
vi.stubEnv('QUARANTINE_BUCKET', 'quarantine-bucket');
vi.stubEnv('AWS_REGION', 'us-east-1');

/** Strings that must never reach a log line: event data and a producer's credentials. */
const PAYLOAD = 'payload-marker-7f3a';
const TOKEN = 'token-marker-91c2';

const kinesisMock = mockClient(KinesisClient);
const dynamoMock = mockClient(DynamoDBClient);
const s3Mock = mockClient(S3Client);

type Handler<E, R> = (event: E, context: ReturnType<typeof lambdaContext>) => Promise<R>;
let ingest: Handler<APIGatewayProxyEventV2, { statusCode?: number }>;
let consume: Handler<KinesisStreamEvent, unknown>;
const lines: string[] = [];

beforeAll(async () => {
  // Powertools writes through a Console of its own on process.stdout and process.stderr; the lines are kept here.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
  }
  ({ handler: ingest } = (await import('../../functions/ingest/handler.ts')) as unknown as {
    handler: typeof ingest;
  });
  ({ handler: consume } = (await import('../../functions/consumer/handler.ts')) as unknown as {
    handler: typeof consume;
  });
});

afterEach(() => {
  kinesisMock.reset();
  dynamoMock.reset();
  s3Mock.reset();
  lines.length = 0;
});

afterAll(() => {
  vi.restoreAllMocks();
});

const logLines = () =>
  lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.startsWith('{') && line.includes('"level"'));

const signedRequest = (body: string): APIGatewayProxyEventV2 => {
  const request = apiRequest(body);
  return { ...request, headers: { ...request.headers, authorization: `Bearer ${TOKEN}` } };
};

const kinesisRecord = (template: KinesisStreamRecord, n: number, data: string): KinesisStreamRecord => ({
  ...template,
  kinesis: {
    ...template.kinesis,
    sequenceNumber: `${template.kinesis.sequenceNumber.slice(0, -2)}${String(n).padStart(2, '0')}`,
    data: Buffer.from(data, 'utf8').toString('base64'),
  },
});

describe('Logs: no event payload or credential at INFO', () => {
  it('ingest logs neither the events it writes nor the Authorization header', async () => {
    // Prepare
    kinesisMock.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map((_: unknown, i: number) => ({
        ShardId: 'shardId-000000000000',
        SequenceNumber: `${i}`,
      })),
    }));
    const body = JSON.stringify(cloudEvent(1, { data: { secret: PAYLOAD } }));

    // Act
    const response = await ingest(signedRequest(body), lambdaContext('IngestFunction'));

    // Assess
    expect(response.statusCode).toBe(202);
    expect(logLines().join('\n')).not.toMatch(new RegExp(`${PAYLOAD}|${TOKEN}`));
  });

  it('ingest logs why a request was rejected, not what it held', async () => {
    // Prepare
    const body = JSON.stringify([
      cloudEvent(1, { data: { secret: PAYLOAD } }),
      { specversion: '0.3', note: PAYLOAD },
    ]);

    // Act
    const response = await ingest(signedRequest(body), lambdaContext('IngestFunction'));

    // Assess
    expect(response.statusCode).toBe(400);
    const logged = logLines();
    expect(logged.some((line) => line.includes('request rejected'))).toBe(true);
    expect(logged.join('\n')).not.toMatch(new RegExp(`${PAYLOAD}|${TOKEN}`));
  });

  it('ingest logs a failure to write without the events it could not write', async () => {
    // Prepare
    kinesisMock.on(PutRecordsCommand).rejects(new Error('Internal service failure'));
    const body = JSON.stringify(cloudEvent(1, { data: { secret: PAYLOAD } }));

    // Act
    const response = await ingest(signedRequest(body), lambdaContext('IngestFunction', 2_000));

    // Assess
    expect(response.statusCode).toBeGreaterThanOrEqual(500);
    expect(logLines().length).toBeGreaterThan(0);
    expect(logLines().join('\n')).not.toMatch(new RegExp(`${PAYLOAD}|${TOKEN}`));
  });

  it('the consumer logs stored, quarantined and failed records by position, not by content', async () => {
    // Prepare
    const [template] = sampleEvent<KinesisStreamEvent>('consumer-cloudevents.json').Records;
    const event: KinesisStreamEvent = {
      Records: [
        kinesisRecord(template!, 1, JSON.stringify(cloudEvent(1, { data: { secret: PAYLOAD } }))),
        // Not a CloudEvent: quarantined.
        kinesisRecord(template!, 2, JSON.stringify({ specversion: '0.3', secret: PAYLOAD })),
        // Not JSON: quarantined.
        kinesisRecord(template!, 3, `{"secret":"${PAYLOAD}"`),
        // The sink fails: reported as a batch item failure.
        kinesisRecord(
          template!,
          4,
          JSON.stringify(cloudEvent(4, { subject: 'other', data: { secret: PAYLOAD } })),
        ),
      ],
    };
    dynamoMock.on(PutItemCommand).callsFake((input) => {
      if (input.Item?.attributes?.M?.id?.S === 'evt-4') {
        throw new Error('Service unavailable');
      }
      return {};
    });
    s3Mock.on(PutObjectCommand).resolves({});

    // Act
    const response = (await consume(event, lambdaContext('ConsumerFunction', 60_000))) as {
      batchItemFailures: unknown[];
    };

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    const logged = logLines();
    expect(logged.filter((line) => line.includes('record quarantined'))).toHaveLength(2);
    const batch = JSON.parse(logged.find((line) => line.includes('batch processed'))!) as Record<
      string,
      unknown
    >;
    expect(batch).toMatchObject({ records: 4, shardId: 'shardId-000000000000', lagMs: expect.any(Number) });
    expect(logged.join('\n')).not.toMatch(new RegExp(PAYLOAD));
  });
});
