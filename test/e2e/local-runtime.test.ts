import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFunction } from '#local/functions/runner.ts';
import { type LocalRuntime, startRuntime } from '#local/runtime.ts';
import type { PlannedFunction } from '#local/stack.ts';
import { type RuntimeStatus, statusLine } from '#local/status.ts';
import { cloudEvent, sampleEvent } from '#test/helpers/factories.ts';

let runtime: LocalRuntime;

/** Runs a CLI without blocking this process, which serves the runtime the CLI talks to. */
const runCli = async (args: string[]): Promise<{ status: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { encoding: 'utf8' });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { status: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};
let bundles: string;

const readAll = async (streamName: string) => {
  const kinesis = runtime.clients.kinesis;
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  const events: Array<Record<string, unknown>> = [];
  for (const shard of Shards) {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    for (const r of page.Records ?? []) events.push(JSON.parse(Buffer.from(r.Data!).toString('utf8')));
  }
  return events;
};

describe('E2E: the local runtime runs template.yaml', () => {
  beforeAll(async () => {
    bundles = mkdtempSync(join(tmpdir(), 'runtime-bundles-'));
    runtime = await startRuntime({ apiPort: 0, endpointPort: 0, bundleRoot: bundles, log: () => undefined });
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(bundles, { recursive: true, force: true });
  });

  /** `npm run invoke` with `args`, against the running runtime and its bundles, building nothing. */
  const invokeOnRuntime = (args: string[]) =>
    runCli([
      'local/invoke.ts',
      ...args,
      '--endpoint',
      runtime.endpoint,
      '--bundle-dir',
      bundles,
      '--no-build',
    ]);

  it('creates the stream the template declares, with its shard count', async () => {
    // Act
    const { Shards = [] } = await runtime.clients.kinesis.send(
      new ListShardsCommand({ StreamName: 'local-EventStream' }),
    );
    // Assess
    expect(Shards).toHaveLength(2);
  });

  it('turns a POST to the local HTTP API into records on the local stream', async () => {
    // Prepare
    const batch = [cloudEvent(101), cloudEvent(102), cloudEvent(103)];
    // Act
    const response = await fetch(`${runtime.apiEndpoint}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify(batch),
    });
    // Assess
    expect(response.status).toBe(202);
    expect(response.headers.get('apigw-requestid')).toBeTruthy();
    const body = (await response.json()) as { accepted: number };
    expect(body.accepted).toBe(3);
    const stored = await readAll('local-EventStream');
    for (const event of batch) expect(stored).toContainEqual(event);
  });

  it('answers problems from the function through the HTTP API unchanged', async () => {
    // Act
    const response = await fetch(`${runtime.apiEndpoint}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '{"specversion":"1.0"}',
    });
    // Assess
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 404 for a route the template does not declare', async () => {
    // Act
    const response = await fetch(`${runtime.apiEndpoint}/nothing`, { method: 'POST' });
    // Assess
    expect(response.status).toBe(404);
  });

  it('serves the Lambda Invoke API on the AWS endpoint', async () => {
    // Act
    const response = await fetch(`${runtime.endpoint}/2015-03-31/functions/IngestFunction/invocations`, {
      method: 'POST',
      body: JSON.stringify(sampleEvent('ingest-invalid.json')),
    });
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amz-executed-version')).toBe('$LATEST');
    const payload = (await response.json()) as { statusCode: number };
    expect(payload.statusCode).toBe(400);
  });

  it('npm run invoke runs one function against the running runtime, with --env-vars in SAM format', async () => {
    // Prepare: a 1 KiB body limit from --env-vars makes the six-event sample too large.
    const envVars = join(bundles, 'env.json');
    writeFileSync(
      envVars,
      JSON.stringify({
        Parameters: { POWERTOOLS_LOG_LEVEL: 'ERROR' },
        IngestFunction: { MAX_BODY_BYTES: '1024' },
      }),
    );
    // Act
    const run = await invokeOnRuntime(['IngestFunction', '-e', 'events/ingest-batch.json', '-n', envVars]);
    // Assess
    expect(run.status, run.stderr).toBe(0);
    const payload = JSON.parse(run.stdout) as { statusCode: number; body: string };
    expect(payload.statusCode).toBe(413);
    expect(JSON.parse(payload.body).detail).toContain('at most 1024 bytes');
    expect(run.stderr).toContain('REPORT RequestId:');
    expect(run.stderr).not.toContain('starting one for this call');
  });

  it('npm run invoke takes a function by its template FunctionName too', async () => {
    // Prepare
    const event = join(bundles, 'status-event.json');
    writeFileSync(event, JSON.stringify({ action: 'status', jobId: 'no-such-job' }));
    // Act
    const run = await invokeOnRuntime(['local-reprocessor', '-e', event]);
    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ jobId: 'no-such-job', state: 'not-found' });
  });

  it('npm run invoke refuses an unknown function with the list of known ones', async () => {
    // Act
    const run = await invokeOnRuntime(['Nope']);
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("no function 'Nope'");
    expect(run.stderr).toContain('IngestFunction');
  });

  it('npm run invoke names the event file it cannot read or parse', async () => {
    // Prepare
    const broken = join(bundles, 'broken-event.json');
    writeFileSync(broken, '{"Records": [');
    // Act
    const missing = await invokeOnRuntime(['IngestFunction', '-e', join(bundles, 'none.json')]);
    const unparsable = await invokeOnRuntime(['IngestFunction', '-e', broken]);
    // Assess
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`--event ${join(bundles, 'none.json')}: ENOENT`);
    expect(unparsable.status).toBe(2);
    expect(unparsable.stderr).toContain(`--event ${broken}: `);
  });

  it('accepts an asynchronous (Event) invocation with 202', async () => {
    // Act
    const response = await fetch(`${runtime.endpoint}/2015-03-31/functions/IngestFunction/invocations`, {
      method: 'POST',
      headers: { 'x-amz-invocation-type': 'Event' },
      body: JSON.stringify(sampleEvent('ingest-invalid.json')),
    });
    // Assess
    expect(response.status).toBe(202);
  });

  it('serves the live view as JSON, and one status line from it', async () => {
    // Act
    const response = await fetch(`${runtime.endpoint}/_local/status`);
    const status = (await response.json()) as RuntimeStatus;
    // Assess
    expect(response.status).toBe(200);
    expect(status.endpoints).toEqual({ aws: runtime.endpoint, api: runtime.apiEndpoint });
    expect(status.streams[0]).toMatchObject({
      mappingId: 'ConsumerFunction/Stream/local-EventStream',
      streamName: 'local-EventStream',
    });
    expect(status.streams[0]!.shards).toHaveLength(2);
    expect(status.queues.map((q) => q.logicalId)).toContain('ConsumerFailureQueue');
    expect(status.functions.find((f) => f.name === 'IngestFunction')!.invocations).toBeGreaterThan(0);
    const line = statusLine(status);
    expect(line).toMatch(/^shards: #0 \d+→\d+ age \d/);
    expect(line).toContain('ConsumerFailureQueue');
    expect(line).toContain('quarantined: 0');
  });

  it('answers ResourceNotFoundException for an unknown function', async () => {
    // Act
    const response = await fetch(`${runtime.endpoint}/2015-03-31/functions/Missing/invocations`, {
      method: 'POST',
      body: '{}',
    });
    // Assess
    expect(response.status).toBe(404);
    expect(response.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
  });
});

describe('Local runtime: a function in its own worker', () => {
  let root: string;
  const definition = (timeoutSeconds: number): PlannedFunction => ({
    logicalId: 'Probe',
    name: 'Probe',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:Probe',
    roleArn: 'arn:aws:iam::000000000000:role/local-ProbeRole',
    handler: 'index.handler',
    runtime: 'nodejs24.x',
    timeoutSeconds,
    memoryMb: 128,
    environment: { GREETING: 'hello' },
    events: [],
  });

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'probe-'));
    mkdirSync(join(root, 'Probe'));
    writeFileSync(
      join(root, 'Probe', 'index.mjs'),
      `export const handler = async (event, context) => {
        if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
        if (event.fail) throw new TypeError('asked to fail');
        return { greeting: process.env.GREETING, leaked: process.env.OUTSIDE ?? null, name: context.functionName,
                 remaining: context.getRemainingTimeInMillis(), requestId: context.awsRequestId };
      };`,
    );
    process.env.OUTSIDE = 'must not leak';
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    delete process.env.OUTSIDE;
  });

  it('gives the function its own environment and a Lambda-like context', async () => {
    // Prepare
    const fn = new LocalFunction(definition(3), {
      bundleRoot: root,
      baseEnvironment: {},
      log: () => undefined,
    });
    // Act
    const result = await fn.invoke({});
    await fn.close();
    // Assess
    expect(result.functionError).toBeUndefined();
    expect(result.payload).toMatchObject({
      greeting: 'hello',
      leaked: null,
      name: 'Probe',
      requestId: result.requestId,
    });
    const remaining = (result.payload as { remaining: number }).remaining;
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(3_000);
  });

  it('tells observers about each invocation before it runs and once it has ended, with its result', async () => {
    // Prepare
    const seen: string[] = [];
    const fn = new LocalFunction(definition(3), {
      bundleRoot: root,
      baseEnvironment: {},
      log: () => undefined,
      observe: (name, event) => seen.push(`start ${name} ${JSON.stringify(event)}`),
      settled: (name, event, result) =>
        seen.push(`end ${name} ${JSON.stringify(event)} ${result.functionError ?? 'ok'}`),
    });
    // Act
    await fn.invoke({ n: 1 });
    await fn.invoke({ fail: true });
    await fn.close();
    // Assess
    expect(seen).toEqual([
      'start Probe {"n":1}',
      'end Probe {"n":1} ok',
      'start Probe {"fail":true}',
      'end Probe {"fail":true} Unhandled',
    ]);
  });

  it('reports a thrown error as an Unhandled function error', async () => {
    // Prepare
    const fn = new LocalFunction(definition(3), {
      bundleRoot: root,
      baseEnvironment: {},
      log: () => undefined,
    });
    // Act
    const result = await fn.invoke({ fail: true });
    await fn.close();
    // Assess
    expect(result.functionError).toBe('Unhandled');
    expect(result.payload).toMatchObject({ errorType: 'TypeError', errorMessage: 'asked to fail' });
  });

  it('stops an invocation at the timeout and discards its environment', async () => {
    // Prepare
    const fn = new LocalFunction(definition(1), {
      bundleRoot: root,
      baseEnvironment: {},
      log: () => undefined,
    });
    // Act
    const timedOut = await fn.invoke({ sleep: 5_000 });
    const next = await fn.invoke({});
    await fn.close();
    // Assess
    expect(timedOut).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Sandbox.Timedout',
        errorMessage: `RequestId: ${timedOut.requestId} Error: Task timed out after 1.00 seconds`,
      },
    });
    expect(next.functionError).toBeUndefined();
  });

  it('refuses to start without a bundle, saying how to make one', () => {
    // Act
    const act = () =>
      new LocalFunction(
        { ...definition(1), logicalId: 'Missing' },
        { bundleRoot: root, baseEnvironment: {}, log: () => undefined },
      );
    // Assess
    expect(act).toThrow("run 'npm run build'");
  });
});
