import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStatusSource } from '#bench/load/iterator-age.ts';
import { runLoad } from '#bench/load/load-test.ts';
import { clientConfig, type RunningEmulator, startKinesis } from '#local/emulators/index.ts';
import { createFaultInjector } from '#local/faults/faults.ts';
import { type LocalRoute, type RunningGateway, startGateway } from '#local/gateway.ts';
import { type Listening, listenOn } from '#local/net.ts';
import { waitFor } from '#test/helpers/esm-fixtures.ts';

/**
 * The load test against the local AWS endpoint with per-shard write limits enforced (1,000 records/s per shard).
 * 1,500 records/s is over one shard's limit and under two shards': 2,000 records/s would sit exactly at the
 * limit of two shards, where random partition keys put more than 1,000 on one of them in about half the seconds.
 */
const RATE = 1_500;
const SECONDS = 2;

let kinesisEmulator: RunningEmulator;
let gateway: RunningGateway;
let statusServer: Listening;
/** An endpoint that takes connections and never answers, as a runtime that has stopped (kill -STOP) does. */
let hung: Listening;
/** Kinesis behind them, and a GET /_local/status that answers 200 with something other than a status document. */
let notStatusGateways: Record<'html' | 'wrong-shape', RunningGateway>;
let direct: KinesisClient;
let viaGateway: KinesisClient;

const storedRecords = async (stream: string): Promise<number> => {
  const { Shards = [] } = await direct.send(new ListShardsCommand({ StreamName: stream }));
  let total = 0;
  for (const shard of Shards) {
    const { ShardIterator } = await direct.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    total +=
      (await direct.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }))).Records?.length ?? 0;
  }
  return total;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `npm run load` as a child process: what it printed so far, and its end. */
const startLoad = (args: string[]) => {
  const child = spawn(process.execPath, ['scripts/load.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output.stderr += chunk;
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, output, ended };
};

/** The JSON report a run wrote to `out`, the only one there. */
const writtenReport = (out: string) => {
  const json = readdirSync(out).filter((name) => name.endsWith('.json'));
  expect(json).toHaveLength(1);
  return JSON.parse(readFileSync(join(out, json[0]!), 'utf8'));
};

describe('Load test: PutRecords paced to a rate, against per-shard write limits', () => {
  beforeAll(async () => {
    kinesisEmulator = await startKinesis();
    direct = new KinesisClient({
      ...clientConfig(kinesisEmulator.endpoint),
      requestHandler: new NodeHttpHandler(),
    });
    const faults = createFaultInjector({ shardWriteLimits: true }, async (stream) => {
      const { Shards = [] } = await direct.send(new ListShardsCommand({ StreamName: stream }));
      return Shards.map((s) => ({
        shardId: s.ShardId!,
        start: BigInt(s.HashKeyRange!.StartingHashKey!),
        end: BigInt(s.HashKeyRange!.EndingHashKey!),
      }));
    });
    gateway = await startGateway({
      port: 0,
      services: { kinesis: kinesisEmulator.endpoint },
      intercept: faults.intercept,
    });
    viaGateway = new KinesisClient({
      ...clientConfig(gateway.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    for (const [name, shards] of [
      ['one-shard', 1],
      ['two-shards', 2],
      ['status', 2],
      ['cli', 2],
      ['status-html', 1],
      ['status-wrong-shape', 1],
      ['cli-status-html', 1],
      ['cli-interrupted', 2],
      ['cli-deleted', 1],
    ] as const) {
      await direct.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    }
    // A stand-in for the local runtime's GET /_local/status, with a consumer two shards behind.
    statusServer = await listenOn(
      createServer((req, res) => {
        res.writeHead(req.url === '/_local/status' ? 200 : 404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            streams: [{ streamName: 'status', shards: [{ iteratorAgeMs: 120 }, { iteratorAgeMs: 340 }] }],
          }),
        );
      }),
      0,
    );
    hung = await listenOn(
      createServer(() => undefined),
      0,
    );
    const statusAnswering =
      (contentType: string, body: string): LocalRoute =>
      async (req, res) => {
        if (req.url !== '/_local/status') return false;
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
        return true;
      };
    const gatewayWith = (route: LocalRoute) =>
      startGateway({ port: 0, services: { kinesis: kinesisEmulator.endpoint }, routes: [route] });
    notStatusGateways = {
      html: await gatewayWith(statusAnswering('text/html', '<!doctype html><title>Sign in</title>')),
      'wrong-shape': await gatewayWith(
        statusAnswering('application/json', JSON.stringify({ streams: { 'status-wrong-shape': [] } })),
      ),
    };
  });

  afterAll(async () => {
    direct?.destroy();
    viaGateway?.destroy();
    await statusServer?.close();
    await hung?.close();
    for (const notStatus of Object.values(notStatusGateways ?? {})) await notStatus.close();
    await gateway?.close();
    await kinesisEmulator?.close();
  });

  it('shows throttled entries on one shard, reported and not retried', async () => {
    // Prepare
    const iteratorAge = localStatusSource(gateway.endpoint, 'one-shard');
    // Act
    const report = await runLoad({
      client: viaGateway,
      stream: 'one-shard',
      rate: RATE,
      seconds: SECONDS,
      users: 10_000,
      iteratorAge,
    });
    // Assess
    expect(report.sent).toBe(RATE * SECONDS);
    expect(report.throttled).toBeGreaterThan(0);
    expect(report.written + report.throttled).toBe(report.sent);
    expect(report.failed).toEqual({});
    expect(report.shards['shardId-000000000000']).toEqual({
      written: report.written,
      throttled: report.throttled,
    });
    expect(await storedRecords('one-shard')).toBe(report.written);
    // The gateway is no local runtime: it has no status document, and the report says so.
    expect(report.iteratorAge.available).toBe(false);
    expect(report.iteratorAge.reason).toContain('HTTP 400');
  });

  it('shows no throttled entry on two shards', async () => {
    // Act
    const report = await runLoad({
      client: viaGateway,
      stream: 'two-shards',
      rate: RATE,
      seconds: SECONDS,
      users: 10_000,
    });
    // Assess
    expect(report.sent).toBe(RATE * SECONDS);
    expect(report.throttled).toBe(0);
    expect(report.written).toBe(RATE * SECONDS);
    expect(Object.keys(report.shards).sort()).toEqual(['shardId-000000000000', 'shardId-000000000001']);
    expect(await storedRecords('two-shards')).toBe(RATE * SECONDS);
  });

  it('samples the iterator age from the local runtime status document', async () => {
    // Prepare
    const iteratorAge = localStatusSource(statusServer.endpoint, 'status');
    // Act
    const report = await runLoad({
      client: viaGateway,
      stream: 'status',
      rate: 200,
      seconds: 1,
      users: 100,
      iteratorAge,
    });
    // Assess
    expect(report.iteratorAge.available).toBe(true);
    expect(report.iteratorAge.samples.length).toBeGreaterThanOrEqual(2);
    expect(report.iteratorAge.samples.every((s) => s.ageMs === 340)).toBe(true);
  });

  it.each([
    { answer: 'html', stream: 'status-html', reason: 'answered HTTP 200 with a body that is not JSON' },
    {
      answer: 'wrong-shape',
      stream: 'status-wrong-shape',
      reason: 'answered JSON that is not a status document (streams is not an array)',
    },
  ] as const)(
    'runs the load and says why when the status endpoint answers $answer',
    async ({ answer, stream, reason }) => {
      // Prepare
      const iteratorAge = localStatusSource(notStatusGateways[answer].endpoint, stream);
      // Act
      const report = await runLoad({
        client: viaGateway,
        stream,
        rate: 100,
        seconds: 1,
        users: 100,
        iteratorAge,
      });
      // Assess
      expect(report.sent).toBe(100);
      expect(report.written).toBe(100);
      expect(report.iteratorAge.available).toBe(false);
      expect(report.iteratorAge.samples).toEqual([]);
      expect(report.iteratorAge.reason).toContain(
        `${notStatusGateways[answer].endpoint}/_local/status ${reason}`,
      );
      expect(report.iteratorAge.reason).toContain(
        'the endpoint is not a local runtime with a status document',
      );
    },
  );

  it('writes its report from the command line when the status endpoint answers HTML', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    const endpoint = notStatusGateways.html.endpoint;
    try {
      // Act
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          'scripts/load.ts',
          '--endpoint',
          endpoint,
          '--stream',
          'cli-status-html',
          '--rate',
          '100',
          '--seconds',
          '1',
          '--out',
          out,
        ],
        { timeout: 30_000 },
      );
      // Assess
      const files = readdirSync(out).sort();
      expect(files).toHaveLength(2);
      const report = JSON.parse(readFileSync(join(out, files[0]!), 'utf8'));
      expect(report).toMatchObject({ stream: 'cli-status-html', sent: 100, written: 100 });
      expect(report.iteratorAge).toMatchObject({ source: `GET ${endpoint}/_local/status`, available: false });
      expect(report.iteratorAge.reason).toContain(
        'answered HTTP 200 with a body that is not JSON (content-type text/html',
      );
      expect(stdout).toContain(`iterator age: not available (${endpoint}/_local/status answered HTTP 200`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('writes the JSON report and the SVG chart from the command line', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    try {
      // Act
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          'scripts/load.ts',
          '--endpoint',
          gateway.endpoint,
          '--stream',
          'cli',
          '--rate',
          '300',
          '--seconds',
          '1',
          '--shards-report',
          '--out',
          out,
        ],
        { timeout: 30_000 },
      );
      // Assess
      const files = readdirSync(out).sort();
      expect(files).toHaveLength(2);
      expect(files[0]).toMatch(/^load-.+\.json$/);
      expect(files[1]).toMatch(/^load-.+\.svg$/);
      const report = JSON.parse(readFileSync(join(out, files[0]!), 'utf8'));
      expect(report).toMatchObject({ stream: 'cli', sent: 300, written: 300, throttled: 0 });
      expect(readFileSync(join(out, files[1]!), 'utf8')).toMatch(
        /^<svg [^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/,
      );
      expect(stdout).toContain('throttled 0');
      expect(stdout).toContain('per shard:');
      expect(stdout).toContain('iterator age: not available');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('stops at SIGINT, writes the report of what it sent marked as interrupted, and exits 130', async () => {
    // Prepare: a minute's run, a second into it.
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    const run = startLoad([
      ...['--endpoint', gateway.endpoint, '--stream', 'cli-interrupted', '--rate', '200', '--seconds', '60'],
      ...['--out', out],
    ]);
    try {
      await waitFor(() => run.output.stdout.includes('200 records/s for 60 s'), 'the run to start', 20_000);
      await sleep(1_000);

      // Act
      run.child.kill('SIGINT');
      const { code } = await run.ended;

      // Assess: what was sent is reported, and is in the stream.
      expect(code).toBe(130);
      expect(run.output.stderr).toContain('load: SIGINT: stopping; the report of what was sent follows');
      expect(run.output.stdout).toMatch(
        /stopped early: interrupted by SIGINT after \d+\.\d s \(a partial report/,
      );
      const report = writtenReport(out);
      expect(report).toMatchObject({ stream: 'cli-interrupted', interrupted: 'SIGINT', throttled: 0 });
      expect(report.sent).toBeGreaterThan(0);
      expect(report.sent).toBeLessThan(12_000);
      expect(report.written).toBe(report.sent);
      expect(await storedRecords('cli-interrupted')).toBe(report.written);
      expect(readdirSync(out).filter((name) => name.endsWith('.svg'))).toHaveLength(1);
    } finally {
      run.child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('quits at once, without a report, at a second SIGINT while calls hang', async () => {
    // Prepare: calls in flight to an endpoint that never answers, and a first SIGINT that waits for them.
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    const run = startLoad(['--endpoint', hung.endpoint, '--rate', '100', '--seconds', '60', '--out', out]);
    try {
      await waitFor(() => run.output.stdout.includes('100 records/s for 60 s'), 'the run to start', 20_000);
      await sleep(500);
      run.child.kill('SIGINT');
      await waitFor(() => run.output.stderr.includes('SIGINT: stopping'), 'the first SIGINT taken', 20_000);

      // Act
      run.child.kill('SIGINT');
      const { code } = await run.ended;

      // Assess
      expect(code).toBe(130);
      expect(run.output.stderr).toContain('load: SIGINT again: quitting without a report');
      expect(run.output.stdout).not.toContain('Load test on');
      expect(readdirSync(out)).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('fails calls to an endpoint that stopped answering when they time out, and stops with its report', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    try {
      // Act: ten calls of one record, none answered.
      const run = promisify(execFile)(
        process.execPath,
        ['scripts/load.ts', '--endpoint', hung.endpoint, '--rate', '10', '--seconds', '1', '--out', out],
        { timeout: 40_000 },
      );

      // Assess
      await expect(run).rejects.toMatchObject({
        code: 1,
        stdout: expect.stringContaining('  failed otherwise: TimeoutError 10'),
      });
      const report = writtenReport(out);
      expect(report).toMatchObject({ sent: 10, written: 0, failed: { TimeoutError: 10 } });
      expect(report.stoppedEarly).toMatch(/^10 PutRecords calls in a row failed \(last: TimeoutError: /);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 45_000);

  it('exits 1 when the run stops early, though it wrote records before', async () => {
    // Prepare: a run whose stream is deleted a second into it.
    const out = mkdtempSync(join(tmpdir(), 'load-test-'));
    const run = startLoad([
      ...['--endpoint', gateway.endpoint, '--stream', 'cli-deleted', '--rate', '100', '--seconds', '30'],
      ...['--out', out],
    ]);
    try {
      await waitFor(() => run.output.stdout.includes('100 records/s for 30 s'), 'the run to start', 20_000);
      await sleep(1_000);

      // Act
      await direct.send(new DeleteStreamCommand({ StreamName: 'cli-deleted' }));
      const { code } = await run.ended;

      // Assess
      expect(code).toBe(1);
      expect(run.output.stdout).toContain('stopped early: 10 PutRecords calls in a row failed');
      const report = writtenReport(out);
      expect(report.written).toBeGreaterThan(0);
      expect(report.sent).toBeLessThan(3_000);
    } finally {
      run.child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
  });
});
