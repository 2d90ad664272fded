import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consumerBatchShape,
  failureMessages,
  type RecoveryBench,
  readStream,
  replayFailureQueue,
  type ShardRecord,
  startRecoveryBench,
} from '#bench/benchmarks/recovery-throughput.ts';
import { parseFailureRecord, streamNameOf } from '#shared/recovery/failure-record.ts';

const N = 200;
const SHAPE = { batchSize: 30, approximateInvokeCount: 4 };

let bench: RecoveryBench;
let records: ShardRecord[];

beforeAll(async () => {
  bench = await startRecoveryBench(N, () => undefined);
  records = await readStream(bench.kinesis, bench.stream);
});

afterAll(async () => {
  await bench?.close();
});

describe('Bench: recovery throughput, DLQ replay half', () => {
  it('reads back every record written to the stream', () => {
    // Assess
    expect(records).toHaveLength(N);
    expect(new Set(records.map((record) => record.shardId)).size).toBeGreaterThan(1);
  });

  it('reads on past the first page of a shard', async () => {
    // Act
    const paged = await readStream(bench.kinesis, bench.stream, 7);

    // Assess
    expect(paged.map((record) => record.sequenceNumber)).toEqual(
      records.map((record) => record.sequenceNumber),
    );
  });

  it('points one on-failure record at each batch of a shard, in sequence order, the shards interleaved', () => {
    // Act
    const messages = failureMessages(records, { ...SHAPE, streamArn: bench.streamArn });

    // Assess
    const perShard = Map.groupBy(records, (record) => record.shardId);
    const expected = [...perShard.values()].reduce(
      (total, shard) => total + Math.ceil(shard.length / SHAPE.batchSize),
      0,
    );
    expect(messages).toHaveLength(expected);
    for (const message of messages) {
      const info = parseFailureRecord(JSON.stringify(message)).KinesisBatchInfo;
      const covered = perShard
        .get(info.shardId)!
        .filter(
          (record) =>
            BigInt(record.sequenceNumber) >= BigInt(info.startSequenceNumber) &&
            BigInt(record.sequenceNumber) <= BigInt(info.endSequenceNumber),
        );
      expect(covered).toHaveLength(info.batchSize!);
      expect(info.batchSize).toBeLessThanOrEqual(SHAPE.batchSize);
      expect(streamNameOf(info.streamArn)).toBe(bench.stream);
      expect(message.requestContext).toMatchObject({
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: SHAPE.approximateInvokeCount,
      });
      expect(Object.keys(message)).toEqual([
        'requestContext',
        'responseContext',
        'version',
        'timestamp',
        'KinesisBatchInfo',
      ]);
    }
    expect(messages.reduce((total, message) => total + message.KinesisBatchInfo.batchSize, 0)).toBe(N);
    // The shards' batches interleave, as their pollers fail side by side; each shard's stay in sequence order.
    const first = messages.slice(0, perShard.size).map((message) => message.KinesisBatchInfo.shardId);
    expect(new Set(first).size).toBe(perShard.size);
    for (const shardId of perShard.keys()) {
      const starts = messages
        .filter((message) => message.KinesisBatchInfo.shardId === shardId)
        .map((message) => BigInt(message.KinesisBatchInfo.startSequenceNumber));
      expect(starts).toEqual([...starts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  });

  it('replays every message of the failure queue into the table and deletes it', async () => {
    // Prepare
    const progress: string[] = [];

    // Act
    const result = await replayFailureQueue(bench, records, SHAPE, (line) => progress.push(line));

    // Assess
    expect(result.report).toMatchObject({
      messages: result.messages,
      recordsReplayed: N,
      written: N,
      duplicates: 0,
      stillFailing: 0,
      expired: 0,
      deleted: result.messages,
    });
    expect(result.report.details.every((detail) => detail.failed === 0)).toBe(true);
    expect(result.items).toBe(N);
    expect(result.left).toBe(0);
    expect(progress.at(-1)).toBe(`replayed ${result.messages} of ${result.messages} messages`);
  });

  it('takes the batch shape from the consumer event source mapping parameters', () => {
    // Prepare
    const template = {
      Resources: {},
      Parameters: {
        ConsumerBatchSize: { Type: 'Number', Default: 250 },
        ConsumerMaximumRetryAttempts: { Type: 'Number', Default: 3 },
      },
    };

    // Act
    const shape = consumerBatchShape(template);

    // Assess
    expect(shape).toEqual({ batchSize: 250, approximateInvokeCount: 4 });
  });
});
