import { nearest } from './edit-distance.ts';

/**
 * The CloudWatch metrics of the AWS services this project alarms on and charts, each with the dimension sets AWS
 * publishes it under. An alarm or a dashboard metric whose dimension names are not one of these sets watches a
 * series that never gets a data point: the alarm stays in INSUFFICIENT_DATA (or OK with TreatMissingData) forever.
 *
 * Sources, AWS documentation:
 * - AWS/Kinesis: Kinesis Data Streams developer guide, "Monitor the Amazon Kinesis Data Streams service with Amazon
 *   CloudWatch" (docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html). Basic stream-level
 *   metrics have the dimension StreamName; enhanced shard-level metrics (EnableEnhancedMonitoring) have
 *   StreamName and ShardId, and some are named differently at shard level (GetRecords.Bytes is OutgoingBytes,
 *   GetRecords.IteratorAgeMilliseconds is IteratorAgeMilliseconds).
 * - AWS/Lambda: Lambda developer guide, "Working with Lambda function metrics" and "Types of metrics for Lambda
 *   functions" (docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html, monitoring-metrics-types.html):
 *   FunctionName; FunctionName and Resource (a version or alias); FunctionName, Resource and ExecutedVersion;
 *   or none (the whole Region) for the account-level concurrency metrics.
 * - AWS/SQS: SQS developer guide, "Available CloudWatch metrics for Amazon SQS"
 *   (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
 *   QueueName.
 * - AWS/ApiGateway: API Gateway developer guide, "Monitor CloudWatch metrics for HTTP APIs in API Gateway"
 *   (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html): ApiId; ApiId and Stage; ApiId,
 *   Method, Resource and Stage (detailed route metrics). REST APIs ("Amazon API Gateway dimensions and metrics",
 *   api-gateway-metrics-and-dimensions.html) name their errors 4XXError/5XXError and use ApiName instead of
 *   ApiId, a common mix-up with HTTP APIs' 4xx/5xx.
 */

export interface MetricSpec {
  /** The dimension-name sets the metric is published with (order does not matter). */
  readonly dimensions: readonly (readonly string[])[];
  /** The unit of its values where a threshold must match it. */
  readonly unit?: 'Milliseconds' | 'Seconds' | 'Count' | 'Bytes';
}

const sets = (...dimensionSets: (readonly string[])[]) => dimensionSets;
const metrics = (names: readonly string[], spec: MetricSpec): Record<string, MetricSpec> =>
  Object.fromEntries(names.map((name) => [name, spec]));

const STREAM = sets(['StreamName']);
const STREAM_OR_SHARD = sets(['StreamName'], ['StreamName', 'ShardId']);
const SHARD = sets(['StreamName', 'ShardId']);
const CONSUMER = sets(['StreamName', 'ConsumerName']);
const FUNCTION = sets(
  ['FunctionName'],
  ['FunctionName', 'Resource'],
  ['FunctionName', 'Resource', 'ExecutedVersion'],
);
const QUEUE = sets(['QueueName']);
const HTTP_API = sets(['ApiId'], ['ApiId', 'Stage'], ['ApiId', 'Method', 'Resource', 'Stage']);
const REST_API = sets(['ApiName'], ['ApiName', 'Stage'], ['ApiName', 'Method', 'Resource', 'Stage']);

export const AWS_METRICS: Readonly<Record<string, Readonly<Record<string, MetricSpec>>>> = {
  'AWS/Kinesis': {
    ...metrics(
      [
        'GetRecords.Bytes',
        'GetRecords.Latency',
        'GetRecords.Records',
        'GetRecords.Success',
        'PutRecord.Bytes',
        'PutRecord.Latency',
        'PutRecord.Success',
        'PutRecords.Bytes',
        'PutRecords.Latency',
        'PutRecords.Success',
        'PutRecords.TotalRecords',
        'PutRecords.SuccessfulRecords',
        'PutRecords.FailedRecords',
        'PutRecords.ThrottledRecords',
      ],
      { dimensions: STREAM },
    ),
    'GetRecords.IteratorAgeMilliseconds': { dimensions: STREAM, unit: 'Milliseconds' },
    ...metrics(
      [
        'IncomingBytes',
        'IncomingRecords',
        'WriteProvisionedThroughputExceeded',
        'ReadProvisionedThroughputExceeded',
      ],
      { dimensions: STREAM_OR_SHARD },
    ),
    ...metrics(['OutgoingBytes', 'OutgoingRecords'], { dimensions: SHARD }),
    IteratorAgeMilliseconds: { dimensions: SHARD, unit: 'Milliseconds' },
    ...metrics(
      [
        'SubscribeToShard.RateExceeded',
        'SubscribeToShard.Success',
        'SubscribeToShardEvent.Bytes',
        'SubscribeToShardEvent.Records',
        'SubscribeToShardEvent.Success',
      ],
      { dimensions: CONSUMER },
    ),
    'SubscribeToShardEvent.MillisBehindLatest': { dimensions: CONSUMER, unit: 'Milliseconds' },
  },
  'AWS/Lambda': {
    ...metrics(
      [
        'Invocations',
        'Errors',
        'Throttles',
        'DeadLetterErrors',
        'DestinationDeliveryFailures',
        'RecursiveInvocationsDropped',
        'ProvisionedConcurrencyInvocations',
        'ProvisionedConcurrencySpilloverInvocations',
        'ProvisionedConcurrentExecutions',
        'AsyncEventsReceived',
        'AsyncEventsDropped',
      ],
      { dimensions: FUNCTION, unit: 'Count' },
    ),
    ...metrics(['Duration', 'PostRuntimeExtensionsDuration', 'AsyncEventAge'], {
      dimensions: FUNCTION,
      unit: 'Milliseconds',
    }),
    IteratorAge: { dimensions: FUNCTION, unit: 'Milliseconds' },
    // Also published for the whole Region (no dimension).
    ConcurrentExecutions: { dimensions: [...FUNCTION, []], unit: 'Count' },
    UnreservedConcurrentExecutions: { dimensions: sets([]), unit: 'Count' },
    ClaimedAccountConcurrency: { dimensions: sets([]), unit: 'Count' },
  },
  'AWS/SQS': {
    ...metrics(
      [
        'ApproximateNumberOfMessagesDelayed',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesVisible',
        'NumberOfEmptyReceives',
        'NumberOfDeduplicatedSentMessages',
        'NumberOfMessagesDeleted',
        'NumberOfMessagesReceived',
        'NumberOfMessagesSent',
      ],
      { dimensions: QUEUE, unit: 'Count' },
    ),
    ApproximateAgeOfOldestMessage: { dimensions: QUEUE, unit: 'Seconds' },
    SentMessageSize: { dimensions: QUEUE, unit: 'Bytes' },
  },
  'AWS/ApiGateway': {
    ...metrics(['4xx', '5xx', 'DataProcessed'], { dimensions: HTTP_API }),
    ...metrics(['4XXError', '5XXError', 'CacheHitCount', 'CacheMissCount'], { dimensions: REST_API }),
    Count: { dimensions: [...HTTP_API, ...REST_API], unit: 'Count' },
    ...metrics(['Latency', 'IntegrationLatency'], {
      dimensions: [...HTTP_API, ...REST_API],
      unit: 'Milliseconds',
    }),
  },
};

/**
 * The namespaces AWS documents for its services' metrics: the table of the CloudWatch User Guide's "AWS services that
 * publish CloudWatch metrics" (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/aws-services-cloudwatch-metrics.html,
 * as awsdocs/amazon-cloudwatch-user-guide doc_source/aws-services-cloudwatch-metrics.md holds it), those of the table
 * above, and AWS/Usage (EventBridge Scheduler guide, "EventBridge Scheduler usage metrics": "contained in the AWS/Usage
 * namespace"). That table has grown since, so a namespace missing here is not proof of a mistake: only one a letter
 * or two from a documented one is reported (namespaceProblem).
 */
export const AWS_NAMESPACES: ReadonlySet<string> = new Set([
  'AWS/ACMPrivateCA',
  'AWS/AmazonMQ',
  'AWS/ApiGateway',
  'AWS/AppStream',
  'AWS/ApplicationELB',
  'AWS/Athena',
  'AWS/AutoScaling',
  'AWS/Billing',
  'AWS/CloudFront',
  'AWS/CloudHSM',
  'AWS/CloudSearch',
  'AWS/CodeBuild',
  'AWS/Cognito',
  'AWS/Connect',
  'AWS/DataSync',
  'AWS/DDoSProtection',
  'AWS/DMS',
  'AWS/DocDB',
  'AWS/DX',
  'AWS/DynamoDB',
  'AWS/EBS',
  'AWS/EC2',
  'AWS/EC2Spot',
  'AWS/ECS',
  'AWS/EFS',
  'AWS/ElastiCache',
  'AWS/ElasticBeanstalk',
  'AWS/ElasticInference',
  'AWS/ElasticMapReduce',
  'AWS/ElasticTranscoder',
  'AWS/ELB',
  'AWS/ES',
  'AWS/Events',
  'AWS/Firehose',
  'AWS/FSx',
  'AWS/GameLift',
  'AWS/Glue',
  'AWS/Inspector',
  'AWS/IoT',
  'AWS/IoTAnalytics',
  'AWS/Kafka',
  'AWS/Kinesis',
  'AWS/KinesisAnalytics',
  'AWS/KinesisVideo',
  'AWS/KMS',
  'AWS/Lambda',
  'AWS/Lex',
  'AWS/Logs',
  'AWS/MediaConnect',
  'AWS/MediaConvert',
  'AWS/MediaPackage',
  'AWS/MediaTailor',
  'AWS/ML',
  'AWS/NATGateway',
  'AWS/Neptune',
  'AWS/NetworkELB',
  'AWS/OpsWorks',
  'AWS/Polly',
  'AWS/QLDB',
  'AWS/RDS',
  'AWS/Redshift',
  'AWS/Robomaker',
  'AWS/Route53',
  'AWS/SageMaker',
  'AWS/SDKMetrics',
  'AWS/SES',
  'AWS/SNS',
  'AWS/SQS',
  'AWS/S3',
  'AWS/States',
  'AWS/StorageGateway',
  'AWS/SWF',
  'AWS/Textract',
  'AWS/ThingsGraph',
  'AWS/Transfer',
  'AWS/TransitGateway',
  'AWS/Translate',
  'AWS/TrustedAdvisor',
  'AWS/Usage',
  'AWS/VPN',
  'AWS/WorkMail',
  'AWS/WorkSpaces',
]);

/**
 * Why an AWS/ namespace names no series, or undefined. A namespace is case-sensitive, so one that differs from a
 * documented namespace in case only is wrong; so is one of five letters or more after AWS/ within two edits of a
 * documented one (AWS/Kinesiss). Shorter ones (AWS/ECR beside AWS/ECS) may be services the table predates.
 */
export const namespaceProblem = (namespace: string): string | undefined => {
  if (!namespace.startsWith('AWS/') || AWS_NAMESPACES.has(namespace) || namespace in AWS_METRICS)
    return undefined;
  const best = nearest(namespace, AWS_NAMESPACES);
  if (!best) return undefined;
  const sameButCase = best.score === 0;
  if (!sameButCase && (namespace.length - 4 < 5 || best.score > 2)) return undefined;
  return `${namespace} is no namespace AWS publishes metrics in (did you mean ${best.name}?): its metrics never get a data point`;
};

/** The dimension sets a metric is published with, or undefined when the table does not know the metric. */
export const awsMetric = (namespace: string, name: string): MetricSpec | undefined =>
  AWS_METRICS[namespace]?.[name];

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name) => b.includes(name));

/**
 * Why `dimensions` do not identify a series of the metric, or undefined when they do (or when the table does not
 * cover the namespace).
 */
export const dimensionProblem = (
  namespace: string,
  name: string,
  dimensions: readonly string[],
): string | undefined => {
  const namespaceMetrics = AWS_METRICS[namespace];
  if (namespaceMetrics === undefined) return undefined;
  const spec = namespaceMetrics[name];
  if (spec === undefined) return `${namespace} publishes no metric named ${name}`;
  if (spec.dimensions.some((set) => sameSet(set, dimensions))) return undefined;
  const expected = spec.dimensions.map((set) => (set.length === 0 ? '(none)' : set.join(' + '))).join(' or ');
  const got = dimensions.length === 0 ? 'none' : dimensions.join(' + ');
  return `${namespace} ${name} is published with dimensions ${expected}, not ${got}`;
};
