import { describe, expect, it } from 'vitest';
import { isWorkedOn, RECENTLY_WORKED_MS, windowProgress } from '#scripts/lib/job-follow.ts';
import type { JobStatus } from '#shared/recovery/reprocessor.ts';

const NOW = Date.parse('2026-11-28T10:00:00Z');

const ago = (ms: number) => new Date(NOW - ms).toISOString();

/** A job updated `updatedAgoMs` ago, whose shards were last updated `shardUpdatedAgoMs` ago (an hour by default). */
const status = (
  state: JobStatus['state'],
  updatedAgoMs: number,
  leased: boolean,
  shardUpdatedAgoMs = 60 * 60_000,
): JobStatus =>
  ({
    jobId: 'job',
    state,
    updatedAt: ago(updatedAgoMs),
    shards: [
      {
        shardId: 'shardId-000000000000',
        updatedAt: ago(60 * 60_000),
        ...(leased ? { lease: { owner: 'x', expiresAt: 'later' } } : {}),
      },
      { shardId: 'shardId-000000000001', updatedAt: ago(shardUpdatedAgoMs) },
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
      'a running job whose invocation of many minutes has just let its shards go, to hand over',
      status('running', 10 * 60_000, false, 1_000),
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

/** A job over the hour 10:00–11:00 with these shards. */
const withShards = (shards: Array<{ state: string; lastArrival?: string }>): JobStatus =>
  ({
    parameters: { from: '2026-11-28T10:00:00.000Z' },
    windowEnd: '2026-11-28T11:00:00.000Z',
    shards: shards.map((shard, i) => ({ shardId: `shardId-00000000000${i}`, ...shard })),
  }) as unknown as JobStatus;

describe('npm run reprocess: progress is the share of the window read, not of shards done', () => {
  it.each([
    ['no shard planned yet', [], 0],
    ['nothing read yet', [{ state: 'pending' }, { state: 'reading' }], 0],
    [
      'two shards each a quarter and three quarters through, none done',
      [
        { state: 'reading', lastArrival: '2026-11-28T10:15:00.000Z' },
        { state: 'reading', lastArrival: '2026-11-28T10:45:00.000Z' },
      ],
      0.5,
    ],
    [
      'one shard done, one a quarter through',
      [{ state: 'done' }, { state: 'reading', lastArrival: '2026-11-28T10:15:00.000Z' }],
      0.625,
    ],
    [
      'records that arrived within the grace past the end count as the end',
      [{ state: 'reading', lastArrival: '2026-11-28T11:00:01.000Z' }],
      1,
    ],
  ])('%s', (_, shards, expected) => {
    expect(windowProgress(withShards(shards))).toBeCloseTo(expected, 9);
  });
});
