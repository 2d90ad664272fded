import { describe, expect, it } from 'vitest';
import { isWorkedOn, RECENTLY_WORKED_MS } from '#scripts/lib/job-follow.ts';
import type { JobStatus } from '#shared/recovery/reprocessor.ts';

const NOW = Date.parse('2026-11-28T10:00:00Z');

const status = (state: JobStatus['state'], updatedAgoMs: number, leased: boolean): JobStatus =>
  ({
    jobId: 'job',
    state,
    updatedAt: new Date(NOW - updatedAgoMs).toISOString(),
    shards: [
      { shardId: 'shardId-000000000000', ...(leased ? { lease: { owner: 'x', expiresAt: 'later' } } : {}) },
      { shardId: 'shardId-000000000001' },
    ],
  }) as unknown as JobStatus;

describe('npm run reprocess -- --job: follow a job that is worked on, resume one that is not', () => {
  it.each([
    ['a running job with a shard leased', status('running', 10 * 60_000, true), true],
    [
      'a running job handing over to its continuation (no lease, just updated)',
      status('running', 1_000, false),
      true,
    ],
    [
      'a running job nobody holds and nobody touched for a while',
      status('running', RECENTLY_WORKED_MS, false),
      false,
    ],
    ['a failed job', status('failed', 0, false), false],
    ['a finished job', status('done', 0, true), false],
  ])('%s', (_, job, expected) => {
    expect(isWorkedOn(job, NOW)).toBe(expected);
  });
});
