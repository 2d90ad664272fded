import { HEADROOM_SHARE, SHARD_GET_RECORDS_PER_SECOND } from './capacity.ts';
import type { Plan } from './costs.ts';
import {
  CLAIM_CHECK_THRESHOLD_KB,
  figure,
  ITEM_OVERHEAD_KB,
  isClaimChecked,
  itemSizeKB,
  shardCount,
  usd,
} from './costs.ts';
import { HOURS_PER_MONTH, PRICES } from './prices.ts';

/** Below 1, three significant digits, so that 0.001 records/s does not print as 0. */
const small = (n: number): string =>
  n.toLocaleString('en-US', { minimumSignificantDigits: 1, maximumSignificantDigits: 3 });
const rate = (n: number): string => (n !== 0 && Math.abs(n) < 1 ? small(n) : figure(n));
const mb = (n: number): string =>
  n !== 0 && Math.abs(n) < 0.001
    ? small(n)
    : n.toLocaleString('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
/** A size or ratio as given, with thousands separators (10,240 KB; 0.0009765625 KB). */
const given = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 10 });
const percent = (share: number): string =>
  `${share !== 0 && share < 0.01 ? small(share * 100) : Math.round(share * 100)}%`;
const records = (n: number): string => `${rate(n)} record${n === 1 ? '' : 's'}`;

/** What the shard count is bound by, as the formula's last line says it. */
const boundBy = (bound: Plan['shards']['bound']): string =>
  bound === 'minimum' ? 'every term is 0: the minimum of 1 shard' : `bound by ${bound}`;

/** The formula's count, then the count with headroom that provisioned mode is priced at. */
const shardLines = ({ shards }: Plan): string[] => {
  const minimum = `  shards   = ${figure(shards.shards)} (${boundBy(shards.bound)})`;
  if (shards.load === 0) {
    return [minimum, `  provision ${shardCount(shards.provisioned)}, as priced below`];
  }
  return [
    `${minimum}: the fewest that take the peak, at ${percent(shards.load / shards.shards)} of their limit`,
    `  provision ${shardCount(shards.provisioned)} = ceil(${rate(shards.load)} ÷ ${HEADROOM_SHARE}), at ` +
      `${percent(shards.load / shards.provisioned)} of their limit at peak (at most ${percent(HEADROOM_SHARE)}), as priced below`,
    '    (partition keys never spread exactly evenly: shards at their limit throttle some records, a few percent',
    '    in the load test on 2 shards at 100%)',
  ];
};

/** The plan when no stream serves its consumers: what it would take instead, and no prices. */
const unservedLines = (plan: Plan): string[] => [
  `Recommendation: NEITHER MODE — ${plan.recommendation.reason}.`,
  ...plan.warnings.map((w) => `Warning: ${w}.`),
];

/** The plan as the terminal shows it. */
export const formatPlan = (plan: Plan): string => {
  const { input, shards } = plan;
  const perMillion = (monthly: number) => (monthly / plan.recordsPerMonth) * 1e6;
  const pad = (label: string) => label.padEnd(52);
  const claimChecked = isClaimChecked(input.avgSizeKB);
  const batch = plan.consumerBatching;
  const requestKB = input.eventsPerRequest * input.avgSizeKB;
  const api = PRICES.apiGateway;
  const reads =
    plan.reads === 'efo-instead-of-shared'
      ? ` with enhanced fan-out (more than ${SHARD_GET_RECORDS_PER_SECOND} cannot share reads)`
      : input.efo
        ? ' with enhanced fan-out'
        : ' sharing reads';
  const head = [
    `Capacity and cost plan (prices: ${PRICES.region}, as of ${PRICES.asOf}; see bench/planner/prices.ts)`,
    `Units: KB = 1,024 bytes, MB = MiB (1,048,576 bytes), GB = 1,024 MB; a month = ${HOURS_PER_MONTH} hours`,
    '',
    `Input: ${rate(input.recordsPerSecond)} records/s at peak, ${given(input.avgSizeKB)} KB average, ${input.consumers} consumer(s)` +
      `${reads}, peak-to-average ${given(input.peakToAverage)}`,
    '',
  ];
  if (plan.reads === 'unserved') return [...head, ...unservedLines(plan)].join('\n');
  const lines = [
    ...head,
    'Shards = max(ceil(MB/s in ÷ 1), ceil(records/s ÷ 1000), ceil(MB/s out ÷ 2))',
    `  MB/s in  = ${rate(input.recordsPerSecond)} × ${given(input.avgSizeKB)} KB ÷ 1024 = ${mb(shards.mbPerSecondIn)}  → ${figure(shards.byBytesIn)}`,
    `  records  = ${rate(input.recordsPerSecond)} ÷ 1000  → ${figure(shards.byRecords)}`,
    `  MB/s out = ${input.efo ? `${mb(shards.mbPerSecondIn)} (each EFO consumer has its own 2 MB/s per shard)` : `${mb(shards.mbPerSecondIn)} × ${input.consumers} consumer(s) = ${mb(shards.mbPerSecondOut)}`}  → ${figure(shards.byBytesOut)}`,
    ...shardLines(plan),
    '',
    `Kinesis per month (${rate(plan.averageRecordsPerSecond)} records/s on average, ${rate(plan.recordsPerMonth / 1e6)} M records):`,
    `  Provisioned (${shardCount(shards.provisioned)}, sized for the peak with headroom):`,
    ...plan.provisioned.lines.map((l) => `    ${pad(l.item)}${usd(l.usd).padStart(12)}`),
    `    ${pad('total')}${usd(plan.provisioned.total).padStart(12)}`,
    '  On-demand (Standard):',
    ...plan.onDemand.lines.map((l) => `    ${pad(l.item)}${usd(l.usd).padStart(12)}`),
    `    ${pad('total')}${usd(plan.onDemand.total).padStart(12)}`,
    `  Per million events: provisioned ${usd(perMillion(plan.provisioned.total))}, on-demand ${usd(perMillion(plan.onDemand.total))}`,
    '',
    'Pipeline cost per million events:',
    `    ${pad(`API Gateway HTTP API (${input.eventsPerRequest} event(s) per request)`)}${usd(plan.perMillionEvents.apiGateway).padStart(12)}`,
    `    ${pad(`Lambda ingest (arm64, ${figure(input.memoryMb)} MB, ${figure(input.ingestMs)} ms/request)`)}${usd(plan.perMillionEvents.ingestLambda).padStart(12)}`,
    `    ${pad(`Lambda consumer (${records(batch.records)}/invocation, ${figure(input.consumerMs)} ms)`)}${usd(plan.perMillionEvents.consumerLambda).padStart(12)}`,
    `    ${pad(claimChecked ? `DynamoDB on-demand writes (pointer item, ${itemSizeKB(input.avgSizeKB)} KB)` : `DynamoDB on-demand writes (item = event + ${ITEM_OVERHEAD_KB} KB)`)}${usd(plan.perMillionEvents.dynamodb).padStart(12)}`,
    `    ${pad(`S3 claim-check PUTs (items over ${CLAIM_CHECK_THRESHOLD_KB} KB: ${claimChecked ? '1 per event' : 'none'})`)}${usd(plan.perMillionEvents.s3ClaimCheck).padStart(12)}`,
    `    ${pad('total (without Kinesis)')}${usd(plan.perMillionEvents.total).padStart(12)}`,
    `  API Gateway HTTP API: ${usd(api.httpRequestPerMillion)} per million requests (the first ${api.httpFirstTierMillionRequests} million a month),`,
    `    each metered in ${api.httpMeteringKB} KB increments: ${input.eventsPerRequest} × ${given(input.avgSizeKB)} KB = ${given(requestKB)} KB → ` +
      `${figure(Math.ceil(requestKB / api.httpMeteringKB))} per request`,
    `  Consumer: ${records(batch.records)} per invocation: ${rate(plan.averageRecordsPerSecond)} records/s on average ÷ ` +
      `(${shardCount(batch.shards)} × ParallelizationFactor ${batch.parallelizationFactor})`,
    `    × ${figure(batch.seconds)} s batching window = ${rate(batch.gathered)}, at least 1 and at most ${figure(batch.most)} ` +
      '(the batch size, or as many as fit 6 MB)',
    '',
    `Recommendation: ${plan.recommendation.mode.toUpperCase()}${plan.reads === 'efo-instead-of-shared' ? ' with enhanced fan-out' : ''} — ${plan.recommendation.reason}.`,
    ...plan.warnings.map((w) => `Warning: ${w}.`),
    '',
    'Not included: free tiers, extended retention, data transfer out of AWS, CloudWatch logs and metrics,',
    '  DynamoDB storage and point-in-time recovery, KMS requests (the stream and the tables are KMS-encrypted, the',
    '  queues and the bucket too with a customer key), SQS (the failure queues), S3 storage.',
  ];
  return lines.join('\n');
};
