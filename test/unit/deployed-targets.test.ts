import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cloudWatchSource,
  type IteratorAgeSource,
  IteratorAgeUnavailableError,
  unavailableSource,
} from '#bench/load/iterator-age.ts';
import { runLoad } from '#bench/load/load-test.ts';
import { formatLoadSummary } from '#bench/load/report.ts';
import {
  explainFailure,
  localTarget,
  requireOutput,
  stackOutputs,
  stackTarget,
  TargetError,
  targetFrom,
} from '#scripts/lib/stack-target.ts';

/**
 * The runbook commands and the load test against a deployed stack: what they ask CloudFormation, Lambda and
 * CloudWatch, and what they make of the answers. The local runtime path is covered end to end elsewhere
 * (test/e2e/runbook.test.ts, test/integration/load.test.ts); this is the path an operator takes in production.
 */

const cloudformationMock = mockClient(CloudFormationClient);
const lambdaMock = mockClient(LambdaClient);
const cloudwatchMock = mockClient(CloudWatchClient);
const kinesisMock = mockClient(KinesisClient);

afterEach(() => {
  cloudformationMock.reset();
  lambdaMock.reset();
  cloudwatchMock.reset();
  kinesisMock.reset();
});

const OUTPUTS = [
  { OutputKey: 'StreamName', OutputValue: 'pipeline-EventStream-abc' },
  { OutputKey: 'ReprocessorFunctionName', OutputValue: 'pipeline-ReprocessorFunction-xyz' },
  { OutputKey: 'DlqReplayFunctionName', OutputValue: 'pipeline-DlqReplayFunction-xyz' },
];

const stackWith = (outputs = OUTPUTS) =>
  cloudformationMock
    .on(DescribeStacksCommand, { StackName: 'pipeline' })
    .resolves({ Stacks: [{ StackName: 'pipeline', Outputs: outputs } as never] });

/** A function's answer as the SDK hands it over (its blob adapter is a Uint8Array with helpers nobody here calls). */
const payloadOf = (value: unknown) =>
  Buffer.from(value === undefined ? '' : JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];

const stackDoesNotExist = () => {
  const error = new Error('Stack with id pipeline does not exist');
  error.name = 'ValidationError';
  cloudformationMock.on(DescribeStacksCommand).rejects(error);
};

describe('stackTarget: functions of a deployed stack, found through its outputs', () => {
  it('invokes the function named by the <LogicalId>Name output, and reads the outputs once', async () => {
    // Prepare
    stackWith();
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payloadOf({ jobId: 'job-1' }) });
    const target = stackTarget('pipeline', 'eu-west-1');

    // Act
    const first = await target.invoke<{ jobId: string }>('ReprocessorFunction', { action: 'start' });
    const second = await target.invoke('DlqReplayFunction', { drainFailureQueue: true });
    target.destroy();

    // Assess
    expect(first).toEqual({ jobId: 'job-1' });
    expect(second).toEqual({ jobId: 'job-1' });
    expect(cloudformationMock).toHaveReceivedCommandTimes(DescribeStacksCommand, 1);
    expect(lambdaMock).toHaveReceivedNthCommandWith(InvokeCommand, 1, {
      FunctionName: 'pipeline-ReprocessorFunction-xyz',
      InvocationType: 'RequestResponse',
      Payload: JSON.stringify({ action: 'start' }),
    });
    expect(lambdaMock).toHaveReceivedNthCommandWith(InvokeCommand, 2, {
      FunctionName: 'pipeline-DlqReplayFunction-xyz',
    });
    expect(target.description).toBe('stack pipeline');
  });

  it("turns a function error into a TargetError with the function's error type and message", async () => {
    // Prepare
    stackWith();
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payloadOf({ errorType: 'RequestError', errorMessage: 'from must be before to' }),
    });

    // Act
    const call = stackTarget('pipeline').invoke('ReprocessorFunction', {});

    // Assess
    await expect(call).rejects.toThrow(
      new TargetError('ReprocessorFunction failed: RequestError: from must be before to'),
    );
  });

  it('names a missing output and invokes nothing', async () => {
    // Prepare
    stackWith(OUTPUTS.filter((o) => o.OutputKey !== 'DlqReplayFunctionName'));

    // Act
    const call = stackTarget('pipeline').invoke('DlqReplayFunction', {});

    // Assess
    await expect(call).rejects.toThrow(new TargetError('stack pipeline has no output DlqReplayFunctionName'));
    expect(lambdaMock).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('says when the stack does not exist, and asks again on the next call', async () => {
    // Prepare
    stackDoesNotExist();
    const target = stackTarget('pipeline');

    // Act
    const first = target.invoke('ReprocessorFunction', {});
    await expect(first).rejects.toThrow(new TargetError('stack pipeline not found'));
    cloudformationMock.reset();
    stackWith();
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payloadOf({ ok: true }) });
    const second = await target.invoke('ReprocessorFunction', {});

    // Assess
    expect(second).toEqual({ ok: true });
    expect(cloudformationMock).toHaveReceivedCommandTimes(DescribeStacksCommand, 1);
  });

  it('passes other CloudFormation errors on unchanged', async () => {
    // Prepare
    const denied = new Error('User is not authorized to perform: cloudformation:DescribeStacks');
    denied.name = 'AccessDenied';
    cloudformationMock.on(DescribeStacksCommand).rejects(denied);

    // Act
    const call = stackTarget('pipeline').invoke('ReprocessorFunction', {});

    // Assess
    await expect(call).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});

describe('stackOutputs, requireOutput and targetFrom', () => {
  it("reads the load test's stream and consumer from the stack's outputs", async () => {
    // Prepare
    stackWith([
      ...OUTPUTS,
      { OutputKey: 'ConsumerFunctionName', OutputValue: 'pipeline-ConsumerFunction-q' },
    ]);

    // Act
    const outputs = await stackOutputs(new CloudFormationClient({ region: 'us-east-1' }), 'pipeline');

    // Assess
    expect(requireOutput(outputs, 'pipeline', 'StreamName')).toBe('pipeline-EventStream-abc');
    expect(requireOutput(outputs, 'pipeline', 'ConsumerFunctionName')).toBe('pipeline-ConsumerFunction-q');
  });

  it('names the output a stack lacks', async () => {
    // Prepare
    stackWith([]);

    // Act
    const outputs = await stackOutputs(new CloudFormationClient({ region: 'us-east-1' }), 'pipeline');

    // Assess
    expect(() => requireOutput(outputs, 'pipeline', 'StreamName')).toThrow(
      new TargetError('stack pipeline has no output StreamName'),
    );
  });

  it('targets the stack when one is named, and the local runtime by logical id otherwise', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payloadOf(undefined) });

    // Act
    const local = targetFrom({ endpoint: 'http://127.0.0.1:4566' });
    const answer = await local.invoke('ReprocessorFunction', { action: 'status' });
    const deployed = targetFrom({ stack: 'pipeline' });

    // Assess
    expect(answer).toBeNull();
    expect(lambdaMock).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'ReprocessorFunction' });
    expect(local.description).toBe('local runtime at http://127.0.0.1:4566');
    expect(deployed.description).toBe('stack pipeline');
    expect(localTarget().description).toBe('local runtime at http://127.0.0.1:4566');
    expect(() => targetFrom({ stack: 'pipeline', endpoint: 'http://127.0.0.1:4566' })).toThrow(TargetError);
  });

  it.each([
    // An unset shell variable: an empty name must not fall back to the local runtime.
    { options: { stack: '' }, message: '--stack must be a stack name' },
    { options: { stack: 'my_stack' }, message: "got 'my_stack'" },
    { options: { stack: 'pipeline', region: 'eu west 1' }, message: '--region must be a Region code' },
  ])('refuses $options before any call', ({ options, message }) => {
    // Act / Assess
    expect(() => targetFrom(options)).toThrow(TargetError);
    expect(() => targetFrom(options)).toThrow(message);
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});

describe('explainFailure: a deployed stack that cannot be reached', () => {
  it('says where credentials come from when the SDK finds none', () => {
    // Prepare: the default provider chain's error, as a machine without an AWS account gets it.
    const error = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    // Act / Assess
    expect(explainFailure(error)).toBe(
      'Could not load credentials from any providers: no AWS credentials were found. Set AWS_PROFILE (after aws configure or aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  });

  it('asks for a Region that exists, and a network, when an AWS host name does not resolve', () => {
    // Prepare: --region nowhere-1, as Node's resolver fails it.
    const error = Object.assign(new Error('getaddrinfo ENOTFOUND cloudformation.nowhere-1.amazonaws.com'), {
      code: 'ENOTFOUND',
    });
    // Act / Assess
    expect(explainFailure(error)).toBe(
      'getaddrinfo ENOTFOUND cloudformation.nowhere-1.amazonaws.com: cloudformation.nowhere-1.amazonaws.com cannot be reached. Is --region (or AWS_REGION) a Region that exists, and is there a network?',
    );
  });
});

describe("cloudWatchSource: the deployed consumer's iterator age", () => {
  const startedAt = new Date('2026-11-28T10:00:30Z');

  it("asks for the Maximum per minute of the consumer function's IteratorAge from a minute before the start", async () => {
    // Prepare
    cloudwatchMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        {
          Id: 'age',
          // CloudWatch answers newest first.
          Timestamps: [new Date('2026-11-28T10:01:00Z'), new Date('2026-11-28T10:00:00Z')],
          Values: [1_500, 200],
        },
      ],
    });
    const source = cloudWatchSource(new CloudWatchClient({ region: 'us-east-1' }), 'consumer-fn', startedAt);

    // Act
    const samples = await source.sample(0);

    // Assess
    expect(samples).toEqual([
      { atMs: 30_000, ageMs: 1_500 },
      { atMs: -30_000, ageMs: 200 },
    ]);
    const query = cloudwatchMock.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    expect(query.StartTime).toEqual(new Date('2026-11-28T09:59:30Z'));
    expect(query.MetricDataQueries).toEqual([
      {
        Id: 'age',
        MetricStat: {
          Metric: {
            Namespace: 'AWS/Lambda',
            MetricName: 'IteratorAge',
            Dimensions: [{ Name: 'FunctionName', Value: 'consumer-fn' }],
          },
          Period: 60,
          Stat: 'Maximum',
        },
      },
    ]);
    expect(source.everyMs).toBe(60_000);
    expect(source.name).toBe('CloudWatch AWS/Lambda IteratorAge (FunctionName=consumer-fn)');
  });

  it('gives up with the reason when CloudWatch refuses', async () => {
    // Prepare
    const denied = new Error('not authorized to perform: cloudwatch:GetMetricData');
    denied.name = 'AccessDenied';
    cloudwatchMock.on(GetMetricDataCommand).rejects(denied);
    const source = cloudWatchSource(new CloudWatchClient({ region: 'us-east-1' }), 'consumer-fn', startedAt);

    // Act
    const call = source.sample(0);

    // Assess
    await expect(call).rejects.toThrow(IteratorAgeUnavailableError);
    await expect(call).rejects.toThrow(
      'CloudWatch GetMetricData failed: AccessDenied: not authorized to perform: cloudwatch:GetMetricData',
    );
  });
});

describe('runLoad with a sampled iterator age', () => {
  const streamAcceptsEverything = () =>
    kinesisMock.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({
      FailedRecordCount: 0,
      Records: input.Records.map((_, i) => ({ ShardId: 'shardId-000000000000', SequenceNumber: String(i) })),
    }));
  const load = (seconds: number, iteratorAge: IteratorAgeSource) =>
    runLoad({
      client: new KinesisClient({ region: 'us-east-1' }),
      stream: 'stream-a',
      rate: 10,
      seconds,
      users: 5,
      iteratorAge,
    });

  it('keeps the latest reading of a data point read twice, in time order', async () => {
    // Prepare
    streamAcceptsEverything();
    const readings = [
      [{ atMs: 0, ageMs: 100 }],
      [
        { atMs: 0, ageMs: 900 },
        { atMs: -60_000, ageMs: 5 },
      ],
    ];
    let calls = 0;
    const source = {
      name: 'revising source',
      everyMs: 100,
      sample: async () => readings[Math.min(calls++, readings.length - 1)]!,
    };

    // Act
    const report = await load(0.3, source);

    // Assess
    expect(report.written).toBe(3);
    expect(report.iteratorAge.samples).toEqual([
      { atMs: -60_000, ageMs: 5 },
      { atMs: 0, ageMs: 900 },
    ]);
  });

  it('runs the load and says why when there is no iterator age to be had', async () => {
    // Prepare
    streamAcceptsEverything();

    // Act
    const report = await load(
      0.2,
      unavailableSource('CloudWatch AWS/Lambda IteratorAge', 'stack pipeline has no output'),
    );

    // Assess
    expect(report.written).toBe(2);
    expect(report.iteratorAge).toEqual({
      source: 'CloudWatch AWS/Lambda IteratorAge',
      available: false,
      reason: 'stack pipeline has no output',
      samples: [],
    });
  });
});

describe('runLoad against a deployed stack: waiting for CloudWatch data points that arrive late', () => {
  const streamAcceptsEverything = () =>
    kinesisMock.on(PutRecordsCommand).callsFake((input: { Records: unknown[] }) => ({
      FailedRecordCount: 0,
      Records: input.Records.map((_, i) => ({ ShardId: 'shardId-000000000000', SequenceNumber: String(i) })),
    }));
  /** A run of 0.2 s whose consumer's IteratorAge is read every 50 ms, waiting up to `waitMs` after it. */
  const load = (
    startedAt: Date,
    waitMs: number,
    extra: { signal?: AbortSignal; log?: (line: string) => void } = {},
  ) =>
    runLoad({
      client: new KinesisClient({ region: 'us-east-1' }),
      stream: 'stream-a',
      rate: 10,
      seconds: 0.2,
      users: 5,
      iteratorAge: cloudWatchSource(
        new CloudWatchClient({ region: 'us-east-1' }),
        'consumer-fn',
        startedAt,
        50,
      ),
      metricsWaitMs: waitMs,
      ...(extra.signal ? { signal: extra.signal } : {}),
      ...(extra.log ? { log: extra.log } : {}),
    });

  it("goes on reading after the run until the data point of the run's end arrives, and says so as it waits", async () => {
    // Prepare: CloudWatch has no data point for the first reads, then the one of the minute the run ended in.
    streamAcceptsEverything();
    const startedAt = new Date();
    let reads = 0;
    cloudwatchMock.on(GetMetricDataCommand).callsFake(async () => {
      reads += 1;
      return {
        MetricDataResults: [
          reads < 8
            ? { Id: 'age', Timestamps: [], Values: [] }
            : { Id: 'age', Timestamps: [startedAt], Values: [4_200] },
        ],
      };
    });
    const log: string[] = [];

    // Act
    const report = await load(startedAt, 30_000, { log: (line) => log.push(line) });

    // Assess: the run waited for the data point and stopped waiting once it came, long before its 30 s.
    expect(report.iteratorAge).toMatchObject({ available: true, samples: [{ atMs: 0, ageMs: 4_200 }] });
    expect(report.iteratorAge.waitedMs).toBeGreaterThan(0);
    expect(report.iteratorAge.waitedMs).toBeLessThan(30_000);
    expect(log[0]).toBe(
      'waiting up to 30 s for late iterator-age data points from CloudWatch AWS/Lambda IteratorAge (FunctionName=consumer-fn), reading every 0.05 s (Ctrl-C stops waiting)',
    );
    expect(log.at(-1)).toMatch(/^iterator age: 1 data point so far \(1 new\), \d+ s of the wait left$/);
    expect(formatLoadSummary(report, false)).toMatch(
      /iterator age: 1 sample from CloudWatch AWS\/Lambda IteratorAge \(FunctionName=consumer-fn\) at 0\.0 s, highest 4\.2 s, \d+\.\d s waited after the run for late data points$/,
    );
  });

  it('stops waiting at its bound, and says none came', async () => {
    // Prepare
    streamAcceptsEverything();
    cloudwatchMock
      .on(GetMetricDataCommand)
      .resolves({ MetricDataResults: [{ Id: 'age', Timestamps: [], Values: [] }] });

    // Act
    const report = await load(new Date(), 300);

    // Assess
    expect(report.written).toBe(2);
    expect(report.iteratorAge.available).toBe(false);
    expect(report.iteratorAge.waitedMs).toBeGreaterThanOrEqual(300);
    expect(report.iteratorAge.reason).toMatch(
      /^CloudWatch AWS\/Lambda IteratorAge \(FunctionName=consumer-fn\) gave no data point during the run or the \d+\.\d s waited after it$/,
    );
  });

  it('stops waiting when stopped, with the load reported in full', async () => {
    // Prepare: the stop comes as the wait begins.
    streamAcceptsEverything();
    const stop = new AbortController();
    cloudwatchMock
      .on(GetMetricDataCommand)
      .resolves({ MetricDataResults: [{ Id: 'age', Timestamps: [], Values: [] }] });

    // Act
    const report = await load(new Date(), 30_000, {
      signal: stop.signal,
      log: (line) => {
        if (line.startsWith('waiting up to')) stop.abort('SIGINT');
      },
    });

    // Assess
    expect(report.written).toBe(2);
    expect(report.interrupted).toBeUndefined();
    expect(report.stoppedEarly).toBeUndefined();
    expect(report.iteratorAge.waitedMs).toBeLessThan(30_000);
  });

  it('settles once a data point covers the minute the load ended in, and not before', () => {
    // Prepare
    const source = cloudWatchSource(new CloudWatchClient({ region: 'us-east-1' }), 'consumer-fn', new Date());

    // Act / Assess: a load that ended 90 s in, in the minute of the data point at 60 s.
    expect(source.settled?.([{ atMs: 0, ageMs: 10 }], 90_000)).toBe(false);
    expect(
      source.settled?.(
        [
          { atMs: 0, ageMs: 10 },
          { atMs: 60_000, ageMs: 10 },
        ],
        90_000,
      ),
    ).toBe(true);
  });
});
