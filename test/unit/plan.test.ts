import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  type PlanInput,
  PlanInputError,
  parsePlanArgs,
  planShards,
} from '#bench/planner/capacity.ts';
import {
  consumerBatching,
  consumerRecordsPerInvocation,
  costPerMillionEvents,
  makePlan,
  quotaWarnings,
  recommend,
  serviceQuotaWarnings,
  usd,
} from '#bench/planner/costs.ts';
import { formatPlan } from '#bench/planner/format.ts';
import { loadPipelineLimits, type PipelineLimits, pipelineLimits } from '#bench/planner/limits.ts';
import { parseTemplate } from '#local/template/parse.ts';

/** The limits of the pipeline template.yaml deploys; 'Planner: pipeline limits' pins their values. */
const limits = loadPipelineLimits();

const input = (over: Partial<PlanInput>): PlanInput => ({
  recordsPerSecond: 1000,
  avgSizeKB: 1,
  consumers: 1,
  efo: false,
  ...DEFAULTS,
  ...over,
});

describe('Planner: shard count', () => {
  // `provision` is ceil(the largest term before rounding ÷ 0.8), at least the formula's count: each shard at most
  // 80% of its limit at peak.
  it.each([
    // 1,000 × 1 KB = 0.977 MB/s in → 1; 1,000 records/s → 1; out 0.977 × 1 = 0.977 MB/s ÷ 2 → 1. Max = 1.
    // Provision: largest term 1 (records) ÷ 0.8 = 1.25 → 2.
    { case: 'one shard at 1,000 records/s of 1 KB', over: {}, shards: 1, bound: 'records', provision: 2 },
    // In 0.977 → 1; records → 1; out 0.977 × 5 consumers = 4.883 MB/s ÷ 2 = 2.44 → 3. Max = 3 (reads).
    // Provision: 2.441 ÷ 0.8 = 3.05 → 4.
    { case: 'five shared consumers', over: { consumers: 5 }, shards: 3, bound: 'bytes out', provision: 4 },
    // With EFO each consumer reads its own 2 MB/s per shard: out term 0.977 ÷ 2 → 1. Max = 1. Provision: 1 ÷ 0.8 → 2.
    {
      case: 'five EFO consumers',
      over: { consumers: 5, efo: true },
      shards: 1,
      bound: 'records',
      provision: 2,
    },
    // AWS's own example: 1,000 × 5 KB = 4.883 MB/s in → 5; records → 1; out 4.883 ÷ 2 → 3. Max = 5 (writes).
    // Provision: 4.883 ÷ 0.8 = 6.1 → 7.
    { case: '5 KB records', over: { avgSizeKB: 5 }, shards: 5, bound: 'bytes in', provision: 7 },
    // 5,000 × 0.5 KB = 2.441 MB/s in → 3; 5,000 ÷ 1,000 → 5; out 2.441 × 2 = 4.883 ÷ 2 → 3. Max = 5 (records).
    // Provision: 5 ÷ 0.8 = 6.25 → 7.
    {
      case: 'small records, two consumers',
      over: { recordsPerSecond: 5000, avgSizeKB: 0.5, consumers: 2 },
      shards: 5,
      bound: 'records',
      provision: 7,
    },
    // Exactly at the limits: 1,024 × 2 KB = 2 MB/s in → 2 (not 3); 1,024 ÷ 1,000 → 2; out 2 ÷ 2 = 1 → 1. Max = 2.
    // Provision: 2 ÷ 0.8 = 2.5 → 3.
    {
      case: 'exactly 2 MB/s',
      over: { recordsPerSecond: 1024, avgSizeKB: 2 },
      shards: 2,
      bound: 'records',
      provision: 3,
    },
    // 51,200 × 1.1 KB ÷ 1024 is 55 MB/s, which floating point makes 55.00000000000001: → 55, not 56. Records
    // 51.2 → 52; out 27.5 → 28. Provision: 55 ÷ 0.8 = 68.75 → 69.
    {
      case: '55 MB/s with floating-point error',
      over: { recordsPerSecond: 51_200, avgSizeKB: 1.1 },
      shards: 55,
      bound: 'bytes in',
      provision: 69,
    },
    // 800 records/s of 0.1 KB: 0.8 shards' worth → 1, at exactly 80%: 0.8 ÷ 0.8 = 1, no more.
    {
      case: 'exactly 80% of one shard',
      over: { recordsPerSecond: 800, avgSizeKB: 0.1 },
      shards: 1,
      bound: 'records',
      provision: 1,
    },
    // 801 records/s: 0.801 ÷ 0.8 = 1.00125 → 2.
    {
      case: 'just over 80% of one shard',
      over: { recordsPerSecond: 801, avgSizeKB: 0.1 },
      shards: 1,
      bound: 'records',
      provision: 2,
    },
    // 1 record/s of 0.1 KB still needs one shard; 0.001 ÷ 0.8 → 1.
    {
      case: 'a trickle',
      over: { recordsPerSecond: 1, avgSizeKB: 0.1 },
      shards: 1,
      bound: 'records',
      provision: 1,
    },
    // 0.000001 records/s of 1 KB: in 0.000001 ÷ 1024 = 0.000000000977 MB/s → ceil 1; records 0.000001 ÷ 1,000
    // = 0.000000001 → 1; out the same as in → 1. Every term is 1; records is named first.
    {
      case: 'the smallest rate',
      over: { recordsPerSecond: 0.000001 },
      shards: 1,
      bound: 'records',
      provision: 1,
    },
    // 1,000.01 records/s: 1.00001 shards' worth of records → 2. Only floating-point error within 1e-9 of a whole
    // number is forgiven, not a real excess. Provision: 1.00001 ÷ 0.8 = 1.25 → 2.
    {
      case: 'just over 1,000 records/s',
      over: { recordsPerSecond: 1000.01, avgSizeKB: 0.1 },
      shards: 2,
      bound: 'records',
      provision: 2,
    },
    // No load at all: every term is 0, so no term bounds the count: the stream's minimum of one shard does.
    { case: 'every term 0', over: { recordsPerSecond: 0 }, shards: 1, bound: 'minimum', provision: 1 },
  ] satisfies {
    case: string;
    over: Partial<PlanInput>;
    shards: number;
    bound: string;
    provision: number;
  }[])('$case → $shards shard(s), provision $provision', ({ over, shards, bound, provision }) => {
    // Act
    const plan = planShards(input(over));
    // Assess
    expect(plan.shards).toBe(shards);
    expect(plan.bound).toBe(bound);
    expect(plan.provisioned).toBe(provision);
  });

  it("prints the formula's count and the count to provision, which provisioned mode is priced at", () => {
    // Act: 10,000 records/s of 1 KB → 10 shards at 100%; provision 10 ÷ 0.8 = 12.5 → 13, at 10 ÷ 13 = 77%.
    const plan = makePlan(input({ recordsPerSecond: 10_000 }), limits);
    const text = formatPlan(plan);
    // Assess
    expect(text).toContain(
      '  shards   = 10 (bound by records): the fewest that take the peak, at 100% of their limit\n' +
        '  provision 13 shards = ceil(10 ÷ 0.8), at 77% of their limit at peak (at most 80%), as priced below\n',
    );
    expect(text).toContain('  Provisioned (13 shards, sized for the peak with headroom):');
    expect(text).toMatch(/ {4}13 shards × 730 h +\$142\.35\n/);
  });

  it('counts one shard for the smallest load, each term rounded up to 1', () => {
    // Act
    const text = formatPlan(makePlan(input({ recordsPerSecond: 0.000001 }), limits));
    // Assess
    expect(text).toContain('  MB/s in  = 0.000001 × 1 KB ÷ 1024 = 0.000000000977  → 1');
    expect(text).toContain('  records  = 0.000001 ÷ 1000  → 1');
    expect(text).toContain('  shards   = 1 (bound by records)');
  });

  it('says the minimum of one shard applies when every term is 0, rather than naming a bound', () => {
    // Act
    const text = formatPlan(makePlan(input({ recordsPerSecond: 0 }), limits));
    // Assess
    expect(text).toContain('  records  = 0 ÷ 1000  → 0');
    expect(text).toContain(
      '  shards   = 1 (every term is 0: the minimum of 1 shard)\n  provision 1 shard, as priced below',
    );
    expect(text).not.toContain('bound by');
  });
});

describe('Planner: monthly Kinesis cost', () => {
  it('prices provisioned and on-demand for 1,000 records/s of 1 KB read by five shared consumers', () => {
    // Prepare: 1,000 records/s × 2,628,000 s (730 h) = 2,628,000,000 records = 2,628 M records a month,
    // which is 2,628,000,000 KB ÷ 1,048,576 = 2,506.2561 GB.
    const plan = makePlan(input({ consumers: 5 }), limits);
    // Assess
    // Provisioned: 3 shards by the formula, at 2.441 ÷ 3 = 81% of their read limit; provisioned 2.441 ÷ 0.8 = 3.05
    // → 4. 4 shards × 730 h × $0.015 = $43.80; 2,628 M PUT payload units × $0.014 = $36.792; shared reads are free.
    // Total $80.592.
    expect(plan.shards.shards).toBe(3);
    expect(plan.shards.provisioned).toBe(4);
    expect(plan.provisioned.total).toBeCloseTo(80.592, 3);
    // On-demand: 730 h × $0.04 = $29.20; 2,506.2561 GB in × $0.08 = $200.5005;
    // 5 × 2,506.2561 GB out × $0.04 = $501.2512. Total $730.9517.
    expect(plan.onDemand.total).toBeCloseTo(730.9517, 3);
    // Saving $650.36 (89%) ≥ $50 and ≥ 20% → provisioned.
    expect(plan.recommendation.mode).toBe('provisioned');
  });

  it('prices enhanced fan-out per consumer in both modes', () => {
    // Prepare: 1,000 records/s of 1 KB, 2 EFO consumers → 1 shard, provisioned 1 ÷ 0.8 → 2; 2,506.2561 GB a month
    // per consumer.
    const plan = makePlan(input({ consumers: 2, efo: true }), limits);
    // Assess
    // Provisioned: 2 × 730 h × $0.015 = $21.90 + $36.792 PUT units + 2 consumers × 2 shards × 730 h × $0.015
    // = $43.80 + 2 × 2,506.2561 GB × $0.013 = $65.1627. Total $167.6547.
    expect(plan.provisioned.total).toBeCloseTo(167.6547, 3);
    // On-demand: $29.20 + $200.5005 in + no consumer-shard hours + 2 × 2,506.2561 GB × $0.05 = $250.6256.
    // Total $480.3261.
    expect(plan.onDemand.total).toBeCloseTo(480.3261, 3);
    expect(plan.onDemand.lines).toContainEqual({
      item: 'EFO consumer-shard hours (assumed none on-demand)',
      usd: 0,
    });
  });

  it('recommends on-demand for small spiky traffic, where provisioned saves too little', () => {
    // Prepare: peak 20 records/s of 2 KB, average 20 ÷ 4 = 5 records/s → 13,140,000 records a month.
    const plan = makePlan(input({ recordsPerSecond: 20, avgSizeKB: 2, peakToAverage: 4 }), limits);
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
    // Prepare: peak 10,000 records/s of 1 KB → 10 shards, provisioned 10 ÷ 0.8 = 12.5 → 13; average 10,000 ÷ 50
    // = 200/s → 525.6 M records.
    const plan = makePlan(input({ recordsPerSecond: 10_000, peakToAverage: 50 }), limits);
    // Assess
    // Provisioned: 13 × 730 × $0.015 = $142.35 + 525.6 × $0.014 = $7.3584 → $149.7084.
    expect(plan.provisioned.total).toBeCloseTo(149.7084, 3);
    // On-demand: $29.20 + 501.2512 GB × $0.08 = $40.1001 + 501.2512 GB × $0.04 = $20.0500 → $89.3501.
    expect(plan.onDemand.total).toBeCloseTo(89.3501, 3);
    expect(plan.recommendation).toMatchObject({ mode: 'on-demand' });
    expect(plan.recommendation.reason).toContain('peak 50×');
  });

  it('prints dollars with thousands separators and cents', () => {
    // Act / Assess
    expect([usd(119_483.756), usd(5.1), usd(0)]).toEqual(['$119,483.76', '$5.10', '$0.00']);
    expect(recommend(100, 125_342.01, 1).reason).toContain('provisioned saves $125,242.01 a month');
  });

  it('prices provisioned mode at the shards it provisions, and compares at that price', () => {
    // Prepare: peak 10,000 records/s of 1 KB, 20 events per request, average 10,000 ÷ 18.18 = 550.055 records/s
    // → × 2,628,000 s = 1,445,544,554.455 records a month (1,445.5446 M); ÷ 1,048,576 = 1,378.5787 GB.
    const plan = makePlan(
      input({ recordsPerSecond: 10_000, peakToAverage: 18.18, eventsPerRequest: 20 }),
      limits,
    );
    // Assess
    // The formula's 10 shards would run at 100%; provisioned: 10 ÷ 0.8 = 12.5 → 13. 13 × 730 h × $0.015 = $142.35
    // + 1,445.5446 M PUT units × $0.014 = $20.2376 → $162.5876 (at 10 shards it would be $129.74).
    expect(plan.shards).toMatchObject({ shards: 10, provisioned: 13 });
    expect(plan.provisioned.total).toBeCloseTo(162.5876, 3);
    // On-demand: $29.20 + 1,378.5787 GB × $0.08 = $110.2863 + 1,378.5787 GB × $0.04 = $55.1431 → $194.6294.
    expect(plan.onDemand.total).toBeCloseTo(194.6294, 3);
    // Saving $194.6294 − $162.5876 = $32.04 (16%): under $50 → on-demand (at 10 shards it was $64.89, 33%).
    expect(plan.recommendation.mode).toBe('on-demand');
    expect(plan.recommendation.reason).toContain(
      'provisioned would save only $32.04 a month (16% of on-demand)',
    );
  });

  it('prices even the smallest provisioned stream with its headroom', () => {
    // Act: 1,000 records/s of 1 KB: 1 shard at 100% by the formula, provisioned 1 ÷ 0.8 = 1.25 → 2.
    const plan = makePlan(input({}), limits);
    // Assess: 2 × 730 h × $0.015 = $21.90 + 2,628 M PUT units × $0.014 = $36.792 → $58.692.
    expect(plan.provisioned.total).toBeCloseTo(58.692, 3);
    expect(plan.provisioned.lines[0]).toEqual({ item: '2 shards × 730 h', usd: 21.9 });
  });

  it('meters each on-demand record rounded up to a whole KB', () => {
    // Act: 1,000 records/s × 2,628,000 s = 2,628,000,000 records a month, of 0.5 KB and of 1.5 KB.
    const half = makePlan(input({ avgSizeKB: 0.5 }), limits);
    const oneAndHalf = makePlan(input({ avgSizeKB: 1.5 }), limits);
    const dataIn = (plan: ReturnType<typeof makePlan>) =>
      plan.onDemand.lines.find((l) => l.item.startsWith('data in'))?.usd;
    // Assess
    // 0.5 KB is metered as 1 KB: 2,628,000,000 KB ÷ 1,048,576 = 2,506.2561 GB × $0.08 = $200.5005 (not $100.25).
    expect(dataIn(half)).toBeCloseTo(200.5005, 3);
    // 1.5 KB as 2 KB: 5,256,000,000 KB ÷ 1,048,576 = 5,012.5122 GB × $0.08 = $401.0010 (not $300.75).
    expect(dataIn(oneAndHalf)).toBeCloseTo(401.001, 3);
  });

  it('counts PUT payload units in whole 25 KB units', () => {
    // Act: 100 records/s × 2,628,000 s = 262,800,000 records a month.
    const put = (avgSizeKB: number) =>
      makePlan(input({ recordsPerSecond: 100, avgSizeKB }), limits).provisioned.lines.find((l) =>
        l.item.startsWith('PUT payload units'),
      )?.usd;
    // Assess
    // 30 KB takes ceil(30 ÷ 25) = 2 units: 525.6 M × $0.014 = $7.3584 (1.2 units would be $4.41504).
    expect(put(30)).toBeCloseTo(7.3584, 6);
    // 25 KB is exactly 1 unit: 262.8 M × $0.014 = $3.6792; 0.5 KB is 1 unit too.
    expect(put(25)).toBeCloseTo(3.6792, 6);
    expect(put(0.5)).toBeCloseTo(3.6792, 6);
  });

  it.each([
    // Saving exactly $50 (25%): provisioned.
    { provisioned: 150, onDemand: 200, mode: 'provisioned' },
    // A cent short of $50 (24.99%): on-demand.
    { provisioned: 150.01, onDemand: 200, mode: 'on-demand' },
    // Saving exactly 20% ($100 of $500): provisioned.
    { provisioned: 400, onDemand: 500, mode: 'provisioned' },
    // $99.99 of $500 = 19.998%: on-demand.
    { provisioned: 400.01, onDemand: 500, mode: 'on-demand' },
  ])(
    'recommends $mode at $provisioned provisioned against $onDemand on-demand, at the thresholds',
    ({ provisioned, onDemand, mode }) => {
      // Act
      const recommendation = recommend(provisioned, onDemand, 1);
      // Assess
      expect(recommendation.mode).toBe(mode);
    },
  );

  it('names the saving at exactly the thresholds when the template allows too few shards', () => {
    // Act: $50 saved of $200 (25%), exactly the dollar threshold, but 1,000 shards against 500.
    const beyond = recommend(150, 200, 1, { shards: 1000, maxShards: 500 });
    const share = recommend(400, 500, 1, { shards: 1000, maxShards: 500 });
    // Assess
    expect(beyond.reason).toContain(
      'provisioned would save $50.00 a month (25% of on-demand), but needs 1,000 shards',
    );
    expect(share.reason).toContain(
      'provisioned would save $100.00 a month (20% of on-demand), but needs 1,000 shards',
    );
  });

  it('never prints a share just under 20% as 20%', () => {
    // Act: $99.99 of $500 = 19.998%, which rounds to 20%; exactly 20% stays 20%.
    const under = recommend(400.01, 500, 1);
    const at = recommend(400, 500, 1);
    // Assess: rounded down, the share reads as missing the threshold it misses.
    expect(under.mode).toBe('on-demand');
    expect(under.reason).toBe(
      'provisioned would save only $99.99 a month (19% of on-demand), under $50.00 or 20%: not worth sizing and resharding by hand',
    );
    expect(at.reason).toContain(
      'provisioned saves $100.00 a month (20% of on-demand), at least $50.00 and 20%',
    );
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

  it('recommends on-demand when provisioned would save but needs more shards than template.yaml allows', () => {
    // Act
    const within = recommend(100, 200, 1, { shards: 500, maxShards: 500 });
    const beyond = recommend(100, 200, 1, { shards: 1000, maxShards: 500 });
    // Assess
    expect(within.mode).toBe('provisioned');
    expect(beyond).toMatchObject({ mode: 'on-demand' });
    expect(beyond.reason).toBe(
      'provisioned would save $100.00 a month (50% of on-demand), but needs 1,000 shards, more than the 500 ' +
        'template.yaml allows: ON_DEMAND deploys as the template is; for the saving, raise ShardCount MaxValue ' +
        'first, and the account shard quota where it is below 1,000 (by default 20,000 in us-east-1, us-west-2 and ' +
        'eu-west-1, 1,000 or 6,000 elsewhere)',
    );
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
    // An item of 1.3 KB is far under the 350 KB claim-check threshold: no S3 PUT.
    expect(cost.s3ClaimCheck).toBe(0);
    expect(cost.total).toBeCloseTo(2.6226675, 6);
  });

  it('writes the whole event to DynamoDB up to the claim-check threshold', () => {
    // Act: 349 KB + 0.3 KB = 349.3 KB, not above 350 KB (DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, 358,400 bytes).
    const cost = costPerMillionEvents(input({ avgSizeKB: 349 }));
    // Assess: ceil(349.3) = 350 WRU per event; 350 M WRU × $0.625/M = $218.75; nothing goes to S3.
    expect(cost.dynamodb).toBeCloseTo(218.75, 6);
    expect(cost.s3ClaimCheck).toBe(0);
  });

  it('prices an event above the claim-check threshold as a pointer item plus one S3 PUT', () => {
    // Act: 400 KB + 0.3 KB = 400.3 KB > 350 KB, so the sink puts the data in S3 and writes a pointer item.
    const cost = costPerMillionEvents(input({ avgSizeKB: 400 }));
    // Assess
    // DynamoDB: the pointer (CLAIM_POINTER_ALLOWANCE_BYTES, 1,024 bytes = 1 KB) + 0.3 KB = 1.3 KB → 2 WRU;
    // 2 M WRU × $0.625/M = $1.25 (the whole event would have been ceil(400.3) = 401 WRU, $250.625).
    expect(cost.dynamodb).toBeCloseTo(1.25, 6);
    // S3: 1,000,000 PUTs ÷ 1,000 × $0.005 = $5.00.
    expect(cost.s3ClaimCheck).toBeCloseTo(5, 6);
    // Consumer: a record of 409,600 bytes is 546,136 in base64, + 700 bytes of envelope = 546,836; 6,291,456 ÷
    // 546,836 = 11.5 → 11 per invocation. 1 M ÷ 11 = 90,909.09 invocations × $0.20/M = $0.0181818 + 90,909.09 ×
    // 0.5 GB × 0.06 s = 2,727.27 GB-s × $0.0000133334 = $0.0363638 → $0.0545456.
    expect(cost.consumerLambda).toBeCloseTo(0.0545456, 6);
    // API Gateway: 1 M requests of 400 KB (one 512 KB unit) = $1.00; ingest $0.3666675 as with the defaults.
    // Total $1.00 + $0.3666675 + $0.0545456 + $1.25 + $5.00 = $7.6712131.
    expect(cost.total).toBeCloseTo(7.6712131, 6);
  });

  it('shows the S3 PUTs as a line of their own', () => {
    // Act
    const large = formatPlan(makePlan(input({ avgSizeKB: 400 }), limits));
    const small = formatPlan(makePlan(input({}), limits));
    // Assess
    expect(large).toMatch(/DynamoDB on-demand writes \(pointer item, 1\.3 KB\) +\$1\.25\n/);
    expect(large).toMatch(/S3 claim-check PUTs \(items over 350 KB: 1 per event\) +\$5\.00\n/);
    // Total: as costPerMillionEvents above, but 1,000 records/s of 400 KB are 390.625 MB/s → 390.625 ÷ 0.8 = 488.3
    // → 489 shards, 1,000 ÷ 489 = 2.045 records per invocation: 489,000 invocations × $0.20/M = $0.0978 + 489,000
    // × 0.5 GB × 0.06 s = 14,670 GB-s × $0.0000133334 = $0.1956 → $0.2934. $1.00 + $0.3667 + $0.2934 + $1.25 + $5.00
    // = $7.91.
    expect(large).toMatch(/total \(without Kinesis\) +\$7\.91\n/);
    expect(small).toMatch(/DynamoDB on-demand writes \(item = event \+ 0\.3 KB\) +\$1\.25\n/);
    expect(small).toMatch(/S3 claim-check PUTs \(items over 350 KB: none\) +\$0\.00\n/);
  });

  it('invokes the consumer with fewer records than its batch size when their batch would not fit 6 MB', () => {
    // Act: events of 2,000 KB (a stream raised to 10 MiB records); 1 KB ones for comparison.
    const large = input({ avgSizeKB: 2000 });
    const plan = makePlan(large, limits);
    // Assess: 2,048,000 bytes → 2,730,668 in base64 (4 × ceil(2,048,000 ÷ 3)) + 700 bytes of envelope = 2,731,368;
    // 6,291,456 ÷ 2,731,368 = 2.3 → 2 records per invocation. 1 KB: 1,368 + 700 = 2,068 bytes, 3,042 fit, the
    // batch of 100 stands.
    expect(consumerRecordsPerInvocation(large)).toBe(2);
    expect(consumerRecordsPerInvocation(input({}))).toBe(100);
    expect(consumerRecordsPerInvocation(input({ avgSizeKB: 10_240 }))).toBe(1);
    // Consumer: 1 M ÷ 2 = 500,000 invocations × $0.20/M = $0.10 + 500,000 × 0.5 GB × 0.06 s = 15,000 GB-s
    // × $0.0000133334 = $0.200001 → $0.300001.
    expect(costPerMillionEvents(large).consumerLambda).toBeCloseTo(0.300001, 6);
    expect(plan.warnings).toContain(
      "records of 2,000 KB fill the consumer's 6 MB invocation payload (base64-encoded) at 2 per invocation, fewer than the batch size of 100: an invocation holds at most 2",
    );
    expect(formatPlan(plan)).toContain('at least 1 and at most 2 (the batch size, or as many as fit 6 MB)');
    expect(makePlan(input({}), limits).warnings.join('\n')).not.toContain('invocation payload');
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
    {
      args: ['--records-per-sec', '1e300', '--avg-size', '1', '--consumers', '1'],
      message: '--records-per-sec must be at most 1000000, got 1e300',
    },
    {
      args: ['--records-per-sec', '0.0000001', '--avg-size', '1', '--consumers', '1'],
      message: '--records-per-sec must be at least 0.000001',
    },
    {
      args: ['--records-per-sec', '0x10', '--avg-size', '1', '--consumers', '1'],
      message: "--records-per-sec must be a decimal number, got '0x10'",
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '0.0001', '--consumers', '1'],
      message: '--avg-size must be at least 0.0009765625',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1e300'],
      message: '--consumers must be at most 100',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1', '--peak-to-average', '1e6'],
      message: '--peak-to-average must be at most 10000',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1', '--ingest-ms', '1e300'],
      message: '--ingest-ms must be at most 900000',
    },
    {
      args: ['--records-per-sec', '1', '--avg-size', '1', '--consumers', '1', '--consumer-ms', '900001'],
      message: '--consumer-ms must be at most 900000',
    },
    {
      args: ['--records-per-sec', '1000', '--avg-size', '1', '--consumers', '1', '--records-per-sec', '5000'],
      message: '--records-per-sec is given more than once',
    },
  ])('refuses $args with a clear message', ({ args, message }) => {
    // Act / Assess
    expect(() => parsePlanArgs(args)).toThrow(PlanInputError);
    expect(() => parsePlanArgs(args)).toThrow(message);
  });

  it('takes the largest values it allows, and decimal exponents', () => {
    // Act
    const parsed = parsePlanArgs([
      '--records-per-sec',
      '1e6',
      '--avg-size',
      '10240',
      '--consumers',
      '100',
      '--peak-to-average',
      '10000',
      '--ingest-ms',
      '900000',
      '--consumer-ms',
      '900000',
    ]);
    // Assess
    expect(parsed).toMatchObject({
      recordsPerSecond: 1_000_000,
      avgSizeKB: 10_240,
      consumers: 100,
      peakToAverage: 10_000,
      ingestMs: 900_000,
      consumerMs: 900_000,
    });
  });

  it('prints small rates with significant digits instead of rounding them to 0', () => {
    // Act: 0.001 records/s × 2,628,000 s = 2,628 records a month = 0.002628 M; 0.001 × 1 KB ÷ 1024
    // = 0.0000009765625 MB/s.
    const text = formatPlan(makePlan(input({ recordsPerSecond: 0.001 }), limits));
    // Assess
    expect(text).toContain('Input: 0.001 records/s at peak');
    expect(text).toContain('  MB/s in  = 0.001 × 1 KB ÷ 1024 = 0.000000977  → 1');
    expect(text).toContain('  records  = 0.001 ÷ 1000  → 1');
    expect(text).toContain('Kinesis per month (0.001 records/s on average, 0.00263 M records):');
  });

  it('keeps two decimals for rates of 1 and more', () => {
    // Act: 2,628 M records a month at 1,000 records/s; 1,234.567 records/s prints as 1,234.57.
    const steady = formatPlan(makePlan(input({}), limits));
    const odd = formatPlan(makePlan(input({ recordsPerSecond: 1234.567 }), limits));
    // Assess
    expect(steady).toContain('Kinesis per month (1,000 records/s on average, 2,628 M records):');
    expect(odd).toContain('Input: 1,234.57 records/s at peak');
  });

  it('names what it leaves out', () => {
    // Act
    const text = formatPlan(makePlan(input({}), limits));
    // Assess
    const notIncluded = text.slice(text.indexOf('Not included:')).replace(/\n\s+/g, ' ');
    expect(notIncluded).toBe(
      'Not included: free tiers, extended retention, data transfer out of AWS, CloudWatch logs and metrics, ' +
        'DynamoDB storage and point-in-time recovery, KMS requests (the stream and the tables are KMS-encrypted, ' +
        'the queues and the bucket too with a customer key), SQS (the failure queues), S3 storage.',
    );
  });

  it('prints the formula, both modes, the per-event costs and the recommendation', () => {
    // Act
    const text = formatPlan(makePlan(input({ consumers: 5 }), limits));
    // Assess
    expect(text).toContain('shards   = 3 (bound by bytes out)');
    expect(text).toContain('$80.59');
    expect(text).toContain('$730.95');
    expect(text).toContain('Recommendation: PROVISIONED');
    expect(text).toContain('us-east-1, as of 2026-11-27');
  });
});

describe('Planner: pipeline limits', () => {
  it('reads the shard and request limits from template.yaml and the body limit from the ingest function', () => {
    // Assess: ShardCount MaxValue 500, ApiThrottlingRateLimit Default 1000, 4 MiB = 4,194,304 bytes,
    // ConsumerParallelizationFactor Default 1 and ConsumerMaximumBatchingWindowInSeconds Default 1.
    expect(limits).toEqual({
      maxShards: 500,
      apiRequestsPerSecond: 1000,
      maxBodyBytes: 4_194_304,
      parallelizationFactor: 1,
      batchingWindowSeconds: 1,
    });
  });

  it('takes the values the template gives', () => {
    // Prepare
    const template = parseTemplate(`
Parameters:
  ShardCount: { Type: Number, Default: 2, MaxValue: 40 }
  ApiThrottlingRateLimit: { Type: Number, Default: 250 }
  ConsumerParallelizationFactor: { Type: Number, Default: 4 }
  ConsumerMaximumBatchingWindowInSeconds: { Type: Number, Default: 5 }
Resources: {}
`);
    // Act / Assess
    expect(pipelineLimits(template)).toMatchObject({
      maxShards: 40,
      apiRequestsPerSecond: 250,
      parallelizationFactor: 4,
      batchingWindowSeconds: 5,
    });
  });

  it('refuses a template without the values', () => {
    // Prepare
    const template = parseTemplate('Parameters:\n  ShardCount: { Type: Number }\nResources: {}\n');
    // Act / Assess
    expect(() => pipelineLimits(template)).toThrow('Parameters.ShardCount.MaxValue must be a number');
  });
});

describe('Planner: warnings about what the pipeline cannot take', () => {
  // The DynamoDB and Lambda quotas have tests of their own, below.
  const warningsFor = (over: Partial<PlanInput>, given: PipelineLimits = limits) => {
    const plan = makePlan(input(over), given);
    const services = serviceQuotaWarnings(plan.input, plan.shards.provisioned, given);
    return plan.warnings.filter((w) => !services.includes(w));
  };

  it('warns when a request of E events would exceed the 4 MiB body limit', () => {
    // Act: 5 events × 1,024 KB = 5,120 KB > 4,096 KB; 4,096 ÷ 1,024 = 4 fit.
    const warnings = warningsFor({ avgSizeKB: 1024, eventsPerRequest: 5 });
    // Assess
    expect(warnings).toContain(
      "5 events per request × 1,024 KB = 5,120 KB exceed the ingest API's request body limit of 4,096 KB " +
        '(the API answers 413): send at most 4 per request',
    );
  });

  it('does not warn about a request exactly at the body limit', () => {
    // Act: 4 events × 1,024 KB = 4,096 KB, the limit itself.
    const warnings = warningsFor({ avgSizeKB: 1024, eventsPerRequest: 4 });
    // Assess
    expect(warnings.join('\n')).not.toContain('body limit');
  });

  it('says that events larger than the body limit can never be ingested', () => {
    // Act: 5,000 KB > 4,096 KB, even one event per request (1 record/s: 4.88 MB/s → 5 shards, no other warning).
    const warnings = warningsFor({ recordsPerSecond: 1, avgSizeKB: 5000 });
    // Assess: this replaces the advice to raise the stream's record size, which could not help.
    expect(warnings).toEqual([
      "events of 5,000 KB are larger than the ingest API's request body limit of 4,096 KB and can never be " +
        'ingested: the API answers 413',
    ]);
  });

  it('keeps the record-size advice for events over 1 MiB that fit a request', () => {
    // Act: 1 record/s of 2,048 KB, one per request: 2 MB/s → 2 shards.
    const warnings = warningsFor({ recordsPerSecond: 1, avgSizeKB: 2048 });
    // Assess
    expect(warnings).toEqual([
      "records of 2,048 KB fill the consumer's 6 MB invocation payload (base64-encoded) at 2 per invocation, fewer than the batch size of 100: an invocation holds at most 2",
      'records over 1 MiB need the stream raised with UpdateMaxRecordSize (MaxRecordSizeKiB in template.yaml)',
    ]);
  });

  it('warns when provisioned mode needs more shards than template.yaml allows', () => {
    // Act: 400,001 records/s of 0.5 KB with 500 events per request: in 195.3 MB/s, records 400.001, out 195.3 ÷ 2
    // = 97.7: 401 shards by the formula; provisioned 400.001 ÷ 0.8 = 500.00125 → 501 > 500. Requests: 400,001 ÷ 500
    // = 800/s, within 1,000.
    const warnings = warningsFor({ recordsPerSecond: 400_001, avgSizeKB: 0.5, eventsPerRequest: 500 });
    // Assess
    expect(warnings).toContain(
      'provisioned mode needs 501 shards, more than the 500 template.yaml allows (ShardCount MaxValue): ' +
        'deploy with StreamMode ON_DEMAND, or raise MaxValue and the account shard quota',
    );
  });

  it('does not warn at exactly the largest shard count', () => {
    // Act: 400,000 records/s of 0.5 KB → 400 shards (bound by records), provisioned 400 ÷ 0.8 = 500.
    const warnings = warningsFor({ recordsPerSecond: 400_000, avgSizeKB: 0.5, eventsPerRequest: 400 });
    // Assess: 400,000 ÷ 400 = 1,000 requests/s, exactly the throttle, so no warning at all.
    expect(warnings).toEqual([]);
  });

  it('compares the count to provision, with headroom, with the limit it is given', () => {
    // Act: 1,000 records/s of 1 KB read by five shared consumers → 3 shards by the formula, provisioned 2.441 ÷ 0.8
    // = 3.05 → 4, against a template allowing 3.
    const warnings = warningsFor({ consumers: 5 }, { ...limits, maxShards: 3 });
    // Assess
    expect(warnings.join('\n')).toContain(
      'provisioned mode needs 4 shards, more than the 3 template.yaml allows',
    );
  });

  it.each([
    // 1,001 records/s ÷ 1 event per request = 1,001 requests/s > 1,000; 2 per request would do.
    {
      recordsPerSecond: 1001,
      eventsPerRequest: 1,
      requests: '1,001',
      records: '1,001',
      advice: 'send at least 2 events per request, or raise ApiThrottlingRateLimit',
    },
    // 2,500 records/s ÷ 2 = 1,250 requests/s > 1,000; 3 per request would do.
    {
      recordsPerSecond: 2500,
      eventsPerRequest: 2,
      requests: '1,250',
      records: '2,500',
      advice: 'send at least 3 events per request, or raise ApiThrottlingRateLimit',
    },
    // 1,000,000 ÷ 500 = 2,000 requests/s; 1,000 per request would do, but a request holds at most 500.
    {
      recordsPerSecond: 1_000_000,
      eventsPerRequest: 500,
      requests: '2,000',
      records: '1,000,000',
      advice: 'raise ApiThrottlingRateLimit (no request can hold the 1,000 events per request it would take)',
    },
  ])(
    'warns when $recordsPerSecond records/s in requests of $eventsPerRequest exceed the API throttle, with what would do',
    ({ recordsPerSecond, eventsPerRequest, requests, records, advice }) => {
      // Act
      const warnings = warningsFor({ recordsPerSecond, eventsPerRequest });
      // Assess
      expect(warnings).toContain(
        `${requests} requests/s at peak (${records} records/s ÷ ${eventsPerRequest} per request) exceed the ingest ` +
          `API's 1,000 requests/s (ApiThrottlingRateLimit default), above which it answers 429: ${advice}`,
      );
    },
  );

  it('counts requests at the peak, not the average', () => {
    // Act: 2,000 records/s at peak, 500 on average; 2,000 ÷ 1 = 2,000 requests/s > 1,000.
    const warnings = warningsFor({ recordsPerSecond: 2000, peakToAverage: 4 });
    // Assess
    expect(warnings.join('\n')).toContain('2,000 requests/s at peak');
  });

  it('does not warn at exactly the API throttle', () => {
    // Act: 2,000 records/s ÷ 2 events per request = 1,000 requests/s.
    const warnings = warningsFor({ recordsPerSecond: 2000, eventsPerRequest: 2 });
    // Assess
    expect(warnings).toEqual([]);
  });

  it('prints the warnings in the plan', () => {
    // Act
    const text = formatPlan(makePlan(input({ recordsPerSecond: 1001 }), limits));
    // Assess
    expect(text).toContain(
      "Warning: 1,001 requests/s at peak (1,001 records/s ÷ 1 per request) exceed the ingest API's",
    );
  });
});

describe("Planner: warnings about Kinesis's own quotas", () => {
  it.each([
    // 2,000 × 1 KB = 1.95 MB/s: within a new on-demand stream's 4 MB/s.
    ['a small on-demand stream', { recordsPerSecond: 2000 }, 'on-demand', []],
    // 10,000 × 1 KB = 9.77 MB/s: above the 4 MB/s a new on-demand stream starts with.
    [
      'a first peak above what a new on-demand stream takes',
      { recordsPerSecond: 10_000 },
      'on-demand',
      [
        'a new ON_DEMAND stream starts at 4 MB/s of writes and scales up with traffic: its first peak of 9.77 MB/s is throttled until it has',
      ],
    ],
    // 300,000 × 1 KB = 292.97 MB/s: past 200 MB/s, within 10 GB/s.
    [
      'more than on-demand takes outside the larger Regions',
      { recordsPerSecond: 300_000 },
      'on-demand',
      [
        '292.97 MB/s of writes at peak: an ON_DEMAND stream scales that far only in us-east-1, us-west-2 and eu-west-1 (to 10 GB/s); elsewhere it stops at 200 MB/s unless a support ticket raises it',
        'a new ON_DEMAND stream starts at 4 MB/s of writes and scales up with traffic: its first peak of 292.97 MB/s is throttled until it has',
      ],
    ],
    // 20,000 × 1,024 KB = 20,000 MB/s: past 10 GB/s (10,240 MB/s).
    [
      'more than one on-demand stream takes anywhere',
      { recordsPerSecond: 20_000, avgSizeKB: 1024 },
      'on-demand',
      [
        '20,000 MB/s of writes at peak is more than one ON_DEMAND stream takes (10 GB/s in us-east-1, us-west-2 and eu-west-1, 200 MB/s elsewhere): split the traffic across streams, or provision shards',
      ],
    ],
    // Provisioned: the account's shard quota (300,000 records/s: 300 shards, provisioned 375, far within it).
    ['provisioned shards within the quota', { recordsPerSecond: 300_000 }, 'provisioned', []],
  ] as const)('%s', (_, over, mode, expected) => {
    // Act
    const plan = input(over);
    const warnings = quotaWarnings(makePlan(plan, limits).shards, mode);
    // Assess
    expect(warnings).toEqual(expected);
  });

  it('warns of provisioned shards past the default account quota', () => {
    // Act
    const plan = input({ recordsPerSecond: 1_000_000 });
    const warnings = quotaWarnings({ ...planShards(plan), provisioned: 25_000 }, 'provisioned');
    // Assess
    expect(warnings).toEqual([
      '25,000 shards are more than the default account quota (20,000 in us-east-1, us-west-2 and eu-west-1; 1,000 or 6,000 elsewhere): raise it in Service Quotas before provisioning them',
    ]);
  });
});

describe('Planner: DynamoDB and Lambda quotas', () => {
  it.each([
    // 1,000 events/s of 1 KB: items of 1.3 KB take 2 write units each, 2,000/s. Ingest 1,000 requests/s × 25 ms =
    // 25 at once, the consumer 1 shard × 1: 26 executions.
    ['a small pipeline', { recordsPerSecond: 1000 }, 1, []],
    // 2,000 events/s × 2 units = 4,000/s: exactly what a new on-demand table sustains, so no warning.
    ['exactly what a new table sustains', { recordsPerSecond: 2000, eventsPerRequest: 100 }, 2, []],
    // 2,001 × 2 = 4,002 units/s, past it.
    [
      'one event/s past what a new table sustains',
      { recordsPerSecond: 2001, eventsPerRequest: 100 },
      3,
      [
        'a new on-demand table sustains 4,000 write request units/s (writes of up to 1 KB) and then scales with traffic, to twice its previous peak within 30 minutes: 4,002 write request units/s into the event table at peak (2,001 events/s × 2 for an item of 1.3 KB) are throttled at first (the consumer retries, and falls behind) unless the table is pre-warmed',
      ],
    ],
    // 30,000 events/s of 0.5 KB: items of 0.8 KB take 1 unit, 30,000/s, within 40,000. Ingest 300 requests/s ×
    // 25 ms = 7.5 → 8; consumer 30 shards: 38 executions.
    [
      'a large pipeline within the table quota',
      { recordsPerSecond: 30_000, avgSizeKB: 0.5, eventsPerRequest: 100 },
      30,
      [
        'a new on-demand table sustains 4,000 write request units/s (writes of up to 1 KB) and then scales with traffic, to twice its previous peak within 30 minutes: 30,000 write request units/s into the event table at peak (30,000 events/s × 1 for an item of 0.8 KB) are throttled at first (the consumer retries, and falls behind) unless the table is pre-warmed',
      ],
    ],
    // 25,000 events/s of 1 KB × 2 units = 50,000/s, past the 40,000 quota; ingest 25,000 requests/s × 25 ms = 625
    // and the consumer 25 shards × 1 = 25: 650, within 1,000.
    [
      'past the table quota',
      { recordsPerSecond: 25_000 },
      25,
      [
        "50,000 write request units/s into the event table at peak (25,000 events/s × 2 for an item of 1.3 KB) exceed DynamoDB's default quota of 40,000 for an on-demand table: raise the table-level write throughput quota in Service Quotas before going live",
        'a new on-demand table sustains 4,000 write request units/s (writes of up to 1 KB) and then scales with traffic, to twice its previous peak within 30 minutes: 50,000 write request units/s into the event table at peak (25,000 events/s × 2 for an item of 1.3 KB) are throttled at first (the consumer retries, and falls behind) unless the table is pre-warmed',
      ],
    ],
  ] as const)('%s', (_, over, shards, expected) => {
    // Act
    const warnings = serviceQuotaWarnings(input(over), shards, limits);
    // Assess
    expect(warnings).toEqual(expected);
  });

  it('warns when the ingest and consumer executions at peak exceed the account concurrency', () => {
    // Act: 1,900 events/s, 1 per request, of 80 ms: 1,900 × 0.08 = 152 at once; 100 shards × ParallelizationFactor
    // 10 = 1,000 consumer invocations. 1,152 > 1,000. 1,900 × 2 units = 3,800/s, within what a new table sustains.
    const warnings = serviceQuotaWarnings(input({ recordsPerSecond: 1900, ingestMs: 80 }), 100, {
      parallelizationFactor: 10,
    });
    // Assess
    expect(warnings).toEqual([
      'the pipeline needs about 1,152 concurrent Lambda executions at peak (ingest 152: 1,900 requests/s × 80 ms; consumer 1,000: 100 shards × ParallelizationFactor 10), more than the default 1,000 per account and Region that all its functions share: raise it in Service Quotas (new accounts may start lower), or send more events per request',
    ]);
  });

  it('does not warn at exactly the account concurrency', () => {
    // Act: 1,000 events/s × 25 ms = 25 at once, plus 975 shards × 1 = 1,000.
    const warnings = serviceQuotaWarnings(input({ recordsPerSecond: 1000 }), 975, limits);
    // Assess
    expect(warnings).toEqual([]);
  });

  it("prints them with the plan's other warnings", () => {
    // Act: 25,000 events/s of 1 KB, 100 per request: 25 provisioned shards; 50,000 write units/s.
    const plan = makePlan(input({ recordsPerSecond: 25_000, eventsPerRequest: 100 }), limits);
    const text = formatPlan(plan);
    // Assess
    expect(plan.warnings).toEqual(
      expect.arrayContaining(serviceQuotaWarnings(plan.input, plan.shards.provisioned, limits)),
    );
    expect(text).toContain("exceed DynamoDB's default quota of 40,000 for an on-demand table");
    expect(text).toContain('a new on-demand table sustains 4,000 write request units/s');
  });
});

describe("Planner: consumers past what a shard's reads serve", () => {
  it('plans five shared-throughput consumers as given', () => {
    // Act: five consumers poll each shard five times a second, the most a shard serves.
    const plan = makePlan(input({ consumers: 5 }), limits);
    // Assess
    expect(plan.reads).toBe('as-given');
    expect(plan.input.efo).toBe(false);
    expect(formatPlan(plan)).not.toContain('cannot share reads');
  });

  it('plans six shared-throughput consumers with enhanced fan-out instead', () => {
    // Act: six polls a second per shard are more than its 5 GetRecords calls, however many shards.
    const plan = makePlan(input({ consumers: 6 }), limits);
    const text = formatPlan(plan);
    // Assess
    expect(plan.reads).toBe('efo-instead-of-shared');
    expect(plan.input.efo).toBe(true);
    // EFO: out term 0.977 ÷ 2 → 1; 1 shard, provisioned 1 ÷ 0.8 → 2. 2,506.2561 GB a month per consumer.
    // Provisioned: 2 × 730 h × $0.015 = $21.90 + $36.792 PUT units + 6 × 2 × 730 h × $0.015 = $131.40
    // + 6 × 2,506.2561 GB × $0.013 = $195.4880 → $385.5800.
    expect(plan.provisioned.total).toBeCloseTo(385.58, 3);
    // On-demand: $29.20 + $200.5005 in + 6 × 2,506.2561 GB × $0.05 = $751.8768 → $981.5773.
    expect(plan.onDemand.total).toBeCloseTo(981.5773, 3);
    // Saving $596.00 (60.7%, printed rounded down: 60%) → provisioned, with enhanced fan-out.
    expect(plan.recommendation.mode).toBe('provisioned');
    expect(text).toContain(
      'Input: 1,000 records/s at peak, 1 KB average, 6 consumer(s) with enhanced fan-out (more than 5 cannot share reads)',
    );
    expect(text).toContain(
      'Recommendation: PROVISIONED with enhanced fan-out — 6 consumers cannot share reads: a shard serves 5 ' +
        'GetRecords calls a second to all its shared-throughput consumers, and each Lambda event source mapping ' +
        'polls every shard about once a second, so more than 5 are throttled however many shards there are; with ' +
        'enhanced fan-out (--efo) each has its own 2 MB/s per shard and no GetRecords calls, so this plan uses it; ' +
        'provisioned saves $596.00 a month (60% of on-demand)',
    );
    expect(text).toContain('EFO: 6 consumer(s) × 2 shards × 730 h');
    expect(plan.warnings.join('\n')).not.toContain('GetRecords');
  });

  it('plans consumers who ask for enhanced fan-out as given', () => {
    // Act
    const plan = makePlan(input({ consumers: 6, efo: true }), limits);
    // Assess
    expect(plan.reads).toBe('as-given');
    expect(plan.recommendation.reason).not.toContain('cannot share reads');
  });

  it.each([
    { consumers: 20, reads: 'efo-instead-of-shared' },
    { consumers: 21, reads: 'unserved' },
  ])('plans $consumers shared-throughput consumers as $reads', ({ consumers, reads }) => {
    // Act: enhanced fan-out registers at most 20 consumers per stream.
    const plan = makePlan(input({ consumers }), limits);
    // Assess
    expect(plan.reads).toBe(reads);
  });

  it('prices nothing for more consumers than either mode serves, and says what to do instead', () => {
    // Act: 100 consumers; 1,001 requests/s at peak, past the API throttle, which holds whatever reads the stream.
    const plan = makePlan(input({ consumers: 100, recordsPerSecond: 1001 }), limits);
    const text = formatPlan(plan);
    // Assess
    expect(plan.recommendation.mode).toBe('none');
    expect(text).toContain(
      'Recommendation: NEITHER MODE — 100 consumers cannot read one stream in either capacity mode: sharing ' +
        'reads, a shard serves 5 GetRecords calls a second to all its shared-throughput consumers, and each ' +
        'Lambda event source mapping polls every shard about once a second, so more than 5 are throttled however ' +
        'many shards there are; enhanced fan-out registers at most 20 consumers per stream. Fan out downstream ' +
        'instead: one consumer that republishes to the others (plan the stream with --consumers 1), or several ' +
        'streams, each read by at most 20 (plan each with --efo). No Kinesis cost is priced for 100 on one stream.',
    );
    expect(text).toContain('Warning: 1,001 requests/s at peak');
    expect(text).not.toContain('Shards =');
    expect(text).not.toContain('Kinesis per month');
    expect(text).not.toContain('$');
  });
});

describe('Planner: records per consumer invocation', () => {
  const template = { parallelizationFactor: 1, batchingWindowSeconds: 1 };

  it.each([
    // 10 records/s on 1 shard × a 1 s window = 10.
    { case: 'a low rate', rate: 10, shards: 1, given: template, records: 10 },
    // 1,000 records/s on 2 shards × 1 s = 500: a full batch of 100.
    { case: 'full batches', rate: 1000, shards: 2, given: template, records: 100 },
    // 0.5 records/s × 1 s = 0.5: every invocation holds at least 1.
    { case: 'fewer than one a window', rate: 0.5, shards: 1, given: template, records: 1 },
    // 10 records/s ÷ (1 shard × 2 concurrent batches) × 5 s = 25.
    {
      case: 'a longer window and a parallelization factor',
      rate: 10,
      shards: 1,
      given: { parallelizationFactor: 2, batchingWindowSeconds: 5 },
      records: 25,
    },
    // No window: the mapping still polls each shard once a second, 10 records/s × 1 s = 10.
    {
      case: 'no batching window',
      rate: 10,
      shards: 1,
      given: { parallelizationFactor: 1, batchingWindowSeconds: 0 },
      records: 10,
    },
  ])('$case: $records per invocation', ({ rate, shards, given, records }) => {
    // Act
    const batching = consumerBatching(input({}), rate, shards, given);
    // Assess
    expect(batching.records).toBeCloseTo(records, 9);
  });

  it('prices the consumer at the records an invocation gathers at the average rate', () => {
    // Act: peak 40 records/s of 1 KB, average 40 ÷ 4 = 10 records/s on 1 shard (40 ÷ 1,000 ÷ 0.8 → 1).
    const plan = makePlan(input({ recordsPerSecond: 40, peakToAverage: 4 }), limits);
    const text = formatPlan(plan);
    // Assess: 10 records per invocation → 1,000,000 ÷ 10 = 100,000 invocations × $0.20/M = $0.02 + 100,000 × 0.5 GB
    // × 0.06 s = 3,000 GB-s × $0.0000133334 = $0.0400002 → $0.0600002 (full batches of 100 would be $0.006).
    expect(plan.consumerBatching.records).toBeCloseTo(10, 9);
    expect(plan.perMillionEvents.consumerLambda).toBeCloseTo(0.0600002, 7);
    expect(text).toMatch(/Lambda consumer \(10 records\/invocation, 60 ms\) +\$0\.06\n/);
    expect(text).toContain(
      '  Consumer: 10 records per invocation: 10 records/s on average ÷ (1 shard × ParallelizationFactor 1)\n' +
        '    × 1 s batching window = 10, at least 1 and at most 100 (the batch size, or as many as fit 6 MB)',
    );
  });
});

describe('Planner: how the plan prints', () => {
  it('prints large numbers with thousands separators', () => {
    // Act: 1,000,000 records/s × 10,240 KB ÷ 1024 = 10,000,000 MB/s → 10,000,000 shards; 10,000,000 ÷ 0.8
    // = 12,500,000 to provision.
    const text = formatPlan(makePlan(input({ recordsPerSecond: 1_000_000, avgSizeKB: 10_240 }), limits));
    // Assess
    expect(text).toContain('Input: 1,000,000 records/s at peak, 10,240 KB average');
    expect(text).toContain('  MB/s in  = 1,000,000 × 10,240 KB ÷ 1024 = 10,000,000.000  → 10,000,000\n');
    expect(text).toContain('  records  = 1,000,000 ÷ 1000  → 1,000\n');
    expect(text).toContain('  provision 12,500,000 shards = ceil(10,000,000 ÷ 0.8)');
    expect(text).toContain('    12,500,000 shards × 730 h');
  });

  it('says one shard, not one shards', () => {
    // Act: 10 records/s → 1 shard; and 1,000 requests/s × 1,000 ms = 1,000 ingest executions + 1 shard's consumer.
    const text = formatPlan(makePlan(input({ recordsPerSecond: 10 }), limits));
    const warnings = serviceQuotaWarnings(input({ ingestMs: 1000 }), 1, limits);
    // Assess
    expect(text).toContain('  provision 1 shard = ceil(0.01 ÷ 0.8)');
    expect(text).toContain('  Provisioned (1 shard, sized for the peak with headroom):');
    expect(text).toContain('    1 shard × 730 h');
    expect(warnings.join('\n')).toContain('consumer 1: 1 shard × ParallelizationFactor 1');
  });

  it('prints the units and the assumptions behind the prices', () => {
    // Act: 20 events of 30 KB per request = 600 KB → two 512 KB units; two EFO consumers.
    const text = formatPlan(
      makePlan(input({ avgSizeKB: 30, eventsPerRequest: 20, consumers: 2, efo: true }), limits),
    );
    // Assess
    expect(text).toContain(
      'Units: KB = 1,024 bytes, MB = MiB (1,048,576 bytes), GB = 1,024 MB; a month = 730 hours',
    );
    expect(text).toContain(
      '  API Gateway HTTP API: $1.00 per million requests (the first 300 million a month),\n' +
        '    each metered in 512 KB increments: 20 × 30 KB = 600 KB → 2 per request',
    );
    expect(text).toMatch(/EFO consumer-shard hours \(assumed none on-demand\) +\$0\.00\n/);
    expect(text).toContain('  Consumer: ');
  });
});
