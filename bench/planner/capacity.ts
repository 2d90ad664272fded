import { type NumberRule, numberFlag, parseFlags } from '#scripts/lib/flags.ts';
import { MAX_BATCH_EVENTS } from '#shared/ingest/ingest-request.ts';

/**
 * Shard count by the classic Kinesis sizing formula: max(ceil(MB/s in ÷ 1), ceil(records/s ÷ 1000),
 * ceil(MB/s out ÷ 2)). Each shard takes 1 MB/s or 1,000 records/s of writes and gives 2 MB/s of reads, which
 * every shared-throughput (GetRecords) consumer shares; an enhanced fan-out consumer gets its own 2 MB/s per
 * shard, so with EFO the out term is one consumer's share. MB here is MiB (1,048,576 bytes), as the limits are.
 */

export const SHARD_WRITE_MB_PER_SECOND = 1;
export const SHARD_WRITE_RECORDS_PER_SECOND = 1000;
export const SHARD_READ_MB_PER_SECOND = 2;
/** GetRecords calls per second per shard, shared by every shared-throughput consumer. */
export const SHARD_GET_RECORDS_PER_SECOND = 5;
/**
 * Most share of a shard's write or read limit the plan lets it run at, at peak. Partition keys never spread exactly
 * evenly, so shards sized to their limit throttle some records (the load test on 2 shards at 100% shows a few
 * percent): the plan provisions the formula's shards ÷ this, rounded up, and prices provisioned mode at that.
 */
export const HEADROOM_SHARE = 0.8;
/** Enhanced fan-out consumers per stream (provisioned and On-demand Standard). */
export const MAX_EFO_CONSUMERS = 20;
/** Largest record a stream can be configured to accept, in KB (10 MiB). */
export const MAX_RECORD_KB = 10 * 1024;
/** Most records in one Kinesis event source mapping batch. */
export const MAX_CONSUMER_BATCH = 10_000;

/*
 * Bounds that keep the plan readable. Past them the arithmetic still runs but prints pages of digits or $Infinity,
 * and no pipeline built from template.yaml comes near them.
 */
/** Twice what the template's largest stream (500 shards × 1,000 records/s) takes. */
export const MAX_RECORDS_PER_SECOND = 1_000_000;
/** About 2.6 records a month: less is no traffic to plan for. */
export const MIN_RECORDS_PER_SECOND = 0.000001;
/** One byte: a record holds at least a one-character partition key. */
export const MIN_RECORD_KB = 1 / 1024;
/** Applications reading one stream: far past the 5 a shard's GetRecords calls serve and the 20 EFO allows. */
export const MAX_CONSUMERS = 100;
/** A peak 10,000 times the average: a stream idle all but a few minutes a month. */
export const MAX_PEAK_TO_AVERAGE = 10_000;
/** Lambda's longest invocation, 15 minutes, in milliseconds. */
export const MAX_INVOCATION_MS = 900_000;
/** Events in one POST /events request: the ingest API takes a CloudEvents batch of up to 500. */
export const MAX_EVENTS_PER_REQUEST = MAX_BATCH_EVENTS;
/** Lambda's memory range, in MB. */
export const MIN_MEMORY_MB = 128;
export const MAX_MEMORY_MB = 10_240;

export class PlanInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanInputError';
  }
}

export interface PlanInput {
  /** The rate the stream must take at its peak, in records per second; shards are sized for it. */
  recordsPerSecond: number;
  /** Average record size in KB (1,024 bytes), partition key included. */
  avgSizeKB: number;
  /** Applications reading the whole stream. */
  consumers: number;
  /** Whether the consumers use enhanced fan-out. */
  efo: boolean;
  /** Peak rate ÷ average rate: 1 for steady traffic; volume-based charges use the average. */
  peakToAverage: number;
  /** Events per POST /events request (a CloudEvents batch holds up to 500). */
  eventsPerRequest: number;
  /** Lambda memory, in MB (template.yaml: 512). */
  memoryMb: number;
  /** Billed duration of one ingest invocation, in milliseconds. */
  ingestMs: number;
  /** Most records per consumer invocation (template.yaml: ConsumerBatchSize 100); at low rates fewer arrive in time. */
  consumerBatchSize: number;
  /** Billed duration of one consumer invocation, in milliseconds. */
  consumerMs: number;
}

/** Assumptions for what the command line leaves out, each stated in the plan's output. */
export const DEFAULTS = {
  peakToAverage: 1,
  eventsPerRequest: 1,
  memoryMb: 512,
  ingestMs: 25,
  consumerBatchSize: 100,
  consumerMs: 60,
} as const;

export interface ShardPlan {
  mbPerSecondIn: number;
  /** Read throughput the shards must give: every shared consumer's, or one EFO consumer's. */
  mbPerSecondOut: number;
  byBytesIn: number;
  byRecords: number;
  byBytesOut: number;
  /** The formula's count: the fewest shards that take the peak, each at 100% of its limit. */
  shards: number;
  /** What decides the count; 'minimum' when every term is 0 (no load at all) and the stream still needs its shard. */
  bound: 'bytes in' | 'records' | 'bytes out' | 'minimum';
  /** The peak in shards' worth: the largest term before rounding up (10 for 10,000 records/s). */
  load: number;
  /** Shards to provision: ceil(load ÷ HEADROOM_SHARE), at least `shards`; provisioned mode is priced at this. */
  provisioned: number;
}

/**
 * ceil, forgiving the last bits of floating-point error so that exactly 2 MB/s needs 1 shard of 2 MB/s. The
 * tolerance is relative and only snaps down to a whole number of at least 1: any load above 0, however small,
 * needs one unit, as ceil says.
 */
const ceilUnits = (value: number): number => {
  const nearest = Math.round(value);
  return nearest >= 1 && Math.abs(value - nearest) <= nearest * 1e-9 ? nearest : Math.ceil(value);
};

export const planShards = (
  input: Pick<PlanInput, 'recordsPerSecond' | 'avgSizeKB' | 'consumers' | 'efo'>,
) => {
  const mbPerSecondIn = (input.recordsPerSecond * input.avgSizeKB) / 1024;
  const mbPerSecondOut = input.efo ? mbPerSecondIn : mbPerSecondIn * input.consumers;
  const bytesIn = mbPerSecondIn / SHARD_WRITE_MB_PER_SECOND;
  const records = input.recordsPerSecond / SHARD_WRITE_RECORDS_PER_SECOND;
  const bytesOut = mbPerSecondOut / SHARD_READ_MB_PER_SECOND;
  const byBytesIn = ceilUnits(bytesIn);
  const byRecords = ceilUnits(records);
  const byBytesOut = ceilUnits(bytesOut);
  const largestTerm = Math.max(byBytesIn, byRecords, byBytesOut);
  const shards = Math.max(1, largestTerm);
  const load = Math.max(bytesIn, records, bytesOut);
  const bound: ShardPlan['bound'] =
    largestTerm === 0
      ? 'minimum'
      : largestTerm === byRecords
        ? 'records'
        : largestTerm === byBytesIn
          ? 'bytes in'
          : 'bytes out';
  return {
    mbPerSecondIn,
    mbPerSecondOut,
    byBytesIn,
    byRecords,
    byBytesOut,
    shards,
    bound,
    load,
    provisioned: Math.max(shards, ceilUnits(load / HEADROOM_SHARE)),
  } satisfies ShardPlan;
};

const n = (value: number): string => value.toLocaleString('en-US');

const USAGE = `usage: npm run plan -- --records-per-sec N --avg-size KB --consumers C [--efo]
          [--peak-to-average R] [--events-per-request E] [--memory-mb M]
          [--ingest-ms MS] [--consumer-batch B] [--consumer-ms MS]
bounds:   records/s ${MIN_RECORDS_PER_SECOND}-${n(MAX_RECORDS_PER_SECOND)}; avg size 1 byte (${MIN_RECORD_KB} KB)-${n(MAX_RECORD_KB)} KB;
          consumers 1-${MAX_CONSUMERS} (1-${MAX_EFO_CONSUMERS} with --efo); peak-to-average 1-${n(MAX_PEAK_TO_AVERAGE)}; events per request 1-${MAX_EVENTS_PER_REQUEST};
          memory ${MIN_MEMORY_MB}-${n(MAX_MEMORY_MB)} MB; consumer batch 1-${n(MAX_CONSUMER_BATCH)}; ingest and consumer ms up to ${n(MAX_INVOCATION_MS)} (15 min);
          numbers in decimal (2000, 1.5, 2e3)`;

export const planUsage = (): string => USAGE;

/** The planner's command line → a validated input; throws PlanInputError naming the flag. */
export const parsePlanArgs = (argv: string[]): PlanInput => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseFlags({
      args: argv,
      strict: true,
      options: {
        'records-per-sec': { type: 'string' },
        'avg-size': { type: 'string' },
        consumers: { type: 'string' },
        efo: { type: 'boolean', default: false },
        'peak-to-average': { type: 'string' },
        'events-per-request': { type: 'string' },
        'memory-mb': { type: 'string' },
        'ingest-ms': { type: 'string' },
        'consumer-batch': { type: 'string' },
        'consumer-ms': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new PlanInputError((error as Error).message);
  }
  const number = (flag: string, rule: NumberRule) =>
    numberFlag(flag, values[flag] as string | undefined, rule, PlanInputError);
  const input: PlanInput = {
    recordsPerSecond: number('records-per-sec', {
      checks: [{ above: 0 }, { min: MIN_RECORDS_PER_SECOND }, { max: MAX_RECORDS_PER_SECOND }],
    }),
    avgSizeKB: number('avg-size', { checks: [{ above: 0 }, { min: MIN_RECORD_KB }, { max: MAX_RECORD_KB }] }),
    consumers: number('consumers', { checks: [{ integer: true }, { min: 1 }, { max: MAX_CONSUMERS }] }),
    efo: values.efo === true,
    peakToAverage: number('peak-to-average', {
      fallback: DEFAULTS.peakToAverage,
      checks: [{ min: 1 }, { max: MAX_PEAK_TO_AVERAGE }],
    }),
    eventsPerRequest: number('events-per-request', {
      fallback: DEFAULTS.eventsPerRequest,
      checks: [{ integer: true }, { min: 1 }, { max: MAX_EVENTS_PER_REQUEST }],
    }),
    memoryMb: number('memory-mb', {
      fallback: DEFAULTS.memoryMb,
      checks: [{ integer: true }, { min: MIN_MEMORY_MB }, { max: MAX_MEMORY_MB }],
    }),
    ingestMs: number('ingest-ms', {
      fallback: DEFAULTS.ingestMs,
      checks: [{ above: 0 }, { max: MAX_INVOCATION_MS }],
    }),
    consumerBatchSize: number('consumer-batch', {
      fallback: DEFAULTS.consumerBatchSize,
      checks: [{ integer: true }, { min: 1 }, { max: MAX_CONSUMER_BATCH }],
    }),
    consumerMs: number('consumer-ms', {
      fallback: DEFAULTS.consumerMs,
      checks: [{ above: 0 }, { max: MAX_INVOCATION_MS }],
    }),
  };
  if (input.efo && input.consumers > MAX_EFO_CONSUMERS) {
    throw new PlanInputError(
      `--consumers must be at most ${MAX_EFO_CONSUMERS} with --efo: a stream registers at most ${MAX_EFO_CONSUMERS} enhanced fan-out consumers`,
    );
  }
  return input;
};
