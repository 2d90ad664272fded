import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { eventually, startTestRuntime } from '#test/helpers/runtime.ts';

/** The real AWS CLI (v1 or v2) against the local runtime's endpoint. */
let runtime: LocalRuntime;
let work: string;
let v2 = false;

const aws = async (...args: string[]): Promise<string> => {
  const { stdout } = await promisify(execFile)(
    'aws',
    [
      '--endpoint-url',
      runtime.endpoint,
      '--output',
      'json',
      ...args,
      ...(v2 && args.includes('--payload') ? ['--cli-binary-format', 'raw-in-base64-out'] : []),
    ],
    {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        HOME: work,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: join(work, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'credentials'),
        AWS_PAGER: '',
      },
    },
  );
  return stdout;
};

describe('E2E: the AWS CLI against the local runtime', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'aws-cli-'));
    ({ runtime } = await startTestRuntime());
    const { stdout, stderr } = await promisify(execFile)('aws', ['--version'], { encoding: 'utf8' });
    v2 = `${stdout}${stderr}`.startsWith('aws-cli/2');
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('kinesis put-record and get-records round-trip a record', async () => {
    // Act
    const put = JSON.parse(
      await aws(
        'kinesis',
        'put-record',
        '--stream-name',
        'local-EventStream',
        '--partition-key',
        'cli-key',
        '--data',
        v2 ? Buffer.from('hello from the cli').toString('base64') : 'hello from the cli',
      ),
    ) as { ShardId: string; SequenceNumber: string };
    const iterator = JSON.parse(
      await aws(
        'kinesis',
        'get-shard-iterator',
        '--stream-name',
        'local-EventStream',
        '--shard-id',
        put.ShardId,
        '--shard-iterator-type',
        'AT_SEQUENCE_NUMBER',
        '--starting-sequence-number',
        put.SequenceNumber,
      ),
    ) as { ShardIterator: string };
    const records = JSON.parse(
      await aws('kinesis', 'get-records', '--shard-iterator', iterator.ShardIterator),
    ) as {
      Records: Array<{ Data: string; PartitionKey: string; SequenceNumber: string }>;
    };
    // Assess
    expect(records.Records[0]).toMatchObject({ PartitionKey: 'cli-key', SequenceNumber: put.SequenceNumber });
    expect(Buffer.from(records.Records[0]!.Data, 'base64').toString()).toBe('hello from the cli');
  });

  it('kinesis get-shard-iterator AT_TIMESTAMP answers when no record is that recent, and reads the next one', async () => {
    // Prepare: a record, then a time after it, on the shard the next record goes to.
    const putRecord = async (data: string) =>
      JSON.parse(
        await aws(
          'kinesis',
          'put-record',
          '--stream-name',
          'local-EventStream',
          '--partition-key',
          'at-timestamp-key',
          '--data',
          v2 ? Buffer.from(data).toString('base64') : data,
        ),
      ) as { ShardId: string; SequenceNumber: string };
    const earlier = await putRecord('before the time');
    // A whole second after the record arrived: AWS CLI v1 sends a JSON-protocol timestamp
    // in whole seconds, dropping any fraction, so a time with milliseconds could fall back
    // to before the record.
    const seconds = Math.floor(Date.now() / 1000) + 1;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - Date.now() + 20));
    const timestamp = String(seconds);
    // Act
    const iterator = JSON.parse(
      await aws(
        'kinesis',
        'get-shard-iterator',
        '--stream-name',
        'local-EventStream',
        '--shard-id',
        earlier.ShardId,
        '--shard-iterator-type',
        'AT_TIMESTAMP',
        '--timestamp',
        timestamp,
      ),
    ) as { ShardIterator: string };
    const later = await putRecord('after the time');
    const records = JSON.parse(
      await aws('kinesis', 'get-records', '--shard-iterator', iterator.ShardIterator),
    ) as { Records: Array<{ SequenceNumber: string }> };
    // Assess
    expect(records.Records.map((record) => record.SequenceNumber)).toEqual([later.SequenceNumber]);
  });

  it('lambda invoke runs a function of the template and dynamodb scan finds what it wrote downstream', async () => {
    // Act
    const out = join(work, 'out.json');
    const meta = JSON.parse(
      await aws(
        'lambda',
        'invoke',
        '--function-name',
        'IngestFunction',
        '--payload',
        'file://events/ingest-single.json',
        out,
      ),
    ) as {
      StatusCode: number;
      FunctionError?: string;
    };
    // Assess
    expect(meta.StatusCode).toBe(200);
    expect(meta.FunctionError).toBeUndefined();
    expect(JSON.parse(readFileSync(out, 'utf8')).statusCode).toBe(202);
    const scan = await eventually(
      async () =>
        JSON.parse(await aws('dynamodb', 'scan', '--table-name', 'local-EventTable')) as {
          Items: Array<{ identity: { S: string } }>;
        },
      (result) => result.Items.some((item) => item.identity.S === 'ce:urn%3Aexample%3Ashop:order-1'),
      'the item written from the sample event',
    );
    expect(scan.Items.length).toBeGreaterThan(0);
  });

  it("lambda list-event-source-mappings and get-event-source-mapping show the consumer's mapping, as ConsumerStalledAlarm's row asks", async () => {
    // Act
    const { EventSourceMappings } = JSON.parse(
      await aws('lambda', 'list-event-source-mappings', '--function-name', 'ConsumerFunction'),
    ) as { EventSourceMappings: Array<Record<string, unknown>> };
    const got = JSON.parse(
      await aws('lambda', 'get-event-source-mapping', '--uuid', String(EventSourceMappings[0]!.UUID)),
    ) as Record<string, unknown>;
    // Assess
    expect(EventSourceMappings).toHaveLength(1);
    expect(EventSourceMappings[0]).toMatchObject({
      EventSourceArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/local-EventStream',
      FunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ConsumerFunction',
      State: 'Enabled',
      StateTransitionReason: 'User action',
      LastProcessingResult: expect.any(String),
    });
    expect(got.UUID).toBe(EventSourceMappings[0]!.UUID);
  });

  it('sqs send-message and receive-message work on the template queue', async () => {
    // Prepare
    const { QueueUrl } = JSON.parse(
      await aws('sqs', 'get-queue-url', '--queue-name', 'local-ConsumerFailureQueue'),
    ) as { QueueUrl: string };
    // Act
    await aws('sqs', 'send-message', '--queue-url', QueueUrl, '--message-body', '{"probe":true}');
    const received = JSON.parse(
      await aws('sqs', 'receive-message', '--queue-url', QueueUrl, '--max-number-of-messages', '1'),
    ) as {
      Messages: Array<{ Body: string }>;
    };
    // Assess
    expect(QueueUrl).toBe(`${runtime.endpoint}/000000000000/local-ConsumerFailureQueue`);
    expect(received.Messages[0]!.Body).toBe('{"probe":true}');
  });
});
