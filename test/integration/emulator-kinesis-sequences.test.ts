import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  CreateStreamCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientConfig,
  PARSED_SEQUENCES_KEPT,
  type RunningEmulator,
  startKinesis,
} from '#local/emulators/index.ts';
import { waitForStream } from '#local/resources.ts';

type Parse = ((sequence: string) => Record<string, unknown>) & {
  remembers?: true;
  original?: (sequence: string) => Record<string, unknown>;
};
const db = createRequire(import.meta.url)('kinesalite/db') as {
  parseSequence: Parse;
  stringifySequence: { original?: unknown };
  partitionKeyToHashKey: { original?: unknown };
};

let emulator: RunningEmulator;
let kinesis: KinesisClient;
let sequenceNumbers: string[];
let shardIds: string[];

beforeAll(async () => {
  emulator = await startKinesis();
  kinesis = new KinesisClient({ ...clientConfig(emulator.endpoint), requestHandler: new NodeHttpHandler() });
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sequences', ShardCount: 2 }));
  await waitForStream(kinesis, 'sequences');
  const Records = Array.from({ length: 20 }, (_, i) => ({
    PartitionKey: `key-${i}`,
    Data: Buffer.from(`${i}`),
  }));
  const first = await kinesis.send(new PutRecordsCommand({ StreamName: 'sequences', Records }));
  const second = await kinesis.send(new PutRecordsCommand({ StreamName: 'sequences', Records }));
  sequenceNumbers = [...first.Records!, ...second.Records!].map((record) => record.SequenceNumber!);
  shardIds = [...first.Records!, ...second.Records!].map((record) => record.ShardId!);
});

afterAll(async () => {
  kinesis?.destroy();
  await emulator?.close();
});

describe('Local Kinesis: sequence numbers and hash keys on big integers, parsed numbers remembered', () => {
  it("answers as kinesalite's own parse does, the first time and from memory", () => {
    expect(db.parseSequence.remembers).toBe(true);
    for (const sequence of [...sequenceNumbers, ...sequenceNumbers]) {
      expect(db.parseSequence(sequence)).toEqual(db.parseSequence.original!(sequence));
    }
    // Two shards, twenty records each way: every shard index and sequence index is the emulator's own.
    expect(new Set(sequenceNumbers.map((s) => db.parseSequence(s).shardIx))).toEqual(new Set([0, 1]));
    expect(new Set(sequenceNumbers).size).toBe(40);
  });

  it('gives each caller a copy, so that changing an answer changes nothing else', () => {
    const sequence = sequenceNumbers[0]!;
    const answer = db.parseSequence(sequence);
    answer.shardIx = 99;
    answer.seqTime = 0;
    expect(db.parseSequence(sequence)).toEqual(db.parseSequence.original!(sequence));
  });

  it('throws for a number it cannot parse, every time', () => {
    const bad = '1'.repeat(80);
    expect(() => db.parseSequence.original!(bad)).toThrow();
    expect(() => db.parseSequence(bad)).toThrow();
    expect(() => db.parseSequence(bad)).toThrow();
  });

  it(`keeps answering right past ${PARSED_SEQUENCES_KEPT} numbers, the oldest forgotten first`, () => {
    const base = BigInt(sequenceNumbers[0]!);
    const many = Array.from({ length: PARSED_SEQUENCES_KEPT + 50 }, (_, i) =>
      String(base + BigInt(i) * 2n ** 8n),
    );
    for (const sequence of many) db.parseSequence(sequence);
    for (const sequence of [many[0]!, many.at(-1)!, sequenceNumbers[1]!]) {
      expect(db.parseSequence(sequence)).toEqual(db.parseSequence.original!(sequence));
    }
  });

  it("puts each record in the shard whose hash key range holds its key's MD5, in order within the shard", async () => {
    expect(db.stringifySequence.original).toBeTypeOf('function');
    expect(db.partitionKeyToHashKey.original).toBeTypeOf('function');
    const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: 'sequences' }));
    const shardOf = (key: string) => {
      const hashKey = BigInt(`0x${createHash('md5').update(key).digest('hex')}`);
      return Shards!.find(
        (shard) =>
          BigInt(shard.HashKeyRange!.StartingHashKey!) <= hashKey &&
          hashKey <= BigInt(shard.HashKeyRange!.EndingHashKey!),
      )!.ShardId;
    };
    const keys = [
      ...Array.from({ length: 20 }, (_, i) => `key-${i}`),
      ...Array.from({ length: 20 }, (_, i) => `key-${i}`),
    ];
    expect(shardIds).toEqual(keys.map(shardOf));
    for (const shardId of new Set(shardIds)) {
      const numbers = sequenceNumbers.filter((_, i) => shardIds[i] === shardId).map(BigInt);
      const starting = BigInt(
        Shards!.find((shard) => shard.ShardId === shardId)!.SequenceNumberRange!.StartingSequenceNumber!,
      );
      expect(numbers[0]! > starting).toBe(true);
      for (let i = 1; i < numbers.length; i += 1) expect(numbers[i]! > numbers[i - 1]!).toBe(true);
    }
  });
});
