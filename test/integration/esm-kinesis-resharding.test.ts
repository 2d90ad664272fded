import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { JsonFileCheckpointStore } from '#local/esm/checkpoint-store.ts';
import { decodeData, kinesisPollerSuite, waitFor } from '#test/helpers/esm-fixtures.ts';
import { mergeShards, splitShard } from '#test/helpers/recovery-emulators.ts';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

describe('Kinesis event source mapping: resharding', () => {
  const suite = kinesisPollerSuite({ checkpointDirectory: 'esm-reshard-' });
  const { start } = suite;

  const generation = (prefix: string) => KEYS.map((key) => ({ key, data: `${prefix}:${key}` }));

  /** Shard 0 split into 1 and 2, which merge into 3; each generation holds one record per key. */
  const reshardedStream = async () => {
    const { streamName } = await suite.stream(generation('a'));
    await splitShard(suite.client, streamName, 'shardId-000000000000', 2n ** 127n);
    await suite.put(streamName, generation('b'));
    await mergeShards(suite.client, streamName, 'shardId-000000000001', 'shardId-000000000002');
    await suite.put(streamName, generation('c'));
    return streamName;
  };

  const shardsOf = (events: KinesisStreamEvent[]) =>
    events.map((event) => event.Records[0]!.eventID.split(':')[0]);

  it('drains a parent before its children, both parents before a merged child, and keeps each key in order', async () => {
    // Prepare
    const streamName = await reshardedStream();

    // Act
    const { fn, poller } = await start(streamName, {
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 1,
    });
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
    const { streamName } = await suite.stream();
    const { fn } = await start(streamName, { StartingPosition: 'LATEST' });
    await suite.put(streamName, [{ key: 'k0', data: 'before-split' }]);
    await waitFor(() => fn.events.length === 1, 'the parent record');

    // Act
    await splitShard(suite.client, streamName, 'shardId-000000000000', 2n ** 127n);
    await suite.put(streamName, generation('child'));
    await waitFor(() => fn.batches().flat().length === 1 + KEYS.length, 'the child records');

    // Assess
    expect(fn.batches().flat().sort()).toEqual(['before-split', ...KEYS.map((key) => `child:${key}`)].sort());
  });

  it('does not read a drained parent again after a restart, and goes on with the children', async () => {
    // Prepare
    const streamName = await reshardedStream();
    const path = suite.checkpointFile(streamName);
    const first = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      { checkpoints: new JsonFileCheckpointStore(path) },
    );
    await waitFor(() => first.fn.batches().flat().length === KEYS.length * 3, 'every record');
    await waitFor(
      () => first.poller.stats().shards.filter((shard) => shard.state === 'finished').length === 3,
      'the closed shards to finish',
    );
    await first.poller.stop();

    // Act
    await suite.put(streamName, generation('d'));
    const second = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON' },
      { checkpoints: new JsonFileCheckpointStore(path) },
    );
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
