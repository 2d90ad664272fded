import { describe, expect, it } from 'vitest';
import { iteratorAgeOf } from '#bench/load/iterator-age.ts';
import { batchSizes, dueBy, shardOfMessage } from '#bench/load/load-test.ts';
import { LoadInputError, parseLoadArgs } from '#bench/load/options.ts';
import { reportBaseName } from '#bench/load/report.ts';

describe('Load test: options', () => {
  it('defaults to the local runtime endpoint and stream', () => {
    // Act
    const options = parseLoadArgs(['--rate', '2000', '--seconds', '30']);
    // Assess
    expect(options).toEqual({
      rate: 2000,
      seconds: 30,
      target: { kind: 'local', endpoint: 'http://127.0.0.1:4566', stream: 'local-EventStream' },
      shardsReport: false,
      users: 10_000,
      outDir: 'bench',
    });
  });

  it('targets a deployed stack without an endpoint override', () => {
    // Act
    const options = parseLoadArgs([
      '--rate',
      '10',
      '--seconds',
      '5',
      '--stack',
      'pipeline',
      '--region',
      'eu-west-1',
      '--shards-report',
    ]);
    // Assess
    expect(options.target).toEqual({ kind: 'stack', stack: 'pipeline', region: 'eu-west-1' });
    expect(options.shardsReport).toBe(true);
  });

  it.each([
    { args: ['--seconds', '1'], message: '--rate is required' },
    { args: ['--rate', '0', '--seconds', '1'], message: '--rate must be greater than 0' },
    { args: ['--rate', 'fast', '--seconds', '1'], message: '--rate must be a number' },
    { args: ['--rate', '1', '--seconds', '7200'], message: '--seconds must be at most 3600' },
    {
      args: ['--rate', '1', '--seconds', '1', '--endpoint', 'http://x', '--stack', 's'],
      message: 'exclude each other',
    },
    {
      args: ['--rate', '1', '--seconds', '1', '--endpoint', 'localhost:4566'],
      message: 'must be an http:// or https:// URL',
    },
    { args: ['--rate', '1', '--seconds', '1', '--stream', 'a b'], message: '--stream must be a stream name' },
    {
      args: ['--rate', '1', '--seconds', '1', '--region', 'eu-west-1'],
      message: '--region applies to --stack only',
    },
    { args: ['--rate', '1', '--seconds', '1', '--users', '2.5'], message: '--users must be a whole number' },
  ])('refuses $args', ({ args, message }) => {
    // Act / Assess
    expect(() => parseLoadArgs(args)).toThrow(LoadInputError);
    expect(() => parseLoadArgs(args)).toThrow(message);
  });
});

describe('Load test: pacing and reporting arithmetic', () => {
  it('makes records due in proportion to the time elapsed, up to the total', () => {
    // 2,000/s: 50 ms → 100 records; 1,234 ms → 2,468; past the end, the total.
    expect(dueBy(50, 2000, 60_000)).toBe(100);
    expect(dueBy(1234, 2000, 60_000)).toBe(2468);
    expect(dueBy(40_000, 2000, 60_000)).toBe(60_000);
  });

  it('splits records into PutRecords batches of at most 500', () => {
    // Act / Assess
    expect(batchSizes(0)).toEqual([]);
    expect(batchSizes(499)).toEqual([499]);
    expect(batchSizes(1201)).toEqual([500, 500, 201]);
  });

  it('reads the shard from a throttling message', () => {
    // Act / Assess
    expect(
      shardOfMessage('Rate exceeded for shard shardId-000000000001 in stream s under account 000000000000.'),
    ).toBe('shardId-000000000001');
    expect(shardOfMessage(undefined)).toBe('unknown');
  });

  it("takes the oldest iterator age of the stream's shards from a status document", () => {
    // Prepare
    const status = {
      streams: [
        { streamName: 'other', shards: [{ iteratorAgeMs: 9_999 }] },
        { streamName: 'local-EventStream', shards: [{ iteratorAgeMs: 10 }, { iteratorAgeMs: 250 }] },
      ],
    };
    // Act / Assess
    expect(iteratorAgeOf(status, 'local-EventStream')).toBe(250);
    expect(iteratorAgeOf(status, 'missing')).toBeUndefined();
    expect(iteratorAgeOf({}, 'local-EventStream')).toBeUndefined();
  });

  it('names report files after the start time, without colons', () => {
    expect(reportBaseName('2026-11-27T19:10:00.123Z')).toBe('load-2026-11-27T19-10-00-123Z');
  });
});
