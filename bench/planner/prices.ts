/**
 * The one price table the planner uses: AWS list prices in US East (N. Virginia), us-east-1, in USD, as read on
 * 2026-11-27 from the sources named beside each price (AWS's own pricing pages render their figures at run time,
 * so the stored copies carry them only in AWS's worked examples and in the pages quoted here). Free tiers,
 * volume tiers beyond the first, Savings Plans and Kinesis On-demand Advantage are not modelled.
 * Check https://aws.amazon.com/kinesis/data-streams/pricing/ and the other pricing pages before relying on them.
 */
export const PRICES = {
  region: 'us-east-1',
  asOf: '2026-11-27',
  kinesis: {
    provisioned: {
      // Trek10, "Kinesis Data Streams On-demand vs. Provisioned Billing Mode Cost Comparison" (2023-09-21,
      // us-east-1), agreeing with AWS bills quoted in aws-samples issues: $0.015 per shard hour.
      shardHour: 0.015,
      // Same Trek10 table and the AWS pricing page's example: $0.014 per million PUT payload units of 25 KB.
      putPayloadUnitPerMillion: 0.014,
      putPayloadUnitKB: 25,
      // AWS Price List API for us-east-1 (quoted in komiser PR #1137, effective 2023-06-01): enhanced fan-out
      // $0.015 per consumer-shard hour and $0.013 per GB retrieved.
      efoConsumerShardHour: 0.015,
      efoRetrievalPerGB: 0.013,
      // Reads through GetRecords (shared throughput) are not charged in provisioned mode (Trek10 table).
      sharedRetrievalPerGB: 0,
    },
    onDemand: {
      // AWS Big Data Blog, "Kinesis On-demand Advantage saves 60%+ on streaming costs" (2026-03-09, us-east-1
      // prices): On-demand Standard charges $0.04 per stream hour and $0.08 per GB ingested.
      streamHour: 0.04,
      ingestPerGB: 0.08,
      // Each record is metered rounded up to the next 1 KB when ingested (AWS pricing page, "Data-In").
      ingestRoundingKB: 1,
      // Trek10 table (2023-09-21): $0.04 per GB retrieved through shared throughput, without rounding.
      sharedRetrievalPerGB: 0.04,
      // AWS Big Data Blog (2026-03-09): enhanced fan-out retrievals cost $0.05 per GB in On-demand Standard.
      // Whether on-demand also bills EFO consumer-shard hours was not confirmed, so none are added.
      efoRetrievalPerGB: 0.05,
    },
  },
  lambda: {
    // cloudchipr "AWS Lambda Pricing Breakdown" (2024, US East) and lambda_local_runner docs: $0.20 per million
    // requests, and Arm (arm64, as template.yaml deploys) $0.0000133334 per GB-second for the first 7.5 billion.
    requestPerMillion: 0.2,
    arm64PerGBSecond: 0.0000133334,
  },
  dynamodb: {
    // airbyte "Amazon DynamoDB Pricing" (2025-07-21, US East), after the November 2024 price cut: on-demand
    // $0.625 per million write request units; one WRU writes up to 1 KB.
    onDemandWritePerMillion: 0.625,
    writeUnitKB: 1,
  },
  s3: {
    // AWS Price List API, AmazonS3 offer for us-east-1 (version 20260928230416, 2026-09-28; quoted in a public S3
    // cost study, read 2026-11-28): Requests-Tier1, S3 Standard PUT, COPY, POST or LIST, $0.005 per 1,000 requests.
    standardPutPerThousand: 0.005,
  },
  apiGateway: {
    // awsforengineers "AWS API Gateway Pricing Explained" (2025-05-19) and amnic (2026): HTTP APIs cost $1.00 per
    // million requests for the first 300 million a month; AWS's API Gateway whitepaper: metered in 512 KB units.
    httpRequestPerMillion: 1.0,
    httpFirstTierMillionRequests: 300,
    httpMeteringKB: 512,
  },
} as const;

/** AWS bills a month as 730 hours. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
/** AWS meters these prices in binary units: 1 KB = 1,024 bytes, 1 GB = 1,024³ bytes. */
export const KB_PER_GB = 1024 * 1024;
