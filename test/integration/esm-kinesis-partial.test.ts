import { describe, expect, it } from 'vitest';
import type { InvokeResult } from '#local/esm/types.ts';
import {
  decodeData,
  failuresFor,
  type KinesisPollerFixture,
  kinesisPollerSuite,
  ON_FAILURE_DESTINATION,
  REPORT_ITEM_FAILURES,
  sameKey,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

describe('Kinesis event source mapping: ReportBatchItemFailures', () => {
  const suite = kinesisPollerSuite();
  const { start } = suite;

  /** The observed-behaviour setup: BatchSize 1, MaximumRetryAttempts 2, one record answered with `payload`. */
  const runObservedCase = async (answer: InvokeResult) => {
    const { streamName } = await suite.stream([{ key: 'k', data: 'record' }]);
    const fixture = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 1,
        MaximumRetryAttempts: 2,
        FunctionResponseTypes: REPORT_ITEM_FAILURES,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      { respond: (event) => (decodeData(event.Records[0]!) === 'record' ? answer : {}) },
    );
    // A later record shows the shard moved on: it can only be delivered once the first one is done with.
    await waitFor(() => fixture.fn.events.length > 0, 'the first invocation');
    await suite.put(streamName, [{ key: 'k', data: 'next' }]);
    await waitFor(() => fixture.fn.batches().flat().includes('next'), 'the next record');
    return fixture;
  };

  /** A mapping with bisection and ReportBatchItemFailures on, whose function answers with `respond`. */
  const startBisecting = (streamName: string, respond: KinesisPollerFixture['fn']['respond']) =>
    start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        FunctionResponseTypes: REPORT_ITEM_FAILURES,
        BisectBatchOnFunctionError: true,
      },
      { respond },
    );

  it.each([
    ['""', ''],
    ['[]', []],
    ['null', null],
    ['{}', {}],
    ['{"batchItemFailures":[]}', { batchItemFailures: [] }],
    ['{"batchItemFailures":null}', { batchItemFailures: null }],
  ])('treats %s as a complete success: one invocation, no retry', async (_, payload) => {
    // Act
    const { fn, failures } = await runObservedCase({ payload });

    // Assess
    expect(fn.batches()).toEqual([['record'], ['next']]);
    expect(failures.records).toEqual([]);
  });

  it.each([
    [
      'an identifier that is not in the batch',
      [{ itemIdentifier: '49590338271490256608559692538361571095921575989136588898' }],
    ],
    ['a numeric identifier', [{ itemIdentifier: 123 }]],
    ['an empty identifier', [{ itemIdentifier: '' }]],
    ['a null identifier', [{ itemIdentifier: null }]],
    ['a bad key with a value', [{ foo: 123 }]],
    ['a bad key with null', [{ foo: null }]],
  ])(
    'fails the whole batch on %s: three invocations, then functionError null',
    async (_, batchItemFailures) => {
      // Act
      const { fn, failures } = await runObservedCase({ payload: { batchItemFailures } });

      // Assess
      expect(fn.batches()).toEqual([['record'], ['record'], ['record'], ['next']]);
      expect(failures.records).toHaveLength(1);
      expect(failures.records[0]).toMatchObject({
        requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: null },
        KinesisBatchInfo: { batchSize: 1 },
      });
    },
  );

  it('fails the whole batch when the function throws: three invocations, then functionError "Unhandled"', async () => {
    // Act
    const { fn, failures } = await runObservedCase({ functionError: 'Unhandled' });

    // Assess
    expect(fn.batches()).toEqual([['record'], ['record'], ['record'], ['next']]);
    expect(failures.records[0]?.responseContext?.functionError).toBe('Unhandled');
  });

  it('checkpoints past the records before a partial failure and retries only from it (observed on AWS)', async () => {
    // Prepare
    const { streamName, written } = await suite.stream(sameKey(['1', '2', '3', '4', '5', '6']));

    // Act
    const { fn, failures } = await start(
      streamName,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 3,
        MaximumRetryAttempts: 3,
        FunctionResponseTypes: REPORT_ITEM_FAILURES,
        DestinationConfig: ON_FAILURE_DESTINATION,
      },
      { respond: (event) => failuresFor(event, ['6']) },
    );
    await waitFor(() => failures.records.length === 1, 'the on-failure record');

    // Assess
    expect(fn.batches()).toEqual([['1', '2', '3'], ['4', '5', '6'], ['6'], ['6'], ['6']]);
    expect(failures.records[0]).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 4 },
      responseContext: { functionError: null },
      KinesisBatchInfo: {
        startSequenceNumber: written[5]!.SequenceNumber,
        endSequenceNumber: written[5]!.SequenceNumber,
        batchSize: 1,
      },
    });
  });

  it('uses the lowest reported sequence number as the checkpoint and redelivers everything after it', async () => {
    // Prepare
    const { streamName, written } = await suite.stream(sameKey(['1', '2', '3', '4']));

    // Act
    const { fn, events } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', FunctionResponseTypes: REPORT_ITEM_FAILURES },
      { respond: (event, call) => (call === 1 ? failuresFor(event, ['3', '2']) : {}) },
    );
    await waitFor(() => fn.events.length === 2, 'the retry');

    // Assess
    expect(fn.batches()).toEqual([
      ['1', '2', '3', '4'],
      ['2', '3', '4'],
    ]);
    await waitFor(
      () => events.filter((event) => event.type === 'checkpoint').length === 2,
      'two checkpoints',
    );
    expect(events.filter((event) => event.type === 'checkpoint')).toEqual([
      {
        type: 'checkpoint',
        shardId: 'shardId-000000000000',
        sequenceNumber: written[0]!.SequenceNumber,
        finished: false,
      },
      {
        type: 'checkpoint',
        shardId: 'shardId-000000000000',
        sequenceNumber: written[3]!.SequenceNumber,
        finished: false,
      },
    ]);
  });

  it('ignores a returned failure list when ReportBatchItemFailures is off', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['1', '2']));

    // Act
    const { fn, poller } = await start(
      streamName,
      { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: 2 },
      { respond: (event) => failuresFor(event, ['1']) },
    );
    await waitFor(() => poller.stats().shards[0]?.recordsOut === 2, 'both records processed');

    // Assess
    expect(fn.batches()).toEqual([['1', '2']]);
  });

  it('with bisection on, splits a partial failure at the returned sequence number rather than in halves', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['1', '2', '3', '4']));

    // Act
    const { fn } = await startBisecting(streamName, (event, call) =>
      call === 1 ? failuresFor(event, ['3']) : {},
    );
    await waitFor(() => fn.events.length === 2, 'the retry');

    // Assess
    expect(fn.batches()).toEqual([
      ['1', '2', '3', '4'],
      ['3', '4'],
    ]);
  });

  it('with bisection on, still bisects an invalid response (a whole-batch failure)', async () => {
    // Prepare
    const { streamName } = await suite.stream(sameKey(['1', '2', '3', '4']));

    // Act
    const { fn } = await startBisecting(streamName, (_, call) =>
      call === 1 ? { payload: { batchItemFailures: [{ itemIdentifier: '' }] } } : {},
    );
    await waitFor(() => fn.events.length === 3, 'both halves');

    // Assess
    expect(fn.batches()).toEqual([
      ['1', '2', '3', '4'],
      ['1', '2'],
      ['3', '4'],
    ]);
  });
});
