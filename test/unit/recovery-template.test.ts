import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';
import { loadDlqReplayConfig, loadReprocessorConfig, replayReaderOptions } from '#shared/recovery/config.ts';

const template = loadTemplate(resolve(import.meta.dirname, '../../template.yaml'));
const resources = template.Resources;
const parameters = template.Parameters ?? {};

const PLAN_OPTIONS = {
  region: 'us-east-1',
  accountId: '000000000000',
  stackName: 'local',
  endpoint: 'http://127.0.0.1:4566',
};

type Node = Record<string, unknown>;
const propertiesOf = (id: string) => resources[id]!.Properties as Node;
/**
 * The Allow statements that apply to a function: its SAM `Policies`, or those of the role it names. An `Fn::If`
 * statement is taken in its true branch.
 */
const statementsOf = (id: string): Node[] => {
  const properties = propertiesOf(id);
  const role = (properties.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
  const documents = role
    ? ((propertiesOf(role).Policies as Node[] | undefined) ?? []).map(
        (policy) => policy.PolicyDocument as Node,
      )
    : ((properties.Policies as Node[] | undefined) ?? []);
  return documents
    .flatMap((document) => document.Statement as Node[])
    .map((statement) => ('Fn::If' in statement ? ((statement['Fn::If'] as unknown[])[1] as Node) : statement))
    .filter((statement) => statement.Effect === 'Allow');
};

/** Every action the function's code calls is granted on the resource it calls it on. */
const expectGranted = (id: string, grants: Array<[action: string, resource: unknown]>) => {
  const statements = statementsOf(id);
  for (const [action, resource] of grants) {
    const granting = statements.filter(
      (statement) =>
        [statement.Action].flat().includes(action) &&
        [statement.Resource].flat().some((granted) => JSON.stringify(granted) === JSON.stringify(resource)),
    );
    expect(granting, `${id}: ${action} on ${JSON.stringify(resource)}`).not.toEqual([]);
  }
};

/** Of these services, no action is granted beyond the ones listed. */
const expectOnly = (id: string, prefixes: string[], allowed: string[]) => {
  const granted = statementsOf(id)
    .flatMap((statement) => [statement.Action].flat() as string[])
    .filter((action) => prefixes.some((prefix) => action.startsWith(prefix)));
  expect(granted.filter((action) => !allowed.includes(action))).toEqual([]);
};

describe('Template: DlqReplayFunction', () => {
  const replay = propertiesOf('DlqReplayFunction');
  const trigger = (replay.Events as Record<string, { Type: string; Properties: Node }>).FailureQueue!;

  it('is built like the other functions, from its own entry point', () => {
    expect(resources.DlqReplayFunction?.Metadata).toMatchObject({
      BuildMethod: 'esbuild',
      BuildProperties: {
        Format: 'esm',
        MainFields: 'module,main',
        EntryPoints: ['functions/dlq-replay/handler.ts'],
      },
    });
    expect(replay.Handler).toBe('handler.handler');
  });

  it('has an SQS trigger on the failure queue that is off unless a parameter turns it on', () => {
    expect(trigger.Type).toBe('SQS');
    expect(trigger.Properties).toMatchObject({
      Queue: { 'Fn::GetAtt': ['ConsumerFailureQueue', 'Arn'] },
      Enabled: { 'Fn::If': ['DlqReplayTriggerOn', true, false] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(template.Conditions?.DlqReplayTriggerOn).toEqual({
      'Fn::Equals': [{ Ref: 'DlqReplayTriggerEnabled' }, 'true'],
    });
    expect(parameters.DlqReplayTriggerEnabled?.Default).toBe('false');
  });

  it.each([
    ['BatchSize', 'DlqReplayBatchSize'],
    ['MaximumBatchingWindowInSeconds', 'DlqReplayMaximumBatchingWindowInSeconds'],
  ])('takes the trigger’s %s from a parameter of its own', (property, parameter) => {
    expect(trigger.Properties[property]).toEqual({ Ref: parameter });
    expect(parameters[parameter]?.Description).toEqual(expect.any(String));
  });

  it('is granted what it calls, and nothing more of the stream, the tables and the queue', () => {
    const stream = { 'Fn::GetAtt': ['EventStream', 'Arn'] };
    const table = { 'Fn::GetAtt': ['EventTable', 'Arn'] };
    const queue = { 'Fn::GetAtt': ['ConsumerFailureQueue', 'Arn'] };
    expectGranted('DlqReplayFunction', [
      ['kinesis:GetShardIterator', stream],
      ['kinesis:GetRecords', stream],
      ['dynamodb:PutItem', table],
      ['dynamodb:GetItem', table],
      ['s3:PutObject', { 'Fn::Sub': '${QuarantineBucket.Arn}/*' }],
      ['sqs:ReceiveMessage', queue],
      ['sqs:DeleteMessage', queue],
      ['sqs:ChangeMessageVisibility', queue],
    ]);
    expectOnly(
      'DlqReplayFunction',
      ['kinesis:', 'dynamodb:', 's3:', 'sqs:', 'lambda:'],
      [
        'kinesis:GetShardIterator',
        'kinesis:GetRecords',
        'dynamodb:PutItem',
        'dynamodb:GetItem',
        's3:PutObject',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        // For the event source mapping of its SQS trigger.
        'sqs:GetQueueAttributes',
      ],
    );
  });

  it('reads the stream, the failure queue and the sink it replays into', () => {
    expect((replay.Environment as Node).Variables).toMatchObject({
      STREAM_NAME: { Ref: 'EventStream' },
      FAILURE_QUEUE_URL: { Ref: 'ConsumerFailureQueue' },
      TABLE_NAME: { Ref: 'EventTable' },
      QUARANTINE_BUCKET: { Ref: 'QuarantineBucket' },
      PROJECTION_VERSION: { Ref: 'ProjectionVersion' },
      GET_RECORDS_PER_SECOND: { Ref: 'RecoveryGetRecordsPerSecond' },
      GET_RECORDS_KIB_PER_SECOND: { Ref: 'RecoveryGetRecordsKiBPerSecond' },
    });
  });
});

describe('Template: ReprocessorFunction', () => {
  const reprocessor = propertiesOf('ReprocessorFunction');

  it('has a known name, so that it may invoke itself to continue a job', () => {
    expect(reprocessor.FunctionName).toEqual({ 'Fn::Sub': '${AWS::StackName}-reprocessor' });
    expect(reprocessor.Timeout).toBe(900);
  });

  it('is granted what it calls, and may invoke only itself', () => {
    const self =
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-reprocessor';
    const stream = { 'Fn::GetAtt': ['EventStream', 'Arn'] };
    const table = { 'Fn::GetAtt': ['EventTable', 'Arn'] };
    const jobs = { 'Fn::GetAtt': ['ReprocessJobsTable', 'Arn'] };
    expectGranted('ReprocessorFunction', [
      ['kinesis:DescribeStreamSummary', stream],
      ['kinesis:ListShards', stream],
      ['kinesis:GetShardIterator', stream],
      ['kinesis:GetRecords', stream],
      ['dynamodb:PutItem', table],
      ['dynamodb:GetItem', table],
      ['dynamodb:GetItem', jobs],
      ['dynamodb:PutItem', jobs],
      ['dynamodb:UpdateItem', jobs],
      ['dynamodb:Query', jobs],
      ['s3:PutObject', { 'Fn::Sub': '${QuarantineBucket.Arn}/*' }],
      ['lambda:InvokeFunction', { 'Fn::Sub': self }],
      ['lambda:InvokeFunction', { 'Fn::Sub': `${self}:*` }],
    ]);
    expectOnly(
      'ReprocessorFunction',
      ['kinesis:', 'dynamodb:', 's3:', 'sqs:', 'lambda:'],
      [
        'kinesis:DescribeStreamSummary',
        'kinesis:ListShards',
        'kinesis:GetShardIterator',
        'kinesis:GetRecords',
        'dynamodb:PutItem',
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        's3:PutObject',
        'lambda:InvokeFunction',
      ],
    );
    const invoke = statementsOf('ReprocessorFunction').find((statement) =>
      [statement.Action].flat().includes('lambda:InvokeFunction'),
    );
    expect(invoke?.Resource).toEqual([{ 'Fn::Sub': self }, { 'Fn::Sub': `${self}:*` }]);
  });

  it('keeps jobs and checkpoints in a table of their own, keyed by job, that expires them', () => {
    expect(propertiesOf('ReprocessJobsTable')).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'jobId', KeyType: 'HASH' },
        { AttributeName: 'item', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect((reprocessor.Environment as Node).Variables).toMatchObject({
      JOBS_TABLE_NAME: { Ref: 'ReprocessJobsTable' },
      MAX_RECORDS_PER_SECOND: { Ref: 'ReprocessMaxRecordsPerSecond' },
    });
  });
});

describe('Template: the recovery functions’ share of each shard’s reads', () => {
  it('declares the byte share in KiB per second: half of the shard’s 2 MiB/s by default, at most all of it', () => {
    expect(parameters.RecoveryGetRecordsKiBPerSecond).toMatchObject({
      Type: 'Number',
      Default: 1024,
      MinValue: 1,
      MaxValue: 2048,
      Description: expect.stringContaining('KiB per second per shard'),
    });
  });

  it.each(['DlqReplayFunction', 'ReprocessorFunction'])(
    '%s takes its call and byte rates from the recovery parameters',
    (id) => {
      expect((propertiesOf(id).Environment as Node).Variables).toMatchObject({
        GET_RECORDS_PER_SECOND: { Ref: 'RecoveryGetRecordsPerSecond' },
        GET_RECORDS_KIB_PER_SECOND: { Ref: 'RecoveryGetRecordsKiBPerSecond' },
      });
    },
  );

  it.each<{ overrides: Record<string, string>; bytes: number }>([
    { overrides: {}, bytes: 1024 * 1024 },
    { overrides: { RecoveryGetRecordsKiBPerSecond: '256' }, bytes: 256 * 1024 },
  ])(
    'planned with $overrides, both functions read $bytes bytes per second per shard',
    ({ overrides, bytes }) => {
      // Act
      const stack = planStack(template, { ...PLAN_OPTIONS, parameterOverrides: overrides });
      // Assess
      const replay = loadDlqReplayConfig(stack.functions.DlqReplayFunction!.environment);
      const reprocessor = loadReprocessorConfig(stack.functions.ReprocessorFunction!.environment);
      expect(replayReaderOptions(replay).bytesPerSecond).toBe(bytes);
      expect(reprocessor.settings.getRecordsBytesPerSecond).toBe(bytes);
    },
  );
});

describe('Template: failure queue redrive and alarms', () => {
  it('redrives the failure queue to an encrypted 14-day parking queue after a parameter’s number of receives', () => {
    expect(propertiesOf('ConsumerFailureQueue').RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['FailureParkingQueue', 'Arn'] },
      maxReceiveCount: { Ref: 'FailureQueueMaxReceiveCount' },
    });
    const parking = propertiesOf('FailureParkingQueue');
    expect(parking.MessageRetentionPeriod).toBe(1_209_600);
    expect(parking.SqsManagedSseEnabled ?? parking.KmsMasterKeyId).toBeDefined();
    // A queue that triggers a function must keep a message hidden at least as long as the function runs.
    expect(propertiesOf('ConsumerFailureQueue').VisibilityTimeout).toBeGreaterThanOrEqual(
      propertiesOf('DlqReplayFunction').Timeout as number,
    );
  });

  it('alarms on parked messages, by queue name, against a threshold parameter', () => {
    expect(propertiesOf('ParkedMessagesAlarm')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['FailureParkingQueue', 'QueueName'] } }],
      Threshold: { Ref: 'ParkedMessagesAlarmThreshold' },
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('alarms on the oldest failure-queue message as a percentage of the stream’s retention', () => {
    const alarm = propertiesOf('FailureQueueAgeAlarm');
    const [age, percent] = alarm.Metrics as Node[];
    expect(age).toMatchObject({
      Id: 'age',
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ConsumerFailureQueue', 'QueueName'] } }],
        },
      },
    });
    expect(percent).toMatchObject({
      Expression: { 'Fn::Sub': 'MAX([100 * age / (${RetentionHours} * 3600), 100 * age / 1209600])' },
      ReturnData: true,
    });
    expect(alarm).toMatchObject({
      Threshold: { Ref: 'FailureQueueAgeAlarmPercentOfRetention' },
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('alarms when a replay finds records that expired', () => {
    expect(propertiesOf('ReplayExpiredAlarm')).toMatchObject({
      Namespace: 'KinesisPipeline',
      MetricName: 'ReplayExpired',
      Dimensions: [{ Name: 'service', Value: 'dlq-replay' }],
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('notifies a topic encrypted with a key that CloudWatch may use', () => {
    expect(propertiesOf('AlarmTopic').KmsMasterKeyId).toEqual({ Ref: 'AlarmTopicKey' });
    const statements = (propertiesOf('AlarmTopicKey').KeyPolicy as { Statement: Node[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
  });

  it('declares every recovery parameter with a description, and uses it', () => {
    const text = JSON.stringify({ resources, conditions: template.Conditions });
    const ours = [
      'FailureQueueMaxReceiveCount',
      'DlqReplayTriggerEnabled',
      'DlqReplayBatchSize',
      'DlqReplayMaximumBatchingWindowInSeconds',
      'DlqReplayMaximumConcurrency',
      'RecoveryGetRecordsPerSecond',
      'ReprocessMaxRecordsPerSecond',
      'ParkedMessagesAlarmThreshold',
      'FailureQueueAgeAlarmPercentOfRetention',
      'AlarmEmail',
    ];
    for (const name of ours) {
      expect(parameters[name]?.Description, name).toEqual(expect.any(String));
      expect(text.includes(`{"Ref":"${name}"}`), name).toBe(true);
    }
  });

  it('outputs the recovery functions, the jobs table, the parking queue and the alarm topic', () => {
    expect(template.Outputs).toMatchObject({
      DlqReplayFunctionName: { Value: { Ref: 'DlqReplayFunction' } },
      ReprocessorFunctionName: { Value: { Ref: 'ReprocessorFunction' } },
      ReprocessJobsTableName: { Value: { Ref: 'ReprocessJobsTable' } },
      FailureParkingQueueUrl: { Value: { Ref: 'FailureParkingQueue' } },
      AlarmTopicArn: { Value: { Ref: 'AlarmTopic' } },
    });
  });
});
