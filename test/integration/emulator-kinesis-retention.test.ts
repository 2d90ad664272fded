import { createRequire } from 'node:module';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  IncreaseStreamRetentionPeriodCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig, startKinesis } from '#local/emulators/index.ts';
import { parseSequence } from '#local/emulators/kinesalite-sequences.ts';
import { waitForStream } from '#local/resources.ts';

const kinesaliteParse = (
  createRequire(import.meta.url)('kinesalite/db') as {
    parseSequence: (sequence: string) => Record<string, unknown>;
  }
).parseSequence;

const HOUR_MS = 60 * 60 * 1000;

let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/**
 * A Kinesis emulator whose retention is measured by a clock the test moves, with a stream of one shard holding an
 * older and a newer batch of five records, a whole second apart (the time in a sequence number is in seconds).
 */
const streamWithTwoBatches = async (trimIntervalMs: number) => {
  const clock = { now: Date.now() };
  const emulator = await startKinesis({ clock: () => clock.now, trimIntervalMs });
  const kinesis = new KinesisClient({
    ...clientConfig(emulator.endpoint),
    requestHandler: new NodeHttpHandler(),
  });
  stop = async () => {
    kinesis.destroy();
    await emulator.close();
  };
  await kinesis.send(new CreateStreamCommand({ StreamName: 'retained', ShardCount: 1 }));
  await waitForStream(kinesis, 'retained');
  const put = async (label: string) => {
    const { Records } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: 'retained',
        Records: Array.from({ length: 5 }, (_, i) => ({
          PartitionKey: 'k',
          Data: Buffer.from(`${label}${i}`),
        })),
      }),
    );
    return Records!.map(
      ({ SequenceNumber }) => parseSequence(SequenceNumber!, kinesaliteParse).seqTime as number,
    );
  };
  const older = await put('older-');
  while (Date.now() < older.at(-1)! + 1_000) await new Promise((resolve) => setTimeout(resolve, 50));
  const newer = await put('newer-');
  /** Every record the shard still holds, oldest first (kinesalite itself drops none: its clock has not moved). */
  const held = async (): Promise<string[]> => {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: 'retained',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    return Records.map(({ Data }) => Buffer.from(Data!).toString('utf8'));
  };
  return { clock, emulator, kinesis, newerTime: newer[0]!, held };
};

describe('Local Kinesis: records past the retention period', () => {
  it('are dropped while the runtime runs, though no reader ever reads them again', async () => {
    // Prepare: the retention (24 hours) passes for the older batch, not for the newer one.
    const { clock, held, newerTime } = await streamWithTwoBatches(20);
    expect(await held()).toHaveLength(10);

    // Act: a consumer reading on from its checkpoint never reads them again; only the emulator's own pass drops them.
    clock.now = newerTime + 24 * HOUR_MS;
    const deadline = Date.now() + 10_000;
    let left = await held();
    while (left.length > 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      left = await held();
    }

    // Assess
    expect(left).toEqual(['newer-0', 'newer-1', 'newer-2', 'newer-3', 'newer-4']);
  });

  it("keep to each stream's own retention, and trimExpired drops them at once", async () => {
    // Prepare: a pass that never comes by itself; the stream keeps its records 48 hours.
    const { clock, emulator, kinesis, held, newerTime } = await streamWithTwoBatches(HOUR_MS);
    await kinesis.send(
      new IncreaseStreamRetentionPeriodCommand({ StreamName: 'retained', RetentionPeriodHours: 48 }),
    );

    // Act / Assess: 24 hours on, nothing has expired; 48 hours on, the older batch has.
    clock.now = newerTime + 24 * HOUR_MS;
    expect(await emulator.trimExpired()).toBe(0);
    expect(await held()).toHaveLength(10);
    clock.now = newerTime + 48 * HOUR_MS;
    expect(await emulator.trimExpired()).toBe(5);
    expect(await held()).toEqual(['newer-0', 'newer-1', 'newer-2', 'newer-3', 'newer-4']);
  });
});
