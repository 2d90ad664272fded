import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startKinesis } from '#local/emulators/index.ts';
import { JsonFileCheckpointStore } from '#local/esm/checkpoint-store.ts';
import type { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import {
  createStream,
  decodeData,
  kinesisClient,
  putRecords,
  startKinesisPoller,
  waitFor,
  waitForActive,
} from '#test/helpers/esm-fixtures.ts';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

describe('Kinesis event source mapping: resharding', () => {
  let emulator: RunningEmulator;
  let client: KinesisClient;
  let directory: string;
  const pollers: KinesisPoller[] = [];

  beforeAll(async () => {
    emulator = await startKinesis();
    client = kinesisClient(emulator.endpoint);
    directory = await mkdtemp(join(tmpdir(), 'esm-reshard-'));
  });

  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
    await rm(directory, { recursive: true, force: true });
  });

  const split = async (streamName: string, shardId: string) => {
    await client.send(
      new SplitShardCommand({
        StreamName: streamName,
        ShardToSplit: shardId,
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await waitForActive(client, streamName);
  };

  const merge = async (streamName: string, shardId: string, adjacentShardId: string) => {
    await client.send(
      new MergeShardsCommand({
        StreamName: streamName,
        ShardToMerge: shardId,
        AdjacentShardToMerge: adjacentShardId,
      }),
    );
    await waitForActive(client, streamName);
  };

  const generation = (prefix: string) => KEYS.map((key) => ({ key, data: `${prefix}:${key}` }));

  /** Shard 0 split into 1 and 2, which merge into 3; each generation holds one record per key. */
  const reshardedStream = async () => {
    const streamName = await createStream(client);
    await putRecords(client, streamName, generation('a'));
    await split(streamName, 'shardId-000000000000');
    await putRecords(client, streamName, generation('b'));
    await merge(streamName, 'shardId-000000000001', 'shardId-000000000002');
    await putRecords(client, streamName, generation('c'));
    return streamName;
  };

  const shardsOf = (events: KinesisStreamEvent[]) =>
    events.map((event) => event.Records[0]!.eventID.split(':')[0]);

  it('drains a parent before its children, both parents before a merged child, and keeps each key in order', async () => {
    // Prepare
    const streamName = await reshardedStream();

    // Act
    const { fn, poller } = await startKinesisPoller(client, streamName, {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 1,
    });
    pollers.push(poller);
    await waitFor(() => fn.events.length === KEYS.length * 3, 'every record');

    // Assess
    const shards = shardsOf(fn.events);
    const lastIndexOf = (shardId: string) => shards.lastIndexOf(shardId);
    const firstIndexOf = (shardId: string) => shards.indexOf(shardId);
    expect(lastIndexOf('shardId-000000000000')).toBeLessThan(firstIndexOf('shardId-000000000001'));
    expect(lastIndexOf('shardId-000000000000')).toBeLessThan(firstIndexOf('shardId-000000000002'));
    expect(lastIndexOf('shardId-000000000001')).toBeLessThan(firstIndexOf('shardId-000000000003'));
    expect(lastIndexOf('shardId-000000000002')).toBeLessThan(firstIndexOf('shardId-000000000003'));
    const delivered = fn.events.map((event) => decodeData(event.Records[0]!));
    for (const key of KEYS) {
      expect(delivered.filter((data) => data.endsWith(`:${key}`))).toEqual([
        `a:${key}`,
        `b:${key}`,
        `c:${key}`,
      ]);
    }
    await waitFor(
      () => poller.stats().shards.filter((shard) => shard.state === 'finished').length === 3,
      'the three closed shards to finish',
    );
    expect(poller.stats().shards.map((shard) => [shard.shardId, shard.state])).toEqual([
      ['shardId-000000000000', 'finished'],
      ['shardId-000000000001', 'finished'],
      ['shardId-000000000002', 'finished'],
      ['shardId-000000000003', 'reading'],
    ]);
  });

  it('reads a child shard from its start, even for a LATEST mapping, once a live split closes the parent', async () => {
    // Prepare
    const streamName = await createStream(client);
    const { fn, poller } = await startKinesisPoller(client, streamName, { StartingPosition: 'LATEST' });
    pollers.push(poller);
    await putRecords(client, streamName, [{ key: 'k0', data: 'before-split' }]);
    await waitFor(() => fn.events.length === 1, 'the parent record');

    // Act
    await split(streamName, 'shardId-000000000000');
    await putRecords(client, streamName, generation('child'));
    await waitFor(() => fn.batches().flat().length === 1 + KEYS.length, 'the child records');

    // Assess
    expect(fn.batches().flat().sort()).toEqual(['before-split', ...KEYS.map((key) => `child:${key}`)].sort());
  });

  it('does not read a drained parent again after a restart, and goes on with the children', async () => {
    // Prepare
    const streamName = await reshardedStream();
    const path = join(directory, `${streamName}.json`);
    const first = await startKinesisPoller(
      client,
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      {
        checkpoints: new JsonFileCheckpointStore(path),
      },
    );
    pollers.push(first.poller);
    await waitFor(() => first.fn.batches().flat().length === KEYS.length * 3, 'every record');
    await waitFor(
      () => first.poller.stats().shards.filter((shard) => shard.state === 'finished').length === 3,
      'the closed shards to finish',
    );
    await first.poller.stop();

    // Act
    await putRecords(client, streamName, generation('d'));
    const second = await startKinesisPoller(
      client,
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      {
        checkpoints: new JsonFileCheckpointStore(path),
      },
    );
    pollers.push(second.poller);
    await waitFor(() => second.fn.batches().flat().length >= KEYS.length, 'the new records');

    // Assess
    expect(second.fn.batches().flat().sort()).toEqual(KEYS.map((key) => `d:${key}`).sort());
    expect(second.poller.stats().shards.map((shard) => shard.state)).toEqual([
      'finished',
      'finished',
      'finished',
      'reading',
    ]);
  });
});
