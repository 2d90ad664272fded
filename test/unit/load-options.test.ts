import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KinesisClient, PutRecordsCommand, ResourceNotFoundException } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type IteratorAgeSource,
  IteratorAgeUnavailableError,
  iteratorAgeOf,
  statusDocumentProblem,
} from '#bench/load/iterator-age.ts';
import {
  batchSizes,
  dueBy,
  type LoadReport,
  MAX_MISSED_IN_A_ROW,
  recordsIn,
  runLoad,
  STOP_AFTER_FAILED_CALLS,
  shardOfMessage,
} from '#bench/load/load-test.ts';
import { LOAD_USAGE, LoadInputError, MAX_RATE, parseLoadArgs } from '#bench/load/options.ts';
import {
  chartSeconds,
  failedCallsStoppedRun,
  formatLoadSummary,
  loadChartSvg,
  reportBaseName,
} from '#bench/load/report.ts';
import { listenOn } from '#local/net.ts';

/** One mock of the Kinesis client for the whole file: aws-sdk-client-mock keeps one per client class. */
const kinesisMock = mockClient(KinesisClient);

/** PutRecords' answer when every entry is written, to one shard. */
const everyEntryWritten = (input: { Records: unknown[] }) => ({
  FailedRecordCount: 0,
  Records: input.Records.map((_, i) => ({ ShardId: 'shardId-000000000000', SequenceNumber: String(i) })),
});

/** A stream that writes every entry of a PutRecords to one shard. */
const streamAcceptsEverything = () => kinesisMock.on(PutRecordsCommand).callsFake(everyEntryWritten);

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

/** A 60 s run at 100 records/s over 5 users, on a clock that moves 100 ms each time it is read. */
const sixtySecondRun = (options: { signal?: AbortSignal } = {}) => {
  let clock = 0;
  return runLoad({
    client: new KinesisClient({ region: 'us-east-1' }),
    stream: 'stream-a',
    rate: 100,
    seconds: 60,
    users: 5,
    ...options,
    now: () => {
      clock += 100;
      return clock;
    },
  });
};

/** A 0.5 s run at 10 records/s over 5 users, on the real clock, that reads the iterator age from `source`. */
const halfSecondRunReadingAgeFrom = (source: IteratorAgeSource) =>
  runLoad({
    client: new KinesisClient({ region: 'us-east-1' }),
    stream: 'stream-a',
    rate: 10,
    seconds: 0.5,
    users: 5,
    iteratorAge: source,
  });

/** A load report of a 30 s run at 1,000 records/s that kept its rate, with `fields` changed. */
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
      metricsWait: 0,
    });
  });

  it('waits for late iterator-age data points by default for a deployed stack only', () => {
    // Act
    const local = parseLoadArgs(['--rate', '10', '--seconds', '5']);
    const stack = parseLoadArgs(['--rate', '10', '--seconds', '5', '--stack', 'pipeline']);
    const asked = parseLoadArgs([
      '--rate',
      '10',
      '--seconds',
      '5',
      '--stack',
      'pipeline',
      '--metrics-wait',
      '0',
    ]);
    // Assess
    expect(local.metricsWait).toBe(0);
    expect(stack.metricsWait).toBe(240);
    expect(asked.metricsWait).toBe(0);
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
    {
      args: ['--rate', '1', '--seconds', '1', '--metrics-wait', '-1'],
      message: '--metrics-wait must be at least 0',
    },
    // An unset shell variable (--stack "$STACK") and a typo are refused before any call to AWS.
    { args: ['--rate', '1', '--seconds', '1', '--stack', ''], message: '--stack must be a stack name' },
    {
      args: ['--rate', '1', '--seconds', '1', '--stack', 'my stack!'],
      message:
        "--stack must be a stack name (a letter, then letters, digits and hyphens, 128 at most) or a stack's ARN, got 'my stack!'",
    },
    {
      args: ['--rate', '1', '--seconds', '1', '--stack', 'pipeline', '--region', 'us east'],
      message: "--region must be a Region code such as us-east-1 or eu-west-1, got 'us east'",
    },
    {
      args: ['--rate', '1', '--seconds', '1', '--stack', 'pipeline', '--region', ''],
      message: '--region must be a Region code',
    },
  ])('refuses $args', ({ args, message }) => {
    // Act / Assess
    expect(() => parseLoadArgs(args)).toThrow(LoadInputError);
    expect(() => parseLoadArgs(args)).toThrow(message);
  });

  it.each([
    'pipeline',
    'arn:aws:cloudformation:eu-west-1:123456789012:stack/pipeline/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
  ])('accepts --stack %s, a name or a stack id', (stack) => {
    // Act / Assess
    expect(
      parseLoadArgs(['--rate', '1', '--seconds', '1', '--stack', stack, '--region', 'us-gov-west-1']).target,
    ).toEqual({ kind: 'stack', stack, region: 'us-gov-west-1' });
  });

  it('exits 2 with the usage, before any call to AWS, for an empty --stack', async () => {
    // Act
    const run = promisify(execFile)(
      process.execPath,
      ['scripts/load.ts', '--rate', '1', '--seconds', '1', '--stack', ''],
      { timeout: 30_000 },
    );
    // Assess
    await expect(run).rejects.toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^load: --stack must be a stack name [^\n]*, got ''\nusage: /),
    });
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

describe('Load test: an --out that cannot hold the report', () => {
  it('exits 2 naming --out, before sending anything', async () => {
    // Prepare: --out under a file; an endpoint nothing listens on, so that sending would say so.
    const folder = mkdtempSync(join(tmpdir(), 'load-out-'));
    const file = join(folder, 'a-file');
    writeFileSync(file, '');
    const args = [
      '--rate',
      '20',
      '--seconds',
      '1',
      '--endpoint',
      'http://127.0.0.1:9',
      '--out',
      join(file, 'x'),
    ];
    try {
      // Act
      const run = promisify(execFile)(process.execPath, ['scripts/load.ts', ...args], { timeout: 30_000 });
      // Assess
      await expect(run).rejects.toMatchObject({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(
          new RegExp(`^load: --out ${join(file, 'x')} cannot hold the report: ENOTDIR`),
        ),
      });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('Load test: against a local endpoint that is not the AWS endpoint', () => {
  /** `npm run load` for one second at `endpoint`, into a fresh --out folder; its exit and output, and the files. */
  const loadAt = async (endpoint: string) => {
    const out = mkdtempSync(join(tmpdir(), 'load-dead-'));
    const args = ['--rate', '20', '--seconds', '1', '--endpoint', endpoint, '--out', out];
    try {
      const result = await promisify(execFile)(process.execPath, ['scripts/load.ts', ...args], {
        timeout: 30_000,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      return { ...result, files: readdirSync(out) };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };

  it('stops, writes its report, exits 1 and asks whether the local runtime is running when nothing answers', async () => {
    // Act
    const result = await loadAt('http://127.0.0.1:9');
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('stopped early: ');
    expect(result.stderr).toContain(
      'load: PutRecords to http://127.0.0.1:9 failed: nothing answers there. Is the local runtime running (npm start)?',
    );
    expect(result.files).toHaveLength(2);
  });

  it("names the AWS endpoint it needs when the local runtime's HTTP API (--port) answers instead", async () => {
    // Prepare: a server that answers 404 {"message":"Not Found"} to everything, as the local HTTP API does.
    const { endpoint, close } = await listenOn(
      createServer((_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"message":"Not Found"}');
      }),
      0,
    );
    try {
      // Act
      const result = await loadAt(endpoint);
      // Assess: the same words as replay and reprocess, with the API load calls.
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('(last: Unknown: Not Found)');
      expect(result.stderr).toContain(
        `load: PutRecords to ${endpoint} failed: the endpoint has no Kinesis API. Is it the local runtime's AWS endpoint (npm start's --endpoint-port, 4566 by default) and not its HTTP API (--port, 3000)?`,
      );
    } finally {
      await close();
    }
  });
});

describe('Load test: the failure hint of a run stopped by Ctrl-C', () => {
  it('gives no hint for a call that failed in a run that wrote records and was stopped by SIGINT', async () => {
    // Prepare: an endpoint that answers its first PutRecords 404 Not Found, as a path with no Kinesis API does,
    // and writes every record of the others.
    let calls = 0;
    const { endpoint, close } = await listenOn(
      createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        req.on('end', () => {
          const putRecords = String(req.headers['x-amz-target'] ?? '').endsWith('.PutRecords');
          if (putRecords) calls += 1;
          if (!putRecords || calls === 1) {
            res.writeHead(404, { 'content-type': 'application/json' });
            res.end('{"message":"Not Found"}');
            return;
          }
          const { Records } = JSON.parse(body) as { Records: unknown[] };
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(
            JSON.stringify({
              FailedRecordCount: 0,
              Records: Records.map((_, i) => ({
                SequenceNumber: String(i),
                ShardId: 'shardId-000000000000',
              })),
            }),
          );
        });
      }),
      0,
    );
    const out = mkdtempSync(join(tmpdir(), 'load-interrupted-'));
    const child = spawn(
      process.execPath,
      ['scripts/load.ts', '--rate', '50', '--seconds', '60', '--endpoint', endpoint, '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const ended = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(4), { timeout: 20_000, interval: 50 });
      // Act
      child.kill('SIGINT');
      const code = await ended;
      // Assess: the run was interrupted with one failed call and records written, and no hint blames the endpoint.
      expect(code).toBe(130);
      expect(stderr).toContain('PutRecords failed: Unknown: Not Found');
      expect(stderr).not.toContain('load: PutRecords to ');
    } finally {
      child.kill('SIGKILL');
      await close();
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.each([
    ['calls failing in a row stopped it', { stoppedEarly: '10 PutRecords calls in a row failed' }, true],
    ['it wrote nothing', { written: 0 }, true],
    [
      'it wrote nothing before a signal',
      { written: 0, stoppedEarly: 'interrupted by SIGINT after 1.0 s', interrupted: 'SIGINT' },
      true,
    ],
    [
      'a signal stopped it after records were written',
      { stoppedEarly: 'interrupted by SIGINT after 1.0 s', interrupted: 'SIGINT' },
      false,
    ],
    ['it ran its time and wrote records', {}, false],
  ])('explains its failed calls when %s', (_, fields, explained) => {
    expect(failedCallsStoppedRun(reportOf(fields))).toBe(explained);
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
      streamAcceptsEverything();
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

  it('sends no two records alike, even for one user in one millisecond', async () => {
    // Prepare: one user and a wall clock that never moves, so that user and time cannot tell records apart. The
    // sink identifies plain JSON by its content: two equal records would be one item in the table.
    streamAcceptsEverything();
    const wallClock = vi.spyOn(Date, 'now').mockReturnValue(Date.parse('2026-11-29T00:00:00.000Z'));
    let clock = 0;

    // Act
    const report = await runLoad({
      client: new KinesisClient({ region: 'us-east-1' }),
      stream: 'stream-a',
      rate: 600,
      seconds: 2,
      users: 1,
      now: () => {
        clock += 1_000;
        return clock;
      },
    });
    wallClock.mockRestore();

    // Assess: 1,200 records in three calls (500, 500 and 200), each different, numbered from 0.
    const sent = kinesisMock
      .commandCalls(PutRecordsCommand)
      .flatMap((call) => call.args[0].input.Records ?? [])
      .map((entry) => Buffer.from(entry.Data ?? new Uint8Array()).toString('utf8'));
    expect(report.sent).toBe(1200);
    expect(sent).toHaveLength(1200);
    expect(new Set(sent).size).toBe(1200);
    expect(JSON.parse(sent[0]!)).toEqual({ u: 'user-0', a: 'click', ts: 1_795_910_400_000, n: 0 });
    expect(JSON.parse(sent[1199]!)).toMatchObject({ n: 1199 });
  });

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

  it('shows the highest iterator age as a duration: a consumer hours behind is not millions of ms', () => {
    // Act
    const summary = formatLoadSummary(
      reportOf({
        iteratorAge: {
          source: 'CloudWatch',
          available: true,
          samples: [
            { atMs: 0, ageMs: 7_499_000 },
            { atMs: 60_000, ageMs: 7_500_000 },
          ],
        },
      }),
      false,
    );
    // Assess
    expect(summary).toContain(', highest 2h 5m');
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

describe('Load test: a run stopped by a signal, or by failing calls', () => {
  afterEach(() => {
    kinesisMock.reset();
  });

  it('sends nothing once stopped, and reports the calls answered as interrupted', async () => {
    // Prepare: a 60 s run on a clock that moves 100 ms each time it is read, stopped during its third call.
    const stop = new AbortController();
    let calls = 0;
    kinesisMock.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => {
      calls += 1;
      if (calls === 3) stop.abort('SIGINT');
      return everyEntryWritten(input);
    });
    // Act
    const report = await sixtySecondRun({ signal: stop.signal });
    // Assess: the three calls made are answered and reported; the other 57 s of the run are not sent.
    expect(calls).toBe(3);
    expect(report.requests).toBe(3);
    expect(report.written).toBe(report.sent);
    expect(report.interrupted).toBe('SIGINT');
    expect(report.stoppedEarly).toMatch(/^interrupted by SIGINT after \d+\.\d s$/);
    expect(formatLoadSummary(report, false)).toContain(
      `  stopped early: ${report.stoppedEarly} (a partial report: the calls answered until then)`,
    );
  });

  it('gives the rates over the time the run took, not the time it was asked to take', async () => {
    // Prepare: a 60 s run whose stream is gone after its first calls, on a clock that moves 100 ms per read.
    let calls = 0;
    kinesisMock.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => {
      calls += 1;
      if (calls > 5)
        throw new ResourceNotFoundException({ message: 'Stream stream-a not found', $metadata: {} });
      return everyEntryWritten(input);
    });
    // Act
    const report = await sixtySecondRun();
    // Assess
    expect(report.stoppedEarly).toContain('ResourceNotFoundException');
    expect(report.elapsedMs).toBeLessThan(60_000);
    expect(report.written).toBeGreaterThan(0);
    expect(report.achievedRate).toBeCloseTo(report.written / (report.elapsedMs / 1000), 9);
    expect(report.attemptedRate).toBeCloseTo(report.sent / (report.elapsedMs / 1000), 9);
    expect(formatLoadSummary(report, false)).toContain(
      `over ${(report.elapsedMs / 1000).toFixed(1)} s (${report.attemptedRate.toFixed(0)} records/s attempted)`,
    );
  });

  it('skips an iterator-age reading that got no answer in time, and reads on, counting it in the summary', async () => {
    // Prepare: a status source that times out at its second and third readings, then answers again.
    streamAcceptsEverything();
    let reads = 0;
    const source = {
      name: 'GET http://127.0.0.1:4566/_local/status',
      everyMs: 50,
      sample: async (elapsedMs: number) => {
        reads += 1;
        if (reads === 2 || reads === 3)
          throw new IteratorAgeUnavailableError(
            `http://127.0.0.1:4566/_local/status did not answer: timeout ${reads}`,
            { transient: true },
          );
        return [{ atMs: elapsedMs, ageMs: 300 + reads }];
      },
    };
    // Act
    const report = await halfSecondRunReadingAgeFrom(source);
    // Assess: the readings after the misses are kept, and the source was not given up on.
    expect(reads).toBeGreaterThan(4);
    expect(report.iteratorAge.samples.map((s) => s.ageMs).slice(0, 2)).toEqual([301, 304]);
    expect(report.iteratorAge.reason).toBeUndefined();
    expect(report.iteratorAge.stoppedAtMs).toBeUndefined();
    expect(report.iteratorAge.missed).toEqual({
      count: 2,
      lastReason: 'http://127.0.0.1:4566/_local/status did not answer: timeout 3',
    });
    expect(formatLoadSummary(report, false)).toContain(
      '; 2 readings skipped, with no answer in time (last: http://127.0.0.1:4566/_local/status did not answer: timeout 3)',
    );
  });

  it('gives an iterator-age source up once it has missed too many readings in a row', async () => {
    // Prepare: a status source that answers once, then never in time.
    streamAcceptsEverything();
    let reads = 0;
    const source = {
      name: 'GET http://127.0.0.1:4566/_local/status',
      everyMs: 20,
      sample: async (elapsedMs: number) => {
        reads += 1;
        if (reads > 1)
          throw new IteratorAgeUnavailableError('http://127.0.0.1:4566/_local/status did not answer', {
            transient: true,
          });
        return [{ atMs: elapsedMs, ageMs: 5 }];
      },
    };
    // Act
    const report = await halfSecondRunReadingAgeFrom(source);
    // Assess: the misses in a row were skipped, the next one gave the source up.
    expect(reads).toBe(1 + MAX_MISSED_IN_A_ROW + 1);
    expect(report.iteratorAge.missed?.count).toBe(MAX_MISSED_IN_A_ROW);
    expect(report.iteratorAge).toMatchObject({
      reason: 'http://127.0.0.1:4566/_local/status did not answer',
      stoppedAtMs: expect.any(Number),
    });
  });

  it('keeps the iterator-age samples taken before its source failed, and says until when in the summary', async () => {
    // Prepare: a status source that answers twice, then no more.
    streamAcceptsEverything();
    let reads = 0;
    const source = {
      name: 'GET http://127.0.0.1:4566/_local/status',
      everyMs: 50,
      sample: async (elapsedMs: number) => {
        reads += 1;
        if (reads > 2)
          throw new IteratorAgeUnavailableError('http://127.0.0.1:4566/_local/status did not answer');
        return [{ atMs: elapsedMs, ageMs: 300 + reads }];
      },
    };
    // Act
    const report = await halfSecondRunReadingAgeFrom(source);
    // Assess: the report, its summary and its chart all show the two samples.
    const summary = formatLoadSummary(report, false);
    expect(report.iteratorAge).toMatchObject({
      available: true,
      reason: 'http://127.0.0.1:4566/_local/status did not answer',
      stoppedAtMs: expect.any(Number),
    });
    expect(report.iteratorAge.samples.map((s) => s.ageMs)).toEqual([301, 302]);
    expect(summary).toContain(`  iterator age: 2 samples from ${source.name} from `);
    expect(summary).toContain(
      `, highest 302 ms; none after ${(report.iteratorAge.stoppedAtMs! / 1000).toFixed(1)} s: http://127.0.0.1:4566/_local/status did not answer`,
    );
    expect(loadChartSvg(report)).toContain(
      `iterator age, until ${(report.iteratorAge.stoppedAtMs! / 1000).toFixed(1)} s (ms)`,
    );
  });
});

describe('Load test: the chart and the per-shard report', () => {
  const thirtySeconds = (fields: Partial<LoadReport>): LoadReport =>
    reportOf({
      elapsedMs: 30_050,
      achievedRate: 998.3,
      attemptedRate: 998.3,
      perSecond: Array.from({ length: 30 }, (_, second) => ({
        second,
        sent: 1000,
        written: second < 10 ? 1000 : 500,
        throttled: second < 10 ? 0 : 500,
        failed: 0,
      })),
      shards: {
        'shardId-000000000001': { written: 10_000, throttled: 0 },
        'shardId-000000000000': { written: 15_050, throttled: 10_000 },
      },
      iteratorAge: { source: 'status', available: true, samples: [] },
      ...fields,
    });
  /** The [x, y] points of the polyline drawn in `color`. */
  const polyline = (svg: string, color: string): number[][] =>
    (new RegExp(`<polyline [^>]*stroke="${color}"[^>]*points="([^"]*)"`).exec(svg)?.[1] ?? '')
      .split(' ')
      .map((point) => point.split(',').map(Number));

  it('draws the last look at the iterator age, taken after the run, inside the plot, on a round time axis', () => {
    // Prepare: the run took 30.05 s; the last sample was taken at 30.4 s, once the last calls were answered.
    const report = thirtySeconds({
      iteratorAge: {
        source: 'status',
        available: true,
        samples: [
          { atMs: 0, ageMs: 0 },
          { atMs: 15_000, ageMs: 900 },
          { atMs: 30_400, ageMs: 1_200 },
        ],
      },
    });
    // Act
    const svg = loadChartSvg(report);
    // Assess: the plot ends at x = 730 (800 wide, 70 of margin); its ticks are whole seconds.
    const age = polyline(svg, '#2e7d32');
    expect(age).toHaveLength(3);
    expect(Math.max(...age.map(([x]) => x!))).toBeLessThanOrEqual(730);
    expect(svg).toContain('>35</text>');
    expect(svg).toContain('>21</text>');
    expect(svg).not.toMatch(/>\d+\.\d+<\/text>/);
    expect(svg).not.toMatch(/="-?\d+\.\d{2,}"/);
  });

  it.each([
    [1, 1],
    [2.5, 3],
    [5, 5],
    [5.001, 10],
    [30, 30],
    [30.05, 35],
    [3_600.2, 3_605],
  ])('ends the time axis of a %s s run at %s s', (seconds, axis) => {
    // Act / Assess
    expect(chartSeconds(seconds)).toBe(axis);
  });

  it('draws the written and throttled records of each second', () => {
    // Act
    const svg = loadChartSvg(thirtySeconds({ elapsedMs: 30_000 }));
    // Assess: 1,000 records/s is the top of the left axis (y = 40), 500 half way down (y = 170), 0 the bottom.
    const written = polyline(svg, '#1565c0');
    const throttled = polyline(svg, '#c62828');
    expect(written).toHaveLength(30);
    expect(written[0]).toEqual([81, 40]);
    expect(written.slice(0, 10).every(([, y]) => y === 40)).toBe(true);
    expect(written.slice(10).every(([, y]) => y === 170)).toBe(true);
    expect(throttled.slice(0, 10).every(([, y]) => y === 300)).toBe(true);
    expect(throttled.slice(10).every(([, y]) => y === 170)).toBe(true);
    expect(svg).not.toContain('failed');
  });

  it('draws the entries that failed otherwise, with their legend inside the chart', () => {
    // Prepare: a run refused after 2 s (nothing listens at the endpoint).
    const report = thirtySeconds({
      failed: { ECONNREFUSED: 1_000 },
      perSecond: Array.from({ length: 30 }, (_, second) => ({
        second,
        sent: second < 3 ? 1000 : 0,
        written: second < 2 ? 1000 : 0,
        throttled: 0,
        failed: second === 2 ? 1000 : 0,
      })),
    });
    // Act
    const svg = loadChartSvg(report);
    // Assess
    const failed = polyline(svg, '#6a1b9a');
    expect(failed).toHaveLength(30);
    expect(failed.filter(([, y]) => y === 40)).toHaveLength(1);
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(svg)?.[1]);
    const legendX = Math.max(
      ...[...svg.matchAll(/<text x="(\d+)" y="\d+">[^<]* \((?:ms|records\/s)\)</g)].map((m) => Number(m[1])),
    );
    expect(svg).toContain('>failed (records/s)</text>');
    expect(legendX + 'iterator age (ms)'.length * 7).toBeLessThan(width);
  });

  it('reports per shard the records written, their rate over the run, and the entries throttled', () => {
    // Act
    const summary = formatLoadSummary(thirtySeconds({ elapsedMs: 30_000 }), true);
    // Assess
    expect(summary).toContain(
      [
        '  per shard:',
        '    shardId-000000000000: written 15050 (502 records/s), throttled 10000',
        '    shardId-000000000001: written 10000 (333 records/s), throttled 0',
      ].join('\n'),
    );
  });
});

describe('Load test: help', () => {
  it('explains every option it names, a line each', () => {
    // Act / Assess
    for (const flag of [
      'rate',
      'seconds',
      'stream',
      'endpoint',
      'stack',
      'shards-report',
      'users',
      'metrics-wait',
      'out',
    ]) {
      expect(LOAD_USAGE).toMatch(new RegExp(`\\n  --${flag} `));
    }
    expect(LOAD_USAGE).toContain('--region R names its region');
  });

  it('gives the bounds as the errors do, and the exit statuses', () => {
    // Act
    const refused = () => parseLoadArgs(['--rate', String(MAX_RATE + 1), '--seconds', '1']);
    // Assess
    expect(refused).toThrow(`--rate must be at most ${MAX_RATE}`);
    expect(LOAD_USAGE).toContain(`at most ${MAX_RATE}\n`);
    expect(LOAD_USAGE).toContain('(default: 10000)');
    expect(LOAD_USAGE).toContain('exit status: 0 the run took its full time');
    expect(LOAD_USAGE).toContain('130 (SIGINT) or 143 (SIGTERM) interrupted');
  });
});
