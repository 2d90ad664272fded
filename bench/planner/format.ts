import type { Plan } from './costs.ts';
import { ITEM_OVERHEAD_KB } from './costs.ts';
import { PRICES } from './prices.ts';

const usd = (n: number): string => `$${n.toFixed(2)}`;
const rate = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
const mb = (n: number): string => n.toFixed(3);

/** The plan as the terminal shows it. */
export const formatPlan = (plan: Plan): string => {
  const { input, shards } = plan;
  const perMillion = (monthly: number) => (monthly / plan.recordsPerMonth) * 1e6;
  const pad = (label: string) => label.padEnd(52);
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
    `  shards   = ${shards.shards} (bound by ${shards.bound})`,
    '',
    `Kinesis per month (${rate(plan.averageRecordsPerSecond)} records/s on average, ${(plan.recordsPerMonth / 1e6).toFixed(1)} M records):`,
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
    `    ${pad(`Lambda consumer (${input.consumerBatchSize}/batch, ${input.consumerMs} ms/batch)`)}${usd(plan.perMillionEvents.consumerLambda).padStart(12)}`,
    `    ${pad(`DynamoDB on-demand writes (item = event + ${ITEM_OVERHEAD_KB} KB)`)}${usd(plan.perMillionEvents.dynamodb).padStart(12)}`,
    `    ${pad('total (without Kinesis)')}${usd(plan.perMillionEvents.total).padStart(12)}`,
    '',
    `Recommendation: ${plan.recommendation.mode.toUpperCase()} — ${plan.recommendation.reason}.`,
    ...plan.warnings.map((w) => `Warning: ${w}.`),
    '',
    'Not included: free tiers, extended retention, data transfer out of AWS, CloudWatch logs and metrics, S3.',
  ];
  return lines.join('\n');
};
