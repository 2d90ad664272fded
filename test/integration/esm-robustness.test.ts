import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig, LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { InMemoryCheckpointStore } from '#local/esm/checkpoint-store.ts';
import { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import { SqsPoller } from '#local/esm/sqs-poller.ts';
import type { EventSources } from '#local/event-sources.ts';
import type { FaultInjector } from '#local/faults/faults.ts';
import type { ResourceClients } from '#local/resources.ts';
import type { LocalStack, PlannedResource } from '#local/stack.ts';
import { collectStatus, statusLine } from '#local/status.ts';

/**
 * An endpoint that stops answering: requests whose target is not in `answers` are held open until the client
 * gives up. Stands for an emulator that hangs (the SDK's default handler waits for ever).
 */
const hangingEndpoint = async (
  answers: Record<string, unknown> = {},
): Promise<{ endpoint: string; targets: string[]; close: () => Promise<void> }> => {
  const targets: string[] = [];
  const held: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? `${req.method} ${req.url}`);
      targets.push(target);
      const answer = Object.entries(answers).find(([name]) => target.endsWith(name))?.[1];
      if (answer === undefined) {
        held.push(res);
        return;
      }
      // An answer with `__type` is an error, as the JSON protocols send one.
      const error = typeof answer === 'object' && answer !== null && '__type' in answer;
      res.writeHead(error ? 400 : 200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    targets,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

const waitFor = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 200; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
};

const resource = (logicalId: string, type: string, ref: string, attributes: Record<string, string>) =>
  ({
    logicalId,
    type,
    properties: {},
    refs: { ref, attributes },
    emulated: true,
  }) as unknown as PlannedResource;

describe('Event source mappings when an emulator stops answering', () => {
  const closers: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('answers the status with the queue and bucket marked unreadable instead of hanging', async () => {
    // Prepare
    const emulator = await hangingEndpoint();
    closers.push(emulator.close);
    const config = { ...clientConfig(emulator.endpoint), maxAttempts: 1 };
    const clients = {
      kinesis: new KinesisClient(config),
      sqs: new SQSClient(config),
      s3: new S3Client({ ...config, forcePathStyle: true }),
    } as unknown as ResourceClients;
    const queueUrl = `${emulator.endpoint}/${LOCAL_ACCOUNT_ID}/orders`;
    const stack = {
      resources: {
        Orders: resource('Orders', 'AWS::SQS::Queue', queueUrl, {
          QueueName: 'orders',
          Arn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:orders`,
        }),
        Archive: resource('Archive', 'AWS::S3::Bucket', 'archive', {}),
      },
      functions: {},
      outputs: {},
    } as unknown as LocalStack;
    const eventSources = { kinesis: [], sqs: [], mappings: [] } as unknown as EventSources;
    const faults = { settings: () => ({}), counts: {} } as unknown as FaultInjector;

    // Act
    const status = await collectStatus(stack, clients, eventSources, faults, new Map(), { timeoutMs: 200 });

    // Assess
    expect(status.queues).toEqual([
      expect.objectContaining({ logicalId: 'Orders', visible: 0, inFlight: 0, error: expect.any(String) }),
    ]);
    expect(status.quarantine).toEqual([
      expect.objectContaining({ bucket: 'archive', objects: 0, error: expect.any(String) }),
    ]);
    expect(statusLine(status)).toContain('queues: Orders ?');
  });

  it('stops an SQS mapping whose ReceiveMessage never answers, without invoking the function', async () => {
    // Prepare
    const queueArn = `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:orders`;
    const emulator = await hangingEndpoint({ GetQueueAttributes: { Attributes: { QueueArn: queueArn } } });
    closers.push(emulator.close);
    const client = new SQSClient({ ...clientConfig(emulator.endpoint), maxAttempts: 1 });
    let invocations = 0;
    const poller = new SqsPoller({
      client,
      queue: `${emulator.endpoint}/${LOCAL_ACCOUNT_ID}/orders`,
      properties: {},
      invoke: async () => {
        invocations += 1;
        return {};
      },
      functionName: 'consumer',
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      concurrency: 1,
      stopGraceMs: 50,
    });
    await poller.start();
    await waitFor(() => emulator.targets.some((t) => t.endsWith('ReceiveMessage')), 'the first receive');

    // Act
    await poller.stop();

    // Assess
    expect(poller.stats().state).toBe('stopped');
    expect(invocations).toBe(0);
  });

  it('starts a Kinesis mapping whose shard refuses every iterator, and keeps retrying it in the background', async () => {
    // Prepare
    const emulator = await hangingEndpoint({
      ListShards: {
        Shards: [
          {
            ShardId: 'shardId-000000000000',
            HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
            SequenceNumberRange: { StartingSequenceNumber: '1' },
          },
        ],
      },
      GetShardIterator: { __type: 'ResourceNotFoundException', message: 'Stream orders not found' },
    });
    closers.push(emulator.close);
    const client = new KinesisClient({
      ...clientConfig(emulator.endpoint),
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
    });
    let invocations = 0;
    const poller = new KinesisPoller({
      client,
      stream: 'orders',
      properties: { Stream: 'orders', StartingPosition: 'TRIM_HORIZON' },
      invoke: async () => {
        invocations += 1;
        return {};
      },
      checkpoints: new InMemoryCheckpointStore(),
      mappingId: 'Consumer/Stream/orders',
      functionName: 'consumer',
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 10,
    });
    closers.push(() => poller.stop());

    // Act
    await poller.start();
    const started = poller.stats();
    await poller.stop();

    // Assess
    expect(started.state).toBe('running');
    expect(started.shards[0]?.lastError?.message).toMatch(/^GetShardIterator: Stream orders not found/);
    expect(poller.stats().state).toBe('stopped');
    expect(invocations).toBe(0);
  });
});
