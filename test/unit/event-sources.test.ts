import { describe, expect, it } from 'vitest';
import type { KinesisPollerEvent } from '#local/esm/types.ts';
import {
  createEventSources,
  EventSourceError,
  kinesisEventLine,
  withFunctionFaults,
} from '#local/event-sources.ts';
import type { FaultInjector } from '#local/faults/faults.ts';
import type { LocalFunction } from '#local/functions/runner.ts';
import type { LocalStack, PlannedFunction } from '#local/stack.ts';

/** A stack of one function with one Kinesis event, wired with clients that are never called. */
const wire = (properties: Record<string, unknown>) => {
  const definition: PlannedFunction = {
    logicalId: 'Consumer',
    name: 'Consumer',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:Consumer',
    roleArn: 'arn:aws:iam::000000000000:role/local-ConsumerRole',
    handler: 'handler.handler',
    runtime: 'nodejs24.x',
    timeoutSeconds: 3,
    memoryMb: 128,
    environment: {},
    events: [{ name: 'Stream', type: 'Kinesis', properties: { StartingPosition: 'LATEST', ...properties } }],
  };
  return createEventSources({
    stack: { functions: { Consumer: definition } } as unknown as LocalStack,
    functions: new Map([['Consumer', { invoke: async () => ({}) } as unknown as LocalFunction]]),
    clients: { kinesis: {}, sqs: {} } as never,
    faults: { settings: () => ({}) } as never,
    region: 'us-east-1',
    accountId: '000000000000',
    log: () => undefined,
  });
};

const STREAM = 'arn:aws:kinesis:us-east-1:000000000000:stream/local-EventStream';

describe('Local runtime: wiring the template events as event source mappings', () => {
  it.each([
    ['an SNS topic', 'arn:aws:sns:us-east-1:000000000000:alarms', 'SNS'],
    ['an S3 bucket', 'arn:aws:s3:::failures', 'S3'],
  ])('refuses %s as an on-failure destination even when Type is left out', (_, destination, kind) => {
    // Act
    const act = () =>
      wire({ Stream: STREAM, DestinationConfig: { OnFailure: { Destination: destination } } });
    // Assess
    expect(act).toThrow(EventSourceError);
    expect(act).toThrow(`only SQS on-failure destinations are emulated, not ${kind} (${destination})`);
  });

  it('accepts an SQS destination with or without Type', () => {
    for (const OnFailure of [
      { Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
      { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
    ]) {
      expect(wire({ Stream: STREAM, DestinationConfig: { OnFailure } }).kinesis).toHaveLength(1);
    }
  });

  it('refuses an enhanced fan-out consumer ARN, which it does not emulate, instead of polling its stream', () => {
    // Act
    const act = () => wire({ Stream: `${STREAM}/consumer/efo:1573143478` });
    // Assess
    expect(act).toThrow('consumer ARNs are not emulated');
  });
});

describe('Local runtime: what the log says of a stream event source', () => {
  const record = {
    requestContext: {
      requestId: 'r',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:local-consumer',
      condition: 'RetryAttemptsExhausted' as const,
      approximateInvokeCount: 11,
    },
    version: '1.0' as const,
    timestamp: '2026-11-29T00:00:00.000Z',
    KinesisBatchInfo: {
      shardId: 'shardId-000000000000',
      startSequenceNumber: '101',
      endSequenceNumber: '109',
      approximateArrivalOfFirstRecord: '2026-11-29T00:00:00.000Z',
      approximateArrivalOfLastRecord: '2026-11-29T00:00:00.000Z',
      batchSize: 3,
      streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/local-EventStream',
    },
  };

  it.each([
    [
      {
        type: 'batch-failed',
        shardId: 'shardId-000000000000',
        count: 12,
        reason: 'function-error',
        detail: `Error: injected\n    at stack line\n${'x'.repeat(300)}`,
      },
      'shardId-000000000000: a batch of 12 records failed (function-error: Error: injected)',
    ],
    [
      {
        type: 'batch-failed',
        shardId: 'shardId-000000000001',
        count: 1,
        reason: 'partial-failure',
        detail: '',
      },
      'shardId-000000000001: a batch of 1 record failed (partial-failure)',
    ],
    [
      { type: 'bisected', shardId: 'shardId-000000000000', left: 6, right: 6 },
      'shardId-000000000000: the failed batch is split in two, 6 + 6 records (BisectBatchOnFunctionError)',
    ],
    [
      { type: 'on-failure', shardId: 'shardId-000000000000', record, delivered: true },
      'shardId-000000000000: 3 records (101…109) given up on (RetryAttemptsExhausted); their pointer is on the on-failure destination',
    ],
    [
      { type: 'on-failure', shardId: 'shardId-000000000000', record, delivered: false },
      'shardId-000000000000: 3 records (101…109) given up on (RetryAttemptsExhausted); no on-failure destination took their pointer',
    ],
    [
      {
        type: 'on-failure',
        shardId: 'shardId-000000000000',
        record: { ...record, KinesisBatchInfo: { ...record.KinesisBatchInfo, batchSize: 1 } },
        delivered: true,
      },
      'shardId-000000000000: 1 record (101…109) given up on (RetryAttemptsExhausted); its pointer is on the on-failure destination',
    ],
    [
      {
        type: 'on-failure',
        shardId: 'shardId-000000000000',
        record: { ...record, KinesisBatchInfo: { ...record.KinesisBatchInfo, batchSize: 1 } },
        delivered: false,
      },
      'shardId-000000000000: 1 record (101…109) given up on (RetryAttemptsExhausted); no on-failure destination took its pointer',
    ],
    [
      { type: 'checkpoints-discarded', reason: 'the stream was created again' },
      'the stream was created again',
    ],
    [
      {
        type: 'source-deleted',
        reason: 'stream local-EventStream was deleted: the mapping stopped polling it',
      },
      'stream local-EventStream was deleted: the mapping stopped polling it (disabled); restart the runtime to make it again from the template',
    ],
    [
      {
        type: 'records-trimmed',
        shardId: 'shardId-000000000000',
        after: '4961',
        detail:
          'StartingSequenceNumber 4961 used in GetShardIterator on shard shardId-000000000000 is no longer available',
      },
      "shardId-000000000000: AFTER_SEQUENCE_NUMBER 4961 was refused, its record trimmed by the stream's retention (StartingSequenceNumber 4961 used in GetShardIterator on shard shardId-000000000000 is no longer available); the records between it and the trim horizon were lost to retention, and the shard reads on from TRIM_HORIZON",
    ],
    [
      {
        type: 'error',
        shardId: 'shardId-000000000001',
        operation: 'Checkpoint',
        error: new Error('ENOSPC: no space left on device, write'),
      },
      'shardId-000000000001: cannot save the checkpoint (ENOSPC: no space left on device, write); a restart reads the records after the last one saved again',
    ],
  ] as Array<[KinesisPollerEvent, string]>)('logs %j as a line of its own', (event, line) => {
    // Act / Assess
    expect(kinesisEventLine(event)).toBe(line);
  });

  it('says nothing of routine events', () => {
    // Act / Assess
    expect(
      kinesisEventLine({ type: 'batch-succeeded', shardId: 'shardId-000000000000', count: 5 }),
    ).toBeUndefined();
    expect(
      kinesisEventLine({
        type: 'records-read',
        shardId: 'shardId-000000000000',
        count: 5,
        millisBehindLatest: 0,
      }),
    ).toBeUndefined();
  });
});

describe('Local runtime: function faults limited to one function', () => {
  const replay = { logicalId: 'DlqReplayFunction', functionName: 'local-dlq-replay' };
  const event = { Records: [{ messageId: 'm-1', body: 'poison' }] } as never;
  const faultsNaming = (functionName: string) =>
    ({
      settings: () => ({ functionPattern: 'poison', functionName }),
      counts: { functionErrors: 0 },
    }) as unknown as FaultInjector;

  it.each(['DlqReplayFunction', 'local-dlq-replay'])(
    'fail the invocations of the function named %s, by its logical id or its FunctionName',
    async (name) => {
      // Prepare
      const invoke = withFunctionFaults(async () => ({ payload: 'ran' }), replay, faultsNaming(name));
      // Act
      const result = await invoke(event);
      // Assess
      expect(result.functionError).toBe('Unhandled');
    },
  );

  it("leave another function's invocations alone", async () => {
    // Prepare
    const invoke = withFunctionFaults(
      async () => ({ payload: 'ran' }),
      replay,
      faultsNaming('ConsumerFunction'),
    );
    // Act
    const result = await invoke(event);
    // Assess
    expect(result).toEqual({ payload: 'ran' });
  });
});
