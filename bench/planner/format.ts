import type { Plan } from './costs.ts';
import {
  CLAIM_CHECK_THRESHOLD_KB,
  consumerRecordsPerInvocation,
  ITEM_OVERHEAD_KB,
  isClaimChecked,
  itemSizeKB,
  usd,
} from './costs.ts';
import { PRICES } from './prices.ts';

/** Below 1, three significant digits, so that 0.001 records/s does not print as 0. */
const small = (n: number): string =>
  n.toLocaleString('en-US', { minimumSignificantDigits: 1, maximumSignificantDigits: 3 });
const rate = (n: number): string =>
  n !== 0 && Math.abs(n) < 1 ? small(n) : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
const mb = (n: number): string => (n !== 0 && Math.abs(n) < 0.001 ? small(n) : n.toFixed(3));

/** What the shard count is bound by, as the formula's last line says it. */
const boundBy = (bound: Plan['shards']['bound']): string =>
  bound === 'minimum' ? 'every term is 0: the minimum of 1 shard' : `bound by ${bound}`;

/** The plan as the terminal shows it. */
export const formatPlan = (plan: Plan): string => {
  const { input, shards } = plan;
  const perMillion = (monthly: number) => (monthly / plan.recordsPerMonth) * 1e6;
  const pad = (label: string) => label.padEnd(52);
  const claimChecked = isClaimChecked(input.avgSizeKB);
  const lines = [
    `Capacity and cost plan (prices: ${PRICES.region}, as of ${PRICES.asOf}; see bench/planner/prices.ts)`,
    '',
    `Input: ${rate(input.recordsPerSecond)} records/s at peak, ${input.avgSizeKB} KB average, ${input.consumers} consumer(s)` +
      `${input.efo ? ' with enhanced fan-out' : ' sharing reads'}, peak-to-average ${input.peakToAverage}`,
    '',
    'Shards = max(ceil(MB/s in ÷ 1), ceil(records/s ÷ 1000), ceil(MB/s out ÷ 2))',
    `  MB/s in  = ${rate(input.recordsPerSecond)} × ${input.avgSizeKB} KB ÷ 1024 = ${mb(shards.mbPerSecondIn)}  → ${shards.byBytesIn}`,
    `  records  = ${rate(input.recordsPerSecond)} ÷ 1000  → ${shards.byRecords}`,
    `  MB/s out = ${input.efo ? `${mb(shards.mbPerSecondIn)} (each EFO consumer has its own 2 MB/s per shard)` : `${mb(shards.mbPerSecondIn)} × ${input.consumers} consumer(s) = ${mb(shards.mbPerSecondOut)}`}  → ${shards.byBytesOut}`,
    `  shards   = ${shards.shards} (${boundBy(shards.bound)})`,
    '',
    `Kinesis per month (${rate(plan.averageRecordsPerSecond)} records/s on average, ${rate(plan.recordsPerMonth / 1e6)} M records):`,
    '  Provisioned (sized for the peak):',
    ...plan.provisioned.lines.map((l) => `    ${pad(l.item)}${usd(l.usd).padStart(12)}`),
    `    ${pad('total')}${usd(plan.provisioned.total).padStart(12)}`,
    '  On-demand (Standard):',
    ...plan.onDemand.lines.map((l) => `    ${pad(l.item)}${usd(l.usd).padStart(12)}`),
    `    ${pad('total')}${usd(plan.onDemand.total).padStart(12)}`,
    `  Per million events: provisioned ${usd(perMillion(plan.provisioned.total))}, on-demand ${usd(perMillion(plan.onDemand.total))}`,
    '',
    'Pipeline cost per million events:',
    `    ${pad(`API Gateway HTTP API (${input.eventsPerRequest} event(s) per request)`)}${usd(plan.perMillionEvents.apiGateway).padStart(12)}`,
    `    ${pad(`Lambda ingest (arm64, ${input.memoryMb} MB, ${input.ingestMs} ms/request)`)}${usd(plan.perMillionEvents.ingestLambda).padStart(12)}`,
    `    ${pad(`Lambda consumer (${consumerRecordsPerInvocation(input)}/batch, ${input.consumerMs} ms/batch)`)}${usd(plan.perMillionEvents.consumerLambda).padStart(12)}`,
    `    ${pad(claimChecked ? `DynamoDB on-demand writes (pointer item, ${itemSizeKB(input.avgSizeKB)} KB)` : `DynamoDB on-demand writes (item = event + ${ITEM_OVERHEAD_KB} KB)`)}${usd(plan.perMillionEvents.dynamodb).padStart(12)}`,
    `    ${pad(`S3 claim-check PUTs (items over ${CLAIM_CHECK_THRESHOLD_KB} KB: ${claimChecked ? '1 per event' : 'none'})`)}${usd(plan.perMillionEvents.s3ClaimCheck).padStart(12)}`,
    `    ${pad('total (without Kinesis)')}${usd(plan.perMillionEvents.total).padStart(12)}`,
    '',
    `Recommendation: ${plan.recommendation.mode.toUpperCase()} — ${plan.recommendation.reason}.`,
    ...plan.warnings.map((w) => `Warning: ${w}.`),
    '',
    'Not included: free tiers, extended retention, data transfer out of AWS, CloudWatch logs and metrics,',
    '  DynamoDB storage and point-in-time recovery, KMS requests (the stream and the tables are KMS-encrypted, the',
    '  queues and the bucket too with a customer key), SQS (the failure queues), S3 storage.',
  ];
  return lines.join('\n');
};
