import { describe, expect, it } from 'vitest';
import { type RuntimeStatus, statusLine } from '#local/status.ts';

/** A status with two shards, two queues and one function error: the parts statusLine reads. */
const status = {
  at: '2026-11-29T00:00:00.000Z',
  functions: [{ name: 'ConsumerFunction', invocations: 10, errors: 1 }],
  streams: [
    {
      state: 'running',
      shards: [
        {
          shardId: 'shardId-000000000000',
          recordsIn: 120,
          recordsOut: 118,
          recordsFailed: 0,
          iteratorAgeMs: 40,
        },
        {
          shardId: 'shardId-000000000001',
          recordsIn: 90,
          recordsOut: 90,
          recordsFailed: 0,
          iteratorAgeMs: 1500,
        },
      ],
    },
  ],
  queues: [
    {
      logicalId: 'ConsumerFailureQueue',
      visible: 0,
      inFlight: 3,
      // Disabled in the template (replay on demand): the normal state, not shown.
      consumers: [{ functionName: 'DlqReplayFunction', state: 'disabled' }],
    },
    { logicalId: 'FailureParkingQueue', visible: 1, inFlight: 0, consumers: [] },
  ],
  quarantine: [{ objects: 2, truncated: false }],
  faults: { settings: {}, injected: { functionErrors: 4 } },
} as unknown as RuntimeStatus;

const FULL =
  'shards: #0 120→118 age 40 ms | #1 90→90 age 1.5 s  ·  queues: ConsumerFailureQueue 0+3 FailureParkingQueue 1' +
  '  ·  quarantined: 2  ·  fn errors: 1  ·  faults injected: 4';

describe('Local runtime: the live status line', () => {
  it('reads shards, queues, then the counts, when it fits (or no width is given)', () => {
    expect(statusLine(status)).toBe(FULL);
    expect(statusLine(status, FULL.length)).toBe(FULL);
  });

  it('puts the counts first when it is wider than the terminal, so a cut end never takes a count', () => {
    // Act
    const line = statusLine(status, 80);
    // Assess
    expect(line.slice(0, 80)).toContain(
      'quarantined: 2  ·  fn errors: 1  ·  faults injected: 4  ·  shards: #0',
    );
    expect(line).toContain('queues: ConsumerFailureQueue 0+3');
  });

  it('shows a mapping disabled while it ran (its stream or queue deleted) as disabled, its shards with no age', () => {
    // Prepare: the stream's mapping and the failure queue's were disabled when their sources were deleted.
    const reason = (what: string) => `${what} was deleted: the mapping stopped polling it`;
    const disabled = {
      ...status,
      streams: [{ ...status.streams[0]!, state: 'disabled', stateTransitionReason: reason('stream s') }],
      queues: [
        {
          ...status.queues[0]!,
          error: 'QueueDoesNotExist: The specified queue does not exist.',
          consumers: [
            {
              functionName: 'DlqReplayFunction',
              state: 'disabled',
              stateTransitionReason: reason('queue q'),
            },
          ],
        },
        status.queues[1]!,
      ],
    } as RuntimeStatus;
    // Act
    const line = statusLine(disabled);
    // Assess
    expect(line).toContain('shards: #0 120→118 disabled | #1 90→90 disabled  ·  ');
    expect(line).toContain('queues: ConsumerFailureQueue ? (consumer disabled) FailureParkingQueue 1  ·  ');
    expect(line).not.toContain('age');
  });

  it.each([
    [999, '999 ms'],
    [59_960, '59.9 s'],
    [60_000, '1m 0s'],
  ])(
    'shows an iterator age of %i ms as %s, as the commands write a lag, never as the next unit up',
    (ms, text) => {
      // Prepare
      const [first, second] = status.streams[0]!.shards;
      const aged = {
        ...status,
        streams: [{ ...status.streams[0]!, shards: [first!, { ...second!, iteratorAgeMs: ms }] }],
      } as RuntimeStatus;
      // Act
      const line = statusLine(aged);
      // Assess
      expect(line).toContain(`| #1 90→90 age ${text}  ·  `);
    },
  );

  it('shows an iterator age of a minute or more as a duration', () => {
    // Prepare: shard #1 is two hours and five minutes behind (a mapping reading a stream's old records).
    const [first, second] = status.streams[0]!.shards;
    const behind = {
      ...status,
      streams: [{ ...status.streams[0]!, shards: [first!, { ...second!, iteratorAgeMs: 7_500_000 }] }],
    } as RuntimeStatus;
    // Act
    const line = statusLine(behind);
    // Assess
    expect(line).toContain('shards: #0 120→118 age 40 ms | #1 90→90 age 2h 5m  ·  ');
  });
});
