import type { JobStatus } from '#shared/recovery/reprocessor.ts';

/** How recently a job must have been touched to count as worked on, when no shard lease is held right now. */
export const RECENTLY_WORKED_MS = 60_000;

/**
 * Whether a job is being worked on, so that `--job <id>` should only follow it: a new `start` would begin a
 * second chain of invocations beside the first, each with the job's whole record rate. A running job counts as
 * worked on while a shard lease is held, or shortly after its last update (an invocation handing over to its
 * continuation holds no lease for a moment).
 */
export const isWorkedOn = (status: JobStatus, now: number): boolean =>
  status.state === 'running' &&
  (status.shards.some((shard) => shard.lease !== undefined) ||
    now - Date.parse(status.updatedAt) < RECENTLY_WORKED_MS);
