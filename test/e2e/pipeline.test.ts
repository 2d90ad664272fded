import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ListShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { cloudEvent } from '#test/helpers/factories.ts';
import { eventually, postEvents, scanItems, startTestRuntime, tempDataDir } from '#test/helpers/runtime.ts';

type Records = KinesisStreamEvent['Records'];

const decode = (record: Records[number]) =>
  JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8')) as {
    id: string;
    subject: string;
    data: { n: number };
  };

/** Per partition key, the `n` of every record the consumer was given, in delivery order. */
const deliveriesByKey = (batches: Records[]): Record<string, number[]> => {
  const byKey: Record<string, number[]> = {};
  for (const batch of batches) {
    for (const record of batch) {
      const { subject, data } = decode(record);
      byKey[subject] = [...(byKey[subject] ?? []), data.n];
    }
  }
  return byKey;
};

const failureQueueUrl = (runtime: LocalRuntime) =>
  Object.values(runtime.stack.resources).find((r) => r.logicalId === 'ConsumerFailureQueue')!.refs.ref;

describe('E2E: the pipeline on the local runtime', () => {
  let runtime: LocalRuntime;
  let batches: Records[];

  beforeAll(async () => {
    ({ runtime, consumerBatches: batches } = await startTestRuntime());
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  it('turns events posted to the local API into items in the local table', async () => {
    // Prepare
    const events = Array.from({ length: 20 }, (_, i) =>
      cloudEvent(i, { subject: `land-${i % 5}`, data: { n: i } }),
    );
    // Act
    await postEvents(runtime, events);
    // Assess
    const items = await eventually(
      () => scanItems(runtime),
      (items) =>
        events.every((e) =>
          items.some((item) => (item.identity as { S: string }).S === `ce:urn%3Atest%3Aproducer:${e.id}`),
        ),
      '20 items',
    );
    const item = items.find((i) => (i.identity as { S: string }).S === 'ce:urn%3Atest%3Aproducer:evt-3')!;
    expect(JSON.stringify(item)).toContain('com.example.thing.happened');
  });

  it('bisects and retries a failing record, sends exactly its pointer to the failure queue, and lands its neighbours', async () => {
    // Prepare: records holding "poison-pill" make the consumer fail.
    await fetch(`${runtime.endpoint}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify({ functionPattern: 'poison-pill', functionName: 'ConsumerFunction' }),
    });
    const events = Array.from({ length: 9 }, (_, i) =>
      cloudEvent(1000 + i, { subject: 'bisect-key', data: { n: i, note: i === 4 ? 'poison-pill' : 'fine' } }),
    );
    // Act
    const answer = (await postEvents(runtime, events)) as {
      events: Array<{ sequenceNumber: string; shardId: string }>;
    };
    // Assess: the failure queue gets one record pointing at exactly the poisoned record.
    const poisoned = answer.events[4]!;
    const message = await eventually(
      async () =>
        (
          await runtime.clients.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: failureQueueUrl(runtime),
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 0,
            }),
          )
        ).Messages ?? [],
      (messages) => messages.length > 0,
      'the failure queue message',
    );
    await fetch(`${runtime.endpoint}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify({ functionPattern: '' }),
    });
    expect(message).toHaveLength(1);
    const record = JSON.parse(message[0]!.Body!);
    expect(Object.keys(record).sort()).toEqual([
      'KinesisBatchInfo',
      'requestContext',
      'responseContext',
      'timestamp',
      'version',
    ]);
    expect(record.requestContext).toEqual({
      requestId: expect.any(String),
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ConsumerFunction',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    });
    expect(record.responseContext).toEqual({
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
    });
    expect(record.version).toBe('1.0');
    expect(record.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(record.KinesisBatchInfo).toEqual({
      shardId: poisoned.shardId,
      startSequenceNumber: poisoned.sequenceNumber,
      endSequenceNumber: poisoned.sequenceNumber,
      approximateArrivalOfFirstRecord: expect.stringMatching(/Z$/),
      approximateArrivalOfLastRecord: expect.stringMatching(/Z$/),
      batchSize: 1,
      streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/local-EventStream',
    });
    const items = await eventually(
      () => scanItems(runtime),
      (items) => items.filter((i) => JSON.stringify(i).includes('bisect-key')).length === 8,
      'the eight neighbours',
    );
    expect(items.some((i) => JSON.stringify(i).includes('poison-pill'))).toBe(false);
  });

  it('keeps per-key order when a shard is split in the middle of traffic', async () => {
    // Prepare
    const keys = ['order-a', 'order-b', 'order-c', 'order-d', 'order-e', 'order-f'];
    const wave = (w: number) =>
      keys.map((key, k) => cloudEvent(5000 + w * 100 + k, { subject: key, data: { n: w } }));
    const { Shards = [] } = await runtime.clients.kinesis.send(
      new ListShardsCommand({ StreamName: 'local-EventStream' }),
    );
    const parent = Shards[0]!;
    const middle =
      (BigInt(parent.HashKeyRange!.StartingHashKey!) + BigInt(parent.HashKeyRange!.EndingHashKey!)) / 2n;
    // Act: three waves before the split, three after.
    for (let w = 0; w < 3; w++) await postEvents(runtime, wave(w));
    await runtime.clients.kinesis.send(
      new SplitShardCommand({
        StreamName: 'local-EventStream',
        ShardToSplit: parent.ShardId!,
        NewStartingHashKey: middle.toString(),
      }),
    );
    for (let w = 3; w < 6; w++) await postEvents(runtime, wave(w));
    // Assess
    await eventually(
      async () => deliveriesByKey(batches),
      (byKey) => keys.every((key) => (byKey[key] ?? []).length >= 6),
      'six waves for every key',
    );
    const byKey = deliveriesByKey(batches);
    for (const key of keys) expect(byKey[key], key).toEqual([0, 1, 2, 3, 4, 5]);
    const after = await runtime.clients.kinesis.send(
      new ListShardsCommand({ StreamName: 'local-EventStream' }),
    );
    expect(after.Shards!.some((s) => s.ParentShardId === parent.ShardId)).toBe(true);
  });
});

describe('E2E: a restart of the local runtime', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = tempDataDir();
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses nothing and redelivers only records after the checkpoint', async () => {
    // Prepare: a first run takes traffic and is stopped while the last request is still being consumed.
    const first = await startTestRuntime({ dataDir });
    const events = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        cloudEvent(9000 + from + i, { subject: `restart-${i % 4}`, data: { n: from + i } }),
      );
    await postEvents(first.runtime, events(0, 30));
    await eventually(
      () => scanItems(first.runtime),
      (items) => items.length === 30,
      '30 items before the restart',
    );
    await postEvents(first.runtime, events(30, 20));
    await first.runtime.stop();
    const checkpoints = JSON.parse(readFileSync(join(dataDir, 'checkpoints.json'), 'utf8')) as {
      mappings: Record<string, Record<string, { sequenceNumber?: string }>>;
    };

    // Act: a second run on the same data takes more traffic.
    const second = await startTestRuntime({ dataDir });
    try {
      await postEvents(second.runtime, events(50, 10));
      // Assess: every event is present once.
      const items = await eventually(
        () => scanItems(second.runtime),
        (items) => items.length === 60,
        '60 items after the restart',
      );
      expect(new Set(items.map((i) => (i.identity as { S: string }).S)).size).toBe(60);
      // Nothing at or before a shard's checkpoint was delivered again.
      const mapping = checkpoints.mappings['ConsumerFunction/Stream/local-EventStream'] ?? {};
      expect(Object.keys(mapping).length).toBeGreaterThan(0);
      for (const batch of second.consumerBatches) {
        for (const record of batch) {
          const shardId = record.eventID.split(':')[0]!;
          const checkpoint = mapping[shardId]?.sequenceNumber;
          if (checkpoint) expect(BigInt(record.kinesis.sequenceNumber) > BigInt(checkpoint)).toBe(true);
        }
      }
    } finally {
      await second.runtime.stop();
    }
  }, 90_000);

  it('reshards a kept stream to a new ShardCount and goes on from the checkpoints: no record twice, none skipped, each key in order', async () => {
    const data = tempDataDir();
    const lines: string[] = [];
    const keys = Array.from({ length: 8 }, (_, k) => `reshard-${k}`);
    const events = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        cloudEvent(12_000 + from + i, { subject: keys[(from + i) % keys.length]!, data: { n: from + i } }),
      );
    try {
      // Prepare: a first run on the template's 2 shards consumes 24 events; 16 more are written once its mapping
      // has stopped, so they wait in the shards the reshard closes, behind a checkpoint in each.
      const first = await startTestRuntime({ dataDir: data });
      await postEvents(first.runtime, events(0, 24));
      await eventually(
        () => scanItems(first.runtime),
        (items) => items.length === 24,
        '24 items before the restart',
      );
      await first.runtime.eventSources.stop();
      await postEvents(first.runtime, events(24, 16));
      await first.runtime.stop();

      // Act: started again on the same data with ShardCount=4, and written to.
      const second = await startTestRuntime({
        dataDir: data,
        parameterOverrides: { ShardCount: '4' },
        log: (_name, line) => lines.push(line),
      });
      try {
        await postEvents(second.runtime, events(40, 16));
        await eventually(
          () => scanItems(second.runtime),
          (items) => items.length === 56,
          '56 items after the restart',
        );
        const { Shards = [] } = await second.runtime.clients.kinesis.send(
          new ListShardsCommand({ StreamName: 'local-EventStream' }),
        );

        // Assess: the stream has 4 open shards, children of the 2 it had, and the start line says so.
        expect(lines).toContainEqual(
          expect.stringContaining(
            'stream local-EventStream (kept; resharded from 2 to 4 open shards, as ShardCount asks',
          ),
        );
        const parents = ['shardId-000000000000', 'shardId-000000000001'];
        const open = Shards.filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
        expect(open).toHaveLength(4);
        expect(open.every((shard) => parents.includes(shard.ParentShardId!))).toBe(true);
        // Every event was delivered once over the two runs, and each key's in the order it was written.
        const batches = [...first.consumerBatches, ...second.consumerBatches];
        const delivered = batches.flat().map((record) => decode(record).data.n);
        expect(delivered.sort((a, b) => a - b)).toEqual(Array.from({ length: 56 }, (_, n) => n));
        const byKey = deliveriesByKey(batches);
        for (const key of keys) expect(byKey[key], key).toEqual([...byKey[key]!].sort((a, b) => a - b));
        // The second run read the waiting events from the closed parents, and the new ones from the children.
        const secondRun = second.consumerBatches
          .flat()
          .map((record) => ({ n: decode(record).data.n, shardId: record.eventID.split(':')[0]! }));
        expect(
          secondRun
            .filter(({ n }) => n < 40)
            .map(({ n }) => n)
            .sort((a, b) => a - b),
        ).toEqual(Array.from({ length: 16 }, (_, i) => 24 + i));
        for (const { n, shardId } of secondRun) expect(parents.includes(shardId), `event ${n}`).toBe(n < 40);
      } finally {
        await second.runtime.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }, 120_000);

  it("keeps the failure queue's pointers, waiting or in flight, and says so at start", async () => {
    // Prepare: two pointers on the failure queue, one of them received (in flight) when the runtime stops.
    const data = tempDataDir();
    const lines: string[] = [];
    try {
      const first = await startTestRuntime({ dataDir: data });
      const queueUrl = first.runtime.stack.resources.ConsumerFailureQueue!.refs.ref;
      for (const body of ['{"pointer":1}', '{"pointer":2}']) {
        await first.runtime.clients.sqs.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }),
        );
      }
      await first.runtime.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 600 }),
      );
      await first.runtime.stop();
      // Act
      const second = await startTestRuntime({ dataDir: data, log: (_name, line) => lines.push(line) });
      try {
        const { Messages = [] } = await second.runtime.clients.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
        );
        // Assess
        expect(Messages.map((m) => m.Body).sort()).toEqual(['{"pointer":1}', '{"pointer":2}']);
        expect(lines).toContain('queue local-ConsumerFailureQueue: 2 messages kept from the last stop');
      } finally {
        await second.runtime.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }, 90_000);
});
