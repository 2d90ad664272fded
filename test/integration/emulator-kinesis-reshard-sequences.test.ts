import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordCommand,
  type Shard,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { clientConfig, type RunningEmulator, startKinesis } from '#local/emulators/index.ts';

/**
 * kinesalite dates a child shard to the second and follows that with one hex digit of its index: a shard past 15
 * made in the second of its parent numbered below it. The clock stands still, so every reshard falls in one second.
 */
const NOW = Date.parse('2026-03-01T12:00:00.250Z');

let emulator: RunningEmulator;
let kinesis: KinesisClient;

beforeAll(async () => {
  emulator = await startKinesis();
  kinesis = new KinesisClient({ ...clientConfig(emulator.endpoint), requestHandler: new NodeHttpHandler() });
});

afterAll(async () => {
  kinesis?.destroy();
  await emulator?.close();
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

const shardId = (index: number) => `shardId-${String(index).padStart(12, '0')}`;

const listShards = async (stream: string): Promise<Shard[]> =>
  (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];

/** Polls until a split or merge is done; only the timers are real, the clock stands still. */
const untilActive = async (stream: string): Promise<void> => {
  for (;;) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** Writes one record to the shard, by its starting hash key, and answers its sequence number. */
const putTo = async (stream: string, shard: number): Promise<bigint> => {
  const target = (await listShards(stream)).find((each) => each.ShardId === shardId(shard))!;
  const written = await kinesis.send(
    new PutRecordCommand({
      StreamName: stream,
      PartitionKey: 'p',
      ExplicitHashKey: target.HashKeyRange!.StartingHashKey!,
      Data: Buffer.from(`to ${shard}`),
    }),
  );
  expect(written.ShardId).toBe(shardId(shard));
  return BigInt(written.SequenceNumber!);
};

type Reshard = { split: number } | { merge: [number, number] };

describe.each<{ name: string; shards: number; reshards: Reshard[]; made: number[] }>([
  {
    name: 'a split of a split shard, its children past shard 15',
    shards: 14,
    reshards: [{ split: 0 }, { split: 15 }],
    made: [14, 15, 16, 17],
  },
  {
    name: "a merge of a split shard's children, the merged shard past 15",
    shards: 15,
    reshards: [{ split: 14 }, { merge: [15, 16] }],
    made: [15, 16, 17],
  },
])('Local Kinesis: sequence numbers after $name, all in one second', ({ name, shards, reshards, made }) => {
  const stream = name.replace(/[^a-z0-9]+/gi, '-');

  it("numbers each child shard and its records above every parent's", async () => {
    // Prepare
    await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
    await untilActive(stream);
    const written = new Map<string, bigint[]>();
    const put = async (shard: number) => {
      const numbers = written.get(shardId(shard)) ?? [];
      numbers.push(await putTo(stream, shard), await putTo(stream, shard));
      written.set(shardId(shard), numbers);
    };

    // Act
    for (const reshard of reshards) {
      if ('split' in reshard) {
        await put(reshard.split);
        const shard = (await listShards(stream)).find((each) => each.ShardId === shardId(reshard.split))!;
        const start = BigInt(shard.HashKeyRange!.StartingHashKey!);
        const end = BigInt(shard.HashKeyRange!.EndingHashKey!);
        await kinesis.send(
          new SplitShardCommand({
            StreamName: stream,
            ShardToSplit: shardId(reshard.split),
            NewStartingHashKey: ((start + end) / 2n).toString(),
          }),
        );
      } else {
        for (const shard of reshard.merge) await put(shard);
        await kinesis.send(
          new MergeShardsCommand({
            StreamName: stream,
            ShardToMerge: shardId(reshard.merge[0]),
            AdjacentShardToMerge: shardId(reshard.merge[1]),
          }),
        );
      }
      await untilActive(stream);
    }
    const listed = await listShards(stream);
    const children = listed.filter((shard) => shard.ParentShardId !== undefined);
    for (const child of children) {
      if (child.SequenceNumberRange!.EndingSequenceNumber === undefined) {
        await put(Number(child.ShardId!.split('-')[1]));
      }
    }

    // Assess
    expect(Date.now()).toBe(NOW);
    expect(children.map((child) => child.ShardId)).toEqual(made.map(shardId));
    for (const child of children) {
      const starting = BigInt(child.SequenceNumberRange!.StartingSequenceNumber!);
      const childRecords = written.get(child.ShardId!) ?? [];
      expect(childRecords.length).toBeGreaterThan(0);
      for (const parentId of [child.ParentShardId, child.AdjacentParentShardId].filter(Boolean)) {
        const parent = listed.find((shard) => shard.ShardId === parentId)!;
        const ending = BigInt(parent.SequenceNumberRange!.EndingSequenceNumber!);
        expect(starting > ending, `${child.ShardId} starts after ${parentId} ends`).toBe(true);
        const parentRecords = written.get(parentId!)!;
        expect(parentRecords.length).toBeGreaterThan(0);
        for (const record of childRecords) {
          for (const earlier of parentRecords) {
            expect(record > earlier, `${child.ShardId}'s ${record} after ${parentId}'s ${earlier}`).toBe(
              true,
            );
          }
        }
      }
      for (const record of childRecords) expect(record > starting).toBe(true);
    }
  });
});
