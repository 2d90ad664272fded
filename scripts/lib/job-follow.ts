import type { JobStatus } from '#shared/recovery/reprocessor.ts';

/** How recently a job must have been touched to count as worked on, when no shard lease is held right now. */
export const RECENTLY_WORKED_MS = 60_000;

/**
 * Whether a job is being worked on, so that `--job <id>` should only follow it: a new `start` would begin a
 * second chain of invocations beside the first, each with the job's whole record rate. A running job counts as
 * worked on while a shard lease is held, or shortly after its last update or any shard's. An invocation handing
 * over to its continuation holds no lease from the moment it lets its shards go until the continuation takes them:
 * it touches each shard's checkpoint as it lets it go, and the continuation counts itself on the job as it starts.
 */
export const isWorkedOn = (status: JobStatus, now: number): boolean =>
  status.state === 'running' &&
  (status.shards.some((shard) => shard.lease !== undefined) ||
    [status.updatedAt, ...status.shards.map((shard) => shard.updatedAt)].some(
      (at) => now - Date.parse(at) < RECENTLY_WORKED_MS,
    ));

/**
 * How much of the job's window has been read, from 0 to 1: per shard, the share of the window up to the arrival
 * time of its last record done (a shard done counts whole), averaged over the job's shards. It moves while the
 * first shards are read, where a count of shards done would stay at 0 until one ends. A child shard starts at
 * the split or merge that made it, so it counts 0 until its first record and then jumps to where it began.
 */
export const windowProgress = (status: JobStatus): number => {
  if (status.shards.length === 0) return 0;
  const from = Date.parse(status.parameters.from);
  const span = Math.max(1, Date.parse(status.windowEnd) - from);
  const read = status.shards.map((shard) =>
    shard.state === 'done'
      ? 1
      : shard.lastArrival === undefined
        ? 0
        : Math.min(1, Math.max(0, (Date.parse(shard.lastArrival) - from) / span)),
  );
  return read.reduce((sum, share) => sum + share, 0) / read.length;
};
