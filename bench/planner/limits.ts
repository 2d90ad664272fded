import { fileURLToPath } from 'node:url';
import { INVOCATION_PAYLOAD_LIMIT_BYTES } from '#local/esm/kinesis-events.ts';
import { loadTemplate, type Template } from '#local/template/parse.ts';
import { DEFAULT_MAX_BODY_BYTES } from '#shared/ingest/config.ts';

/**
 * What the deployed pipeline can take, read from where it is set (template.yaml and the ingest function's
 * configuration), so that a plan past them says so instead of pricing traffic the pipeline would refuse.
 */
export interface PipelineLimits {
  /** Most shards the stack can be deployed with: template.yaml Parameters.ShardCount.MaxValue. */
  maxShards: number;
  /** Requests per second the ingest API takes before answering 429: Parameters.ApiThrottlingRateLimit.Default. */
  apiRequestsPerSecond: number;
  /** Largest POST /events body the ingest function accepts, in bytes (it answers 413 above it). */
  maxBodyBytes: number;
  /** Consumer invocations per shard at once: Parameters.ConsumerParallelizationFactor.Default. */
  parallelizationFactor: number;
  /** Seconds the consumer's event source mapping gathers records before invoking: ConsumerMaximumBatchingWindowInSeconds.Default. */
  batchingWindowSeconds: number;
}

export const TEMPLATE_PATH = fileURLToPath(new URL('../../template.yaml', import.meta.url));

/** `Parameters.<name>.<field>` of the template, which must be a number. */
const numberParameter = (template: Template, name: string, field: string): number => {
  const value = template.Parameters?.[name]?.[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(
      `template.yaml: Parameters.${name}.${field} must be a number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
};

export const pipelineLimits = (template: Template): PipelineLimits => ({
  maxShards: numberParameter(template, 'ShardCount', 'MaxValue'),
  apiRequestsPerSecond: numberParameter(template, 'ApiThrottlingRateLimit', 'Default'),
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  parallelizationFactor: numberParameter(template, 'ConsumerParallelizationFactor', 'Default'),
  batchingWindowSeconds: numberParameter(template, 'ConsumerMaximumBatchingWindowInSeconds', 'Default'),
});

/** The limits of the pipeline that template.yaml deploys. */
export const loadPipelineLimits = (path = TEMPLATE_PATH): PipelineLimits =>
  pipelineLimits(loadTemplate(path));

/** The Regions whose Kinesis quotas are the larger ones, as the plan's warnings name them. */
export const LARGE_REGIONS = 'us-east-1, us-west-2 and eu-west-1';

/**
 * Kinesis Data Streams quotas that bound a plan, from AWS's "Quotas and limits" page
 * (docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html), as of 2026-11-29. The larger Regions are
 * US East (N. Virginia), US West (Oregon) and Europe (Ireland).
 */
export const KINESIS_QUOTAS = {
  /** Write throughput, MB/s, of a new ON_DEMAND stream; it scales up from there with traffic. */
  onDemandInitialWriteMBps: 4,
  /** Most write throughput, MB/s, an ON_DEMAND stream scales to outside the larger Regions (a ticket raises it). */
  onDemandMaxWriteMBps: 200,
  /** Most write throughput, MB/s, an ON_DEMAND stream scales to in the larger Regions: 10 GB/s. */
  onDemandMaxWriteMBpsLargeRegions: 10 * 1024,
  /** Default account shard quota in the larger Regions; 1,000 or 6,000 elsewhere (Service Quotas raises it). */
  accountShardsLargeRegions: 20_000,
} as const;

/**
 * DynamoDB quotas that bound the event table (on-demand, as template.yaml declares it), from the DynamoDB
 * Developer Guide's "Quotas" and "Pre-warming a table for on-demand capacity mode" pages, as of 2026-11-29.
 */
export const DYNAMODB_QUOTAS = {
  /** Default table-level write throughput quota of an on-demand table, write request units per second. */
  onDemandTableWriteUnitsPerSecond: 40_000,
  /** Writes per second a new on-demand table sustains before it has scaled; then up to twice its previous peak. */
  newOnDemandTableWritesPerSecond: 4_000,
} as const;

/** Lambda quotas, from the Lambda Developer Guide's "Lambda quotas" page, as of 2026-11-29. */
export const LAMBDA_QUOTAS = {
  /** Default concurrent executions per account and Region, shared by all its functions (new accounts may have less). */
  accountConcurrency: 1_000,
  /** The payload of a synchronous invocation, an event source mapping's batch included (the local runtime's). */
  invocationPayloadBytes: INVOCATION_PAYLOAD_LIMIT_BYTES,
  /**
   * What a Kinesis record takes in the consumer's event besides its base64 data: the partition key, the sequence
   * number, the event id, the ARNs and the field names, about 700 bytes (an estimate, from the sample events).
   */
  kinesisEventRecordOverheadBytes: 700,
} as const;
