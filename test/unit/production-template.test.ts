import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planStack } from '#local/stack.ts';
import { awsMetric } from '#local/template/metric-dimensions.ts';
import { loadTemplate } from '#local/template/parse.ts';
import {
  evaluateConditions,
  parseParameterOverrides,
  pseudoParameters,
  resolveParameters,
  resolveValue,
} from '#local/template/resolve.ts';

const root = resolve(import.meta.dirname, '../..');
const template = loadTemplate(join(root, 'template.yaml'));
const resources = template.Resources;
const options = {
  region: 'eu-west-1',
  accountId: '123456789012',
  stackName: 'pipeline',
  endpoint: 'http://127.0.0.1:4566',
};

type Node = Record<string, unknown>;
const properties = (logicalId: string): Node => (resources[logicalId]?.Properties ?? {}) as Node;
const ofType = (type: string): string[] =>
  Object.entries(resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([logicalId]) => logicalId);

/** Every source file of the functions and of shared/, for what the code publishes. */
const sources = (): string[] =>
  ['functions', 'shared'].flatMap((folder) =>
    readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8')),
  );

/** The alarms the issue asks for: what each watches, and the parameter its threshold comes from. */
const ALARMS: Array<
  [logicalId: string, namespace: string, metric: string, dimension: string, threshold: string]
> = [
  [
    'StreamIteratorAgeAlarm',
    'AWS/Kinesis',
    'GetRecords.IteratorAgeMilliseconds',
    'StreamName',
    'StreamIteratorAgeAlarmThresholdMilliseconds',
  ],
  [
    'ConsumerIteratorAgeAlarm',
    'AWS/Lambda',
    'IteratorAge',
    'FunctionName',
    'LambdaIteratorAgeAlarmThresholdMilliseconds',
  ],
  [
    'StreamWriteThrottleAlarm',
    'AWS/Kinesis',
    'WriteProvisionedThroughputExceeded',
    'StreamName',
    'StreamWriteThrottleAlarmThreshold',
  ],
  [
    'StreamReadThrottleAlarm',
    'AWS/Kinesis',
    'ReadProvisionedThroughputExceeded',
    'StreamName',
    'StreamReadThrottleAlarmThreshold',
  ],
  [
    'PutRecordsThrottledAlarm',
    'AWS/Kinesis',
    'PutRecords.ThrottledRecords',
    'StreamName',
    'PutRecordsThrottledAlarmThreshold',
  ],
  ...(['Ingest', 'Consumer'] as const).map((name): [string, string, string, string, string] => [
    `${name}ErrorsAlarm`,
    'AWS/Lambda',
    'Errors',
    'FunctionName',
    'FunctionErrorsAlarmThreshold',
  ]),
  ...(['Ingest', 'Consumer', 'DlqReplay', 'Reprocessor'] as const).map(
    (name): [string, string, string, string, string] => [
      `${name}ThrottlesAlarm`,
      'AWS/Lambda',
      'Throttles',
      'FunctionName',
      'FunctionThrottlesAlarmThreshold',
    ],
  ),
  [
    'ConsumerDestinationDeliveryFailuresAlarm',
    'AWS/Lambda',
    'DestinationDeliveryFailures',
    'FunctionName',
    'DestinationDeliveryFailuresAlarmThreshold',
  ],
  [
    'ParkedMessagesAlarm',
    'AWS/SQS',
    'ApproximateNumberOfMessagesVisible',
    'QueueName',
    'ParkedMessagesAlarmThreshold',
  ],
];

/** The metric-math alarms: the metrics they combine, and their threshold parameter. */
const MATH_ALARMS: Array<[logicalId: string, metrics: string[], threshold: string]> = [
  // Waiting and in flight: with the replay's trigger on, a pointer is in flight as soon as it arrives.
  [
    'FailureQueueDepthAlarm',
    [
      'AWS/SQS ApproximateNumberOfMessagesVisible QueueName',
      'AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName',
    ],
    'FailureQueueDepthAlarmThreshold',
  ],
  // Records that reached the stream while nothing invoked the consumer.
  [
    'ConsumerStalledAlarm',
    ['AWS/Kinesis IncomingRecords StreamName', 'AWS/Lambda Invocations FunctionName'],
    'ConsumerStalledAlarmThreshold',
  ],
  [
    'FailureQueueAgeAlarm',
    ['AWS/SQS ApproximateAgeOfOldestMessage QueueName'],
    'FailureQueueAgeAlarmPercentOfRetention',
  ],
  [
    'RecordsQuarantinedAlarm',
    [
      'KinesisPipeline RecordsQuarantined service=consumer',
      'KinesisPipeline RecordsQuarantined service=dlq-replay',
      'KinesisPipeline RecordsQuarantined service=reprocessor',
    ],
    'QuarantinedRecordsAlarmThreshold',
  ],
  // The on-demand functions' errors, less the requests they refused (an operator's typo is not a failure).
  [
    'DlqReplayErrorsAlarm',
    ['AWS/Lambda Errors FunctionName', 'KinesisPipeline RequestsRefused service=dlq-replay'],
    'FunctionErrorsAlarmThreshold',
  ],
  [
    'ReprocessorErrorsAlarm',
    ['AWS/Lambda Errors FunctionName', 'KinesisPipeline RequestsRefused service=reprocessor'],
    'FunctionErrorsAlarmThreshold',
  ],
  ...['IngestApi5xxAlarm', 'IngestJwtApi5xxAlarm'].map((logicalId): [string, string[], string] => [
    logicalId,
    ['AWS/ApiGateway 5xx ApiId', 'AWS/ApiGateway Count ApiId'],
    'IngestApi5xxAlarmThresholdPercent',
  ]),
];

const describeMetric = (metric: Node): string => {
  const dimensions = (metric.Dimensions as Array<{ Name: string; Value: unknown }>).map(({ Name, Value }) =>
    typeof Value === 'string' ? `${Name}=${Value}` : Name,
  );
  return [metric.Namespace, metric.MetricName, ...dimensions].join(' ');
};

describe('Template: alarms', () => {
  it.each(ALARMS)(
    '%s watches %s %s by %s, above %s',
    (logicalId, namespace, metric, dimension, threshold) => {
      // Act
      const alarm = properties(logicalId);

      // Assess
      expect(alarm).toMatchObject({
        Namespace: namespace,
        MetricName: metric,
        Threshold: { Ref: threshold },
      });
      expect((alarm.Dimensions as Array<{ Name: string }>).map(({ Name }) => Name)).toEqual([dimension]);
      expect(template.Parameters?.[threshold]?.Description).toEqual(expect.any(String));
    },
  );

  it.each(MATH_ALARMS)('%s combines %j, above %s', (logicalId, metrics, threshold) => {
    // Act
    const alarm = properties(logicalId);
    const watched = (alarm.Metrics as Node[])
      .filter((entry) => entry.MetricStat !== undefined)
      .map((entry) => describeMetric((entry.MetricStat as Node).Metric as Node));

    // Assess
    expect(watched).toEqual(metrics);
    expect(alarm.Threshold).toEqual({ Ref: threshold });
  });

  it.each(['DlqReplayErrorsAlarm', 'ReprocessorErrorsAlarm'])(
    '%s counts failed invocations less the requests the function refused',
    (logicalId) => {
      // Act
      const alarm = properties(logicalId);
      const returned = (alarm.Metrics as Node[]).filter((entry) => entry.ReturnData === true);
      // Assess
      expect(returned).toEqual([
        expect.objectContaining({ Expression: 'FILL(errors, 0) - FILL(refused, 0)' }),
      ]);
    },
  );

  it('fires on records that arrive while the consumer is not invoked for 15 minutes, whose metric then is missing', () => {
    // Act
    const alarm = properties('ConsumerStalledAlarm');
    const returned = (alarm.Metrics as Node[]).filter((entry) => entry.ReturnData === true);
    const periods = (alarm.Metrics as Node[]).flatMap((entry) =>
      entry.MetricStat ? [(entry.MetricStat as Node).Period] : [],
    );

    // Assess
    expect(returned).toEqual([
      expect.objectContaining({ Expression: 'IF(FILL(invocations, 0) == 0, FILL(incoming, 0), 0)' }),
    ]);
    expect(periods).toEqual([300, 300]);
    expect(alarm).toMatchObject({
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('measures iterator-age thresholds in milliseconds, the unit of both metrics', () => {
    for (const [logicalId, namespace, metric, , threshold] of ALARMS.slice(0, 2)) {
      expect(awsMetric(namespace, metric)?.unit, logicalId).toBe('Milliseconds');
      expect(threshold.endsWith('Milliseconds')).toBe(true);
      expect(template.Parameters?.[threshold]?.Description).toMatch(/in milliseconds/);
    }
  });

  it('sends every alarm to the one alarm topic when it fires and when it clears, which mails AlarmEmail when set', () => {
    // Prepare
    const alarms = ofType('AWS::CloudWatch::Alarm');

    // Act
    const actions = alarms.map((logicalId) => ({
      logicalId,
      fires: properties(logicalId).AlarmActions,
      clears: properties(logicalId).OKActions,
    }));

    // Assess
    expect(alarms.length).toBeGreaterThanOrEqual(ALARMS.length + MATH_ALARMS.length + 1);
    for (const action of actions) {
      expect(action, action.logicalId).toEqual({
        logicalId: action.logicalId,
        fires: [{ Ref: 'AlarmTopic' }],
        clears: [{ Ref: 'AlarmTopic' }],
      });
    }
    expect(resources.AlarmEmailSubscription).toMatchObject({
      Condition: 'HasAlarmEmail',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } },
    });
  });

  it('alarms and charts only Powertools metrics the code publishes', () => {
    // Prepare
    const published = new Set([
      'ColdStart',
      ...sources().flatMap((text) =>
        [...text.matchAll(/addMetric\(\s*'([A-Za-z]+)'/g)].map((match) => match[1]!),
      ),
    ]);
    const text = JSON.stringify(resources);

    // Act
    const used = [
      ...text.matchAll(/"Namespace":"KinesisPipeline","MetricName":"([A-Za-z]+)"/g),
      ...text.matchAll(/\[\\"KinesisPipeline\\", \\"([A-Za-z]+)\\"/g),
    ].map((match) => match[1]!);

    // Assess
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !published.has(name))).toEqual([]);
  });
});

describe('Template: the dashboard', () => {
  const stack = planStack(template, { ...options, parameterOverrides: {} });
  const body = JSON.parse(String(stack.resources.PipelineDashboard?.properties.DashboardBody)) as {
    widgets: Array<{
      type: string;
      properties: { title?: string; metrics?: unknown[][]; alarms?: string[] };
    }>;
  };

  it('is JSON once CloudFormation substitutes it, with the panels an operator needs', () => {
    // Act
    const titles = body.widgets.map((widget) => widget.properties.title).filter(Boolean);

    // Assess
    expect(titles).toEqual([
      'Ingest rate',
      'Stream throughput',
      'Stream throttling',
      'Iterator age (ms)',
      'Consumer duration (ms)',
      'Consumer errors and concurrency',
      'Sink: writes against duplicates',
      'Failure queue',
      'Quarantine',
      'Alarms',
    ]);
  });

  it('names the stack’s own stream, function and queues in its metrics', () => {
    // Act
    const values = body.widgets.flatMap((widget) => (widget.properties.metrics ?? []).flat());

    // Assess
    expect(values).toContain(stack.resources.EventStream!.refs.ref);
    expect(values).toContain(stack.resources.ConsumerFunction!.refs.ref);
    expect(values).toContain(stack.resources.ConsumerFailureQueue!.refs.attributes.QueueName);
    expect(values).toContain(stack.resources.IngestApi!.refs.ref);
    expect(values.filter((value) => typeof value === 'string' && value.includes('${'))).toEqual([]);
  });

  it('shows every alarm that always exists', () => {
    // Prepare
    const alarms = ofType('AWS::CloudWatch::Alarm').filter((logicalId) => !resources[logicalId]?.Condition);

    // Act
    const shown = body.widgets.find((widget) => widget.type === 'alarm')?.properties.alarms ?? [];

    // Assess
    expect([...shown].sort()).toEqual(
      alarms.map((logicalId) => stack.resources[logicalId]!.refs.attributes.Arn).sort(),
    );
  });

  it('charts the JWT API’s requests and 5xx answers and shows its alarm when IngestJwtIssuer is set', () => {
    // Prepare
    const withJwt = planStack(template, {
      ...options,
      parameterOverrides: { IngestJwtIssuer: 'https://auth.example.com/', IngestJwtAudience: 'web' },
    });
    const alarms = ofType('AWS::CloudWatch::Alarm');

    // Act
    const jwtBody = JSON.parse(String(withJwt.resources.PipelineDashboard?.properties.DashboardBody)) as {
      widgets: Array<{ type: string; properties: { metrics?: unknown[][]; alarms?: string[] } }>;
    };
    const metrics = jwtBody.widgets.flatMap((widget) => widget.properties.metrics ?? []);
    const shown = jwtBody.widgets.find((widget) => widget.type === 'alarm')?.properties.alarms ?? [];
    const jwtApi = withJwt.resources.IngestJwtApi!.refs.ref;

    // Assess
    expect(alarms).toContain('IngestJwtApi5xxAlarm');
    expect([...shown].sort()).toEqual(
      alarms.map((logicalId) => withJwt.resources[logicalId]!.refs.attributes.Arn).sort(),
    );
    for (const metric of ['Count', '5xx']) {
      expect(metrics).toContainEqual(['AWS/ApiGateway', metric, 'ApiId', jwtApi, expect.any(Object)]);
    }
    // Without the issuer the same panels chart only IngestApi.
    expect(JSON.stringify(body)).not.toContain('JWT API');
  });
});

describe('Template: outputs', () => {
  it.each([
    ['aws', 'eu-west-1', 'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1'],
    ['aws-cn', 'cn-north-1', 'https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1'],
    [
      'aws-us-gov',
      'us-gov-west-1',
      'https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1',
    ],
  ])('DashboardUrl opens the dashboard in the console of the %s partition', (partition, region, console) => {
    // Prepare
    const pseudo = { ...pseudoParameters(region, '123456789012', 'pipeline'), 'AWS::Partition': partition };
    const parameters = resolveParameters(template);
    const conditions = evaluateConditions(template, parameters, pseudo);
    const dashboard = { ref: 'pipeline-pipeline', attributes: {} };

    // Act
    const url = resolveValue(
      template.Outputs?.DashboardUrl?.Value,
      { parameters, conditions, pseudo, resources: { PipelineDashboard: dashboard } },
      'Outputs.DashboardUrl.Value',
    );

    // Assess
    expect(url).toBe(`${console}#dashboards:name=pipeline-pipeline`);
  });
});

describe('Template: encryption at rest', () => {
  const DATA = {
    EventStream: (p: Node) => (p.StreamEncryption as Node).KeyId,
    EventTable: (p: Node) => (p.SSESpecification as Node).KMSMasterKeyId,
    ReprocessJobsTable: (p: Node) => (p.SSESpecification as Node).KMSMasterKeyId,
    ConsumerFailureQueue: (p: Node) => p.KmsMasterKeyId,
    FailureParkingQueue: (p: Node) => p.KmsMasterKeyId,
    QuarantineBucket: (p: Node) =>
      (
        ((p.BucketEncryption as Node).ServerSideEncryptionConfiguration as Node[])[0]!
          .ServerSideEncryptionByDefault as Node
      ).KMSMasterKeyID,
  } as const;
  const logGroups = ofType('AWS::Logs::LogGroup');

  it.each<[string, Record<string, string>, string | null]>([
    ['a key the stack creates', { KmsKeyMode: 'CREATE' }, 'PipelineKey'],
    [
      'a given key',
      { KmsKeyMode: 'EXISTING', KmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abcd-1234' },
      null,
    ],
  ])('encrypts the stream, tables, queues, bucket and log groups with %s', (_mode, overrides, created) => {
    // Act
    const stack = planStack(template, { ...options, parameterOverrides: overrides });
    const key = created ? stack.resources[created]!.refs.attributes.Arn : overrides.KmsKeyArn;

    // Assess
    for (const [logicalId, keyOf] of Object.entries(DATA)) {
      expect(keyOf(stack.resources[logicalId]!.properties), logicalId).toBe(key);
    }
    expect(logGroups.length).toBe(5);
    for (const logicalId of logGroups)
      expect(stack.resources[logicalId]!.properties.KmsKeyId, logicalId).toBe(key);
    expect(stack.resources.ConsumerFailureQueue!.properties.SqsManagedSseEnabled).toBeUndefined();
  });

  it('uses AWS-managed keys by default, and creates no key', () => {
    // Act
    const stack = planStack(template, { ...options, parameterOverrides: {} });

    // Assess
    expect(stack.resources.PipelineKey).toBeUndefined();
    expect(DATA.EventStream(stack.resources.EventStream!.properties)).toBe('alias/aws/kinesis');
    expect(stack.resources.EventTable!.properties.SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
    });
    expect(stack.resources.ConsumerFailureQueue!.properties.SqsManagedSseEnabled).toBe(true);
    expect(stack.resources.FailureParkingQueue!.properties.SqsManagedSseEnabled).toBe(true);
  });

  it('lets only this stack’s function roles use the created key directly, and CloudWatch Logs', () => {
    // Prepare
    const statements = (properties('PipelineKey').KeyPolicy as { Statement: Node[] }).Statement;
    const roles = ofType('AWS::IAM::Role');

    // Act
    const direct = statements.find((statement) => statement.Sid === 'ThisStacksFunctionRolesUseTheKey');
    const administration = statements.find((statement) => statement.Sid === 'TheAccountAdministersTheKey');

    // Assess
    expect(direct?.Condition).toEqual({
      ArnLike: {
        'aws:PrincipalArn': {
          'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/*',
        },
      },
    });
    for (const role of roles) expect(properties(role).Path).toEqual({ 'Fn::Sub': '/${AWS::StackName}/' });
    expect(administration?.Action).not.toContain('kms:Decrypt');
    // The runbook's operators read the failure queue, move parked messages back and read the quarantine.
    const viaServices = statements.find((statement) => statement.Sid === 'AwsServicesUseTheKeyForTheAccount');
    expect(viaServices?.Condition).toMatchObject({
      StringEquals: {
        'kms:ViaService': ['dynamodb', 'kinesis', 'sqs', 's3'].map((service) => ({
          'Fn::Sub': `${service}.\${AWS::Region}.amazonaws.com`,
        })),
      },
    });
    expect(statements.map((statement) => statement.Principal)).toContainEqual({
      Service: { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' },
    });
  });
});

describe('Template: the stream', () => {
  it('takes no record larger than the consumer can receive: base64 in a 6 MB invocation payload', () => {
    // Prepare: Lambda's synchronous payload limit, and room for the event's JSON around one record's data.
    const payloadLimit = 6 * 1024 * 1024;
    const envelope = 1024;
    const base64 = (bytes: number) => 4 * Math.ceil(bytes / 3);

    // Act
    const largest = Number(template.Parameters?.MaxRecordSizeKiB?.MaxValue) * 1024;

    // Assess
    expect(base64(largest) + envelope).toBeLessThanOrEqual(payloadLimit);
    // And no smaller than the ingest API's own body limit, which caps what it can write anyway.
    expect(largest).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(resources.EventStream?.Properties?.MaxRecordSizeInKiB).toEqual({ Ref: 'MaxRecordSizeKiB' });
  });
});

describe('Template: KMS grants', () => {
  /** Whether an action of a key policy (a name or a pattern) covers kms:CreateGrant. */
  const coversCreateGrant = (action: string): boolean =>
    new RegExp(`^${action.replace(/\*/g, '.*')}$`, 'i').test('kms:CreateGrant');

  it.each(ofType('AWS::KMS::Key'))(
    '%s lets CreateGrant be called only by an AWS service, for its own use',
    (key) => {
      // Prepare
      const statements = (properties(key).KeyPolicy as { Statement: Node[] }).Statement;

      // Act
      const granting = statements.filter(
        (statement) =>
          statement.Effect === 'Allow' &&
          ([] as string[]).concat(statement.Action as string | string[]).some(coversCreateGrant),
      );

      // Assess
      for (const statement of granting) {
        expect(statement.Condition, String(statement.Sid)).toMatchObject({
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        });
        expect(statement.Action, String(statement.Sid)).toEqual(['kms:CreateGrant']);
      }
      if (key === 'PipelineKey')
        expect(granting.map((statement) => statement.Sid)).toEqual(['AwsServicesCreateGrantsForTheAccount']);
    },
  );
});

describe('Template: TLS', () => {
  const deniesPlainHttp = (statement: Node) =>
    statement.Effect === 'Deny' &&
    statement.Principal === '*' &&
    JSON.stringify(statement.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } });

  it('makes every queue refuse requests without TLS', () => {
    // Prepare
    const queues = ofType('AWS::SQS::Queue');

    // Act
    const covered = ofType('AWS::SQS::QueuePolicy').flatMap((logicalId) => {
      const policy = properties(logicalId);
      const statements = (policy.PolicyDocument as { Statement: Node[] }).Statement;
      const denied = statements
        .filter(deniesPlainHttp)
        .flatMap((statement) =>
          (statement.Resource as Array<{ 'Fn::GetAtt': string[] }>).map((r) => r['Fn::GetAtt'][0]),
        );
      return (policy.Queues as Array<{ Ref: string }>)
        .map(({ Ref }) => Ref)
        .filter((queue) => denied.includes(queue));
    });

    // Assess
    expect(covered.sort()).toEqual(queues.sort());
  });

  it('makes the bucket refuse requests without TLS', () => {
    const statements = (properties('QuarantineBucketPolicy').PolicyDocument as { Statement: Node[] })
      .Statement;
    expect(statements.some(deniesPlainHttp)).toBe(true);
  });
});

/**
 * An access-log line as API Gateway writes it from a Format: each $context variable replaced by its value as text,
 * quotes and all being the Format's own; here status 403 and '-' for the rest, API Gateway's mark of a missing value.
 */
const accessLogLine = (format: string): Record<string, unknown> =>
  JSON.parse(
    format.replace(/\$context\.[A-Za-z.]+/g, (variable) => (variable === '$context.status' ? '403' : '-')),
  ) as Record<string, unknown>;

describe('Template: the ingest API', () => {
  it.each([
    ['IngestApi', properties('IngestApi')],
    ['IngestJwtStage', properties('IngestJwtStage')],
  ])(
    '%s logs status as a JSON number, so that Logs Insights compares it as one (status >= 400)',
    (_name, api) => {
      // Act
      const line = accessLogLine((api.AccessLogSettings as Node).Format as string);

      // Assess
      expect(line.status).toBe(403);
      expect(line.requestId).toBe('-');
      expect(readFileSync(join(root, 'docs/operations.md'), 'utf8')).toContain('| filter status >= 400');
    },
  );

  it('takes SigV4-signed requests (AWS_IAM), throttled, logged without bodies, and without CORS', () => {
    // Act
    const api = properties('IngestApi');

    // Assess
    expect(api.Auth).toEqual({ EnableIamAuthorizer: true, DefaultAuthorizer: 'AWS_IAM' });
    expect(api.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: { Ref: 'ApiThrottlingRateLimit' },
      ThrottlingBurstLimit: { Ref: 'ApiThrottlingBurstLimit' },
    });
    expect(api.CorsConfiguration).toBeUndefined();
    expect(accessLogLine((api.AccessLogSettings as Node).Format as string)).not.toHaveProperty('body');
    expect((api.AccessLogSettings as Node).Format).not.toMatch(/requestBody|\$input|\.body/);
  });

  it('adds a JWT API with CORS only when an issuer is given', () => {
    // Prepare
    const jwt = [
      'IngestJwtApi',
      'IngestJwtAuthorizer',
      'IngestJwtIntegration',
      'IngestJwtRoute',
      'IngestJwtStage',
    ];

    // Act
    const without = planStack(template, { ...options, parameterOverrides: {} });
    const withJwt = planStack(template, {
      ...options,
      parameterOverrides: { IngestJwtIssuer: 'https://auth.example.com/', IngestJwtAudience: 'web,mobile' },
    });

    // Assess
    for (const logicalId of jwt) expect(without.resources[logicalId], logicalId).toBeUndefined();
    expect(withJwt.resources.IngestJwtAuthorizer?.properties).toMatchObject({
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://auth.example.com/', Audience: ['web', 'mobile'] },
    });
    expect(withJwt.resources.IngestJwtRoute?.properties).toMatchObject({
      RouteKey: 'POST /events',
      AuthorizationType: 'JWT',
    });
    expect(withJwt.resources.IngestJwtApi?.properties.CorsConfiguration).toMatchObject({
      AllowMethods: ['POST'],
      ExposeHeaders: ['retry-after'],
    });
    expect(withJwt.resources.IngestJwtStage?.properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: '1000',
      ThrottlingBurstLimit: '2000',
    });
  });
});

describe('Template: logs and Powertools', () => {
  const functions = ofType('AWS::Serverless::Function');
  const variables = (logicalId: string) =>
    (properties(logicalId).Environment as { Variables: Node }).Variables;
  const globals = (template.Globals!.Function!.Environment as { Variables: Node }).Variables;

  it('gives every function a service name of its own under one metrics namespace', () => {
    // Act
    const services = functions.map((logicalId) => variables(logicalId).POWERTOOLS_SERVICE_NAME);

    // Assess
    expect(new Set(services).size).toBe(functions.length);
    expect(globals.POWERTOOLS_METRICS_NAMESPACE).toBe('KinesisPipeline');
    expect(readFileSync(join(root, 'shared/powertools/metrics.ts'), 'utf8')).toContain(
      "?? 'KinesisPipeline'",
    );
    for (const logicalId of functions)
      expect(variables(logicalId).POWERTOOLS_METRICS_NAMESPACE).toBeUndefined();
  });

  it('publishes a cold-start metric from every handler', () => {
    for (const logicalId of functions) {
      // Prepare
      const entry = (resources[logicalId]!.Metadata!.BuildProperties as { EntryPoints: string[] })
        .EntryPoints[0]!;

      // Act
      const source = readFileSync(join(root, entry), 'utf8');

      // Assess
      expect(source, entry).toMatch(/logMetrics\(metrics, \{ captureColdStartMetric: true \}\)/);
    }
  });

  it('samples DEBUG logs by parameter and never logs the incoming event', () => {
    expect(globals.POWERTOOLS_LOGGER_SAMPLE_RATE).toEqual({ Ref: 'LogSampleRate' });
    expect(template.Parameters?.LogSampleRate).toMatchObject({
      Type: 'Number',
      Default: 0,
      MinValue: 0,
      MaxValue: 1,
    });
    for (const logicalId of functions) {
      expect(variables(logicalId).POWERTOOLS_LOGGER_LOG_EVENT, logicalId).toBeUndefined();
    }
    expect(globals.POWERTOOLS_LOGGER_LOG_EVENT).toBeUndefined();
  });

  it('writes each function’s logs to a log group of its own, kept LogRetentionDays', () => {
    for (const logicalId of functions) {
      const group = (properties(logicalId).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[group]?.Type, logicalId).toBe('AWS::Logs::LogGroup');
      expect(properties(group).RetentionInDays).toEqual({ Ref: 'LogRetentionDays' });
    }
  });
});

describe('samconfig.toml: the environments', () => {
  /** `parameter_overrides` of each `[<env>.deploy.parameters]` table. */
  const environments = (): Record<string, string> => {
    const text = readFileSync(join(root, 'samconfig.toml'), 'utf8');
    const found: Record<string, string> = {};
    for (const [, env, body] of text.matchAll(
      /^\[(\w+)\.deploy\.parameters\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/gm,
    )) {
      const overrides = /^parameter_overrides = "(.*)"$/m.exec(body!);
      if (overrides) found[env!] = overrides[1]!;
    }
    return found;
  };

  it('has a dev default and a prod environment whose overrides the template accepts', () => {
    // Act
    const stacks = Object.fromEntries(
      Object.entries(environments()).map(([env, overrides]) => [
        env,
        planStack(template, { ...options, parameterOverrides: parseParameterOverrides(overrides) }),
      ]),
    );

    // Assess
    expect(Object.keys(stacks).sort()).toEqual(['default', 'prod']);
    expect(stacks.default!.parameters).toMatchObject({
      TableDeletionProtection: 'false',
      KmsKeyMode: 'AWS_MANAGED',
    });
    expect(stacks.prod!.parameters).toMatchObject({
      ShardCount: '4',
      RetentionHours: '168',
      TableDeletionProtection: 'true',
      KmsKeyMode: 'CREATE',
      AlarmEmail: expect.stringMatching(/@/),
    });
    expect(stacks.prod!.resources.PipelineKey).toBeDefined();
    expect(stacks.prod!.resources.AlarmEmailSubscription).toBeDefined();
  });
});
