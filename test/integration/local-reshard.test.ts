import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '#local/emulators/index.ts';
import { listenOn } from '#local/net.ts';
import { createResources, type ResourceClients } from '#local/resources.ts';
import type { LocalStack, PlannedResource } from '#local/stack.ts';

const require = createRequire(import.meta.url);

/** How long a split or merge keeps the stream UPDATING: the next one is refused until it is ACTIVE again. */
const UPDATING_MS = 150;

let server: { close: () => Promise<void> };
let kinesis: KinesisClient;

const streamStack = (name: string, shardCount: number) =>
  ({
    resources: {
      EventStream: {
        logicalId: 'EventStream',
        type: 'AWS::Kinesis::Stream',
        properties: { ShardCount: shardCount },
        refs: { ref: name, attributes: {} },
        emulated: true,
      } as PlannedResource,
    },
  }) as unknown as LocalStack;

const start = (name: string, shardCount: number) =>
  createResources(streamStack(name, shardCount), { kinesis } as unknown as ResourceClients);

const listShards = async (name: string): Promise<Shard[]> =>
  (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards ?? [];

const openRanges = async (name: string) =>
  (await listShards(name))
    .filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .map((shard) => [shard.HashKeyRange!.StartingHashKey!, shard.HashKeyRange!.EndingHashKey!])
    .sort(([a], [b]) => (BigInt(a!) < BigInt(b!) ? -1 : 1));

/** One record at each sixteenth of the hash key space, named by it. */
const HASH_KEYS = Array.from({ length: 16 }, (_, i) => ((1n << 124n) * BigInt(i) + 7n).toString());

const putAcrossKeys = async (name: string, label: string) => {
  for (const hashKey of HASH_KEYS) {
    await kinesis.send(
      new PutRecordCommand({
        StreamName: name,
        PartitionKey: 'p',
        ExplicitHashKey: hashKey,
        Data: Buffer.from(`${label}:${hashKey}`),
      }),
    );
  }
};

/** Every record of every shard, open or closed, from its start: `shardId → data`. */
const readAll = async (name: string): Promise<Record<string, string[]>> => {
  const byShard: Record<string, string[]> = {};
  for (const shard of await listShards(name)) {
    const shardId = shard.ShardId!;
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: name, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    byShard[shardId] = [];
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      const records = page.Records ?? [];
      byShard[shardId].push(...records.map((record) => Buffer.from(record.Data!).toString('utf8')));
      iterator = records.length === 0 ? undefined : page.NextShardIterator;
    }
  }
  return byShard;
};

describe('Local runtime: a kept stream is resharded to the template ShardCount, as UpdateShardCount does', () => {
  beforeAll(async () => {
    const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => Server;
    const listening = await listenOn(
      kinesalite({ createStreamMs: 0, updateStreamMs: UPDATING_MS, shardLimit: 200 }),
      0,
      '127.0.0.1',
    );
    server = listening;
    const { endpoint } = listening;
    kinesis = new KinesisClient({
      ...clientConfig(endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    kinesis?.destroy();
    await server?.close();
  });

  describe.each([
    { from: 2, to: 4, steps: '2 splits' },
    { from: 4, to: 2, steps: '2 merges' },
    { from: 2, to: 3, steps: '2 splits, 1 merge' },
    { from: 4, to: 3, steps: '2 splits, 3 merges' },
    { from: 3, to: 5, steps: '4 splits, 2 merges' },
    { from: 1, to: 2, steps: '1 split' },
  ])('from $from to $to open shards', ({ from, to, steps }) => {
    it('ends with the hash key ranges CreateStream gives that many shards, and every record still readable', async () => {
      // Prepare: a stream kept from a start with `from` shards, holding records across its hash keys.
      const name = `reshard-${from}-to-${to}`;
      await start(name, from);
      await putAcrossKeys(name, 'before');
      await start(`created-with-${to}`, to);

      // Act: started again with ShardCount `to`, then written to.
      const lines = await start(name, to);
      await putAcrossKeys(name, 'after');

      // Assess: the ranges a stream created with `to` shards has.
      expect(lines).toEqual([
        `stream ${name} (kept; resharded from ${from} to ${to} open shards, as ShardCount asks (uniform scaling: ${steps}; the closed shards' records stay readable, and are read before their children's))`,
      ]);
      expect(await openRanges(name)).toEqual(await openRanges(`created-with-${to}`));
      // Every record is read once, from a shard whose range holds its hash key: the earlier ones from closed shards.
      const shards = await listShards(name);
      const byShard = await readAll(name);
      const read = Object.values(byShard).flat();
      expect(read.sort()).toEqual(
        [...HASH_KEYS.map((key) => `before:${key}`), ...HASH_KEYS.map((key) => `after:${key}`)].sort(),
      );
      for (const shard of shards) {
        const [low, high] = [shard.HashKeyRange!.StartingHashKey!, shard.HashKeyRange!.EndingHashKey!];
        const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
        for (const data of byShard[shard.ShardId!] ?? []) {
          const [label, key] = data.split(':') as [string, string];
          expect(BigInt(key) >= BigInt(low) && BigInt(key) <= BigInt(high)).toBe(true);
          expect(label).toBe(closed ? 'before' : 'after');
        }
      }
    });
  });

  it.each([
    { from: 2, to: 5, step: 4 },
    { from: 4, to: 1, step: 2 },
    { from: 3, to: 1, step: 2 },
    { from: 5, to: 2, step: 3 },
  ])(
    'refuses $from → $to open shards, beyond what one UpdateShardCount call takes, and says which count to start with first',
    async ({ from, to, step }) => {
      // Prepare
      const name = `out-of-reach-${from}-to-${to}`;
      await start(name, from);
      const before = await openRanges(name);

      // Act
      const lines = await start(name, to);

      // Assess: the stream is as it was, and the start line says why and what to do.
      expect(lines).toEqual([
        `stream ${name} (kept; WARNING: ${from} shards open where ShardCount now asks for ${to}; not resharded: UpdateShardCount goes at most to double or to half the open shards in one call, so a CloudFormation update would fail and keep them: start with ShardCount=${step} first, then ${to}, or with --fresh to make the stream anew (its records and the rest of the local data are dropped))`,
      ]);
      expect(await openRanges(name)).toEqual(before);
      expect((await listShards(name)).length).toBe(from);
    },
  );
});
