import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplate } from '#local/template/parse.ts';

const template = loadTemplate(resolve(import.meta.dirname, '../../template.yaml'));
const resources = template.Resources;
const parameters = template.Parameters ?? {};

type Node = Record<string, unknown>;
const consumer = resources.ConsumerFunction!.Properties as Node;
const stream = (consumer.Events as Record<string, { Type: string; Properties: Node }>).Stream!;
const role = resources.ConsumerFunctionRole!.Properties as Node;
const statements = (((role.Policies as Node[])[0]!.PolicyDocument as Node).Statement as Node[]).map(
  (statement) => ('Fn::If' in statement ? ((statement['Fn::If'] as unknown[])[1] as Node) : statement),
);

/** The ESM properties that must each come from a parameter of their own, and the parameter's allowed values. */
const WIRED: Array<[property: string, accepts: (value: number | string) => boolean]> = [
  ['StartingPosition', (v) => ['TRIM_HORIZON', 'LATEST'].includes(String(v))],
  ['BatchSize', (v) => Number(v) >= 1 && Number(v) <= 10_000],
  ['MaximumBatchingWindowInSeconds', (v) => Number(v) >= 0 && Number(v) <= 300],
  ['ParallelizationFactor', (v) => Number(v) >= 1 && Number(v) <= 10],
  // Bounded by default: -1 would retry a poison batch until it leaves the stream.
  ['MaximumRetryAttempts', (v) => Number(v) >= 0 && Number(v) <= 10_000],
  ['MaximumRecordAgeInSeconds', (v) => Number(v) === -1 || (Number(v) >= 60 && Number(v) <= 604_800)],
];

describe('Template: ConsumerFunction', () => {
  it.each(WIRED)('takes %s from a parameter of its own, with a safe default', (property, accepts) => {
    // Prepare
    const value = stream.Properties[property] as { Ref?: string };
    // Act
    const parameter = parameters[value.Ref ?? ''];
    // Assess
    expect(value).toEqual({ Ref: `Consumer${property}` });
    expect(parameter?.Description).toEqual(expect.any(String));
    expect(accepts(parameter?.Default as number | string)).toBe(true);
  });

  it('uses six different parameters for the six properties', () => {
    const refs = WIRED.map(([property]) => (stream.Properties[property] as { Ref: string }).Ref);
    expect(new Set(refs).size).toBe(WIRED.length);
  });

  it('lets MaximumRecordAgeInSeconds take exactly -1 or 60-604800', () => {
    // Prepare
    const pattern = new RegExp(parameters.ConsumerMaximumRecordAgeInSeconds!.AllowedPattern as string);
    // Act
    const accepted = ['-1', '0', '59', '60', '3600', '604800', '604801', '1000000'].filter((v) =>
      pattern.test(v),
    );
    // Assess
    expect(accepted).toEqual(['-1', '60', '3600', '604800']);
  });

  it('reports partial failures, bisects failing batches and sends exhausted batches to the failure queue', () => {
    expect(stream.Type).toBe('Kinesis');
    expect(stream.Properties).toMatchObject({
      Stream: { 'Fn::GetAtt': ['EventStream', 'Arn'] },
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Type: 'SQS', Destination: { 'Fn::GetAtt': ['ConsumerFailureQueue', 'Arn'] } },
      },
    });
    expect(consumer.DeadLetterQueue).toBeUndefined();
  });

  it('is configured from the parameters and the resources it writes to', () => {
    expect((consumer.Environment as Node).Variables).toMatchObject({
      TABLE_NAME: { Ref: 'EventTable' },
      QUARANTINE_BUCKET: { Ref: 'QuarantineBucket' },
      PROJECTION_VERSION: { Ref: 'ProjectionVersion' },
      KEY_CONCURRENCY: { Ref: 'ConsumerKeyConcurrency' },
    });
  });

  it('grants only named actions on named resources', () => {
    const grants = statements.map((s) => [s.Action, s.Resource]);
    expect(consumer.Role).toEqual({ 'Fn::GetAtt': ['ConsumerFunctionRole', 'Arn'] });
    expect(grants).toEqual([
      [['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': ['ConsumerFunctionLogs', 'Arn'] }],
      [['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], '*'],
      [
        [
          'kinesis:DescribeStream',
          'kinesis:DescribeStreamSummary',
          'kinesis:GetRecords',
          'kinesis:GetShardIterator',
          'kinesis:ListShards',
        ],
        { 'Fn::GetAtt': ['EventStream', 'Arn'] },
      ],
      [['dynamodb:PutItem', 'dynamodb:GetItem'], { 'Fn::GetAtt': ['EventTable', 'Arn'] }],
      [['s3:PutObject'], { 'Fn::Sub': '${QuarantineBucket.Arn}/*' }],
      [['sqs:SendMessage'], { 'Fn::GetAtt': ['ConsumerFailureQueue', 'Arn'] }],
      [
        ['kms:Decrypt', 'kms:GenerateDataKey'],
        { 'Fn::If': ['CreatesCustomerKey', { 'Fn::GetAtt': ['PipelineKey', 'Arn'] }, { Ref: 'KmsKeyArn' }] },
      ],
    ]);
  });

  it('has a log group of its own with a retention', () => {
    expect(consumer.LoggingConfig).toEqual({ LogGroup: { Ref: 'ConsumerFunctionLogs' } });
    expect(resources.ConsumerFunctionLogs?.Properties).toMatchObject({
      LogGroupName: { 'Fn::Sub': '/aws/lambda/${AWS::StackName}/consumer' },
      RetentionInDays: { Ref: 'LogRetentionDays' },
    });
  });
});

describe('Template: the consumer’s storage', () => {
  it('makes the table on-demand, recoverable, encrypted and protected by a parameter', () => {
    expect(resources.EventTable?.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'identity', KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: { Ref: 'TableDeletionProtection' },
    });
  });

  it('encrypts the bucket, blocks public access, expires only quarantined records, and refuses plain HTTP', () => {
    const bucket = resources.QuarantineBucket?.Properties as Node;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption).toBeDefined();
    const rules = (bucket.LifecycleConfiguration as { Rules: Node[] }).Rules;
    expect(rules.filter((rule) => 'ExpirationInDays' in rule).map((rule) => rule.Prefix)).toEqual([
      'quarantine/',
    ]);
    const policy = resources.QuarantineBucketPolicy?.Properties as { PolicyDocument: { Statement: Node[] } };
    expect(policy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('keeps failure pointers 14 days in an encrypted queue', () => {
    expect(resources.ConsumerFailureQueue?.Properties).toMatchObject({
      // SQS-managed keys, or the customer-managed key when KmsKeyMode chooses one.
      SqsManagedSseEnabled: { 'Fn::If': ['HasCustomerKey', { Ref: 'AWS::NoValue' }, true] },
      MessageRetentionPeriod: 1_209_600,
    });
  });

  it('declares every consumer parameter with a description, and uses it', () => {
    const text = JSON.stringify(resources);
    const ours = Object.keys(parameters).filter((name) =>
      /^(Consumer|ProjectionVersion|TableDeletionProtection|QuarantineRetentionDays)/.test(name),
    );
    expect(ours).toHaveLength(11);
    for (const name of ours) {
      expect(parameters[name]?.Description, name).toEqual(expect.any(String));
      expect(text.includes(`{"Ref":"${name}"}`), name).toBe(true);
    }
  });

  it('outputs the consumer, the table, the bucket and the failure queue', () => {
    expect(template.Outputs?.ConsumerFunctionName).toMatchObject({ Value: { Ref: 'ConsumerFunction' } });
    expect(Object.keys(template.Outputs ?? {})).toEqual(
      expect.arrayContaining([
        'EventTableName',
        'QuarantineBucketName',
        'ConsumerFailureQueueUrl',
        'ConsumerFailureQueueArn',
      ]),
    );
  });
});
