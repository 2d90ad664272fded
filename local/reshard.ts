import { type KinesisClient, MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { openShardRanges, type ShardRange } from '#local/faults/faults.ts';

/**
 * A kept stream brought to the template's ShardCount as a CloudFormation update does it on AWS: with
 * UpdateShardCount's uniform scaling, which Kinesis carries out as splits and merges of single shards (short-lived
 * shards included) until the open shards cover equal hash key ranges. kinesalite has SplitShard and MergeShards
 * but no UpdateShardCount, so the same splits and merges are made here, one at a time, each waited on until the
 * stream is ACTIVE again. Parents are closed, not deleted: their records stay readable, and the event source
 * mappings read them before their children's.
 */

/** Hash keys are 128-bit: 0 to 2^128 - 1. */
const HASH_KEYS = 1n << 128n;

/**
 * The starting hash keys of `count` shards of equal ranges, as CreateStream gives them (kinesalite's own
 * arithmetic, so that a stream it created has its boundaries exactly there): shard i starts at i × ⌊2^128 / count⌋,
 * and the last one ends at 2^128 - 1.
 */
export const uniformStartingHashKeys = (count: number): bigint[] => {
  const width = HASH_KEYS / BigInt(count);
  return Array.from({ length: count }, (_, i) => width * BigInt(i));
};

/**
 * What UpdateShardCount takes in one call: at most double the open shards, and not below half of them
 * (API_UpdateShardCount's default limits). A CloudFormation update asking for more fails, and the stack keeps
 * its shards; the local runtime likewise does not reshard. The limit of ten scalings a day is not kept: each
 * start is one update.
 */
export const shardCountInReach = (open: number, target: number): boolean =>
  target <= open * 2 && target * 2 >= open;

/** The nearest count one UpdateShardCount call can reach from `open` towards `target`. */
export const nextShardCountStep = (open: number, target: number): number =>
  target > open ? Math.min(target, open * 2) : Math.max(target, Math.ceil(open / 2));

export type ReshardOutcome =
  | { kind: 'unchanged'; open: number }
  | { kind: 'out-of-reach'; open: number; target: number }
  | { kind: 'resharded'; from: number; to: number; splits: number; merges: number };

const byStart = (ranges: ShardRange[]) => ranges.sort((a, b) => (a.start < b.start ? -1 : 1));

/**
 * Reshards `streamName` to `target` open shards of uniform hash key ranges: first each open shard that holds
 * a target range's starting hash key inside it is split there, then the open shards inside each target range are
 * merged, two neighbours at a time, into one. `waitUntilActive` is called after each split and merge, since
 * Kinesis refuses the next while the stream is UPDATING (ResourceInUseException).
 */
export const reshardUniformly = async (
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  target: number,
  waitUntilActive: () => Promise<void>,
): Promise<ReshardOutcome> => {
  let open = byStart(await openShardRanges(kinesis, streamName));
  const from = open.length;
  if (from === target) return { kind: 'unchanged', open: from };
  if (!shardCountInReach(from, target)) return { kind: 'out-of-reach', open: from, target };
  const starts = uniformStartingHashKeys(target);
  const relist = async () => {
    await waitUntilActive();
    open = byStart(await openShardRanges(kinesis, streamName));
  };
  let splits = 0;
  for (const boundary of starts.slice(1)) {
    const shard = open.find(({ start, end }) => start < boundary && boundary <= end);
    // SplitShard needs a starting hash key above the shard's start + 1; a range that narrow stays as it is.
    if (!shard || boundary <= shard.start + 1n) continue;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: streamName,
        ShardToSplit: shard.shardId,
        NewStartingHashKey: boundary.toString(),
      }),
    );
    splits += 1;
    await relist();
  }
  let merges = 0;
  for (const [i, low] of starts.entries()) {
    const high = starts[i + 1] ?? HASH_KEYS;
    for (;;) {
      const [first, second] = open.filter(({ start }) => start >= low && start < high);
      if (!first || !second || first.end + 1n !== second.start) break;
      await kinesis.send(
        new MergeShardsCommand({
          StreamName: streamName,
          ShardToMerge: first.shardId,
          AdjacentShardToMerge: second.shardId,
        }),
      );
      merges += 1;
      await relist();
    }
  }
  return { kind: 'resharded', from, to: open.length, splits, merges };
};
