import type {
  KinesisEventProperties,
  KinesisMappingConfig,
  SqsEventProperties,
  SqsMappingConfig,
  StartingPosition,
} from './types.ts';

/** An event-source-mapping property that AWS would reject, or that the emulation cannot honour. */
export class EventSourceMappingConfigError extends Error {
  readonly problems: string[];

  constructor(kind: string, problems: string[]) {
    super(`Invalid ${kind} event source mapping: ${problems.join('; ')}`);
    this.name = 'EventSourceMappingConfigError';
    this.problems = problems;
  }
}

export interface MappingCheckOptions {
  /**
   * `false` checks what AWS would reject only, and leaves out what the local runtime cannot emulate (event
   * filtering, tumbling windows), which AWS takes: for validating a template to deploy.
   */
  emulation?: boolean;
}

const STARTING_POSITIONS: readonly StartingPosition[] = ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'];
const ON_FAILURE_TYPES = ['SQS', 'SNS', 'S3', 'Kafka'];

/** Properties that change which records reach the function; running without them would mislead. */
const UNEMULATED: Record<string, string> = {
  FilterCriteria: 'event filtering is not emulated',
  TumblingWindowInSeconds: 'tumbling windows are not emulated',
};

/** Reads template values; a `!Ref` to a Number parameter arrives as a string, as CloudFormation passes it. */
class Reader {
  readonly problems: string[] = [];
  private readonly properties: Record<string, unknown>;

  constructor(properties: Record<string, unknown>) {
    this.properties = properties;
  }

  has(name: string): boolean {
    return this.properties[name] !== undefined && this.properties[name] !== null;
  }

  integer(name: string, fallback: number, valid: (value: number) => boolean, range: string): number {
    if (!this.has(name)) return fallback;
    const raw = this.properties[name];
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || !valid(value)) {
      this.problems.push(`${name} must be ${range}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return value;
  }

  number(name: string): number | undefined {
    if (!this.has(name)) return undefined;
    const raw = this.properties[name];
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      this.problems.push(`${name} must be a non-negative number of seconds, got ${JSON.stringify(raw)}`);
      return undefined;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    if (!this.has(name)) return fallback;
    const raw = this.properties[name];
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    this.problems.push(`${name} must be true or false, got ${JSON.stringify(raw)}`);
    return fallback;
  }

  responseTypes(): 'ReportBatchItemFailures'[] {
    if (!this.has('FunctionResponseTypes')) return [];
    const raw = this.properties.FunctionResponseTypes;
    if (!Array.isArray(raw) || raw.some((type) => type !== 'ReportBatchItemFailures')) {
      this.problems.push(
        `FunctionResponseTypes must be a list whose only allowed value is ReportBatchItemFailures, got ${JSON.stringify(raw)}`,
      );
      return [];
    }
    return raw.length > 0 ? ['ReportBatchItemFailures'] : [];
  }

  unemulated(): void {
    for (const [name, reason] of Object.entries(UNEMULATED)) {
      const value = this.properties[name];
      if (value === undefined || value === null || value === 0 || value === '0') continue;
      this.problems.push(`${name} is set but ${reason} by the local runtime`);
    }
  }
}

const asRecord = (properties: unknown): Record<string, unknown> =>
  typeof properties === 'object' && properties !== null && !Array.isArray(properties)
    ? (properties as Record<string, unknown>)
    : {};

const onFailureOf = (reader: Reader, raw: unknown): KinesisMappingConfig['DestinationConfig'] => {
  if (raw === undefined || raw === null) return {};
  const onFailure = asRecord(raw).OnFailure;
  if (onFailure === undefined || onFailure === null) return {};
  const { Destination, Type } = asRecord(onFailure);
  if (Type !== undefined && !ON_FAILURE_TYPES.includes(Type as string)) {
    reader.problems.push(
      "DestinationConfig.OnFailure: The only valid values for 'Type' are 'SQS', 'SNS', 'S3', and 'Kafka'",
    );
  }
  if (Destination === undefined || Destination === null || Destination === '') return {};
  if (typeof Destination !== 'string' || !Destination.startsWith('arn:')) {
    reader.problems.push(
      `DestinationConfig.OnFailure.Destination must be an ARN, got ${JSON.stringify(Destination)}`,
    );
    return {};
  }
  return { OnFailure: { Destination, ...(typeof Type === 'string' ? { Type } : {}) } };
};

/**
 * Validates a Kinesis event's properties and fills in AWS's defaults (aws-behaviour.md §1). Every problem is
 * reported at once.
 */
export const kinesisMappingConfig = (
  properties: KinesisEventProperties,
  options: MappingCheckOptions = {},
): KinesisMappingConfig => {
  const reader = new Reader(asRecord(properties));
  const raw = asRecord(properties);
  if (options.emulation !== false) reader.unemulated();

  let startingPosition: StartingPosition = 'LATEST';
  if (!STARTING_POSITIONS.includes(raw.StartingPosition as StartingPosition)) {
    reader.problems.push(
      `StartingPosition is required and must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, got ${JSON.stringify(raw.StartingPosition)}`,
    );
  } else {
    startingPosition = raw.StartingPosition as StartingPosition;
  }
  const timestamp = reader.number('StartingPositionTimestamp');
  if (timestamp !== undefined && startingPosition !== 'AT_TIMESTAMP') {
    reader.problems.push('StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP');
  }
  if (startingPosition === 'AT_TIMESTAMP' && !reader.has('StartingPositionTimestamp')) {
    reader.problems.push('StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP');
  }

  const config: KinesisMappingConfig = {
    StartingPosition: startingPosition,
    ...(timestamp !== undefined && startingPosition === 'AT_TIMESTAMP'
      ? { StartingPositionTimestamp: timestamp }
      : {}),
    // Kinesis accepts BatchSize > 10 with no batching window (observed on AWS), unlike SQS.
    BatchSize: reader.integer('BatchSize', 100, (v) => v >= 1 && v <= 10_000, 'an integer from 1 to 10000'),
    MaximumBatchingWindowInSeconds: reader.integer(
      'MaximumBatchingWindowInSeconds',
      0,
      (v) => v >= 0 && v <= 300,
      'a whole number of seconds from 0 to 300',
    ),
    ParallelizationFactor: reader.integer(
      'ParallelizationFactor',
      1,
      (v) => v >= 1 && v <= 10,
      'an integer from 1 to 10',
    ),
    MaximumRetryAttempts: reader.integer(
      'MaximumRetryAttempts',
      -1,
      (v) => v >= -1 && v <= 10_000,
      'an integer from -1 (retry until the record expires) to 10000',
    ),
    // The API accepts -1 or 60..604800: values from 0 to 59 are inside the absolute range but not allowed.
    MaximumRecordAgeInSeconds: reader.integer(
      'MaximumRecordAgeInSeconds',
      -1,
      (v) => v === -1 || (v >= 60 && v <= 604_800),
      '-1 (no limit) or an integer from 60 to 604800',
    ),
    BisectBatchOnFunctionError: reader.boolean('BisectBatchOnFunctionError', false),
    FunctionResponseTypes: reader.responseTypes(),
    DestinationConfig: onFailureOf(reader, raw.DestinationConfig),
    Enabled: reader.boolean('Enabled', true),
  };
  if (reader.problems.length > 0) throw new EventSourceMappingConfigError('Kinesis', reader.problems);
  return config;
};

/** Validates an SQS event's properties and fills in AWS's defaults (aws-behaviour.md §8). */
export const sqsMappingConfig = (
  properties: SqsEventProperties,
  options: { fifo?: boolean } & MappingCheckOptions = {},
): SqsMappingConfig => {
  const reader = new Reader(asRecord(properties));
  const raw = asRecord(properties);
  if (options.emulation !== false) reader.unemulated();
  const maxBatch = options.fifo ? 10 : 10_000;
  const batchSize = reader.integer(
    'BatchSize',
    10,
    (v) => v >= 1 && v <= maxBatch,
    `an integer from 1 to ${maxBatch}`,
  );
  const window = reader.integer(
    'MaximumBatchingWindowInSeconds',
    0,
    (v) => v >= 0 && v <= 300 && !(options.fifo && v > 0),
    options.fifo ? '0 for a FIFO queue' : 'a whole number of seconds from 0 to 300',
  );
  if (batchSize > 10 && window === 0) {
    reader.problems.push(
      'Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10',
    );
  }
  let maximumConcurrency: number | undefined;
  if (raw.ScalingConfig !== undefined && raw.ScalingConfig !== null) {
    const scaling = new Reader(asRecord(raw.ScalingConfig));
    if (scaling.has('MaximumConcurrency')) {
      maximumConcurrency = scaling.integer(
        'MaximumConcurrency',
        2,
        (v) => v >= 2 && v <= 1000,
        'an integer from 2 to 1000',
      );
    }
    reader.problems.push(...scaling.problems.map((problem) => `ScalingConfig.${problem}`));
  }
  const config: SqsMappingConfig = {
    BatchSize: batchSize,
    MaximumBatchingWindowInSeconds: window,
    FunctionResponseTypes: reader.responseTypes(),
    Enabled: reader.boolean('Enabled', true),
    ScalingConfig: maximumConcurrency === undefined ? {} : { MaximumConcurrency: maximumConcurrency },
  };
  if (reader.problems.length > 0) throw new EventSourceMappingConfigError('SQS', reader.problems);
  return config;
};
