import {
  CLAIM_POINTER_ALLOWANCE_BYTES,
  DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
} from '#shared/sink/storage-plan.ts';
import {
  MAX_EFO_CONSUMERS,
  MAX_EVENTS_PER_REQUEST,
  type PlanInput,
  planShards,
  SHARD_GET_RECORDS_PER_SECOND,
  SHARD_READ_MB_PER_SECOND,
  type ShardPlan,
} from './capacity.ts';
import {
  DYNAMODB_QUOTAS,
  KINESIS_QUOTAS,
  LAMBDA_QUOTAS,
  LARGE_REGIONS,
  type PipelineLimits,
} from './limits.ts';
import { HOURS_PER_MONTH, KB_PER_GB, PRICES, SECONDS_PER_MONTH } from './prices.ts';

/**
 * Monthly Kinesis cost in both capacity modes, the pipeline's per-event costs, and a recommendation. Pure
 * arithmetic over the dated table in prices.ts, so that every figure can be checked by hand.
 */

export interface CostLine {
  item: string;
  usd: number;
}

export interface ModeCost {
  lines: CostLine[];
  total: number;
}

export interface PerMillionEvents {
  apiGateway: number;
  ingestLambda: number;
  consumerLambda: number;
  dynamodb: number;
  /** One S3 PUT per event whose data the sink moves to the claim check; 0 when items stay under the threshold. */
  s3ClaimCheck: number;
  total: number;
}

export interface Recommendation {
  /** 'none' when no capacity mode serves the consumers on one stream (more than MAX_EFO_CONSUMERS sharing reads). */
  mode: 'provisioned' | 'on-demand' | 'none';
  reason: string;
}

/**
 * How the consumers read: as the input says; with enhanced fan-out because more than SHARD_GET_RECORDS_PER_SECOND
 * cannot share a shard's reads; or not at all, because more than MAX_EFO_CONSUMERS can do neither.
 */
export type Reads = 'as-given' | 'efo-instead-of-shared' | 'unserved';

/** How many records a consumer invocation holds on average, and what decides it. */
export interface ConsumerBatching {
  /** Records per invocation: `gathered`, at least 1 and at most `most`. */
  records: number;
  /** Records one batch gathers: average records/s ÷ (shards × parallelization factor) × `seconds`. */
  gathered: number;
  /** The most an invocation holds: the batch size, or as many as fit the 6 MB payload. */
  most: number;
  /** Seconds a batch gathers records for: the batching window, at least the one second between polls. */
  seconds: number;
  /** The shards the records are spread over: the plan's provisioned count. */
  shards: number;
  parallelizationFactor: number;
}

export interface Plan {
  /** The input as planned: with `efo` set when `reads` is 'efo-instead-of-shared'. */
  input: PlanInput;
  reads: Reads;
  shards: ShardPlan;
  averageRecordsPerSecond: number;
  recordsPerMonth: number;
  /**
   * Provisioned mode at `shards.provisioned` shards, and on-demand mode. With `reads` 'unserved' they are priced as
   * the input says, which no stream serves: the recommendation is 'none' and formatPlan prints neither.
   */
  provisioned: ModeCost;
  onDemand: ModeCost;
  consumerBatching: ConsumerBatching;
  perMillionEvents: PerMillionEvents;
  recommendation: Recommendation;
  warnings: string[];
}

/** Provisioned is recommended only when it saves at least this much a month… */
export const MIN_MONTHLY_SAVING_USD = 50;
/** …and at least this share of the on-demand bill; below either, managing shards is not worth the saving. */
export const MIN_SAVING_SHARE = 0.2;
/** Extra bytes an event takes as a DynamoDB item (identity, stream position, version, timestamps), in KB. */
export const ITEM_OVERHEAD_KB = 0.3;
/** The sink moves an event's data to S3 when its item would be larger than this, in KB (350). */
export const CLAIM_CHECK_THRESHOLD_KB = DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES / 1024;
/** What a claim-check pointer takes in the item in its data's place, at most, in KB (1). */
export const CLAIM_POINTER_KB = CLAIM_POINTER_ALLOWANCE_BYTES / 1024;

/** Whether the sink stores events of this size through the claim check: data in S3, a pointer in the item. */
export const isClaimChecked = (avgSizeKB: number): boolean =>
  avgSizeKB + ITEM_OVERHEAD_KB > CLAIM_CHECK_THRESHOLD_KB;

/** The size of the item the sink writes for one event, in KB. */
export const itemSizeKB = (avgSizeKB: number): number =>
  (isClaimChecked(avgSizeKB) ? CLAIM_POINTER_KB : avgSizeKB) + ITEM_OVERHEAD_KB;

/** Write request units of the sink's one conditional PutItem per event; a refused (duplicate) write uses them too. */
export const writeUnitsPerEvent = (avgSizeKB: number): number =>
  Math.ceil(itemSizeKB(avgSizeKB) / PRICES.dynamodb.writeUnitKB);

const total = (lines: CostLine[]): ModeCost => ({ lines, total: lines.reduce((sum, l) => sum + l.usd, 0) });

export const provisionedMonthly = (input: PlanInput, shards: number, recordsPerMonth: number): ModeCost => {
  const p = PRICES.kinesis.provisioned;
  const gbPerConsumer = (recordsPerMonth * input.avgSizeKB) / KB_PER_GB;
  const lines: CostLine[] = [
    { item: `${shardCount(shards)} × ${HOURS_PER_MONTH} h`, usd: shards * HOURS_PER_MONTH * p.shardHour },
    {
      item: 'PUT payload units (25 KB each)',
      usd:
        ((recordsPerMonth * Math.ceil(input.avgSizeKB / p.putPayloadUnitKB)) / 1e6) *
        p.putPayloadUnitPerMillion,
    },
  ];
  if (input.efo) {
    lines.push(
      {
        item: `EFO: ${input.consumers} consumer(s) × ${shardCount(shards)} × ${HOURS_PER_MONTH} h`,
        usd: input.consumers * shards * HOURS_PER_MONTH * p.efoConsumerShardHour,
      },
      { item: 'EFO retrievals', usd: input.consumers * gbPerConsumer * p.efoRetrievalPerGB },
    );
  } else {
    lines.push({
      item: 'shared-throughput retrievals',
      usd: input.consumers * gbPerConsumer * p.sharedRetrievalPerGB,
    });
  }
  return total(lines);
};

export const onDemandMonthly = (input: PlanInput, recordsPerMonth: number): ModeCost => {
  const p = PRICES.kinesis.onDemand;
  const meteredKB = Math.ceil(input.avgSizeKB / p.ingestRoundingKB) * p.ingestRoundingKB;
  const gbPerConsumer = (recordsPerMonth * input.avgSizeKB) / KB_PER_GB;
  return total([
    { item: `1 stream × ${HOURS_PER_MONTH} h`, usd: HOURS_PER_MONTH * p.streamHour },
    {
      item: 'data in (each record rounded up to 1 KB)',
      usd: ((recordsPerMonth * meteredKB) / KB_PER_GB) * p.ingestPerGB,
    },
    ...(input.efo
      ? [
          // Not confirmed either way (see prices.ts): the line says so instead of leaving it out silently.
          { item: 'EFO consumer-shard hours (assumed none on-demand)', usd: 0 },
          { item: 'EFO retrievals', usd: input.consumers * gbPerConsumer * p.efoRetrievalPerGB },
        ]
      : [
          {
            item: 'shared-throughput retrievals',
            usd: input.consumers * gbPerConsumer * p.sharedRetrievalPerGB,
          },
        ]),
  ]);
};

/** Lambda cost of `invocations` invocations of `ms` each at `memoryMb`: requests plus arm64 GB-seconds. */
export const lambdaCost = (invocations: number, ms: number, memoryMb: number): number =>
  (invocations / 1e6) * PRICES.lambda.requestPerMillion +
  invocations * (memoryMb / 1024) * (ms / 1000) * PRICES.lambda.arm64PerGBSecond;

/**
 * The most records per consumer invocation: the batch size, or fewer when records are so large that the batch would
 * not fit the invocation's 6 MB payload, where each record's data is base64-encoded (a third larger).
 */
export const consumerRecordsPerInvocation = (
  input: Pick<PlanInput, 'avgSizeKB' | 'consumerBatchSize'>,
): number => {
  const l = LAMBDA_QUOTAS;
  const recordBytes = 4 * Math.ceil((input.avgSizeKB * 1024) / 3) + l.kinesisEventRecordOverheadBytes;
  return Math.max(1, Math.min(input.consumerBatchSize, Math.floor(l.invocationPayloadBytes / recordBytes)));
};

/** A shared-throughput event source mapping polls each shard about once a second: a batch gathers at least that long. */
export const POLL_INTERVAL_SECONDS = 1;

/**
 * Records per consumer invocation at `averageRecordsPerSecond`: a batch holds what one shard (or, with a
 * parallelization factor, one of its concurrent batches) takes in during the batching window, at least 1 and at most
 * consumerRecordsPerInvocation. Full batches only once each shard takes the batch size within the window.
 */
export const consumerBatching = (
  input: Pick<PlanInput, 'avgSizeKB' | 'consumerBatchSize'>,
  averageRecordsPerSecond: number,
  shards: number,
  limits: Pick<PipelineLimits, 'parallelizationFactor' | 'batchingWindowSeconds'>,
): ConsumerBatching => {
  const seconds = Math.max(limits.batchingWindowSeconds, POLL_INTERVAL_SECONDS);
  const gathered = (averageRecordsPerSecond / (shards * limits.parallelizationFactor)) * seconds;
  const most = consumerRecordsPerInvocation(input);
  return {
    records: Math.min(most, Math.max(1, gathered)),
    gathered,
    most,
    seconds,
    shards,
    parallelizationFactor: limits.parallelizationFactor,
  };
};

/** Per million events; the consumer at `perInvocation` records an invocation (full batches unless given). */
export const costPerMillionEvents = (
  input: PlanInput,
  perInvocation = consumerRecordsPerInvocation(input),
): PerMillionEvents => {
  const events = 1e6;
  const requests = events / input.eventsPerRequest;
  const requestKB = input.eventsPerRequest * input.avgSizeKB;
  const apiGateway =
    (requests *
      Math.ceil(requestKB / PRICES.apiGateway.httpMeteringKB) *
      PRICES.apiGateway.httpRequestPerMillion) /
    1e6;
  const ingestLambda = lambdaCost(requests, input.ingestMs, input.memoryMb);
  const consumerLambda = lambdaCost(events / perInvocation, input.consumerMs, input.memoryMb);
  const dynamodb =
    ((events * writeUnitsPerEvent(input.avgSizeKB)) / 1e6) * PRICES.dynamodb.onDemandWritePerMillion;
  // A claim-checked event's data is one conditional PutObject; a redelivery's refused PUT is billed as well.
  const s3ClaimCheck = isClaimChecked(input.avgSizeKB)
    ? (events / 1000) * PRICES.s3.standardPutPerThousand
    : 0;
  return {
    apiGateway,
    ingestLambda,
    consumerLambda,
    dynamodb,
    s3ClaimCheck,
    total: apiGateway + ingestLambda + consumerLambda + dynamodb + s3ClaimCheck,
  };
};

/**
 * The saving's share of the on-demand bill in whole percent, rounded down: a share just under MIN_SAVING_SHARE
 * (19.7%) must not read as reaching it ("20% of on-demand, under 20%").
 */
const sharePercent = (share: number): number => Math.floor(Number((share * 100).toPrecision(12)));

/**
 * The rule: provisioned (sized for the peak) when it saves at least MIN_MONTHLY_SAVING_USD a month and at least
 * MIN_SAVING_SHARE of the on-demand bill; otherwise on-demand. Spiky traffic (a high peak-to-average ratio)
 * makes provisioned pay for idle peak shards, and small traffic makes the saving too small to be worth managing
 * shards, so both land on on-demand; steady, large traffic lands on provisioned.
 */
export const recommend = (
  provisioned: number,
  onDemand: number,
  peakToAverage: number,
  shardLimit?: { shards: number; maxShards: number },
): Recommendation => {
  const saving = onDemand - provisioned;
  const share = onDemand > 0 ? saving / onDemand : 0;
  if (
    saving >= MIN_MONTHLY_SAVING_USD &&
    share >= MIN_SAVING_SHARE &&
    shardLimit &&
    shardLimit.shards > shardLimit.maxShards
  ) {
    // The saving is real, but the stack as template.yaml declares it cannot have that many shards.
    return {
      mode: 'on-demand',
      reason:
        `provisioned would save ${usd(saving)} a month (${sharePercent(share)}% of on-demand), but needs ` +
        `${figure(shardLimit.shards)} shards, more than the ${figure(shardLimit.maxShards)} template.yaml allows: ` +
        'ON_DEMAND deploys as the template is; for the saving, raise ShardCount MaxValue first, and the account ' +
        `shard quota where it is below ${figure(shardLimit.shards)} (by default ${figure(KINESIS_QUOTAS.accountShardsLargeRegions)} in ${LARGE_REGIONS}, 1,000 or 6,000 elsewhere)`,
    };
  }
  if (saving >= MIN_MONTHLY_SAVING_USD && share >= MIN_SAVING_SHARE) {
    return {
      mode: 'provisioned',
      reason:
        `provisioned saves ${usd(saving)} a month (${sharePercent(share)}% of on-demand), at least ` +
        `${usd(MIN_MONTHLY_SAVING_USD)} and ${MIN_SAVING_SHARE * 100}%: ` +
        (peakToAverage > 1
          ? `traffic is large enough to keep shards sized for a peak ${peakToAverage}× the average busy`
          : 'traffic is steady and large enough to keep shards busy'),
    };
  }
  if (saving <= 0) {
    return {
      mode: 'on-demand',
      reason:
        peakToAverage > 1
          ? `on-demand is cheaper: provisioned shards must be sized for a peak ${peakToAverage}× the average and sit idle in between`
          : 'on-demand is cheaper at this volume',
    };
  }
  return {
    mode: 'on-demand',
    reason: `provisioned would save only ${usd(saving)} a month (${sharePercent(share)}% of on-demand), under ${usd(MIN_MONTHLY_SAVING_USD)} or ${MIN_SAVING_SHARE * 100}%: not worth sizing and resharding by hand`,
  };
};

/** Dollars with thousands separators and cents, as the plan prints them. */
export const usd = (n: number): string =>
  `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** `n` with thousands separators and at most two decimals, for the warnings. */
export const figure = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** "1 shard", "13 shards", "1,000 shards". */
export const shardCount = (n: number): string => `${figure(n)} shard${n === 1 ? '' : 's'}`;

/** Where the producers' requests go past what the ingest API deployed from template.yaml takes. */
export const ingestWarnings = (input: PlanInput, limits: PipelineLimits): string[] => {
  const warnings: string[] = [];
  const bodyKB = limits.maxBodyBytes / 1024;
  const bodyLimit = `the ingest API's request body limit of ${figure(bodyKB)} KB`;
  if (input.avgSizeKB > bodyKB) {
    warnings.push(
      `events of ${figure(input.avgSizeKB)} KB are larger than ${bodyLimit} and can never be ingested: the API answers 413`,
    );
  } else if (input.avgSizeKB * input.eventsPerRequest > bodyKB) {
    warnings.push(
      `${input.eventsPerRequest} events per request × ${figure(input.avgSizeKB)} KB = ${figure(input.avgSizeKB * input.eventsPerRequest)} KB ` +
        `exceed ${bodyLimit} (the API answers 413): send at most ${Math.floor(bodyKB / input.avgSizeKB)} per request`,
    );
  }
  const requestsPerSecond = input.recordsPerSecond / input.eventsPerRequest;
  if (requestsPerSecond > limits.apiRequestsPerSecond) {
    // The fewest events per request that stay under the limit, if a request can hold that many.
    const enough = Math.ceil(input.recordsPerSecond / limits.apiRequestsPerSecond);
    const batchingHelps = enough <= MAX_EVENTS_PER_REQUEST && enough * input.avgSizeKB <= bodyKB;
    warnings.push(
      `${figure(requestsPerSecond)} requests/s at peak (${figure(input.recordsPerSecond)} records/s ÷ ${input.eventsPerRequest} per request) ` +
        `exceed the ingest API's ${figure(limits.apiRequestsPerSecond)} requests/s (ApiThrottlingRateLimit default), above which it answers 429: ` +
        (batchingHelps
          ? `send at least ${figure(enough)} events per request, or raise ApiThrottlingRateLimit`
          : `raise ApiThrottlingRateLimit (no request can hold the ${figure(enough)} events per request it would take)`),
    );
  }
  return warnings;
};

/** Where the plan goes past what the pipeline deployed from template.yaml can take; `shards` are those provisioned. */
export const limitWarnings = (input: PlanInput, shards: number, limits: PipelineLimits): string[] => {
  const warnings = ingestWarnings(input, limits);
  if (shards > limits.maxShards) {
    warnings.push(
      `provisioned mode needs ${shardCount(shards)}, more than the ${figure(limits.maxShards)} template.yaml allows (ShardCount MaxValue): ` +
        'deploy with StreamMode ON_DEMAND, or raise MaxValue and the account shard quota',
    );
  }
  return warnings;
};

/**
 * Where the plan goes past Kinesis's own quotas (KINESIS_QUOTAS): an ON_DEMAND stream's write capacity when that
 * mode is recommended, and the account's shard quota when provisioned shards are (the count with headroom: the
 * plan already provisions below HEADROOM_SHARE of each shard's limit).
 */
export const quotaWarnings = (
  plan: Pick<ShardPlan, 'provisioned' | 'mbPerSecondIn'>,
  mode: Recommendation['mode'],
): string[] => {
  const q = KINESIS_QUOTAS;
  const { provisioned: shards, mbPerSecondIn: writeMBps } = plan;
  const write = `${figure(writeMBps)} MB/s of writes at peak`;
  const warnings: string[] = [];
  if (mode === 'provisioned') {
    if (shards > q.accountShardsLargeRegions) {
      warnings.push(
        `${figure(shards)} shards are more than the default account quota (${figure(q.accountShardsLargeRegions)} in ${LARGE_REGIONS}; 1,000 or 6,000 elsewhere): raise it in Service Quotas before provisioning them`,
      );
    }
    return warnings;
  }
  if (writeMBps > q.onDemandMaxWriteMBpsLargeRegions) {
    warnings.push(
      `${write} is more than one ON_DEMAND stream takes (${figure(q.onDemandMaxWriteMBpsLargeRegions / 1024)} GB/s in ${LARGE_REGIONS}, ${q.onDemandMaxWriteMBps} MB/s elsewhere): split the traffic across streams, or provision shards`,
    );
  } else if (writeMBps > q.onDemandMaxWriteMBps) {
    warnings.push(
      `${write}: an ON_DEMAND stream scales that far only in ${LARGE_REGIONS} (to ${figure(q.onDemandMaxWriteMBpsLargeRegions / 1024)} GB/s); elsewhere it stops at ${q.onDemandMaxWriteMBps} MB/s unless a support ticket raises it`,
    );
  }
  // Past the most a stream takes, the first peak is the least of it.
  if (writeMBps > q.onDemandInitialWriteMBps && writeMBps <= q.onDemandMaxWriteMBpsLargeRegions) {
    warnings.push(
      `a new ON_DEMAND stream starts at ${q.onDemandInitialWriteMBps} MB/s of writes and scales up with traffic: its first peak of ${figure(writeMBps)} MB/s is throttled until it has`,
    );
  }
  return warnings;
};

/**
 * Where the plan goes past the quotas of the services behind the stream (DYNAMODB_QUOTAS, LAMBDA_QUOTAS): the event
 * table's writes at peak, and the Lambda concurrency the pipeline needs at peak. `shards` is the plan's shard count,
 * the stream's size in provisioned mode and an estimate of it in on-demand mode.
 */
export const serviceQuotaWarnings = (
  input: Pick<PlanInput, 'recordsPerSecond' | 'avgSizeKB' | 'eventsPerRequest' | 'ingestMs'>,
  shards: number,
  limits: Pick<PipelineLimits, 'parallelizationFactor'>,
): string[] => {
  const warnings: string[] = [];
  const unitsPerEvent = writeUnitsPerEvent(input.avgSizeKB);
  const writeUnits = input.recordsPerSecond * unitsPerEvent;
  const writes = `${figure(writeUnits)} write request units/s into the event table at peak (${figure(input.recordsPerSecond)} events/s × ${unitsPerEvent} for an item of ${figure(itemSizeKB(input.avgSizeKB))} KB)`;
  const d = DYNAMODB_QUOTAS;
  if (writeUnits > d.onDemandTableWriteUnitsPerSecond) {
    warnings.push(
      `${writes} exceed DynamoDB's default quota of ${figure(d.onDemandTableWriteUnitsPerSecond)} for an on-demand table: raise the table-level write throughput quota in Service Quotas before going live`,
    );
  }
  if (writeUnits > d.newOnDemandTableWritesPerSecond) {
    warnings.push(
      `a new on-demand table sustains ${figure(d.newOnDemandTableWritesPerSecond)} write request units/s (writes of up to 1 KB) and then scales with traffic, to twice its previous peak within 30 minutes: ${writes} are throttled at first (the consumer retries, and falls behind) unless the table is pre-warmed`,
    );
  }
  // Little's law for the ingest function; the consumer keeps one invocation per shard and parallelization factor.
  const requestsPerSecond = input.recordsPerSecond / input.eventsPerRequest;
  const ingest = Math.ceil((requestsPerSecond * input.ingestMs) / 1000);
  const consumer = shards * limits.parallelizationFactor;
  const l = LAMBDA_QUOTAS;
  if (ingest + consumer > l.accountConcurrency) {
    warnings.push(
      `the pipeline needs about ${figure(ingest + consumer)} concurrent Lambda executions at peak (ingest ${figure(ingest)}: ${figure(requestsPerSecond)} requests/s × ${figure(input.ingestMs)} ms; consumer ${figure(consumer)}: ${shardCount(shards)} × ParallelizationFactor ${limits.parallelizationFactor}), more than the default ${figure(l.accountConcurrency)} per account and Region that all its functions share: raise it in Service Quotas (new accounts may start lower), or send more events per request`,
    );
  }
  return warnings;
};

const getRecordsLimit =
  `a shard serves ${SHARD_GET_RECORDS_PER_SECOND} GetRecords calls a second to all its shared-throughput consumers, and ` +
  'each Lambda event source mapping polls every shard about once a second, so more than ' +
  `${SHARD_GET_RECORDS_PER_SECOND} are throttled however many shards there are`;

/** Why more than SHARD_GET_RECORDS_PER_SECOND shared consumers are planned with enhanced fan-out. */
const efoInsteadReason = (consumers: number): string =>
  `${consumers} consumers cannot share reads: ${getRecordsLimit}; with enhanced fan-out (--efo) each has its own ` +
  `${SHARD_READ_MB_PER_SECOND} MB/s per shard and no GetRecords calls, so this plan uses it`;

/** Why more than MAX_EFO_CONSUMERS consumers get no plan on one stream. */
const unservedReason = (consumers: number): string =>
  `${consumers} consumers cannot read one stream in either capacity mode: sharing reads, ${getRecordsLimit}; ` +
  `enhanced fan-out registers at most ${MAX_EFO_CONSUMERS} consumers per stream. Fan out downstream instead: one ` +
  'consumer that republishes to the others (plan the stream with --consumers 1), or several streams, each read by ' +
  `at most ${MAX_EFO_CONSUMERS} (plan each with --efo). No Kinesis cost is priced for ${consumers} on one stream`;

export const makePlan = (asked: PlanInput, limits: PipelineLimits): Plan => {
  const tooManyToShare = !asked.efo && asked.consumers > SHARD_GET_RECORDS_PER_SECOND;
  const reads: Reads = !tooManyToShare
    ? 'as-given'
    : asked.consumers <= MAX_EFO_CONSUMERS
      ? 'efo-instead-of-shared'
      : 'unserved';
  const input = reads === 'efo-instead-of-shared' ? { ...asked, efo: true } : asked;
  const shards = planShards(input);
  const averageRecordsPerSecond = input.recordsPerSecond / input.peakToAverage;
  const recordsPerMonth = averageRecordsPerSecond * SECONDS_PER_MONTH;
  const provisioned = provisionedMonthly(input, shards.provisioned, recordsPerMonth);
  const onDemand = onDemandMonthly(input, recordsPerMonth);
  const batching = consumerBatching(input, averageRecordsPerSecond, shards.provisioned, limits);
  const warnings: string[] = [];
  // Events past the body limit are never sent, which ingestWarnings says instead.
  if (batching.most < input.consumerBatchSize && input.avgSizeKB * 1024 <= limits.maxBodyBytes) {
    warnings.push(
      `records of ${figure(input.avgSizeKB)} KB fill the consumer's 6 MB invocation payload (base64-encoded) at ${batching.most} per invocation, fewer than the batch size of ${input.consumerBatchSize}: an invocation holds at most ${batching.most}`,
    );
  }
  // Past the body limit the events cannot be sent at all, which ingestWarnings says instead.
  if (input.avgSizeKB > 1024 && input.avgSizeKB * 1024 <= limits.maxBodyBytes) {
    warnings.push(
      'records over 1 MiB need the stream raised with UpdateMaxRecordSize (MaxRecordSizeKiB in template.yaml)',
    );
  }
  const plan = {
    input,
    reads,
    shards,
    averageRecordsPerSecond,
    recordsPerMonth,
    provisioned,
    onDemand,
    consumerBatching: batching,
    perMillionEvents: costPerMillionEvents(input, batching.records),
  };
  if (reads === 'unserved') {
    // No stream to size: only the warnings that hold whatever reads it (record size, the producers' requests).
    return {
      ...plan,
      recommendation: { mode: 'none', reason: unservedReason(input.consumers) },
      warnings: [...warnings, ...ingestWarnings(input, limits)],
    };
  }
  const byCost = recommend(provisioned.total, onDemand.total, input.peakToAverage, {
    shards: shards.provisioned,
    maxShards: limits.maxShards,
  });
  const recommendation =
    reads === 'efo-instead-of-shared'
      ? { ...byCost, reason: `${efoInsteadReason(input.consumers)}; ${byCost.reason}` }
      : byCost;
  warnings.push(
    ...limitWarnings(input, shards.provisioned, limits),
    ...quotaWarnings(shards, recommendation.mode),
    ...serviceQuotaWarnings(input, shards.provisioned, limits),
  );
  return { ...plan, recommendation, warnings };
};
