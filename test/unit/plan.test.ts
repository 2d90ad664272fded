import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  type PlanInput,
  PlanInputError,
  parsePlanArgs,
  planShards,
} from '#bench/planner/capacity.ts';
import { costPerMillionEvents, makePlan, recommend } from '#bench/planner/costs.ts';
import { formatPlan } from '#bench/planner/format.ts';

const input = (over: Partial<PlanInput>): PlanInput => ({
  recordsPerSecond: 1000,
  avgSizeKB: 1,
  consumers: 1,
  efo: false,
  ...DEFAULTS,
  ...over,
});

describe('Planner: shard count', () => {
  it.each([
    // 1,000 × 1 KB = 0.977 MB/s in → 1; 1,000 records/s → 1; out 0.977 × 1 = 0.977 MB/s ÷ 2 → 1. Max = 1.
    { case: 'one shard at 1,000 records/s of 1 KB', over: {}, shards: 1, bound: 'records' },
    // In 0.977 → 1; records → 1; out 0.977 × 5 consumers = 4.883 MB/s ÷ 2 = 2.44 → 3. Max = 3 (reads).
    { case: 'five shared consumers', over: { consumers: 5 }, shards: 3, bound: 'bytes out' },
    // With EFO each consumer reads its own 2 MB/s per shard: out term 0.977 ÷ 2 → 1. Max = 1.
    { case: 'five EFO consumers', over: { consumers: 5, efo: true }, shards: 1, bound: 'records' },
    // AWS's own example: 1,000 × 5 KB = 4.883 MB/s in → 5; records → 1; out 4.883 ÷ 2 → 3. Max = 5 (writes).
    { case: '5 KB records', over: { avgSizeKB: 5 }, shards: 5, bound: 'bytes in' },
    // 5,000 × 0.5 KB = 2.441 MB/s in → 3; 5,000 ÷ 1,000 → 5; out 2.441 × 2 = 4.883 ÷ 2 → 3. Max = 5 (records).
    {
      case: 'small records, two consumers',
      over: { recordsPerSecond: 5000, avgSizeKB: 0.5, consumers: 2 },
      shards: 5,
      bound: 'records',
    },
    // Exactly at the limits: 1,024 × 2 KB = 2 MB/s in → 2 (not 3); 1,024 ÷ 1,000 → 2; out 2 ÷ 2 = 1 → 1. Max = 2.
    { case: 'exactly 2 MB/s', over: { recordsPerSecond: 1024, avgSizeKB: 2 }, shards: 2, bound: 'records' },
    // 1 record/s of 0.1 KB still needs one shard.
    { case: 'a trickle', over: { recordsPerSecond: 1, avgSizeKB: 0.1 }, shards: 1, bound: 'records' },
  ])('$case → $shards shard(s)', ({ over, shards, bound }) => {
    // Act
    const plan = planShards(input(over));
    // Assess
    expect(plan.shards).toBe(shards);
    expect(plan.bound).toBe(bound);
  });
});

describe('Planner: monthly Kinesis cost', () => {
  it('prices provisioned and on-demand for 1,000 records/s of 1 KB read by five shared consumers', () => {
    // Prepare: 1,000 records/s × 2,628,000 s (730 h) = 2,628,000,000 records = 2,628 M records a month,
    // which is 2,628,000,000 KB ÷ 1,048,576 = 2,506.2561 GB.
    const plan = makePlan(input({ consumers: 5 }));
    // Assess
    // Provisioned: 3 shards × 730 h × $0.015 = $32.85; 2,628 M PUT payload units × $0.014 = $36.792;
    // shared reads are free. Total $69.642.
    expect(plan.shards.shards).toBe(3);
    expect(plan.provisioned.total).toBeCloseTo(69.642, 3);
    // On-demand: 730 h × $0.04 = $29.20; 2,506.2561 GB in × $0.08 = $200.5005;
    // 5 × 2,506.2561 GB out × $0.04 = $501.2512. Total $730.9517.
    expect(plan.onDemand.total).toBeCloseTo(730.9517, 3);
    // Saving $661.31 (90%) ≥ $50 and ≥ 20% → provisioned.
    expect(plan.recommendation.mode).toBe('provisioned');
  });

  it('prices enhanced fan-out per consumer in both modes', () => {
    // Prepare: 1,000 records/s of 1 KB, 2 EFO consumers → 1 shard; 2,506.2561 GB a month per consumer.
    const plan = makePlan(input({ consumers: 2, efo: true }));
    // Assess
    // Provisioned: $10.95 + $36.792 PUT units + 2 × 1 shard × 730 h × $0.015 = $21.90
    // + 2 × 2,506.2561 GB × $0.013 = $65.1627. Total $134.8047.
    expect(plan.provisioned.total).toBeCloseTo(134.8047, 3);
    // On-demand: $29.20 + $200.5005 in + 2 × 2,506.2561 GB × $0.05 = $250.6256. Total $480.3261.
    expect(plan.onDemand.total).toBeCloseTo(480.3261, 3);
  });

  it('recommends on-demand for small spiky traffic, where provisioned saves too little', () => {
    // Prepare: peak 20 records/s of 2 KB, average 20 ÷ 4 = 5 records/s → 13,140,000 records a month.
    const plan = makePlan(input({ recordsPerSecond: 20, avgSizeKB: 2, peakToAverage: 4 }));
    // Assess
    // Provisioned: 1 shard × 730 h × $0.015 = $10.95 + 13.14 M PUT units × $0.014 = $0.18396 → $11.13396.
    expect(plan.provisioned.total).toBeCloseTo(11.134, 3);
    // On-demand: $29.20 + 13,140,000 × 2 KB ÷ 1,048,576 = 25.0626 GB × $0.08 = $2.0050 + 25.0626 GB × $0.04
    // = $1.0025 → $32.2075. Provisioned saves $21.07: under $50 → on-demand.
    expect(plan.onDemand.total).toBeCloseTo(32.2075, 3);
    expect(plan.recommendation.mode).toBe('on-demand');
    expect(plan.recommendation.reason).toContain('not worth');
  });

  it('recommends on-demand when shards sized for a high peak cost more than paying per GB', () => {
    // Prepare: peak 10,000 records/s of 1 KB → 10 shards; average 10,000 ÷ 50 = 200/s → 525.6 M records.
    const plan = makePlan(input({ recordsPerSecond: 10_000, peakToAverage: 50 }));
    // Assess
    // Provisioned: 10 × 730 × $0.015 = $109.50 + 525.6 × $0.014 = $7.3584 → $116.8584.
    expect(plan.provisioned.total).toBeCloseTo(116.8584, 3);
    // On-demand: $29.20 + 501.2512 GB × $0.08 = $40.1001 + 501.2512 GB × $0.04 = $20.0500 → $89.3501.
    expect(plan.onDemand.total).toBeCloseTo(89.3501, 3);
    expect(plan.recommendation).toMatchObject({ mode: 'on-demand' });
    expect(plan.recommendation.reason).toContain('peak 50×');
  });

  it('applies both thresholds of the rule', () => {
    // Act
    const large = recommend(100, 200, 1); // saves $100 and 50%
    const cheapShare = recommend(900, 1000, 1); // saves $100 but only 10%
    const smallSaving = recommend(10, 40, 1); // saves 75% but only $30
    // Assess
    expect(large.mode).toBe('provisioned');
    expect(cheapShare.mode).toBe('on-demand');
    expect(smallSaving.mode).toBe('on-demand');
  });

  it('explains a provisioned pick by the peak when traffic is not steady', () => {
    // Act
    const steady = recommend(100, 200, 1);
    const peaky = recommend(100, 200, 3);
    // Assess
    expect(steady.reason).toContain('traffic is steady and large enough to keep shards busy');
    expect(peaky).toMatchObject({ mode: 'provisioned' });
    expect(peaky.reason).toContain('shards sized for a peak 3× the average busy');
    expect(peaky.reason).not.toContain('steady');
  });
});

describe('Planner: cost per million events', () => {
  it('adds API Gateway, both Lambda functions and DynamoDB with the default assumptions', () => {
    // Act
    const cost = costPerMillionEvents(input({}));
    // Assess
    // API Gateway: 1,000,000 requests of 1 KB (one 512 KB unit each) × $1.00 per million = $1.00.
    expect(cost.apiGateway).toBeCloseTo(1, 6);
    // Ingest: 1 M requests × $0.20/M = $0.20 + 1 M × 0.5 GB × 0.025 s = 12,500 GB-s × $0.0000133334
    // = $0.1666675 → $0.3666675.
    expect(cost.ingestLambda).toBeCloseTo(0.3666675, 6);
    // Consumer: 1 M ÷ 100 = 10,000 invocations × $0.20/M = $0.002 + 10,000 × 0.5 GB × 0.06 s = 300 GB-s
    // × $0.0000133334 = $0.0040000 → $0.0060000.
    expect(cost.consumerLambda).toBeCloseTo(0.006, 6);
    // DynamoDB: an item of 1 KB + 0.3 KB → 2 WRU; 2 M WRU × $0.625/M = $1.25.
    expect(cost.dynamodb).toBeCloseTo(1.25, 6);
    expect(cost.total).toBeCloseTo(2.6226675, 6);
  });

  it('spreads API Gateway and ingest requests over batched events', () => {
    // Act: 100 events of 10 KB per request = 1,000 KB → two 512 KB units; 10,000 requests.
    const cost = costPerMillionEvents(input({ avgSizeKB: 10, eventsPerRequest: 100 }));
    // Assess: 10,000 requests × 2 units × $1.00/M = $0.02.
    expect(cost.apiGateway).toBeCloseTo(0.02, 6);
  });
});

describe('Planner: command line', () => {
  it('reads the flags, with the documented defaults', () => {
    // Act
    const parsed = parsePlanArgs([
      '--records-per-sec',
      '2000',
      '--avg-size',
      '1.5',
      '--consumers',
      '3',
      '--efo',
    ]);
    // Assess
    expect(parsed).toEqual({
      recordsPerSecond: 2000,
      avgSizeKB: 1.5,
      consumers: 3,
      efo: true,
      peakToAverage: 1,
      eventsPerRequest: 1,
      memoryMb: 512,
      ingestMs: 25,
      consumerBatchSize: 100,
      consumerMs: 60,
    });
  });

  it.each([
    { args: ['--avg-size', '1', '--consumers', '1'], message: '--records-per-sec is required' },
    {
      args: ['--records-per-sec', 'many', '--avg-size', '1', '--consumers', '1'],
      message: 'must be a number',
    },
    { args: ['--records-per-sec', '0', '--avg-size', '1', '--consumers', '1'], message: 'greater than 0' },
    { args: ['--records-per-sec', '1', '--avg-size', '20000', '--consumers', '1'], message: 'at most 10240' },
    { args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1.5'], message: 'whole number' },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '21', '--efo'],
      message: 'at most 20',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1', '--peak-to-average', '0.5'],
      message: 'at least 1',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1', '--shards', '2'],
      message: "Unknown option '--shards'",
    },
  ])('refuses $args with a clear message', ({ args, message }) => {
    // Act / Assess
    expect(() => parsePlanArgs(args)).toThrow(PlanInputError);
    expect(() => parsePlanArgs(args)).toThrow(message);
  });

  it('prints the formula, both modes, the per-event costs and the recommendation', () => {
    // Act
    const text = formatPlan(makePlan(input({ consumers: 5 })));
    // Assess
    expect(text).toContain('shards   = 3 (bound by bytes out)');
    expect(text).toContain('$69.64');
    expect(text).toContain('$730.95');
    expect(text).toContain('Recommendation: PROVISIONED');
    expect(text).toContain('us-east-1, as of 2026-11-27');
  });
});
