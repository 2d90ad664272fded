import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteStreamCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  type EventSourceMappingConfiguration,
  GetEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  type ListEventSourceMappingsCommandInput,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION } from '#local/emulators/index.ts';
import { type LocalRuntime, startRuntime } from '#local/runtime.ts';
import type { RuntimeStatus } from '#local/status.ts';
import { callFailure, eventually } from '#test/helpers/runtime.ts';

/** A stream consumer with an on-failure queue, and a function with a FunctionName whose SQS mapping is disabled. */
const TEMPLATE = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: 1
  Failures:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Runtime: nodejs24.x
      CodeUri: ./
      Events:
        Stream:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Stream.Arn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            ParallelizationFactor: 2
            MaximumRetryAttempts: 0
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Failures.Arn
  Replay:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: local-replay
      Handler: index.handler
      Runtime: nodejs24.x
      CodeUri: ./
      Events:
        Failures:
          Type: SQS
          Properties:
            Queue: !GetAtt Failures.Arn
            Enabled: false
            BatchSize: 5
`;

const CONSUMER = `export const handler = async (event) => {
  for (const record of event.Records) {
    if (Buffer.from(record.kinesis.data, 'base64').toString('utf8').includes('fail')) throw new Error('asked to fail');
  }
  return { batchItemFailures: [] };
};
`;

const ARN = (kind: string, name: string) => `arn:aws:${kind}:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
const STREAM_ARN = ARN('kinesis', 'stream/local-Stream');
const QUEUE_ARN = ARN('sqs', 'local-Failures');

describe('Lambda event source mapping API on the local endpoint', () => {
  let scratch: string;
  let runtime: LocalRuntime;
  let lambda: LambdaClient;

  const start = () =>
    startRuntime({
      templatePath: join(scratch, 'template.yaml'),
      apiPort: 0,
      endpointPort: 0,
      skipBuild: true,
      bundleRoot: join(scratch, 'bundles'),
      pollIntervalMs: 50,
      retryBaseDelayMs: 10,
      log: () => undefined,
    });
  const connect = () =>
    new LambdaClient({
      endpoint: runtime.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
  const listed = async (input: ListEventSourceMappingsCommandInput = {}) =>
    (await lambda.send(new ListEventSourceMappingsCommand(input))).EventSourceMappings ?? [];
  const consumerMapping = async () => (await listed({ FunctionName: 'Consumer' }))[0]!;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'esm-api-'));
    writeFileSync(join(scratch, 'template.yaml'), TEMPLATE);
    for (const [name, source] of [
      ['Consumer', CONSUMER],
      ['Replay', 'export const handler = async () => ({ batchItemFailures: [] });\n'],
    ]) {
      mkdirSync(join(scratch, 'bundles', name!), { recursive: true });
      writeFileSync(join(scratch, 'bundles', name!, 'index.mjs'), source!);
    }
    runtime = await start();
    lambda = connect();
  });

  afterAll(async () => {
    lambda?.destroy();
    await runtime?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("lists every mapping with the template's settings, AWS's defaults and its state, in the API's shape", async () => {
    // Act
    const mappings = await listed();
    // Assess
    const uuid = expect.stringMatching(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(mappings).toEqual([
      {
        UUID: uuid,
        EventSourceMappingArn: expect.stringMatching(
          new RegExp(`^${ARN('lambda', 'event-source-mapping:')}[0-9a-f-]{36}$`),
        ),
        FunctionArn: ARN('lambda', 'function:Consumer'),
        EventSourceArn: STREAM_ARN,
        LastModified: expect.any(Date),
        State: 'Enabled',
        StateTransitionReason: 'User action',
        LastProcessingResult: 'No records processed',
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 0,
        ParallelizationFactor: 2,
        DestinationConfig: { OnFailure: { Destination: QUEUE_ARN } },
        MaximumRecordAgeInSeconds: -1,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 0,
        TumblingWindowInSeconds: 0,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      },
      {
        UUID: uuid,
        EventSourceMappingArn: expect.stringMatching(/:event-source-mapping:/),
        FunctionArn: ARN('lambda', 'function:local-replay'),
        EventSourceArn: QUEUE_ARN,
        LastModified: expect.any(Date),
        State: 'Disabled',
        StateTransitionReason: 'USER_INITIATED',
        BatchSize: 5,
        MaximumBatchingWindowInSeconds: 0,
        FunctionResponseTypes: [],
      },
    ]);
    expect(mappings[0]!.UUID).not.toBe(mappings[1]!.UUID);
    expect(Math.abs(mappings[0]!.LastModified!.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it.each([
    ['its FunctionName', 'local-replay', 'Replay'],
    ['its logical id', 'Replay', 'Replay'],
    ['its ARN', ARN('lambda', 'function:local-replay'), 'Replay'],
    ['its partial ARN', `${LOCAL_ACCOUNT_ID}:function:Consumer`, 'Consumer'],
  ])('lists the mappings of a function named by %s', async (_case, name, logicalId) => {
    // Act
    const mappings = await listed({ FunctionName: name });
    // Assess
    expect(mappings.map((m) => m.FunctionArn)).toEqual([
      ARN('lambda', `function:${logicalId === 'Replay' ? 'local-replay' : 'Consumer'}`),
    ]);
  });

  it.each([
    ['a function the template does not have', { FunctionName: 'Nobody' }],
    ['an alias of the function', { FunctionName: 'Consumer:live' }],
    [
      'a function of another region',
      { FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:Consumer' },
    ],
    ['an event source no mapping reads', { EventSourceArn: ARN('kinesis', 'stream/other') }],
  ])('lists none for %s', async (_case, input) => {
    // Act / Assess
    expect(await listed(input)).toEqual([]);
  });

  it('lists the mappings of one event source', async () => {
    // Act
    const mappings = await listed({ EventSourceArn: QUEUE_ARN });
    // Assess
    expect(mappings.map((m) => m.FunctionArn)).toEqual([ARN('lambda', 'function:local-replay')]);
  });

  it('pages with MaxItems and the NextMarker it answers', async () => {
    // Act
    const first = await lambda.send(new ListEventSourceMappingsCommand({ MaxItems: 1 }));
    const second = await lambda.send(
      new ListEventSourceMappingsCommand({ MaxItems: 1, Marker: first.NextMarker }),
    );
    // Assess
    expect(first.EventSourceMappings!.map((m) => m.EventSourceArn)).toEqual([STREAM_ARN]);
    expect(first.NextMarker).toEqual(expect.any(String));
    expect(second.EventSourceMappings!.map((m) => m.EventSourceArn)).toEqual([QUEUE_ARN]);
    expect(second.NextMarker).toBeUndefined();
  });

  it.each([
    ['MaxItems 0', { MaxItems: 0 }, "Value '0' at 'maxItems' failed to satisfy constraint"],
    ['a FunctionName that is no name', { FunctionName: 'no/name' }, "Value 'no/name' at 'functionName'"],
    ['an EventSourceArn that is no ARN', { EventSourceArn: 'stream' }, "Value 'stream' at 'eventSourceArn'"],
  ])('refuses %s with ValidationException', async (_case, input, message) => {
    // Act
    const answer = await callFailure(lambda.send(new ListEventSourceMappingsCommand(input)));
    // Assess
    expect(answer).toEqual({
      name: 'ValidationException',
      message: expect.stringContaining(message),
      status: 400,
    });
  });

  it('gets one mapping by its UUID, as the list shows it', async () => {
    // Prepare
    const [mapping] = await listed({ FunctionName: 'Replay' });
    // Act
    const { $metadata, ...got } = await lambda.send(
      new GetEventSourceMappingCommand({ UUID: mapping!.UUID }),
    );
    // Assess
    expect(got).toEqual(mapping);
  });

  it('names each mapping in GET /_local/status by the UUID the API lists it under, and its function by both names', async () => {
    // Prepare
    const uuidOf = async (functionName: string) => (await listed({ FunctionName: functionName }))[0]!.UUID;
    // Act
    const status = (await (await fetch(`${runtime.endpoint}/_local/status`)).json()) as RuntimeStatus;
    // Assess
    expect(
      status.streams.map((stream) => [stream.uuid, stream.logicalId, stream.functionName, stream.mappingId]),
    ).toEqual([
      [await uuidOf('Consumer'), 'Consumer', 'Consumer', expect.stringMatching(/^Consumer\/Stream\//)],
    ]);
    // A function with a template FunctionName goes by it, beside its logical id, as the API and Invoke name it.
    const queue = status.queues.find((q) => q.logicalId === 'Failures');
    expect(
      queue?.consumers.map((consumer) => [consumer.uuid, consumer.logicalId, consumer.functionName]),
    ).toEqual([[await uuidOf('local-replay'), 'Replay', 'local-replay']]);
  });

  it('answers an unknown UUID with ResourceNotFoundException, 404, as AWS does', async () => {
    // Act
    const answer = await callFailure(
      lambda.send(new GetEventSourceMappingCommand({ UUID: 'deadbeef-e025-4d45-9da3-23813f5e7b65' })),
    );
    // Assess
    expect(answer).toEqual({
      name: 'ResourceNotFoundException',
      message: 'The resource you requested does not exist.',
      status: 404,
    });
  });

  it("shows the last batch's result: OK, then PROBLEM: Function call failed", async () => {
    // Act
    await runtime.clients.kinesis.send(
      new PutRecordCommand({ StreamName: 'local-Stream', PartitionKey: 'k', Data: Buffer.from('fine') }),
    );
    const ok = await eventually(consumerMapping, (m) => m.LastProcessingResult === 'OK', 'a processed batch');
    await runtime.clients.kinesis.send(
      new PutRecordCommand({ StreamName: 'local-Stream', PartitionKey: 'k', Data: Buffer.from('fail') }),
    );
    const failed = await eventually(
      consumerMapping,
      (m) => m.LastProcessingResult !== 'OK',
      'a failed batch',
    );
    // Assess
    expect(ok.State).toBe('Enabled');
    expect(failed.LastProcessingResult).toBe('PROBLEM: Function call failed');
  });

  it('keeps each UUID from one start to the next', async () => {
    // Prepare
    const before = (await listed()).map((m) => m.UUID);
    lambda.destroy();
    await runtime.stop();
    // Act
    runtime = await start();
    lambda = connect();
    // Assess
    expect((await listed()).map((m) => m.UUID)).toEqual(before);
  });

  it('shows the stream mapping Disabled, with the reason, once its stream is deleted', async () => {
    // Prepare
    const before: EventSourceMappingConfiguration = await consumerMapping();
    // Act
    await runtime.clients.kinesis.send(new DeleteStreamCommand({ StreamName: 'local-Stream' }));
    const after = await eventually(consumerMapping, (m) => m.State === 'Disabled', 'the mapping disabled');
    // Assess
    expect(after.StateTransitionReason).toBe(
      'stream local-Stream was deleted: the mapping stopped polling it',
    );
    expect(after.LastModified!.getTime()).toBeGreaterThan(before.LastModified!.getTime());
    expect(after.UUID).toBe(before.UUID);
  });
});
