import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
// The SDK's own SigV4 signer, the one @aws-sdk/s3-request-presigner wraps.
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import {
  clientConfig,
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulator,
  startS3,
  startSqs,
} from '#local/emulators/index.ts';
import { startEmulatorThread, type ThreadedEmulator } from '#local/emulators/thread.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';
import { type Listening, listenOn } from '#local/net.ts';

const BUCKET = 'gateway-objects';

let directory: string;
let s3Emulator: RunningEmulator;
let sqsEmulator: RunningEmulator;
let dynamoEmulator: ThreadedEmulator;
let gateway: RunningGateway;
let s3: S3Client;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request over node:http, as curl or a browser sends it: a `body` goes with its length, `pieces` go chunked
 * (transfer-encoding, no content-length), as a stream of unknown length is uploaded.
 */
const send = (
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    pieces?: Buffer[];
    agent?: Agent;
  } = {},
): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.pieces ? { 'transfer-encoding': 'chunked' } : {}) };
    const out = request(
      url,
      { method: options.method ?? 'GET', headers, agent: options.agent ?? false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 0, headers: answer.headers, body: Buffer.concat(chunks) }),
        );
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    for (const piece of options.pieces ?? []) out.write(piece);
    out.end(options.body);
  });

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** SigV2 is HMAC-SHA1 over S3's string to sign; no SDK v3 signer makes it, so it is built here. */
const signV2 = (stringToSign: string) =>
  createHmac('sha1', LOCAL_CREDENTIALS.secretAccessKey).update(stringToSign, 'utf8').digest('base64');

/** A SigV2 presigned URL (`?AWSAccessKeyId=…&Expires=…&Signature=…`), as AWS CLI v1's `aws s3 presign` makes. */
const presignV2 = (method: string, key: string, signature?: string): string => {
  const expires = String(Math.floor(Date.now() / 1000) + 300);
  const query = new URLSearchParams({
    AWSAccessKeyId: LOCAL_CREDENTIALS.accessKeyId,
    Expires: expires,
    Signature: signature ?? signV2(`${method}\n\n\n${expires}\n/${BUCKET}/${key}`),
  });
  return `${gateway.endpoint}/${BUCKET}/${key}?${query}`;
};

const signer = (service: string) =>
  new SignatureV4({
    service,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    sha256: s3.config.sha256,
    uriEscapePath: service !== 's3',
  });

const httpRequestFor = (url: URL, method: string, headers: Record<string, string>, body?: string) => ({
  method,
  protocol: url.protocol,
  hostname: url.hostname,
  port: Number(url.port),
  path: url.pathname,
  query: Object.fromEntries(url.searchParams),
  headers: { host: url.host, ...headers },
  ...(body === undefined ? {} : { body }),
});

/** A SigV4 presigned URL, as @aws-sdk/s3-request-presigner and AWS CLI v2 make them. */
const presignV4 = async (method: string, key: string): Promise<string> => {
  const url = new URL(`${gateway.endpoint}/${BUCKET}/${key}`);
  const signed = await signer('s3').presign(httpRequestFor(url, method, {}), { expiresIn: 300 });
  const query = new URLSearchParams(signed.query as Record<string, string>);
  return `${url.origin}${signed.path}?${query}`;
};

/** The headers of a SigV4-signed request, for requests sent raw. */
const signV4 = async (
  service: string,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Record<string, string>> => {
  const url = new URL(target);
  const signed = await signer(service).sign(
    httpRequestFor(url, options.method ?? 'POST', options.headers ?? {}, options.body),
  );
  return signed.headers as Record<string, string>;
};

/**
 * A request whose body is never finished: `declared` is the Content-Length sent (undefined: chunked), `pieces` what
 * is written of it. The answer must come without the rest.
 */
const sendUnfinished = (
  url: string,
  headers: Record<string, string>,
  pieces: Buffer[],
  declared?: number,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> =>
  new Promise((resolve, reject) => {
    const out = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, ...(declared !== undefined ? { 'content-length': String(declared) } : {}) },
        agent: false,
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          resolve({
            status: answer.statusCode ?? 0,
            headers: answer.headers,
            body: Buffer.concat(chunks).toString(),
          });
          out.destroy();
        });
      },
    );
    out.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    for (const piece of pieces) out.write(piece);
  });

/** An emulator stand-in that answers as the test says, behind a gateway of its own. */
const behind = async (
  service: string,
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ upstream: Listening; endpoint: RunningGateway; close(): Promise<void> }> => {
  const upstream = await listenOn(createServer(answer), 0);
  const endpoint = await startGateway({ port: 0, services: { [service]: upstream.endpoint } });
  return {
    upstream,
    endpoint,
    close: async () => {
      await endpoint.close();
      await upstream.close();
    },
  };
};

describe('Local runtime: the single AWS endpoint', () => {
  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'gateway-s3-'));
    [s3Emulator, sqsEmulator, dynamoEmulator] = await Promise.all([
      startS3({ directory }),
      startSqs(),
      startEmulatorThread('dynamodb'),
    ]);
    gateway = await startGateway({
      port: 0,
      services: { s3: s3Emulator.endpoint, sqs: sqsEmulator.endpoint, dynamodb: dynamoEmulator.endpoint },
      dispatch: { dynamodb: dynamoEmulator.dispatch },
    });
    s3 = new S3Client({ ...clientConfig(gateway.endpoint), forcePathStyle: true, maxAttempts: 1 });
    sqs = new SQSClient({ ...clientConfig(gateway.endpoint), maxAttempts: 1 });
    dynamodb = new DynamoDBClient({
      ...clientConfig(gateway.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'reports/daily.json', Body: '{"day":1}' }));
    await createTable(dynamodb, 'items', [['pk', 'HASH']]);
  });

  afterAll(async () => {
    s3?.destroy();
    sqs?.destroy();
    dynamodb?.destroy();
    await gateway?.close();
    await Promise.all([s3Emulator?.close(), sqsEmulator?.close(), dynamoEmulator?.close()]);
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  describe('S3 requests without a SigV4 credential scope', () => {
    it('serves an object through a SigV4 presigned URL and through the SDK, HEAD included', async () => {
      // Prepare
      const url = await presignV4('GET', 'reports/daily.json');

      // Act
      const presigned = await send(url);
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'reports/daily.json' }));

      // Assess
      expect(presigned.status).toBe(200);
      expect(presigned.body.toString()).toBe('{"day":1}');
      expect(head.ContentLength).toBe(9);
    });

    it('serves an object through a SigV2 presigned URL, whose signature s3rver checks', async () => {
      // Prepare
      const url = presignV2('GET', 'reports/daily.json');
      const forged = presignV2('GET', 'reports/daily.json', signV2('something else'));

      // Act
      const answer = await send(url);
      const refused = await send(forged);

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('{"day":1}');
      expect(refused.status).toBe(403);
      expect(refused.body.toString()).toContain('<Code>SignatureDoesNotMatch</Code>');
    });

    it('stores and serves objects with a SigV2 Authorization header (AWS key:signature)', async () => {
      // Prepare
      const content = 'signed the old way';
      const headers = (method: string, type = '') => {
        const date = new Date().toUTCString();
        const signature = signV2(`${method}\n\n${type}\n\nx-amz-date:${date}\n/${BUCKET}/v2/object.txt`);
        return {
          'x-amz-date': date,
          authorization: `AWS ${LOCAL_CREDENTIALS.accessKeyId}:${signature}`,
          ...(type ? { 'content-type': type } : {}),
        };
      };

      // Act
      const put = await send(`${gateway.endpoint}/${BUCKET}/v2/object.txt`, {
        method: 'PUT',
        headers: headers('PUT', 'text/plain'),
        body: content,
      });
      const got = await send(`${gateway.endpoint}/${BUCKET}/v2/object.txt`, { headers: headers('GET') });

      // Assess
      expect(put.status).toBe(200);
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe(content);
    });

    it('routes an unsigned GET of an object to S3, whose answer the client gets', async () => {
      // Act
      const answer = await send(`${gateway.endpoint}/${BUCKET}/reports/daily.json`);
      const missing = await send(`${gateway.endpoint}/${BUCKET}/reports/none.json`);

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('{"day":1}');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toContain('<Code>NoSuchKey</Code>');
    });

    it('routes an unsigned query-protocol request (Action=…) to SQS, not to S3', async () => {
      // Prepare
      await sqs.send(new CreateQueueCommand({ QueueName: 'anonymous' }));

      // Act
      const answer = await send(gateway.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=GetQueueUrl&QueueName=anonymous&Version=2012-11-05',
      });

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toContain(
        `<QueueUrl>${gateway.endpoint}/${LOCAL_ACCOUNT_ID}/anonymous</QueueUrl>`,
      );
    });

    it('takes a query-protocol request sent as a GET, as SQS does', async () => {
      // Prepare
      const created = await sqs.send(new CreateQueueCommand({ QueueName: 'by-get' }));
      const path = new URL(created.QueueUrl!).pathname;

      // Act
      const attributes = await send(
        `${gateway.endpoint}${path}?Action=GetQueueAttributes&AttributeName.1=All&Version=2012-11-05`,
      );
      const url = await send(`${gateway.endpoint}/?Action=GetQueueUrl&QueueName=by-get&Version=2012-11-05`);

      // Assess
      expect(attributes.status).toBe(200);
      expect(attributes.body.toString()).toContain('<Name>ApproximateNumberOfMessages</Name>');
      expect(url.status).toBe(200);
      expect(url.body.toString()).toContain(`<QueueUrl>${gateway.endpoint}${path}</QueueUrl>`);
    });

    it('refuses a request for a service it does not emulate, saying which', async () => {
      // Prepare
      const withoutS3 = await startGateway({ port: 0, services: { sqs: sqsEmulator.endpoint } });

      // Act
      const firehose = await send(gateway.endpoint, {
        method: 'POST',
        headers: {
          'x-amz-target': 'Firehose_20150804.PutRecord',
          'content-type': 'application/x-amz-json-1.1',
        },
        body: '{}',
      });
      const object = await send(`${withoutS3.endpoint}/${BUCKET}/reports/daily.json`);
      await withoutS3.close();

      // Assess
      expect(firehose.status).toBe(400);
      expect(JSON.parse(firehose.body.toString())).toMatchObject({ __type: 'UnrecognizedServiceException' });
      expect(object.status).toBe(400);
      expect(object.body.toString()).toMatch(
        /^<\?xml[^>]*>\n<Error><Code>UnrecognizedServiceException<\/Code><Message>A request without X-Amz-Target or SigV4 credential scope is for s3, which the local runtime does not emulate/,
      );
    });

    it('reports an SQS emulator it cannot reach in XML to a query-protocol request, and in JSON to a JSON one', async () => {
      // Prepare: an endpoint whose SQS emulator is a port nothing listens on any more.
      const gone = await listenOn(createServer(), 0);
      await gone.close();
      const unreachable = await startGateway({ port: 0, services: { sqs: gone.endpoint } });

      // Act
      const query = await send(unreachable.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=ListQueues&Version=2012-11-05',
      });
      const json = await send(unreachable.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' },
        body: '{}',
      });
      await unreachable.close();

      // Assess
      expect(query.status).toBe(502);
      expect(query.body.toString()).toMatch(
        /<ErrorResponse><Error><Type>Sender<\/Type><Code>ServiceUnavailable<\/Code><Message>sqs emulator: /,
      );
      expect(json.status).toBe(502);
      expect(JSON.parse(json.body.toString())).toMatchObject({ __type: 'ServiceUnavailable' });
    });

    it("answers a request for a service it does not emulate in the error shape of the service's protocol, which its SDK client reads", async () => {
      // Prepare: CloudFormation speaks the query protocol (XML), S3 its REST-XML one.
      const withoutS3 = await startGateway({ port: 0, services: { sqs: sqsEmulator.endpoint } });
      const cloudformation = new CloudFormationClient({ ...clientConfig(gateway.endpoint), maxAttempts: 1 });
      const objects = new S3Client({
        ...clientConfig(withoutS3.endpoint),
        forcePathStyle: true,
        maxAttempts: 1,
      });

      // Act
      const stacks = await cloudformation.send(new DescribeStacksCommand({})).catch((error: Error) => error);
      const object = await objects
        .send(new GetObjectCommand({ Bucket: BUCKET, Key: 'reports/daily.json' }))
        .catch((error: Error) => error);
      cloudformation.destroy();
      objects.destroy();
      await withoutS3.close();

      // Assess
      expect(stacks).toMatchObject({
        name: 'UnrecognizedServiceException',
        message:
          "The service 'cloudformation' is not emulated by the local runtime; emulated: s3, sqs, dynamodb",
        $metadata: { httpStatusCode: 400 },
      });
      expect(object).toMatchObject({
        name: 'UnrecognizedServiceException',
        message: "The service 's3' is not emulated by the local runtime; emulated: sqs",
        $metadata: { httpStatusCode: 400 },
      });
    });
  });

  describe('requests it refuses itself', () => {
    it.each(['constructor', '__proto__', 'toString'])(
      "refuses a credential scope of '%s' as a service it does not emulate",
      async (scope) => {
        // Act
        const answer = await send(gateway.endpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/20260101/${LOCAL_REGION}/${scope}/aws4_request, SignedHeaders=host, Signature=0`,
          },
          body: '{}',
        });

        // Assess
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.body.toString())).toEqual({
          __type: 'UnrecognizedServiceException',
          message: expect.stringContaining(`The service '${scope}' is not emulated by the local runtime`),
        });
      },
    );

    it("refuses a DynamoDB request declared larger than dynalite's 16 MB with 413, before its body comes", async () => {
      // Act: one byte over the limit is declared, and only 64 KB of it is ever sent.
      const answer = await sendUnfinished(
        gateway.endpoint,
        { 'x-amz-target': 'DynamoDB_20120810.PutItem', 'content-type': 'application/x-amz-json-1.0' },
        [Buffer.alloc(64 * 1024, 32)],
        16 * 1024 * 1024 + 1,
      );

      // Assess
      expect(answer.status).toBe(413);
      expect(answer.headers.connection).toBe('close');
      expect(JSON.parse(answer.body)).toEqual({
        __type: 'RequestEntityTooLargeException',
        message: 'Request must be smaller than 16777216 bytes for the dynamodb emulator',
      });
    });

    it('stops reading a chunked DynamoDB request once it passes 16 MB', async () => {
      // Act: 16 MB and 64 KB, with no length and no end.
      const answer = await sendUnfinished(
        gateway.endpoint,
        {
          'x-amz-target': 'DynamoDB_20120810.PutItem',
          'content-type': 'application/x-amz-json-1.0',
          'transfer-encoding': 'chunked',
        },
        [Buffer.alloc(16 * 1024 * 1024, 32), Buffer.alloc(64 * 1024, 32)],
      );

      // Assess
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ __type: 'RequestEntityTooLargeException' });
    });
  });

  describe('chunked requests', () => {
    it('stores the exact bytes of a chunked PUT to a presigned URL', async () => {
      // Prepare
      const pieces = [Buffer.from('first piece\n'), Buffer.from([0, 255, 10, 13]), Buffer.from('last piece')];
      const url = await presignV4('PUT', 'chunked/object.bin');

      // Act
      const put = await send(url, { method: 'PUT', pieces });
      const stored = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'chunked/object.bin' }));

      // Assess
      expect(put.status).toBe(200);
      expect(Buffer.from(await stored.Body!.transformToByteArray())).toEqual(Buffer.concat(pieces));
    });

    it('hands a chunked request to an emulator in a thread of its own', async () => {
      // Prepare
      const body = JSON.stringify({ TableName: 'items', Item: { pk: { S: 'chunked' }, size: { N: '3' } } });
      const headers = await signV4('dynamodb', gateway.endpoint, {
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.PutItem',
        },
        body,
      });

      // Act
      const put = await send(gateway.endpoint, {
        method: 'POST',
        headers,
        pieces: [Buffer.from(body.slice(0, 20)), Buffer.from(body.slice(20))],
      });
      const stored = await dynamodb.send(
        new GetItemCommand({ TableName: 'items', Key: { pk: { S: 'chunked' } } }),
      );

      // Assess
      expect(put.status).toBe(200);
      expect(stored.Item).toEqual({ pk: { S: 'chunked' }, size: { N: '3' } });
    });
  });

  describe('SQS answers', () => {
    it('passes message bodies and attributes through byte for byte, even where they name the emulator', async () => {
      // Prepare
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'echo' }));
      const body = JSON.stringify({
        callback: `${sqsEmulator.endpoint}/${LOCAL_ACCOUNT_ID}/echo`,
        QueueUrl: sqsEmulator.endpoint,
      });
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: body,
          MessageAttributes: { origin: { DataType: 'String', StringValue: sqsEmulator.endpoint } },
        }),
      );

      // Act
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 0 }),
      );

      // Assess
      expect(Messages).toHaveLength(1);
      expect(Messages[0]!.Body).toBe(body);
      expect(Messages[0]!.MD5OfBody).toBe(md5(body));
      expect(Messages[0]!.MD5OfBody).toBe(sent.MD5OfMessageBody);
      expect(Messages[0]!.MessageAttributes?.origin?.StringValue).toBe(sqsEmulator.endpoint);
    });

    it('passes message bodies through unchanged in the query protocol (XML) too', async () => {
      // Prepare
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'echo-xml' }));
      const body = `reply to ${sqsEmulator.endpoint}/${LOCAL_ACCOUNT_ID}/echo-xml`;
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      const form = new URLSearchParams({
        Action: 'ReceiveMessage',
        QueueUrl: QueueUrl!,
        Version: '2012-11-05',
      }).toString();
      const headers = await signV4('sqs', gateway.endpoint, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });

      // Act
      const answer = await send(gateway.endpoint, { method: 'POST', headers, body: form });

      // Assess
      expect(answer.status).toBe(200);
      const text = answer.body.toString();
      expect(text).toContain(`<Body>${body}</Body>`);
      expect(text).toContain(`<MD5OfBody>${md5(body)}</MD5OfBody>`);
    });

    it('names the endpoint, not the emulator, in every queue URL it answers', async () => {
      // Prepare
      const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'urls-dlq' }));
      const created = await sqs.send(
        new CreateQueueCommand({
          QueueName: 'urls-source',
          Attributes: {
            RedrivePolicy: JSON.stringify({
              maxReceiveCount: 3,
              deadLetterTargetArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:urls-dlq`,
            }),
          },
        }),
      );
      const form = 'Action=ListQueues&QueueNamePrefix=urls-&Version=2012-11-05';
      const headers = await signV4('sqs', gateway.endpoint, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });

      // Act
      const found = await sqs.send(new GetQueueUrlCommand({ QueueName: 'urls-source' }));
      const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'urls-' }));
      const sources = await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq.QueueUrl }));
      const xml = await send(gateway.endpoint, { method: 'POST', headers, body: form });

      // Assess
      const url = (name: string) => `${gateway.endpoint}/${LOCAL_ACCOUNT_ID}/${name}`;
      expect(dlq.QueueUrl).toBe(url('urls-dlq'));
      expect(created.QueueUrl).toBe(url('urls-source'));
      expect(found.QueueUrl).toBe(url('urls-source'));
      expect(listed.QueueUrls?.toSorted()).toEqual([url('urls-dlq'), url('urls-source')]);
      expect(sources.queueUrls).toEqual([url('urls-source')]);
      expect(xml.body.toString()).toContain(`<QueueUrl>${url('urls-dlq')}</QueueUrl>`);
      expect(xml.body.toString()).toContain(`<QueueUrl>${url('urls-source')}</QueueUrl>`);
      expect(xml.body.toString()).not.toContain(sqsEmulator.endpoint);
    });
  });

  describe("the emulator's answers and connections", () => {
    it('gives a rewritten answer that came chunked one length and no transfer-encoding', async () => {
      // Prepare
      const fake = await behind('sqs', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.write(`{"QueueUrl":"${fake.upstream.endpoint}`);
        res.end(`/${LOCAL_ACCOUNT_ID}/chunked"}`);
      });

      // Act
      const answer = await send(fake.endpoint.endpoint, {
        method: 'POST',
        headers: { 'x-amz-target': 'AmazonSQS.GetQueueUrl', 'content-type': 'application/x-amz-json-1.0' },
        body: '{"QueueName":"chunked"}',
      });
      await fake.close();

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.headers['transfer-encoding']).toBeUndefined();
      expect(answer.headers['content-length']).toBe(String(answer.body.byteLength));
      expect(JSON.parse(answer.body.toString())).toEqual({
        QueueUrl: `${fake.endpoint.endpoint}/${LOCAL_ACCOUNT_ID}/chunked`,
      });
    });

    it('rewrites queue URLs even for a client that accepts compressed answers', async () => {
      // Prepare
      const fake = await behind('sqs', (req, res) => {
        const json = Buffer.from(`{"QueueUrl":"${fake.upstream.endpoint}/${LOCAL_ACCOUNT_ID}/zipped"}`);
        const gzip = String(req.headers['accept-encoding'] ?? '').includes('gzip');
        const payload = gzip ? gzipSync(json) : json;
        res.writeHead(200, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': String(payload.byteLength),
          ...(gzip ? { 'content-encoding': 'gzip' } : {}),
        });
        res.end(payload);
      });

      // Act
      const answer = await send(fake.endpoint.endpoint, {
        method: 'POST',
        headers: {
          'x-amz-target': 'AmazonSQS.GetQueueUrl',
          'content-type': 'application/x-amz-json-1.0',
          'accept-encoding': 'gzip',
        },
        body: '{"QueueName":"zipped"}',
      });
      await fake.close();

      // Assess
      const text = (
        answer.headers['content-encoding'] === 'gzip' ? gunzipSync(answer.body) : answer.body
      ).toString();
      expect(JSON.parse(text)).toEqual({ QueueUrl: `${fake.endpoint.endpoint}/${LOCAL_ACCOUNT_ID}/zipped` });
    });

    it('forwards a path that starts with // to the emulator, not to the host it seems to name', async () => {
      // Prepare
      const seen: string[] = [];
      const fake = await behind('s3', (req, res) => {
        seen.push(req.url ?? '');
        res.end('here');
      });
      const path = '//127.0.0.1:9/key';
      const headers = await signV4('s3', `${fake.endpoint.endpoint}/127.0.0.1:9/key`, { method: 'GET' });

      // Act
      const answer = await send(`${fake.endpoint.endpoint}${path}`, { headers });
      await fake.close();

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('here');
      expect(seen).toEqual([path]);
    });

    it("keeps the client's connection open when the emulator closes its own", async () => {
      // Prepare
      const fake = await behind('s3', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
        res.end('done');
      });
      const agent = new Agent({ keepAlive: true });
      const url = `${fake.endpoint.endpoint}/bucket/key`;
      const headers = await signV4('s3', url, { method: 'GET' });

      // Act
      const answer = await send(url, { headers, agent });
      agent.destroy();
      await fake.close();

      // Assess
      expect(answer.body.toString()).toBe('done');
      expect(answer.headers.connection).toBe('keep-alive');
    });

    it("ends the client's answer when the emulator's breaks off", async () => {
      // Prepare
      const fake = await behind('s3', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100' });
        res.write(Buffer.alloc(10), () => res.socket?.destroy());
      });
      const url = `${fake.endpoint.endpoint}/bucket/key`;
      const headers = await signV4('s3', url, { method: 'GET' });

      // Act
      const ended = await new Promise<{ complete: boolean }>((resolve, reject) => {
        const out = request(url, { headers, agent: false }, (answer) => {
          answer.on('error', () => undefined);
          answer.on('data', () => undefined);
          answer.on('close', () => resolve({ complete: answer.complete }));
        });
        out.on('error', reject);
        out.end();
      });
      await fake.close();

      // Assess
      expect(ended.complete).toBe(false);
    });

    it('abandons the request to the emulator when the client hangs up', async () => {
      // Prepare
      let arrived: () => void = () => undefined;
      let hungUp: () => void = () => undefined;
      const arriving = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const abandoned = new Promise<string>((resolve) => {
        hungUp = () => resolve('closed');
      });
      // The emulator never answers, as SQS does not during a long poll.
      const fake = await behind('sqs', (req) => {
        req.socket.on('close', hungUp);
        arrived();
      });
      const headers = {
        'x-amz-target': 'AmazonSQS.ReceiveMessage',
        'content-type': 'application/x-amz-json-1.0',
      };
      const out = request(fake.endpoint.endpoint, { method: 'POST', headers, agent: false });
      out.on('error', () => undefined);
      out.end('{"QueueUrl":"queue","WaitTimeSeconds":20}');
      await arriving;

      // Act
      out.destroy();

      // Assess
      expect(await abandoned).toBe('closed');
      await fake.close();
    });
  });
});
