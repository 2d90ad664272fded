import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { iteratorAgeOf, statusDocumentProblem } from '#bench/load/iterator-age.ts';
import {
  batchSizes,
  dueBy,
  type LoadReport,
  recordsIn,
  runLoad,
  STOP_AFTER_FAILED_CALLS,
  shardOfMessage,
} from '#bench/load/load-test.ts';
import { LOAD_USAGE, LoadInputError, parseLoadArgs } from '#bench/load/options.ts';
import { formatLoadSummary, loadChartSvg, reportBaseName } from '#bench/load/report.ts';

/** One mock of the Kinesis client for the whole file: aws-sdk-client-mock keeps one per client class. */
const kinesisMock = mockClient(KinesisClient);

/**
 * A run whose every PutRecords fails as a refused connection does (nothing listens at the endpoint), on a clock
 * that moves `stepMs` each time it is read.
 */
const refusedRun = (run: { rate: number; seconds: number; stepMs: number; log?: (line: string) => void }) => {
  kinesisMock
    .on(PutRecordsCommand)
    .rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
  let clock = 0;
  return runLoad({
    client: new KinesisClient({ region: 'us-east-1' }),
    stream: 'stream-a',
    rate: run.rate,
    seconds: run.seconds,
    users: 5,
    now: () => {
      clock += run.stepMs;
      return clock;
    },
    ...(run.log ? { log: run.log } : {}),
  });
};

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
    {
      args: ['--rate', '0.5', '--seconds', '1'],
      message: '--rate 0.5 for --seconds 1 makes less than one record (rate × seconds must be at least 1)',
    },
    { args: ['--rate', '2', '--seconds', '0.4'], message: 'makes less than one record' },
    {
      args: ['--rate', '100', '--seconds', '1', '--rate', '2000'],
      message: '--rate is given more than once',
    },
  ])('refuses $args', ({ args, message }) => {
    // Act / Assess
    expect(() => parseLoadArgs(args)).toThrow(LoadInputError);
    expect(() => parseLoadArgs(args)).toThrow(message);
  });

  it.each([
    ['0.1', '10'],
    ['0.25', '4'],
    ['2', '0.5'],
  ])('accepts --rate %s --seconds %s, one record in all', (rate, seconds) => {
    // Act / Assess
    expect(parseLoadArgs(['--rate', rate, '--seconds', seconds])).toMatchObject({
      rate: Number(rate),
      seconds: Number(seconds),
    });
  });

  it('exits 2 with the usage, before reaching any endpoint, when the run would send nothing', async () => {
    // Prepare: an endpoint nothing listens on, so that reaching it would fail otherwise.
    const args = ['--rate', '0.5', '--seconds', '1', '--endpoint', 'http://127.0.0.1:9'];
    // Act
    const run = promisify(execFile)(process.execPath, ['scripts/load.ts', ...args], { timeout: 30_000 });
    // Assess
    await expect(run).rejects.toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(
        /^load: --rate 0\.5 for --seconds 1 makes less than one record[^\n]*\nusage: /,
      ),
    });
  });
});

describe('Load test: against a local endpoint nothing answers', () => {
  it('stops, writes its report, exits 1 and asks whether the local runtime is running', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'load-dead-'));
    const args = ['--rate', '20', '--seconds', '1', '--endpoint', 'http://127.0.0.1:9', '--out', out];
    try {
      // Act
      const run = promisify(execFile)(process.execPath, ['scripts/load.ts', ...args], { timeout: 30_000 });
      // Assess
      await expect(run).rejects.toMatchObject({
        code: 1,
        stdout: expect.stringContaining('stopped early: '),
        stderr: expect.stringContaining(
          'load: nothing answers at http://127.0.0.1:9. Is the local runtime running (npm start)?',
        ),
      });
      expect(readdirSync(out)).toHaveLength(2);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('Load test: pacing and reporting arithmetic', () => {
  it('makes records due in proportion to the time elapsed, up to the total', () => {
    // 2,000/s: 50 ms → 100 records; 1,234 ms → 2,468; past the end, the total.
    expect(dueBy(50, 2000, 60_000)).toBe(100);
    expect(dueBy(1234, 2000, 60_000)).toBe(2468);
    expect(dueBy(40_000, 2000, 60_000)).toBe(60_000);
  });

  it.each([
    { rate: 1.5, ms: 1_000, records: 1 },
    { rate: 333.3, ms: 3_000, records: 999 },
    // 998.9999999999999 in binary floating point.
    { rate: 33.3, ms: 30_000, records: 999 },
    { rate: 2000, ms: 30_000, records: 60_000 },
  ])('counts $records whole records in $ms ms at $rate/s', ({ rate, ms, records }) => {
    // Act / Assess
    expect(recordsIn(rate, ms)).toBe(records);
    expect(dueBy(ms, rate, Number.POSITIVE_INFINITY)).toBe(records);
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

  it.each([
    { status: null, problem: 'the document is not a JSON object' },
    { status: [], problem: 'the document is not a JSON object' },
    { status: { streams: 'local-EventStream' }, problem: 'streams is not an array' },
    { status: { streams: [null] }, problem: 'streams[0] is not an object' },
    { status: { streams: [{ streamName: 's', shards: {} }] }, problem: 'streams[0].shards is not an array' },
    { status: { streams: [{ shards: [{}, 7] }] }, problem: 'streams[0].shards[1] is not an object' },
    {
      status: { streams: [{ shards: [{ iteratorAgeMs: '250' }] }] },
      problem: 'streams[0].shards[0].iteratorAgeMs is not a number',
    },
  ])('names what is wrong with a status document: $problem', ({ status, problem }) => {
    // Act / Assess
    expect(statusDocumentProblem(status)).toBe(problem);
  });

  it('finds nothing wrong with a status document of the local runtime', () => {
    // Act / Assess
    expect(statusDocumentProblem({})).toBeUndefined();
    expect(
      statusDocumentProblem({
        at: '2026-11-27T19:10:00.000Z',
        streams: [
          {
            streamName: 'local-EventStream',
            shards: [{ shardId: 'shardId-000000000000', iteratorAgeMs: 0 }],
          },
        ],
      }),
    ).toBeUndefined();
  });

  it('names report files after the start time, without colons', () => {
    expect(reportBaseName('2026-11-27T19:10:00.123Z')).toBe('load-2026-11-27T19-10-00-123Z');
  });
});

describe('Load test: records sent against records requested', () => {
  afterEach(() => {
    kinesisMock.reset();
  });

  it.each([
    { rate: 1.5, seconds: 1, records: 1 },
    { rate: 333.3, seconds: 3, records: 999 },
    { rate: 33.3, seconds: 30, records: 999 },
  ])(
    'sends the $records records it reports as requested at $rate/s for $seconds s',
    async ({ rate, seconds, records }) => {
      // Prepare
      kinesisMock.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({
        FailedRecordCount: 0,
        Records: input.Records.map((_, i) => ({
          ShardId: 'shardId-000000000000',
          SequenceNumber: String(i),
        })),
      }));
      // A clock that moves a second each time it is read, so that a long run takes a few ticks.
      let clock = 0;
      const now = () => {
        clock += 1_000;
        return clock;
      };

      // Act
      const report = await runLoad({
        client: new KinesisClient({ region: 'us-east-1' }),
        stream: 'stream-a',
        rate,
        seconds,
        users: 5,
        now,
      });

      // Assess
      expect(report.requested.records).toBe(records);
      expect(report.sent).toBe(records);
      expect(report.written).toBe(records);
      expect(report.perSecond.reduce((sum, s) => sum + s.sent, 0)).toBe(records);
    },
  );

  it('names a request that never reached the stream by its error code', async () => {
    // Prepare: every PutRecords fails as a refused connection does.
    // Act
    const report = await refusedRun({ rate: 10, seconds: 1, stepMs: 1_000 });
    // Assess
    expect(report.failed).toEqual({ ECONNREFUSED: 10 });
    expect(report.failedRequests).toBeGreaterThan(0);
  });
});

describe('Load test: a run that cannot reach the stream, or falls behind', () => {
  afterEach(() => {
    kinesisMock.reset();
  });

  it('stops once calls keep failing, shows each kind of failure once, and says why it stopped', async () => {
    // Prepare: every PutRecords fails as a refused connection does, in a 60 s run of 60 calls.
    const logged: string[] = [];
    // Act
    const report = await refusedRun({
      rate: 500,
      seconds: 60,
      stepMs: 100,
      log: (line) => logged.push(line),
    });
    // Assess: far fewer calls than the run's 60, one line for the failure, and the reason in the summary.
    expect(report.requests).toBeLessThan(60);
    expect(report.failedRequests).toBeGreaterThanOrEqual(STOP_AFTER_FAILED_CALLS);
    expect(report.stoppedEarly).toBe(
      `${STOP_AFTER_FAILED_CALLS} PutRecords calls in a row failed (last: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9)`,
    );
    expect(logged).toEqual([
      'PutRecords failed: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9 (further ECONNREFUSED failures are counted, not shown)',
    ]);
    expect(formatLoadSummary(report, false)).toContain(`  stopped early: ${report.stoppedEarly}`);
  });

  const reportOf = (fields: Partial<LoadReport>): LoadReport => ({
    stream: 's',
    requested: { rate: 1000, seconds: 30, records: 30_000 },
    startedAt: '2026-11-29T00:00:00.000Z',
    elapsedMs: 30_000,
    sent: 30_000,
    written: 30_000,
    throttled: 0,
    failed: {},
    requests: 60,
    failedRequests: 0,
    achievedRate: 1000,
    attemptedRate: 1000,
    perSecond: Array.from({ length: 30 }, (_, second) => ({
      second,
      sent: 1000,
      written: 1000,
      throttled: 0,
      failed: 0,
    })),
    shards: {},
    iteratorAge: { source: 'none', available: false, samples: [] },
    ...fields,
  });

  it.each([
    ['a run that kept the rate', 1000, false],
    ['a run that fell below 90% of it', 700, true],
  ])('%s: says so when the client could not send at the rate', (_, attemptedRate, said) => {
    // Act
    const summary = formatLoadSummary(reportOf({ attemptedRate }), false);
    // Assess
    expect(summary.includes('the client could not send at the requested rate')).toBe(said);
  });

  it('does not count against the client the part of a record a fractional rate asks for', () => {
    // Prepare: --rate 1.5 --seconds 1 sends ⌊1.5⌋ = 1 record, all of it, in the second.
    const fractional = reportOf({
      requested: { rate: 1.5, seconds: 1, records: 1 },
      elapsedMs: 1000,
      sent: 1,
      written: 1,
      attemptedRate: 1,
      achievedRate: 1,
    });
    // Act
    const kept = formatLoadSummary(fractional, false);
    const fellBehind = formatLoadSummary(
      { ...fractional, requested: { rate: 2.5, seconds: 2, records: 5 } },
      false,
    );
    // Assess
    expect(kept).not.toContain('could not send');
    expect(fellBehind).toContain('it attempted 1 records/s of 2.5 (');
  });

  it('names one record in the singular', () => {
    // Act
    const summary = formatLoadSummary(reportOf({ requested: { rate: 1, seconds: 1, records: 1 } }), false);
    // Assess
    expect(summary).toContain(': 1 record requested at 1/s for 1 s');
  });

  it("draws the chart's time axis to the run's end, and a one-second run's points as dots", () => {
    // Act
    const thirty = loadChartSvg(reportOf({}));
    const one = loadChartSvg(
      reportOf({
        requested: { rate: 10, seconds: 1, records: 10 },
        elapsedMs: 1_000,
        perSecond: [{ second: 0, sent: 10, written: 10, throttled: 0, failed: 0 }],
      }),
    );
    // Assess: the last tick is 30, not a round 40; the one-second run has a dot per series drawn.
    expect(thirty).toContain('>30</text>');
    expect(thirty).not.toContain('>40</text>');
    expect(one.match(/<circle /g)).toHaveLength(2);
  });
});

describe('Load test: help', () => {
  it('explains every option it names, a line each', () => {
    // Act / Assess
    for (const flag of ['rate', 'seconds', 'stream', 'endpoint', 'stack', 'shards-report', 'users', 'out']) {
      expect(LOAD_USAGE).toMatch(new RegExp(`\\n  --${flag} `));
    }
    expect(LOAD_USAGE).toContain('--region R names its region');
  });
});
