import { describe, expect, it } from 'vitest';
import { EventSourceMappingConfigError, kinesisMappingConfig, sqsMappingConfig } from '#local/esm/config.ts';

const problemsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    if (error instanceof EventSourceMappingConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected an EventSourceMappingConfigError');
};

describe('Kinesis event source mapping configuration', () => {
  it('fills in the defaults of AWS create response', () => {
    // Act
    const config = kinesisMappingConfig({ StartingPosition: 'TRIM_HORIZON' });

    // Assess
    expect(config).toEqual({
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      ParallelizationFactor: 1,
      MaximumRetryAttempts: -1,
      MaximumRecordAgeInSeconds: -1,
      BisectBatchOnFunctionError: false,
      FunctionResponseTypes: [],
      DestinationConfig: {},
      Enabled: true,
    });
  });

  it('accepts every property at its bounds, as numbers or as the strings a !Ref gives', () => {
    // Act
    const config = kinesisMappingConfig({
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: '1700000000.5',
      BatchSize: '10000',
      MaximumBatchingWindowInSeconds: 300,
      ParallelizationFactor: 10,
      MaximumRetryAttempts: 10_000,
      MaximumRecordAgeInSeconds: 604_800,
      BisectBatchOnFunctionError: 'true',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:dlq' },
      },
      Enabled: false,
    });

    // Assess
    expect(config).toEqual({
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: 1_700_000_000.5,
      BatchSize: 10_000,
      MaximumBatchingWindowInSeconds: 300,
      ParallelizationFactor: 10,
      MaximumRetryAttempts: 10_000,
      MaximumRecordAgeInSeconds: 604_800,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:dlq' },
      },
      Enabled: false,
    });
  });

  it('accepts BatchSize above 10 without a batching window, as AWS does for Kinesis', () => {
    expect(kinesisMappingConfig({ StartingPosition: 'LATEST', BatchSize: 500 }).BatchSize).toBe(500);
  });

  it.each([
    [
      { MaximumRecordAgeInSeconds: 0 },
      'MaximumRecordAgeInSeconds must be -1 (no limit) or an integer from 60 to 604800',
    ],
    [
      { MaximumRecordAgeInSeconds: 59 },
      'MaximumRecordAgeInSeconds must be -1 (no limit) or an integer from 60 to 604800',
    ],
    [
      { MaximumRecordAgeInSeconds: -2 },
      'MaximumRecordAgeInSeconds must be -1 (no limit) or an integer from 60 to 604800',
    ],
    [
      { MaximumRecordAgeInSeconds: 604_801 },
      'MaximumRecordAgeInSeconds must be -1 (no limit) or an integer from 60 to 604800',
    ],
    [{ BatchSize: 0 }, 'BatchSize must be an integer from 1 to 10000'],
    [{ BatchSize: 10_001 }, 'BatchSize must be an integer from 1 to 10000'],
    [{ BatchSize: 1.5 }, 'BatchSize must be an integer from 1 to 10000'],
    [{ ParallelizationFactor: 0 }, 'ParallelizationFactor must be an integer from 1 to 10'],
    [{ ParallelizationFactor: 11 }, 'ParallelizationFactor must be an integer from 1 to 10'],
    [{ MaximumRetryAttempts: -2 }, 'MaximumRetryAttempts must be an integer from -1'],
    [{ MaximumRetryAttempts: 10_001 }, 'MaximumRetryAttempts must be an integer from -1'],
    [
      { MaximumBatchingWindowInSeconds: 301 },
      'MaximumBatchingWindowInSeconds must be a whole number of seconds from 0 to 300',
    ],
    [
      { MaximumBatchingWindowInSeconds: 0.5 },
      'MaximumBatchingWindowInSeconds must be a whole number of seconds from 0 to 300',
    ],
    [{ BisectBatchOnFunctionError: 'yes' }, 'BisectBatchOnFunctionError must be true or false'],
    [
      { FunctionResponseTypes: ['Other'] },
      'FunctionResponseTypes must be a list whose only allowed value is ReportBatchItemFailures',
    ],
    [
      { StartingPositionTimestamp: 1_700_000_000 },
      'StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP',
    ],
    [
      { DestinationConfig: { OnFailure: { Type: 'Lambda', Destination: 'arn:aws:lambda:x' } } },
      "The only valid values for 'Type' are 'SQS', 'SNS', 'S3', and 'Kafka'",
    ],
    [
      { DestinationConfig: { OnFailure: { Destination: 'my-queue' } } },
      'DestinationConfig.OnFailure.Destination must be an ARN',
    ],
    [{ FilterCriteria: { Filters: [] } }, 'FilterCriteria is set but event filtering is not emulated'],
    [{ TumblingWindowInSeconds: 60 }, 'TumblingWindowInSeconds is set but tumbling windows are not emulated'],
  ])('rejects %j', (properties, message) => {
    // Act
    const problems = problemsOf(() => kinesisMappingConfig({ StartingPosition: 'LATEST', ...properties }));

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  it('requires a known StartingPosition', () => {
    expect(problemsOf(() => kinesisMappingConfig({}))[0]).toContain('StartingPosition is required');
    expect(problemsOf(() => kinesisMappingConfig({ StartingPosition: 'EARLIEST' }))[0]).toContain(
      'must be TRIM_HORIZON, LATEST or AT_TIMESTAMP',
    );
  });

  it('requires StartingPositionTimestamp with AT_TIMESTAMP', () => {
    expect(problemsOf(() => kinesisMappingConfig({ StartingPosition: 'AT_TIMESTAMP' }))).toEqual([
      'StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP',
    ]);
  });

  it('reports every problem at once, in a message that names each property', () => {
    // Act
    const run = () =>
      kinesisMappingConfig({ StartingPosition: 'LATEST', BatchSize: 0, ParallelizationFactor: 20 });

    // Assess
    expect(run).toThrow(EventSourceMappingConfigError);
    expect(run).toThrow(/Invalid Kinesis event source mapping: BatchSize .*; ParallelizationFactor/);
  });
});

describe('SQS event source mapping configuration', () => {
  it('fills in the defaults', () => {
    expect(sqsMappingConfig({})).toEqual({
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      FunctionResponseTypes: [],
      Enabled: true,
      ScalingConfig: {},
    });
  });

  it('requires a batching window for BatchSize above 10, with the message AWS gives', () => {
    // Act
    const problems = problemsOf(() => sqsMappingConfig({ BatchSize: 11 }));

    // Assess
    expect(problems).toEqual([
      'Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10',
    ]);
    expect(sqsMappingConfig({ BatchSize: 11, MaximumBatchingWindowInSeconds: 1 }).BatchSize).toBe(11);
  });

  it('limits a FIFO queue to batches of 10 and no batching window', () => {
    expect(
      problemsOf(() =>
        sqsMappingConfig({ BatchSize: 10, MaximumBatchingWindowInSeconds: 1 }, { fifo: true }),
      ),
    ).toEqual(['MaximumBatchingWindowInSeconds must be 0 for a FIFO queue, got 1']);
    expect(
      problemsOf(() =>
        sqsMappingConfig({ BatchSize: 11, MaximumBatchingWindowInSeconds: 1 }, { fifo: true }),
      )[0],
    ).toContain('BatchSize must be an integer from 1 to 10,');
  });

  it('validates ScalingConfig.MaximumConcurrency (2 to 1000)', () => {
    expect(sqsMappingConfig({ ScalingConfig: { MaximumConcurrency: 2 } }).ScalingConfig).toEqual({
      MaximumConcurrency: 2,
    });
    expect(problemsOf(() => sqsMappingConfig({ ScalingConfig: { MaximumConcurrency: 1 } }))[0]).toContain(
      'ScalingConfig.MaximumConcurrency must be an integer from 2 to 1000',
    );
  });
});
