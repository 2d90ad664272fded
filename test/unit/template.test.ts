import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplate, parseTemplate, type Template, TemplateParseError } from '#local/template/parse.ts';
import { defaultTemplateSpec } from '#local/template/spec.ts';
import { formatFinding, validateTemplate } from '#local/template/validate.ts';

const templatePath = resolve(import.meta.dirname, '../../template.yaml');
const root = dirname(templatePath);
const template = loadTemplate(templatePath);
// Loaded once for the whole file: it takes a second or so.
const spec = defaultTemplateSpec();

const validate = (candidate: Template): string[] =>
  validateTemplate(candidate, { root, spec }).map(formatFinding);

type Node = Record<string | number, unknown>;

/** The object at `path` below `value`, for mutating a cloned template in place. */
const node = (value: unknown, ...path: Array<string | number>): Node => {
  let current = value;
  for (const key of path) current = (current as Node)[key];
  if (typeof current !== 'object' || current === null) throw new Error(`no object at ${path.join('.')}`);
  return current as Node;
};

const parameter = (description: string, extra: Record<string, unknown> = {}) => ({
  Type: 'Number',
  Description: description,
  ...extra,
});

/**
 * The real template plus a small Kinesis stream consumer (with its own parameters, on-failure queue and alarm),
 * so the wiring rules have a subject whatever the template holds today.
 */
const withStreamConsumer = (): Template => {
  const candidate = structuredClone(template);
  candidate.Parameters ??= {};
  Object.assign(candidate.Parameters, {
    ProbeBatchSize: parameter('Records per batch', { Default: 100 }),
    ProbeMaximumBatchingWindowInSeconds: parameter('Batching window', { Default: 1 }),
    ProbeParallelizationFactor: parameter('Concurrent batches per shard', { Default: 1 }),
    ProbeMaximumRetryAttempts: parameter('Retries of a failed batch', { Default: 3 }),
    ProbeMaximumRecordAgeInSeconds: parameter('Oldest record processed', { Default: 3600 }),
    ProbeIteratorAgeAlarmMilliseconds: parameter('Iterator age that raises the alarm, in milliseconds', {
      Default: 60000,
    }),
    ProbeStartingPosition: {
      Type: 'String',
      Default: 'TRIM_HORIZON',
      AllowedValues: ['TRIM_HORIZON', 'LATEST'],
      Description: 'Where a new consumer starts',
    },
  });
  Object.assign(candidate.Resources, {
    ProbeFailures: { Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: true } },
    ProbeConsumer: {
      Type: 'AWS::Serverless::Function',
      Metadata: {
        BuildMethod: 'esbuild',
        BuildProperties: { Format: 'esm', EntryPoints: ['functions/ingest/handler.ts'] },
      },
      Properties: {
        CodeUri: './',
        Handler: 'handler.handler',
        LoggingConfig: { LogFormat: 'JSON' },
        Policies: [
          {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:DescribeStream'],
                Resource: { 'Fn::GetAtt': ['EventStream', 'Arn'] },
              },
              {
                Effect: 'Allow',
                Action: 'sqs:SendMessage',
                Resource: { 'Fn::GetAtt': ['ProbeFailures', 'Arn'] },
              },
            ],
          },
        ],
        Events: {
          Stream: {
            Type: 'Kinesis',
            Properties: {
              Stream: { 'Fn::GetAtt': ['EventStream', 'Arn'] },
              StartingPosition: { Ref: 'ProbeStartingPosition' },
              BatchSize: { Ref: 'ProbeBatchSize' },
              MaximumBatchingWindowInSeconds: { Ref: 'ProbeMaximumBatchingWindowInSeconds' },
              ParallelizationFactor: { Ref: 'ProbeParallelizationFactor' },
              MaximumRetryAttempts: { Ref: 'ProbeMaximumRetryAttempts' },
              MaximumRecordAgeInSeconds: { Ref: 'ProbeMaximumRecordAgeInSeconds' },
              // Fn::If with AWS::NoValue may drop a tunable property altogether.
              TumblingWindowInSeconds: { Ref: 'AWS::NoValue' },
              BisectBatchOnFunctionError: true,
              FunctionResponseTypes: ['ReportBatchItemFailures'],
              MetricsConfig: { Metrics: ['EventCount'] },
              DestinationConfig: {
                OnFailure: { Type: 'SQS', Destination: { 'Fn::GetAtt': ['ProbeFailures', 'Arn'] } },
              },
            },
          },
        },
      },
    },
    ProbeIteratorAgeAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'ProbeConsumer' } }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: { Ref: 'ProbeIteratorAgeAlarmMilliseconds' },
        ComparisonOperator: 'GreaterThanThreshold',
      },
    },
  });
  return candidate;
};

const consumerEvent = (candidate: Template): Node =>
  node(candidate.Resources, 'ProbeConsumer', 'Properties', 'Events', 'Stream', 'Properties');
const ingestStatement = (candidate: Template): Node =>
  node(
    candidate.Resources,
    'IngestFunctionRole',
    'Properties',
    'Policies',
    0,
    'PolicyDocument',
    'Statement',
    2,
  );
const consumerStatement = (candidate: Template): Node =>
  node(
    candidate.Resources,
    'ConsumerFunctionRole',
    'Properties',
    'Policies',
    0,
    'PolicyDocument',
    'Statement',
    0,
  );
const alarm = (candidate: Template, logicalId: string): Node =>
  node(candidate.Resources, logicalId, 'Properties');
const dashboardBody = (candidate: Template): Node =>
  alarm(candidate, 'PipelineDashboard').DashboardBody as Node;
/** Replaces text in the dashboard body's Fn::Sub source, or in one of its variables. */
const editDashboard = (candidate: Template, from: string, to: string, variable?: string): void => {
  const args = dashboardBody(candidate)['Fn::Sub'] as [string, Node];
  if (variable === undefined) {
    args[0] = args[0].replace(from, to);
    return;
  }
  const branches = args[1][variable] as { 'Fn::If': [string, { 'Fn::Sub': string }, unknown] };
  const chosen = branches['Fn::If'][1];
  chosen['Fn::Sub'] = chosen['Fn::Sub'].replace(from, to);
};
const seconds = (description: string) => parameter(description, { Default: 60 });

describe('Template: validateTemplate', () => {
  it('parses template.yaml with the intrinsic tags and finds nothing wrong in it', () => {
    // Act
    const findings = validate(template);

    // Assess
    expect(node(template.Resources, 'EventStream', 'Properties').ShardCount).toEqual({
      'Fn::If': ['IsProvisioned', { Ref: 'ShardCount' }, { Ref: 'AWS::NoValue' }],
    });
    expect(findings).toEqual([]);
  });

  it('accepts the stream consumer fixture, including SAM properties the spec lacks', () => {
    // Prepare
    const candidate = withStreamConsumer();

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual([]);
  });

  it.each<{ rule: string; mutate: (candidate: Template) => void; expected: string[] }>([
    {
      rule: 'an unknown resource type',
      mutate: (t) => {
        node(t.Resources, 'EventStream').Type = 'AWS::Kinesis::Streams';
      },
      expected: ['EventStream.Type: unknown resource type AWS::Kinesis::Streams'],
    },
    {
      rule: 'an unknown property',
      mutate: (t) => {
        node(t.Resources, 'EventStream', 'Properties').RetentionHours = 24;
      },
      expected: ['EventStream.RetentionHours: unknown property of AWS::Kinesis::Stream'],
    },
    {
      rule: 'an unknown property of a nested type, with a hint',
      mutate: (t) => {
        node(t.Resources, 'EventStream', 'Properties', 'StreamEncryption').KeyID = 'alias/aws/kinesis';
      },
      expected: [
        'EventStream.StreamEncryption.KeyID: unknown property of StreamEncryption (did you mean KeyId?)',
      ],
    },
    {
      rule: 'a missing required property',
      mutate: (t) => {
        delete node(t.Resources, 'EventStream', 'Properties', 'StreamEncryption').KeyId;
      },
      expected: ['EventStream.StreamEncryption.KeyId: required property of StreamEncryption is missing'],
    },
    {
      rule: 'a literal of the wrong type',
      mutate: (t) => {
        node(t.Globals, 'Function').MemorySize = 'large';
      },
      expected: ['Globals.Function.MemorySize: expected number, got string "large"'],
    },
    {
      rule: 'a wrong literal in a branch of Fn::If that stands for the whole property',
      mutate: (t) => {
        node(t.Resources, 'EventStream', 'Properties').ShardCount = {
          'Fn::If': ['IsProvisioned', 'many', { Ref: 'AWS::NoValue' }],
        };
      },
      expected: [
        'EventStream.ShardCount: expected integer, got string "many"',
        'Parameters.ShardCount: is declared but never used',
      ],
    },
    {
      rule: 'the spec name AccessLogSetting, which SAM rejects on an HTTP API',
      mutate: (t) => {
        const api = node(t.Resources, 'IngestApi', 'Properties');
        api.AccessLogSetting = api.AccessLogSettings;
        delete api.AccessLogSettings;
      },
      expected: [
        'IngestApi.AccessLogSetting: unknown property of AWS::Serverless::HttpApi (did you mean AccessLogSettings?)',
      ],
    },
    {
      rule: 'an unknown function event type',
      mutate: (t) => {
        node(t.Resources, 'ProbeConsumer', 'Properties', 'Events', 'Stream').Type = 'KinesisStream';
      },
      expected: [
        'ProbeConsumer.Events.Stream.Type: unknown event type KinesisStream (known: S3, SNS, SQS, Kinesis, DynamoDB, Api, Schedule, CloudWatchEvent, CloudWatchLogs, IoTRule, AlexaSkill, EventBridgeRule, HttpApi, Cognito)',
      ],
    },
    {
      rule: 'an unknown Kinesis event property',
      mutate: (t) => {
        consumerEvent(t).BatchingWindow = 5;
      },
      expected: ['ProbeConsumer.Events.Stream.Properties.BatchingWindow: unknown property of KinesisEvent'],
    },
    {
      rule: 'a Ref to nothing',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Properties', 'Environment', 'Variables').STREAM_NAME = {
          Ref: 'Stream',
        };
      },
      expected: [
        'IngestFunction.Environment.Variables.STREAM_NAME: Ref to unknown name Stream (not a parameter, resource or pseudo parameter)',
      ],
    },
    {
      rule: 'a GetAtt to a missing resource',
      mutate: (t) => {
        node(t.Outputs, 'StreamArn').Value = { 'Fn::GetAtt': ['Stream', 'Arn'] };
      },
      expected: ['Outputs.StreamArn.Value: Fn::GetAtt to unknown resource Stream'],
    },
    {
      rule: 'a GetAtt to a missing attribute',
      mutate: (t) => {
        node(t.Outputs, 'StreamArn').Value = { 'Fn::GetAtt': ['EventStream', 'StreamArn'] };
      },
      expected: [
        'Outputs.StreamArn.Value: Fn::GetAtt to unknown attribute StreamArn of EventStream (AWS::Kinesis::Stream has Arn, WarmThroughputObject)',
      ],
    },
    {
      rule: 'an unresolved ${X} in Fn::Sub (literals and SAM-generated names resolve)',
      mutate: (t) => {
        node(t.Outputs, 'ApiUrl').Value = {
          'Fn::Sub':
            'https://${IngestApi}.${Region}/${!Literal}/${IngestFunction.Arn}/${IngestFunctionRole.Arn}',
        };
      },
      expected: [
        'Outputs.ApiUrl.Value: Fn::Sub to unknown name Region (not a parameter, resource or pseudo parameter)',
      ],
    },
    {
      rule: 'an Fn::If on a missing condition',
      mutate: (t) => {
        node(t.Resources, 'EventStream', 'Properties').ShardCount = {
          'Fn::If': ['Provisioned', { Ref: 'ShardCount' }, { Ref: 'AWS::NoValue' }],
        };
      },
      expected: [
        'EventStream.ShardCount: Fn::If names unknown condition Provisioned',
        'Conditions.IsProvisioned: is declared but never used',
      ],
    },
    {
      rule: 'an unused parameter',
      mutate: (t) => {
        node(t.Parameters).Spare = { Type: 'String', Description: 'Not wired to anything' };
      },
      expected: ['Parameters.Spare: is declared but never used'],
    },
    {
      rule: 'a parameter without a description',
      mutate: (t) => {
        delete node(t.Parameters, 'LogLevel').Description;
      },
      expected: ['Parameters.LogLevel.Description: every parameter needs a Description'],
    },
    {
      rule: 'an unused condition',
      mutate: (t) => {
        node(t.Conditions).IsOnDemand = { 'Fn::Equals': [{ Ref: 'StreamMode' }, 'ON_DEMAND'] };
      },
      expected: ['Conditions.IsOnDemand: is declared but never used'],
    },
    {
      rule: 'a missing handler entry point',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Metadata', 'BuildProperties').EntryPoints = [
          'functions/ingress/handler.ts',
        ];
      },
      expected: [
        'IngestFunction.Metadata.BuildProperties.EntryPoints[0]: entry point functions/ingress/handler.ts does not exist under ./',
      ],
    },
    {
      rule: 'a Handler that names no entry point',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Properties').Handler = 'index.handler';
      },
      expected: [
        'IngestFunction.Handler: module index is not an esbuild entry point (entry points: handler)',
      ],
    },
    {
      rule: 'a nested Handler whose module, before the first dot, is not an entry point',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Properties').Handler = 'index.handlers.main';
      },
      expected: [
        'IngestFunction.Handler: module index is not an esbuild entry point (entry points: handler)',
      ],
    },
    {
      rule: 'a wildcard IAM action',
      mutate: (t) => {
        ingestStatement(t).Action = ['kinesis:*'];
      },
      expected: [
        'IngestFunctionRole.Policies[0].PolicyDocument.Statement[2].Action[0]: wildcard action kinesis:*: list the actions instead',
      ],
    },
    {
      rule: 'an IAM action pattern',
      mutate: (t) => {
        ingestStatement(t).Action = ['kinesis:Put*'];
      },
      expected: [
        'IngestFunctionRole.Policies[0].PolicyDocument.Statement[2].Action[0]: wildcard action kinesis:Put*: list the actions instead',
      ],
    },
    {
      rule: 'NotAction in an Allow, and an Effect IAM does not spell so',
      mutate: (t) => {
        const statement = ingestStatement(t);
        statement.NotAction = statement.Action;
        delete statement.Action;
        consumerStatement(t).Effect = 'allow';
      },
      expected: [
        'IngestFunctionRole.Policies[0].PolicyDocument.Statement[2].NotAction: NotAction in an Allow grants every other action: list them instead',
        'ConsumerFunctionRole.Policies[0].PolicyDocument.Statement[0].Effect: Effect must be Allow or Deny, as IAM spells them, got "allow"',
      ],
    },
    {
      rule: 'an Allow with no Resource, or with an ARN of any region or account',
      mutate: (t) => {
        delete ingestStatement(t).Resource;
        consumerStatement(t).Resource = {
          'Fn::Sub': 'arn:${AWS::Partition}:kinesis:*:${AWS::AccountId}:stream/x',
        };
      },
      expected: [
        'IngestFunctionRole.Policies[0].PolicyDocument.Statement[2]: an Allow statement with no Resource: IAM refuses the policy; name the ARNs',
        'ConsumerFunctionRole.Policies[0].PolicyDocument.Statement[0].Resource: arn:${AWS::Partition}:kinesis:*:${AWS::AccountId}:stream/x names any region: name the resources instead',
      ],
    },
    {
      rule: "a resource policy that lets anyone in (Principal '*' with no Condition)",
      mutate: (t) => {
        const statements = node(t.Resources, 'QuarantineBucketPolicy', 'Properties', 'PolicyDocument')
          .Statement as unknown[];
        statements.push({
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: 's3:GetObject',
          Resource: { 'Fn::Sub': '${QuarantineBucket.Arn}/*' },
        });
      },
      expected: [
        "QuarantineBucketPolicy.PolicyDocument.Statement[1].Principal: Principal '*' lets anyone in: name the principals, or add a Condition",
      ],
    },
    {
      rule: 'a circular dependency: a role that names its own function’s ARN',
      mutate: (t) => {
        ingestStatement(t).Resource = { 'Fn::GetAtt': ['IngestFunction', 'Arn'] };
      },
      expected: [
        'IngestFunction: circular dependency: IngestFunction → IngestFunctionRole → IngestFunction; CloudFormation refuses the template (name a resource by a known name, as a Sub of its name, instead of a Ref or GetAtt on one side)',
      ],
    },
    {
      rule: 'a circular dependency through DependsOn and Fn::Sub',
      mutate: (t) => {
        node(t.Resources, 'EventStream').DependsOn = 'ConsumerFailureQueue';
        node(t.Resources, 'ConsumerFailureQueue', 'Properties').QueueName = {
          'Fn::Sub': '${EventStream}-failures',
        };
      },
      expected: [
        'EventStream: circular dependency: EventStream → ConsumerFailureQueue → EventStream; CloudFormation refuses the template (name a resource by a known name, as a Sub of its name, instead of a Ref or GetAtt on one side)',
      ],
    },
    {
      rule: 'a misspelt section, an unknown format version and no SAM transform',
      mutate: (t) => {
        const mutable = t as unknown as Node;
        mutable.Output = mutable.Outputs;
        delete mutable.Outputs;
        mutable.AWSTemplateFormatVersion = '2010-09-10';
        delete mutable.Transform;
      },
      expected: [
        'Output: unknown template section (did you mean Outputs?): CloudFormation refuses the template',
        'AWSTemplateFormatVersion: the only template format version is \'2010-09-09\', got "2010-09-10"',
        'Transform: SAM resources and Globals need Transform: AWS::Serverless-2016-10-31; CloudFormation refuses them without it',
        // Only DashboardUrl chooses by them, and Output is no section the validator reads.
        'Conditions.InChinaPartition: is declared but never used',
        'Conditions.InGovCloudPartition: is declared but never used',
      ],
    },
    {
      rule: 'a misspelt output key, and an export name CloudFormation does not take',
      mutate: (t) => {
        const output = node(t, 'Outputs', 'ApiUrl');
        output.Exprot = { Name: 'x' };
        output.Export = { Name: 'my stream/name!' };
      },
      expected: [
        'Outputs.ApiUrl.Exprot: unknown output key (did you mean Export?)',
        'Outputs.ApiUrl.Export.Name: export name "my stream/name!": only letters, digits, colons and hyphens, at most 255',
      ],
    },
    {
      rule: "Resource: '*' on actions that can be scoped",
      mutate: (t) => {
        ingestStatement(t).Resource = '*';
      },
      expected: [
        "IngestFunctionRole.Policies[0].PolicyDocument.Statement[2].Resource: Resource '*' grants kinesis:PutRecords on every resource: name the ARNs instead",
      ],
    },
    {
      rule: 'SAM policy templates and managed policies',
      mutate: (t) => {
        const policies = node(t.Resources, 'ProbeConsumer', 'Properties', 'Policies') as unknown as unknown[];
        policies.push(
          { KinesisCrudPolicy: { StreamName: { Ref: 'EventStream' } } },
          'AWSLambdaKinesisExecutionRole',
        );
      },
      expected: [
        'ProbeConsumer.Policies[1]: SAM policy template KinesisCrudPolicy: write explicit statements instead',
        'ProbeConsumer.Policies[2]: managed policy AWSLambdaKinesisExecutionRole: write explicit statements instead',
      ],
    },
    {
      rule: 'Policies beside a Role, which SAM ignores',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Properties').Policies = [
          {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'kinesis:GetRecords', Resource: '*' }],
          },
        ];
      },
      expected: [
        'IngestFunction.Policies: SAM ignores Policies when the function has a Role: put them in the role',
        "IngestFunction.Policies[0].Statement[0].Resource: Resource '*' grants kinesis:GetRecords on every resource: name the ARNs instead",
      ],
    },
    {
      rule: 'swapped event-source parameters',
      mutate: (t) => {
        const event = consumerEvent(t);
        event.ParallelizationFactor = { Ref: 'ProbeMaximumRetryAttempts' };
        event.MaximumRetryAttempts = { Ref: 'ProbeParallelizationFactor' };
      },
      expected: [
        'ProbeConsumer.Events.Stream.Properties.ParallelizationFactor: refers to parameter ProbeMaximumRetryAttempts, which is named for MaximumRetryAttempts',
        'ProbeConsumer.Events.Stream.Properties.MaximumRetryAttempts: refers to parameter ProbeParallelizationFactor, which is named for ParallelizationFactor',
      ],
    },
    {
      rule: 'an event-source parameter shared by two properties',
      mutate: (t) => {
        consumerEvent(t).MaximumRetryAttempts = { Ref: 'ProbeParallelizationFactor' };
        delete node(t.Parameters).ProbeMaximumRetryAttempts;
      },
      expected: [
        'ProbeConsumer.Events.Stream.Properties.MaximumRetryAttempts: shares parameter ProbeParallelizationFactor with ParallelizationFactor: give it a parameter of its own',
      ],
    },
    {
      rule: 'a literal event-source setting',
      mutate: (t) => {
        consumerEvent(t).BatchSize = 500;
        delete node(t.Parameters).ProbeBatchSize;
      },
      expected: [
        'ProbeConsumer.Events.Stream.Properties.BatchSize: must be a Ref to a parameter of its own, got number 500',
      ],
    },
    {
      rule: 'a function-level DeadLetterQueue on a stream consumer',
      mutate: (t) => {
        node(t.Resources, 'ProbeConsumer', 'Properties').DeadLetterQueue = {
          Type: 'SQS',
          TargetArn: { 'Fn::GetAtt': ['ProbeFailures', 'Arn'] },
        };
      },
      expected: [
        'ProbeConsumer.DeadLetterQueue: never receives failed records of stream event Stream; use its DestinationConfig.OnFailure',
      ],
    },
    {
      rule: 'an alarm without dimensions',
      mutate: (t) => {
        delete node(t.Resources, 'ProbeIteratorAgeAlarm', 'Properties').Dimensions;
      },
      expected: [
        'ProbeIteratorAgeAlarm.Dimensions: an alarm on MetricName needs Dimensions naming what it watches',
      ],
    },
    {
      rule: 'a stream alarm without its StreamName dimension (the Solutions Constructs mistake)',
      mutate: (t) => {
        delete alarm(t, 'StreamIteratorAgeAlarm').Dimensions;
      },
      expected: [
        'StreamIteratorAgeAlarm.Dimensions: an alarm on MetricName needs Dimensions naming what it watches',
      ],
    },
    {
      rule: 'an alarm whose dimensions the metric is not published with',
      mutate: (t) => {
        alarm(t, 'StreamWriteThrottleAlarm').Dimensions = [
          { Name: 'FunctionName', Value: { Ref: 'IngestFunction' } },
        ];
      },
      expected: [
        'StreamWriteThrottleAlarm.Dimensions: AWS/Kinesis WriteProvisionedThroughputExceeded is published with dimensions StreamName or StreamName + ShardId, not FunctionName',
      ],
    },
    {
      rule: "a REST API metric name on an HTTP API's ApiId",
      mutate: (t) => {
        const errors = node(alarm(t, 'IngestApi5xxAlarm'), 'Metrics', 0, 'MetricStat', 'Metric');
        errors.MetricName = '5XXError';
      },
      expected: [
        'IngestApi5xxAlarm.Metrics[0].MetricStat.Metric.Dimensions: AWS/ApiGateway 5XXError is published with dimensions ApiName or ApiName + Stage or ApiName + Method + Resource + Stage, not ApiId',
      ],
    },
    {
      rule: 'an iterator-age threshold in seconds against a metric in milliseconds (the unit bug)',
      mutate: (t) => {
        node(t.Parameters).ConsumerIteratorAgeAlarmSeconds = seconds(
          'Iterator age that raises the alarm, in seconds',
        );
        alarm(t, 'ConsumerIteratorAgeAlarm').Threshold = { Ref: 'ConsumerIteratorAgeAlarmSeconds' };
        delete node(t.Parameters).LambdaIteratorAgeAlarmThresholdMilliseconds;
        // The dashboard draws the threshold too; it draws the new parameter.
        editDashboard(t, 'LambdaIteratorAgeAlarmThresholdMilliseconds', 'ConsumerIteratorAgeAlarmSeconds');
      },
      expected: [
        'ConsumerIteratorAgeAlarm.Threshold: parameter ConsumerIteratorAgeAlarmSeconds is in seconds, but AWS/Lambda IteratorAge is in milliseconds: give the threshold in milliseconds, or convert the metric with metric math',
      ],
    },
    {
      rule: 'an iterator-age threshold parameter that does not say its unit',
      mutate: (t) => {
        const parameters = node(t.Parameters);
        parameters.StreamLagAlarmThreshold = parameter('How far behind is too far', { Default: 60000 });
        delete parameters.StreamIteratorAgeAlarmThresholdMilliseconds;
        alarm(t, 'StreamIteratorAgeAlarm').Threshold = { Ref: 'StreamLagAlarmThreshold' };
        editDashboard(t, 'StreamIteratorAgeAlarmThresholdMilliseconds', 'StreamLagAlarmThreshold');
      },
      expected: [
        'StreamIteratorAgeAlarm.Threshold: parameter StreamLagAlarmThreshold does not say its unit, and AWS/Kinesis GetRecords.IteratorAgeMilliseconds is in milliseconds: name it …Milliseconds or say milliseconds in its Description',
      ],
    },
    {
      rule: 'a literal alarm threshold',
      mutate: (t) => {
        alarm(t, 'StreamReadThrottleAlarm').Threshold = 10;
        delete node(t.Parameters).StreamReadThrottleAlarmThreshold;
      },
      expected: [
        'StreamReadThrottleAlarm.Threshold: must be a Ref to a parameter, so that each environment can set it; got number 10',
      ],
    },
    {
      rule: 'names AWS refuses, whatever the stack name: characters in their literal parts, or literal parts already too long',
      mutate: (t) => {
        node(t.Resources, 'ReprocessorFunction', 'Properties').FunctionName = {
          'Fn::Sub': '${AWS::StackName}-reprocessor!',
        };
        Object.assign(node(t.Resources, 'ConsumerFailureQueue', 'Properties'), {
          QueueName: { 'Fn::Sub': '${AWS::StackName}-failures' },
          FifoQueue: true,
        });
        node(t.Resources, 'EventStream', 'Properties').Name = {
          'Fn::Sub': `\${AWS::StackName}-${'x'.repeat(127)}`,
        };
        node(t.Resources, 'QuarantineBucket', 'Properties').BucketName = 'Quarantine_Bucket';
        node(t.Resources, 'EventTable', 'Properties').TableName = 'ev';
        node(t.Resources, 'StreamIteratorAgeAlarm', 'Properties').AlarmName = 'stream\tage';
        node(t.Resources, 'IngestFunctionRole', 'Properties').RoleName = {
          'Fn::Sub': '${AWS::StackName}-ingest role',
        };
        node(t.Resources, 'PipelineKeyAlias', 'Properties').AliasName = {
          'Fn::Sub': 'pipeline/${AWS::StackName}',
        };
      },
      expected: [
        'PipelineKeyAlias.AliasName: a KMS alias name begins with alias/, got "pipeline/…"',
        `EventStream.Name: "…-${'x'.repeat(127)}" is at least 129 characters, more than the 128 of a Kinesis stream name`,
        'IngestFunctionRole.RoleName: "…-ingest role" holds " ", which no IAM role name may hold: letters, digits, and _ + = , . @ -',
        'EventTable.TableName: "ev" is shorter than the 3 characters a DynamoDB table name needs',
        'QuarantineBucket.BucketName: "Quarantine_Bucket" holds "Q", "_", "B", which no S3 bucket name may hold: lower-case letters, digits, periods and hyphens',
        'QuarantineBucket.BucketName: an S3 bucket name begins and ends with a letter or digit, got "Quarantine_Bucket"',
        'ConsumerFailureQueue.QueueName: the name of a FIFO SQS queue ends with .fifo, got "…-failures"',
        'ReprocessorFunction.FunctionName: "…-reprocessor!" holds "!", which no Lambda function name may hold: letters, digits, hyphens and underscores',
        'StreamIteratorAgeAlarm.AlarmName: "stream\\tage" holds "\\t", which no alarm name may hold: no ASCII control characters',
      ],
    },
    {
      rule: 'a misspelt AWS namespace on an alarm and in a dashboard (AWS namespaces are case-sensitive)',
      mutate: (t) => {
        alarm(t, 'StreamIteratorAgeAlarm').Namespace = 'AWS/Kinesiss';
        editDashboard(t, '["AWS/Lambda", "IteratorAge"', '["AWS/lambda", "IteratorAge"');
      },
      expected: [
        'StreamIteratorAgeAlarm.Namespace: AWS/Kinesiss is no namespace AWS publishes metrics in (did you mean AWS/Kinesis?): its metrics never get a data point',
        'PipelineDashboard.DashboardBody: widget 4 (Iterator age (ms)), metric 1: AWS/lambda is no namespace AWS publishes metrics in (did you mean AWS/Lambda?): its metrics never get a data point',
      ],
    },
    {
      rule: 'alarm periods CloudWatch does not take, and more than a day of periods under an hour',
      mutate: (t) => {
        Object.assign(alarm(t, 'StreamIteratorAgeAlarm'), { Period: 90 });
        Object.assign(alarm(t, 'ConsumerIteratorAgeAlarm'), { Period: 60, EvaluationPeriods: 1441 });
        const metrics = node(alarm(t, 'IngestApi5xxAlarm'), 'Metrics') as unknown as Node[];
        node(metrics[0], 'MetricStat').Period = 45;
      },
      expected: [
        'StreamIteratorAgeAlarm.Period: 90 s is no period CloudWatch takes: 10, 20, 30 or a multiple of 60',
        'ConsumerIteratorAgeAlarm.EvaluationPeriods: 1441 periods of 60 s is 86460 s, beyond the one day (86400 s) of a period under an hour CloudWatch evaluates',
        'IngestApi5xxAlarm.Metrics[0].MetricStat.Period: 45 s is no period CloudWatch takes: 1, 5, 10, 20, 30 or a multiple of 60',
      ],
    },
    {
      rule: 'metric math that names an undeclared id and returns two series',
      mutate: (t) => {
        const metrics = node(alarm(t, 'IngestApi5xxAlarm'), 'Metrics') as unknown as Node[];
        metrics[1]!.ReturnData = true;
        metrics[2]!.Expression = '100 * errors / total';
      },
      expected: [
        'IngestApi5xxAlarm.Metrics: a metric-math alarm returns exactly one series (ReturnData true), got 2',
        'IngestApi5xxAlarm.Metrics[2].Expression: names total, which is no Id of Metrics',
      ],
    },
    {
      rule: 'a Powertools metric with a service no function has',
      mutate: (t) => {
        const metric = node(alarm(t, 'RecordsQuarantinedAlarm'), 'Metrics', 0, 'MetricStat', 'Metric');
        metric.Dimensions = [{ Name: 'service', Value: 'kinesis-consumer' }];
      },
      expected: [
        "RecordsQuarantinedAlarm.Metrics[0].MetricStat.Metric.Dimensions: service kinesis-consumer is no function's POWERTOOLS_SERVICE_NAME (ingest, consumer, dlq-replay, reprocessor)",
      ],
    },
    {
      rule: 'Powertools metrics under dimensions the functions never publish them with',
      mutate: (t) => {
        // ColdStart without its function_name, and a metric of the code with the function_name ColdStart alone has.
        Object.assign(alarm(t, 'ReplayExpiredAlarm'), { MetricName: 'ColdStart' });
        const metric = node(alarm(t, 'RecordsQuarantinedAlarm'), 'Metrics', 0, 'MetricStat', 'Metric');
        metric.Dimensions = [
          { Name: 'service', Value: 'consumer' },
          { Name: 'function_name', Value: { Ref: 'ConsumerFunction' } },
        ];
        editDashboard(
          t,
          '["KinesisPipeline", "BatchLag", "service", "consumer"',
          '["KinesisPipeline", "ColdStart", "service", "consumer", "function_name", "${ConsumerFunction}"',
        );
      },
      expected: [
        'ReplayExpiredAlarm.Dimensions: KinesisPipeline ColdStart is published with dimensions service + function_name, not service',
        'RecordsQuarantinedAlarm.Metrics[0].MetricStat.Metric.Dimensions: KinesisPipeline RecordsQuarantined is published with dimensions service, not service + function_name',
      ],
    },
    {
      rule: 'a dashboard body that is not JSON once substituted',
      mutate: (t) => {
        editDashboard(t, '"${EventStream}"', '${EventStream}');
      },
      expected: [
        expect.stringMatching(
          /^PipelineDashboard\.DashboardBody: is not JSON once its \$\{…\} are substituted: /,
        ) as unknown as string,
      ],
    },
    {
      rule: 'a dashboard metric with the wrong dimensions',
      mutate: (t) => {
        editDashboard(
          t,
          '["AWS/Lambda", "IteratorAge", "FunctionName"',
          '["AWS/Lambda", "IteratorAge", "StreamName"',
        );
      },
      expected: [
        'PipelineDashboard.DashboardBody: widget 4 (Iterator age (ms)), metric 1: AWS/Lambda IteratorAge is published with dimensions FunctionName or FunctionName + Resource or FunctionName + Resource + ExecutedVersion, not StreamName',
      ],
    },
    {
      rule: 'a wrong dashboard metric in lines that exist only under a condition (the JWT API’s)',
      mutate: (t) => {
        editDashboard(t, '"5xx", "ApiId"', '"5xx", "ApiName"', 'JwtApiMetrics');
      },
      expected: [
        'PipelineDashboard.DashboardBody: widget 1 (Ingest rate), metric 3: AWS/ApiGateway 5xx is published with dimensions ApiId or ApiId + Stage or ApiId + Method + Resource + Stage, not ApiName',
      ],
    },
    {
      rule: 'a rule that names an unknown parameter',
      mutate: (t) => {
        const rule = node(t, 'Rules', 'ExistingKeyNeedsItsArn');
        rule.RuleCondition = { 'Fn::Equals': [{ Ref: 'KeyMode' }, 'EXISTING'] };
      },
      expected: [
        'Rules.ExistingKeyNeedsItsArn.RuleCondition: Ref in a condition can only name a parameter or pseudo parameter, not KeyMode',
      ],
    },
    {
      rule: 'Globals that SAM does not share (FunctionName, Events), a misspelt one, and a section SAM has no Globals for',
      mutate: (t) => {
        const globals = node(t.Globals);
        Object.assign(node(globals, 'Function'), {
          FunctionName: 'shared-name',
          Events: {},
          Timout: 30,
        });
        globals.Application = { Location: 'app.yaml' };
        globals.HttpApi = { Name: 'ingest' };
      },
      expected: [
        'Globals.Function.Timout: unknown property of AWS::Serverless::Function (did you mean Timeout?)',
        'Globals.Function.FunctionName: SAM does not take FunctionName in Globals.Function, only on each resource: sam deploy refuses the template',
        'Globals.Function.Events: SAM does not take Events in Globals.Function, only on each resource: sam deploy refuses the template',
        'Globals.Application: unknown Globals section: SAM takes Function, CapacityProvider, Api, HttpApi, SimpleTable, StateMachine, LayerVersion',
        'Globals.HttpApi.Name: SAM does not take Name in Globals.HttpApi, only on each resource: sam deploy refuses the template',
      ],
    },
    {
      rule: 'a misspelt property in Globals.CapacityProvider, a section newer than the specification',
      mutate: (t) => {
        node(t.Globals).CapacityProvider = { VpcConfg: { SubnetIds: ['subnet-1'] }, PropagateTags: true };
      },
      expected: [
        'Globals.CapacityProvider.VpcConfg: SAM does not take VpcConfg in Globals.CapacityProvider (did you mean VpcConfig?): it takes VpcConfig, OperatorRole, Tags, PropagateTags, InstanceRequirements, ScalingConfig, LoggingConfig, KmsKeyArn, ManagedResourceTags',
      ],
    },
    {
      rule: 'a parameter Type CloudFormation does not document, though it looks like an AWS-specific one',
      mutate: (t) => {
        node(t, 'Parameters', 'LogLevel').Type = 'AWS::X::Y::Z';
        node(t, 'Parameters', 'IngestJwtIssuer').Type = 'List<AWS::EC2::KeyPair::KeyName>';
        node(t, 'Parameters', 'KmsKeyArn').Type = 'AWS::SSM::Parameter::Value<AWS::EC2::VPC::ID>';
      },
      expected: [
        'Parameters.KmsKeyArn.Type: unknown parameter type "AWS::SSM::Parameter::Value<AWS::EC2::VPC::ID>" (did you mean AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>?)',
        'Parameters.LogLevel.Type: unknown parameter type "AWS::X::Y::Z"',
        'Parameters.IngestJwtIssuer.Type: unknown parameter type "List<AWS::EC2::KeyPair::KeyName>"',
      ],
    },
    {
      rule: 'a runtime and an architecture Lambda does not have (its API model as the AWS SDK carries it)',
      mutate: (t) => {
        Object.assign(node(t.Globals, 'Function'), { Runtime: 'nodejs24', Architectures: ['arm65'] });
      },
      expected: [
        'Globals.Function.Runtime: "nodejs24" is not a value AWS takes (did you mean nodejs24.x?)',
        'Globals.Function.Architectures[0]: "arm65" is not one of arm64, x86_64',
      ],
    },
    {
      rule: 'memory, timeouts and queue settings beyond what AWS takes',
      mutate: (t) => {
        Object.assign(node(t.Globals, 'Function'), { MemorySize: 50000, Tracing: 'Activ' });
        node(t.Resources, 'ReprocessorFunction', 'Properties').Timeout = 1000;
        node(t.Resources, 'ConsumerFailureQueue', 'Properties').VisibilityTimeout = 43201;
      },
      expected: [
        'Globals.Function.MemorySize: 50000 is out of range: from 128 to 10240',
        'Globals.Function.Tracing: "Activ" is not one of Active, PassThrough',
        'ConsumerFailureQueue.VisibilityTimeout: 43201 is out of range: from 0 to 43200',
        'ReprocessorFunction.Timeout: 1000 is out of range: from 1 to 900',
      ],
    },
    {
      rule: 'an alarm statistic and missing-data treatment CloudWatch does not spell so',
      mutate: (t) => {
        Object.assign(alarm(t, 'StreamIteratorAgeAlarm'), {
          Statistic: 'Max',
          TreatMissingData: 'notbreaching',
        });
      },
      expected: [
        'StreamIteratorAgeAlarm.Statistic: "Max" is not one of Average, Maximum, Minimum, SampleCount, Sum',
        'StreamIteratorAgeAlarm.TreatMissingData: "notbreaching" is not one of breaching, notBreaching, ignore, missing',
      ],
    },
    {
      rule: 'a parameter whose default, allowed values or bounds the property it sets does not take',
      mutate: (t) => {
        Object.assign(node(t.Parameters), {
          ProbeMemorySize: parameter('Memory of the probe', { Default: 64, MinValue: 128, MaxValue: 20480 }),
        });
        node(t.Resources, 'ProbeConsumer', 'Properties').MemorySize = { Ref: 'ProbeMemorySize' };
        node(t, 'Parameters', 'LogRetentionDays').AllowedValues = [7, 10, 30];
      },
      expected: [
        "IngestApiAccessLogs.RetentionInDays: 10 is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (parameter LogRetentionDays's AllowedValues)",
        "IngestFunctionLogs.RetentionInDays: 10 is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (parameter LogRetentionDays's AllowedValues)",
        "ConsumerFunctionLogs.RetentionInDays: 10 is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (parameter LogRetentionDays's AllowedValues)",
        "DlqReplayFunctionLogs.RetentionInDays: 10 is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (parameter LogRetentionDays's AllowedValues)",
        "ReprocessorFunctionLogs.RetentionInDays: 10 is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (parameter LogRetentionDays's AllowedValues)",
        "ProbeConsumer.MemorySize: 64 is out of range: from 128 to 10240 (parameter ProbeMemorySize's Default)",
        "ProbeConsumer.MemorySize: 20480 is out of range: from 128 to 10240 (parameter ProbeMemorySize's MaxValue)",
        "Template: resolved with its parameter defaults, as CloudFormation would: parameter ProbeMemorySize='64' must be at least 128",
      ],
    },
    {
      rule: 'a misspelt rule key and assertion key, a rule function with too few arguments, and Fn::Contains on a String',
      mutate: (t) => {
        const existingKey = node(t, 'Rules', 'ExistingKeyNeedsItsArn');
        existingKey.RuleConditon = existingKey.RuleCondition;
        delete existingKey.RuleCondition;
        const assertion = node(existingKey, 'Assertions', 0);
        assertion.AssertDescriptoin = assertion.AssertDescription;
        delete assertion.AssertDescription;
        node(t, 'Rules').IssuerIsKnown = {
          Assertions: [
            { Assert: { 'Fn::Contains': [{ Ref: 'IngestJwtIssuer' }, 'https://issuer.example'] } },
            { Assert: { 'Fn::EachMemberIn': [{ Ref: 'IngestCorsAllowOrigins' }] } },
          ],
        };
      },
      expected: [
        'Rules.ExistingKeyNeedsItsArn.RuleConditon: unknown rule key (a rule takes RuleCondition, Assertions)',
        'Rules.ExistingKeyNeedsItsArn.Assertions[0].AssertDescriptoin: unknown assertion key (an assertion takes Assert, AssertDescription)',
        'Rules.IssuerIsKnown.Assertions[0].Assert: Fn::Contains takes a list first (a CommaDelimitedList or List<…> parameter), got parameter IngestJwtIssuer of Type String',
        'Rules.IssuerIsKnown.Assertions[1].Assert: Fn::EachMemberIn takes a list of 2 arguments',
      ],
    },
    {
      rule: 'a parameter Type CloudFormation does not have, a misspelt parameter key, and a List<Number> default of text',
      mutate: (t) => {
        node(t, 'Parameters', 'IngestJwtAudience').Type = 'CommaDelimitedLists';
        const origins = node(t, 'Parameters', 'IngestCorsAllowOrigins');
        origins.Type = 'List<Number>';
        origins.AllowedValue = ['*'];
      },
      expected: [
        'Parameters.IngestJwtAudience.Type: unknown parameter type "CommaDelimitedLists" (did you mean CommaDelimitedList?)',
        'Parameters.IngestCorsAllowOrigins.AllowedValue: unknown parameter key (did you mean AllowedValues?)',
        'Parameters.IngestCorsAllowOrigins.Default: a List<Number> default is numbers separated by commas, got "*"',
        'Rules.JwtApiNeedsAnAudience.Assertions[0].Assert: Fn::Contains takes a list first (a CommaDelimitedList or List<…> parameter), got parameter IngestJwtAudience of Type CommaDelimitedLists',
      ],
    },
    {
      rule: 'a parameter default beyond its own MaxValue, as CloudFormation refuses it',
      mutate: (t) => {
        node(t, 'Parameters', 'ConsumerBatchSize').Default = 20_000;
      },
      expected: [
        "Template: resolved with its parameter defaults, as CloudFormation would: parameter ConsumerBatchSize='20000' must be at most 10000",
      ],
    },
    {
      rule: 'an event source mapping setting beyond what AWS takes, though its parameter allows it',
      mutate: (t) => {
        Object.assign(node(t, 'Parameters', 'ProbeParallelizationFactor'), { Default: 11 });
      },
      expected: [
        'ProbeConsumer.Events.Stream.Properties: ParallelizationFactor must be an integer from 1 to 10, got "11" (with the parameter defaults)',
      ],
    },
    {
      rule: 'a reference to a resource that its false condition leaves out',
      mutate: (t) => {
        node(t.Resources, 'IngestFunction', 'Properties', 'Environment', 'Variables').JWT_API = {
          Ref: 'IngestJwtApi',
        };
      },
      expected: [
        "Template: resolved with its parameter defaults, as CloudFormation would: Resources.IngestFunction.Properties.Environment.Variables.JWT_API: Ref 'IngestJwtApi' exists only when its condition HasJwtApi is true, and it is false here: refer to it under the same condition (Fn::If [HasJwtApi, …, !Ref AWS::NoValue], or a Condition on the output)",
      ],
    },
  ])('reports $rule', ({ mutate, expected }) => {
    // Prepare
    const candidate = withStreamConsumer();
    mutate(candidate);

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual(expected);
  });

  it('accepts the Globals and function properties SAM added with Lambda Managed Instances, and documented parameter types', () => {
    // Prepare
    const candidate = withStreamConsumer();
    const globals = node(candidate.Globals);
    globals.CapacityProvider = {
      VpcConfig: { SubnetIds: ['subnet-1'], SecurityGroupIds: ['sg-1'] },
      PropagateTags: true,
    };
    Object.assign(node(globals, 'Function'), {
      FunctionScalingConfig: { MinExecutionEnvironments: 1, MaxExecutionEnvironments: 3 },
    });
    node(candidate.Resources, 'ProbeConsumer', 'Properties').CapacityProviderConfig = {
      Arn: 'arn:aws:lambda:eu-west-1:123456789012:capacity-provider:probe',
    };
    Object.assign(node(candidate.Parameters), {
      ProbeSubnets: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Subnets' },
      ProbeImage: { Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', Description: 'Image' },
    });
    node(candidate.Resources, 'ProbeConsumer', 'Properties').Tags = {
      Subnets: { 'Fn::Join': [',', { Ref: 'ProbeSubnets' }] },
      Image: { Ref: 'ProbeImage' },
    };

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual([]);
  });

  it('accepts names whose literal parts fit, whatever the stack name', () => {
    // Prepare
    const candidate = withStreamConsumer();
    node(candidate.Resources, 'ReprocessorFunction', 'Properties').FunctionName = {
      'Fn::Sub': `\${AWS::StackName}-${'r'.repeat(62)}`,
    };
    Object.assign(node(candidate.Resources, 'ProbeFailures', 'Properties'), {
      QueueName: { 'Fn::Sub': ['${AWS::StackName}-${Suffix}.fifo', { Suffix: 'probe_failures' }] },
      FifoQueue: true,
    });
    node(candidate.Resources, 'QuarantineBucket', 'Properties').BucketName = {
      'Fn::Join': ['-', ['quarantine', { Ref: 'AWS::AccountId' }, { Ref: 'AWS::Region' }]],
    };
    // A FIFO name that ends with a variable: what the variable holds may well end with .fifo.
    Object.assign(node(candidate.Resources, 'ConsumerFailureQueue', 'Properties'), {
      QueueName: { 'Fn::Sub': ['${AWS::StackName}-${Suffix}', { Suffix: { Ref: 'AWS::Region' } }] },
      FifoQueue: true,
    });

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual([]);
  });

  it.each(['!GetAZ', '!Refs'])(
    'refuses a tag that is no intrinsic function (%s), which CloudFormation refuses',
    (tag) => {
      // Prepare
      const text = `Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: ${tag} x\n`;
      // Act / Assess
      expect(() => parseTemplate(text, 'edited.yaml')).toThrow(
        new RegExp(`^edited\\.yaml: Unresolved tag: ${tag} at line 5`),
      );
      expect(() => parseTemplate(text)).toThrow(TemplateParseError);
    },
  );

  it("allows Resource: '*' for actions that support nothing else", () => {
    // Prepare
    const candidate = withStreamConsumer();
    const policies = node(candidate.Resources, 'ProbeConsumer', 'Properties', 'Policies', 0, 'Statement');
    (policies as unknown as unknown[]).push({
      Effect: 'Allow',
      Action: 'cloudwatch:PutMetricData',
      Resource: '*',
    });

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual([]);
  });

  it('allows wildcards in Deny statements, which only restrict', () => {
    // Prepare
    const candidate = withStreamConsumer();
    const policies = node(candidate.Resources, 'ProbeConsumer', 'Properties', 'Policies', 0, 'Statement');
    (policies as unknown as unknown[]).push({ Effect: 'Deny', Action: 'kinesis:*', Resource: '*' });

    // Act
    const findings = validate(candidate);

    // Assess
    expect(findings).toEqual([]);
  });
});
