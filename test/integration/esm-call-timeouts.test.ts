import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, startKinesis, startSqs } from '#local/emulators/index.ts';
import type { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import { SqsPoller, type SqsPollerOptions } from '#local/esm/sqs-poller.ts';
import type { SqsPollerEvent } from '#local/esm/types.ts';
import {
  createQueue,
  createStream,
  kinesisClient,
  putRecords,
  queueDepth,
  RecordingFunction,
  sameKey,
  sendMessages,
  sqsClient,
  startKinesisPoller,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

/** The per-call time limit the pollers get in these tests. */
const CALL_TIMEOUT_MS = 200;

interface StallingProxy {
  endpoint: string;
  /** Decides, by operation (e.g. `GetRecords`) and body, which requests are held open and never answered. */
  hold: (operation: string, body: string) => boolean;
  /** The operations of the requests held so far, in order. */
  held: string[];
  close(): Promise<void>;
}

/**
 * A proxy in front of an emulator: the requests `hold` picks are accepted and never answered (nor forwarded), as
 * an emulator or a proxy that hangs would; every other request is forwarded. The operation is read from the
 * JSON protocols' X-Amz-Target header, which both the Kinesis and the SQS clients send.
 */
const stallingProxy = async (upstream: string): Promise<StallingProxy> => {
  const agent = new Agent({ keepAlive: true });
  const open = new Set<ServerResponse>();
  const proxy: Omit<StallingProxy, 'endpoint' | 'close'> = { hold: () => false, held: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop()!;
      if (proxy.hold(operation, Buffer.concat(chunks).toString('utf8'))) {
        proxy.held.push(operation);
        open.add(res);
        res.on('close', () => open.delete(res));
        return;
      }
      const forward = request(
        `${upstream}${req.url}`,
        { method: req.method, headers: req.headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (error) => res.destroy(error));
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  });
};

const heldCount = (proxy: StallingProxy, operation: string): number =>
  proxy.held.filter((held) => held === operation).length;

describe('Kinesis event source mapping when a call to Kinesis gets no answer', () => {
  let close: () => Promise<void>;
  let proxy: StallingProxy;
  /** Straight to kinesalite, for setting up streams and records. */
  let direct: KinesisClient;
  /** Through the proxy, for the pollers. */
  let viaProxy: KinesisClient;
  const pollers: KinesisPoller[] = [];

  beforeAll(async () => {
    const kinesis = await startKinesis();
    proxy = await stallingProxy(kinesis.endpoint);
    direct = kinesisClient(kinesis.endpoint);
    viaProxy = kinesisClient(proxy.endpoint);
    close = async () => {
      direct.destroy();
      viaProxy.destroy();
      await proxy.close();
      await kinesis.close();
    };
  });

  afterEach(async () => {
    proxy.hold = () => false;
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  afterAll(async () => {
    await close();
  });

  const start = async (
    streamName: string,
    options: { start?: boolean; callTimeoutMs?: number; retryBaseDelayMs?: number } = {},
  ) => {
    const fixture = await startKinesisPoller(
      viaProxy,
      streamName,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 5 },
      { callTimeoutMs: CALL_TIMEOUT_MS, ...options },
    );
    pollers.push(fixture.poller);
    return fixture;
  };

  it('retries a GetRecords that never answers from the same iterator: the checkpoint holds, nothing is skipped or repeated', async () => {
    // Prepare
    const streamName = await createStream(direct);
    const first = await putRecords(direct, streamName, sameKey(['a1', 'a2', 'a3', 'a4', 'a5']));
    const { poller, fn } = await start(streamName);
    const shard = () => poller.stats().shards[0]!;
    await waitFor(() => shard().checkpoint === first[4]!.SequenceNumber, 'the first records checkpointed');

    // Act
    proxy.hold = (operation) => operation === 'GetRecords';
    const heldBefore = heldCount(proxy, 'GetRecords');
    const second = await putRecords(direct, streamName, sameKey(['b1', 'b2', 'b3', 'b4', 'b5']));
    await waitFor(() => heldCount(proxy, 'GetRecords') >= heldBefore + 3, 'three unanswered GetRecords');
    const whileHeld = { shard: shard(), batches: fn.batches() };
    proxy.hold = () => false;
    await waitFor(() => shard().checkpoint === second[4]!.SequenceNumber, 'the second records checkpointed');

    // Assess
    expect(whileHeld.shard.lastError?.message).toBe(`GetRecords: no answer within ${CALL_TIMEOUT_MS} ms`);
    expect(whileHeld.shard.checkpoint).toBe(first[4]!.SequenceNumber);
    expect(whileHeld.batches).toEqual([['a1', 'a2', 'a3', 'a4', 'a5']]);
    expect(fn.batches()).toEqual([
      ['a1', 'a2', 'a3', 'a4', 'a5'],
      ['b1', 'b2', 'b3', 'b4', 'b5'],
    ]);
  });

  it('asks for fewer records after each GetRecords that timed out, so an answer too large to arrive in time cannot stall the shard', async () => {
    // Prepare: requests for more than 100 records take "too long" (are never answered); smaller ones are answered.
    const streamName = await createStream(direct);
    const written = await putRecords(direct, streamName, sameKey(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']));
    const limits: number[] = [];
    proxy.hold = (operation, body) => {
      if (operation !== 'GetRecords') return false;
      const limit = (JSON.parse(body) as { Limit: number }).Limit;
      limits.push(limit);
      return limit > 100;
    };

    // Act
    const { poller, fn } = await start(streamName, { retryBaseDelayMs: 10 });
    await waitFor(
      () => poller.stats().shards[0]!.checkpoint === written[5]!.SequenceNumber,
      'the records checkpointed',
    );
    await waitFor(() => limits.length >= 6, 'the GetRecords after the records');

    // Assess: 1000 (the read-ahead room), halved after each timeout until answered, then doubled after a quick
    // answer (and halved again when that times out).
    expect(limits.slice(0, 6)).toEqual([1000, 500, 250, 125, 62, 124]);
    expect(fn.batches()).toEqual([['c1', 'c2', 'c3', 'c4', 'c5'], ['c6']]);
  });

  it('starts a shard whose GetShardIterator never answers, shows the timeout, and reads it once Kinesis answers', async () => {
    // Prepare
    const streamName = await createStream(direct);
    await putRecords(direct, streamName, sameKey(['r1', 'r2', 'r3']));
    proxy.hold = (operation) => operation === 'GetShardIterator';

    // Act
    const { poller, fn } = await start(streamName);
    const started = poller.stats();
    proxy.hold = () => false;
    await waitFor(() => poller.stats().shards[0]!.recordsOut === 3, 'the records processed');

    // Assess
    expect(started.state).toBe('running');
    expect(started.shards[0]?.lastError?.message).toBe(
      `GetShardIterator: no answer within ${CALL_TIMEOUT_MS} ms`,
    );
    expect(fn.batches()).toEqual([['r1', 'r2', 'r3']]);
  });

  it('rejects start() when ListShards never answers, and starts when called again once Kinesis answers', async () => {
    // Prepare
    const streamName = await createStream(direct);
    await putRecords(direct, streamName, sameKey(['r1', 'r2']));
    const { poller, fn } = await start(streamName, { start: false });
    proxy.hold = (operation) => operation === 'ListShards';

    // Act
    const refused = await poller.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    proxy.hold = () => false;
    await poller.start();
    await waitFor(() => poller.stats().shards[0]!.recordsOut === 2, 'the records processed');

    // Assess
    expect(refused).toMatchObject({
      name: 'CallTimeoutError',
      message: `no answer within ${CALL_TIMEOUT_MS} ms`,
    });
    expect(fn.batches()).toEqual([['r1', 'r2']]);
  });

  it('stops while a GetRecords is held, before the call would time out', async () => {
    // Prepare
    const streamName = await createStream(direct);
    await putRecords(direct, streamName, sameKey(['r1']));
    proxy.hold = (operation) => operation === 'GetRecords';
    const heldBefore = heldCount(proxy, 'GetRecords');
    const { poller, fn } = await start(streamName, { callTimeoutMs: 600_000 });
    await waitFor(() => heldCount(proxy, 'GetRecords') > heldBefore, 'a held GetRecords');

    // Act
    await poller.stop();

    // Assess
    expect(poller.stats().state).toBe('stopped');
    expect(poller.stats().shards[0]?.checkpoint).toBeUndefined();
    expect(fn.events).toEqual([]);
  });

  it('stops while the on-failure destination is held, without reporting the aborted send as its failure', async () => {
    // Prepare: a batch that always fails and has no retries left, and a destination that never answers.
    const streamName = await createStream(direct);
    await putRecords(direct, streamName, sameKey(['r1']));
    let sends = 0;
    const { poller, events } = await startKinesisPoller(
      viaProxy,
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 5,
        MaximumRetryAttempts: 0,
        DestinationConfig: {
          OnFailure: { Type: 'SQS', Destination: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:failures` },
        },
      },
      {
        respond: (_event, call) => ({
          functionError: 'Unhandled',
          payload: { errorType: 'Error', errorMessage: 'boom' },
          requestId: `request-${call}`,
        }),
        onFailure: (_record, { signal }) => {
          sends += 1;
          return new Promise<void>((_, reject) =>
            signal?.addEventListener('abort', () => reject(signal.reason)),
          );
        },
      },
    );
    pollers.push(poller);
    await waitFor(() => sends > 0, 'the on-failure send');

    // Act
    await poller.stop();

    // Assess
    expect(poller.stats().state).toBe('stopped');
    expect(events.filter((event) => event.type === 'error' && event.operation === 'OnFailure')).toEqual([]);
  });
});

describe('SQS event source mapping when a call to the queue gets no answer', () => {
  let close: () => Promise<void>;
  let proxy: StallingProxy;
  let direct: SQSClient;
  let viaProxy: SQSClient;
  const pollers: SqsPoller[] = [];

  beforeAll(async () => {
    const sqs = await startSqs();
    proxy = await stallingProxy(sqs.endpoint);
    direct = sqsClient(sqs.endpoint);
    viaProxy = sqsClient(proxy.endpoint);
    close = async () => {
      direct.destroy();
      viaProxy.destroy();
      await proxy.close();
      await sqs.close();
    };
  });

  afterEach(async () => {
    proxy.hold = () => false;
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  afterAll(async () => {
    await close();
  });

  const create = (queue: string, options: Partial<SqsPollerOptions> = {}) => {
    const fn = new RecordingFunction<SQSEvent>();
    const events: SqsPollerEvent[] = [];
    const poller = new SqsPoller({
      client: viaProxy,
      queue,
      properties: {},
      invoke: fn.invoke,
      functionName: 'Worker',
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      concurrency: 1,
      pollIntervalMs: 20,
      // Short polls: a held long poll would be given its 20 s wait on top of callTimeoutMs.
      waitTimeSeconds: 0,
      retryBaseDelayMs: 0,
      callTimeoutMs: CALL_TIMEOUT_MS,
      onEvent: (event) => events.push(event),
      ...options,
    });
    pollers.push(poller);
    return { poller, fn, events };
  };

  const deletedCount = (events: SqsPollerEvent[]): number =>
    events.reduce((count, event) => count + (event.type === 'deleted' ? event.messageIds.length : 0), 0);

  it('retries a ReceiveMessage that never answers and delivers the messages once the queue answers', async () => {
    // Prepare
    const queue = await createQueue(direct);
    await sendMessages(direct, queue.url, ['m1', 'm2', 'm3']);
    const { poller, fn, events } = create(queue.arn);
    await poller.start();
    proxy.hold = (operation) => operation === 'ReceiveMessage';
    const heldBefore = heldCount(proxy, 'ReceiveMessage');

    // Act
    await waitFor(() => heldCount(proxy, 'ReceiveMessage') >= heldBefore + 2, 'two unanswered receives');
    const whileHeld = { stats: poller.stats(), invocations: fn.events.length };
    proxy.hold = () => false;
    await waitFor(() => deletedCount(events) === 3, 'the messages deleted');

    // Assess
    expect(whileHeld.stats.lastError?.message).toBe(`ReceiveMessage: no answer within ${CALL_TIMEOUT_MS} ms`);
    expect(whileHeld.stats.state).toBe('running');
    expect(fn.batches().flat().sort()).toEqual(['m1', 'm2', 'm3']);
    expect(await queueDepth(direct, queue.url)).toBe(0);
  });

  it('leaves a batch whose DeleteMessageBatch never answers to its visibility timeout, then deletes it', async () => {
    // Prepare
    const queue = await createQueue(direct, { VisibilityTimeout: '1' });
    await sendMessages(direct, queue.url, ['m1']);
    let holds = 1;
    proxy.hold = (operation) => operation === 'DeleteMessageBatch' && holds-- > 0;
    const { poller, fn, events } = create(queue.arn);

    // Act
    await poller.start();
    await waitFor(() => deletedCount(events) === 1, 'the message deleted');

    // Assess
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'error', operation: 'DeleteMessageBatch' }),
    );
    expect(poller.stats().lastError?.message).toBe(
      `DeleteMessageBatch: no answer within ${CALL_TIMEOUT_MS} ms`,
    );
    expect(fn.batches()).toEqual([['m1'], ['m1']]);
    expect(fn.events[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(await queueDepth(direct, queue.url)).toBe(0);
  });

  it('rejects start() when GetQueueUrl never answers, and starts when called again once the queue answers', async () => {
    // Prepare
    const queue = await createQueue(direct);
    await sendMessages(direct, queue.url, ['m1']);
    const { poller, fn, events } = create(queue.arn);
    proxy.hold = (operation) => operation === 'GetQueueUrl';

    // Act
    const refused = await poller.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    proxy.hold = () => false;
    await poller.start();
    await waitFor(() => deletedCount(events) === 1, 'the message deleted');

    // Assess
    expect(refused).toMatchObject({
      name: 'CallTimeoutError',
      message: `no answer within ${CALL_TIMEOUT_MS} ms`,
    });
    expect(fn.batches()).toEqual([['m1']]);
  });
});
