import { ComparisonOperator, StandardUnit, Statistic } from '@aws-sdk/client-cloudwatch';
import { Architecture, Runtime, TracingMode } from '@aws-sdk/client-lambda';

/**
 * Corrections to the AWS SAM part of `@aws-cdk/aws-service-spec`, which lags behind SAM itself, and the values
 * the spec does not constrain. This file is the only place where the validator knows anything the spec does not:
 * every other resource type, property and type comes from the spec. Each entry cites the source it follows; the
 * types of added properties are taken from the spec's CloudFormation resource the property is passed through to,
 * so the overlay holds names, not types.
 *
 * Sources: the SAM developer guide (docs.aws.amazon.com/serverless-application-model/latest/developerguide/*),
 * aws/serverless-application-model samtranslator/internal/schema_source/*.py and plugins/globals/globals.py, and
 * the AWS SDK's service models for the enumerations.
 */

/** Where an added property's type comes from. */
export type PropertySource =
  /** The property of the same name (or `property`) on a CloudFormation resource, or on a spec type (`Resource.Type`). */
  | { readonly from: string; readonly property?: string }
  /** A primitive, for SAM-only switches that have no CloudFormation counterpart; json for a SAM-only map. */
  | { readonly primitive: 'string' | 'boolean' | 'number' | 'json' };

export interface SpecCorrection {
  /** Properties SAM accepts that the spec lacks. */
  readonly add?: Readonly<Record<string, PropertySource>>;
  /** Properties the spec lists under a name SAM rejects: spec name → SAM name. */
  readonly rename?: Readonly<Record<string, string>>;
}

const esm = (names: readonly string[]): Record<string, PropertySource> =>
  Object.fromEntries(names.map((name) => [name, { from: 'AWS::Lambda::EventSourceMapping' }]));

const lambda = (names: readonly string[]): Record<string, PropertySource> =>
  Object.fromEntries(names.map((name) => [name, { from: 'AWS::Lambda::Function' }]));

/** Stream event properties SAM passes to AWS::Lambda::EventSourceMapping that the spec's stream events lack. */
const STREAM_EVENT_PROPERTIES = [
  'MaximumBatchingWindowInSeconds',
  'MaximumRetryAttempts',
  'BisectBatchOnFunctionError',
  'MaximumRecordAgeInSeconds',
  'ParallelizationFactor',
  'StartingPositionTimestamp',
  'TumblingWindowInSeconds',
  'FunctionResponseTypes',
  'FilterCriteria',
  'KmsKeyArn',
  'MetricsConfig',
];

/** Corrections to whole resources, keyed by resource type. */
export const resourceCorrections: Readonly<Record<string, SpecCorrection>> = {
  // SAM guide sam-resource-function (Syntax): LoggingConfig, RuntimeManagementConfig, SnapStart, RecursiveLoop,
  // DurableConfig and FunctionScalingConfig (sam-property-function-functionscalingconfig: "passed directly to the
  // MinExecutionEnvironments property of an AWS::Lambda::Function") pass through to AWS::Lambda::Function;
  // PropagateTags and AutoPublishAliasAllProperties are SAM-only booleans; CapacityProviderConfig
  // (sam-property-function-capacityproviderconfig: Arn, ExecutionEnvironmentMemoryGiBPerVCpu,
  // PerExecutionEnvironmentMaxConcurrency) is SAM's own shape, not Lambda's.
  'AWS::Serverless::Function': {
    add: {
      ...lambda([
        'LoggingConfig',
        'RuntimeManagementConfig',
        'SnapStart',
        'RecursiveLoop',
        'DurableConfig',
        'FunctionScalingConfig',
      ]),
      PropagateTags: { primitive: 'boolean' },
      AutoPublishAliasAllProperties: { primitive: 'boolean' },
      CapacityProviderConfig: { primitive: 'json' },
    },
  },
  // SAM guide sam-resource-httpapi (Syntax): the property is AccessLogSettings (passed to AWS::ApiGatewayV2::Stage),
  // not AccessLogSetting; Name and PropagateTags are missing from the spec.
  'AWS::Serverless::HttpApi': {
    rename: { AccessLogSetting: 'AccessLogSettings' },
    add: { Name: { primitive: 'string' }, PropagateTags: { primitive: 'boolean' } },
  },
};

/** Corrections to type definitions, keyed by `<resource type>.<type name>`. */
export const typeCorrections: Readonly<Record<string, SpecCorrection>> = {
  // SAM guide sam-property-function-kinesis and schema_source/aws_serverless_function.py KinesisEventProperties;
  // DestinationConfig keeps SAM's own shape, whose OnFailure also takes the SAM-only Type.
  'AWS::Serverless::Function.KinesisEvent': {
    add: {
      ...esm(STREAM_EVENT_PROPERTIES),
      DestinationConfig: { from: 'AWS::Serverless::Function.DynamoDBEvent' },
    },
  },
  // SAM guide sam-property-function-dynamodb and aws_serverless_function.py DynamoDBEventProperties.
  'AWS::Serverless::Function.DynamoDBEvent': { add: esm(STREAM_EVENT_PROPERTIES) },
  // SAM guide sam-property-function-sqs and aws_serverless_function.py SQSEventProperties.
  'AWS::Serverless::Function.SQSEvent': {
    add: esm([
      'MaximumBatchingWindowInSeconds',
      'FunctionResponseTypes',
      'FilterCriteria',
      'KmsKeyArn',
      'MetricsConfig',
      'ScalingConfig',
      'ProvisionedPollerConfig',
    ]),
  },
  // SAM guide sam-property-httpapi-httpapiauth (Syntax): EnableIamAuthorizer lets DefaultAuthorizer be AWS_IAM.
  'AWS::Serverless::HttpApi.HttpApiAuth': { add: { EnableIamAuthorizer: { primitive: 'boolean' } } },
};

/** What a SAM resource becomes once transformed, so that `Ref`, `Fn::GetAtt` and `Fn::Sub` can be checked. */
export interface SamTranslation {
  /** The CloudFormation type created under the same logical ID; its spec attributes are the SAM resource's. */
  readonly becomes: string;
  /** Resources created beside it, as `<LogicalId><suffix>`, unless the named property is set. */
  readonly generated?: Readonly<Record<string, { readonly type: string; readonly unless: string }>>;
  /** Referenceable properties, as `!Ref <LogicalId>.<name>`. */
  readonly referenceable?: readonly string[];
}

// SAM guide sam-specification-generated-resources-* ("Generated CloudFormation resources for AWS SAM").
export const samTranslations: Readonly<Record<string, SamTranslation>> = {
  'AWS::Serverless::Function': {
    becomes: 'AWS::Lambda::Function',
    generated: { Role: { type: 'AWS::IAM::Role', unless: 'Role' } },
    referenceable: ['Alias', 'Version'],
  },
  'AWS::Serverless::StateMachine': {
    becomes: 'AWS::StepFunctions::StateMachine',
    generated: { Role: { type: 'AWS::IAM::Role', unless: 'Role' } },
  },
  'AWS::Serverless::HttpApi': { becomes: 'AWS::ApiGatewayV2::Api', referenceable: ['Stage', 'DomainName'] },
  'AWS::Serverless::Api': { becomes: 'AWS::ApiGateway::RestApi', referenceable: ['Stage', 'Deployment'] },
  'AWS::Serverless::SimpleTable': { becomes: 'AWS::DynamoDB::Table' },
  'AWS::Serverless::LayerVersion': { becomes: 'AWS::Lambda::LayerVersion' },
  'AWS::Serverless::Application': { becomes: 'AWS::CloudFormation::Stack' },
};

/**
 * Actions that support only `Resource: '*'` (IAM Service Authorization Reference: no resource types), so a
 * statement made only of these may use `*`.
 */
export const STAR_ONLY_ACTIONS: ReadonlySet<string> = new Set([
  'cloudwatch:PutMetricData',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'xray:GetSamplingStatisticSummaries',
]);

/**
 * Resource policies in which `Resource: '*'` means the resource the policy is attached to (KMS key policies:
 * "the resource element is always *"), keyed by resource type → property.
 */
export const SELF_RESOURCE_POLICIES: Readonly<Record<string, string>> = {
  'AWS::KMS::Key': 'KeyPolicy',
};

/**
 * SAM's Globals: the sections it takes and the properties each may hold; SAM refuses any other key ("'X' is not a
 * supported property of 'Function'"), so that Events, Role, Policies or FunctionName cannot be shared.
 * Source: samtranslator/plugins/globals/globals.py `supported_properties`, and the SAM guide's "Globals section of
 * the AWS SAM template" (sam-specification-template-anatomy-globals.html), whose newest version adds
 * AWS::Serverless::CapacityProvider to the resource types Globals supports. For the properties SAM added with
 * Lambda Managed Instances (the Function's CapacityProviderConfig, FunctionScalingConfig and DurableConfig, the
 * CapacityProvider's properties but its name, per sam-resource-capacityprovider) no published samtranslator list
 * was at hand, so they are all taken: a valid template is never refused for them.
 */
export const SAM_GLOBALS: Readonly<Record<string, readonly string[]>> = {
  Function: [
    'Handler',
    'Runtime',
    'CodeUri',
    'DeadLetterQueue',
    'Description',
    'MemorySize',
    'Timeout',
    'VpcConfig',
    'Environment',
    'Tags',
    'PropagateTags',
    'Tracing',
    'KmsKeyArn',
    'AutoPublishAlias',
    'AutoPublishAliasAllProperties',
    'Layers',
    'DeploymentPreference',
    'RolePath',
    'PermissionsBoundary',
    'ReservedConcurrentExecutions',
    'ProvisionedConcurrencyConfig',
    'AssumeRolePolicyDocument',
    'EventInvokeConfig',
    'FileSystemConfigs',
    'CodeSigningConfigArn',
    'Architectures',
    'SnapStart',
    'EphemeralStorage',
    'FunctionUrlConfig',
    'RuntimeManagementConfig',
    'LoggingConfig',
    'RecursiveLoop',
    'SourceKMSKeyArn',
    'CapacityProviderConfig',
    'FunctionScalingConfig',
    'DurableConfig',
  ],
  CapacityProvider: [
    'VpcConfig',
    'OperatorRole',
    'Tags',
    'PropagateTags',
    'InstanceRequirements',
    'ScalingConfig',
    'LoggingConfig',
    'KmsKeyArn',
    'ManagedResourceTags',
  ],
  Api: [
    'Auth',
    'Name',
    'DefinitionUri',
    'CacheClusterEnabled',
    'CacheClusterSize',
    'MergeDefinitions',
    'Variables',
    'EndpointConfiguration',
    'MethodSettings',
    'BinaryMediaTypes',
    'MinimumCompressionSize',
    'Cors',
    'GatewayResponses',
    'AccessLogSetting',
    'CanarySetting',
    'TracingEnabled',
    'OpenApiVersion',
    'Domain',
    'AlwaysDeploy',
    'PropagateTags',
  ],
  HttpApi: [
    'Auth',
    'AccessLogSettings',
    'StageVariables',
    'Tags',
    'CorsConfiguration',
    'DefaultRouteSettings',
    'Domain',
    'RouteSettings',
    'FailOnWarnings',
    'PropagateTags',
  ],
  SimpleTable: ['SSESpecification'],
  StateMachine: ['PropagateTags'],
  LayerVersion: ['PublishLambdaVersion'],
};

/** Values a property takes that the spec types only as a string or a number. */
export interface ValueConstraint {
  readonly allowedValues?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
}

const LAMBDA_FUNCTION: Readonly<Record<string, ValueConstraint>> = {
  // The Lambda API's enumerations, from its service model as @aws-sdk/client-lambda carries it.
  Runtime: { allowedValues: Object.values(Runtime) },
  Architectures: { allowedValues: Object.values(Architecture) },
  // Lambda API reference, CreateFunction: MemorySize "Minimum value of 128. Maximum value of 10240.", Timeout
  // "Minimum value of 1"; the spec's documentation of Timeout: "The maximum allowed value is 900 seconds."
  MemorySize: { minimum: 128, maximum: 10240 },
  Timeout: { minimum: 1, maximum: 900 },
  ReservedConcurrentExecutions: { minimum: 0 },
};

/**
 * Constraints keyed by `<resource type>.<property>` (for a SAM resource, the properties it passes through). Ranges
 * are the ones the spec's own documentation of the property states in prose, or the API reference where it says
 * nothing; enumerations come from the AWS SDK's service models.
 */
export const valueConstraints: Readonly<Record<string, ValueConstraint>> = {
  ...Object.fromEntries(
    Object.entries(LAMBDA_FUNCTION).flatMap(([name, constraint]) => [
      [`AWS::Lambda::Function.${name}`, constraint],
      [`AWS::Serverless::Function.${name}`, constraint],
    ]),
  ),
  // SAM guide sam-resource-function, Tracing: "Valid values: Active and PassThrough" (TracingConfig.Mode).
  'AWS::Serverless::Function.Tracing': { allowedValues: Object.values(TracingMode) },
  // The spec's documentation of each AWS::SQS::Queue property ("You can specify an integer value from … to …").
  'AWS::SQS::Queue.VisibilityTimeout': { minimum: 0, maximum: 43200 },
  'AWS::SQS::Queue.MessageRetentionPeriod': { minimum: 60, maximum: 1209600 },
  'AWS::SQS::Queue.DelaySeconds': { minimum: 0, maximum: 900 },
  'AWS::SQS::Queue.ReceiveMessageWaitTimeSeconds': { minimum: 0, maximum: 20 },
  'AWS::SQS::Queue.MaximumMessageSize': { minimum: 1024, maximum: 1048576 },
  // Kinesis Data Streams API reference: IncreaseStreamRetentionPeriod, "The maximum value of a stream's retention
  // period is 8760 hours"; StreamDescription.RetentionPeriodHours, "Minimum value of 24".
  'AWS::Kinesis::Stream.RetentionPeriodHours': { minimum: 24, maximum: 8760 },
  'AWS::Kinesis::Stream.ShardCount': { minimum: 1 },
  // The CloudWatch API's enumerations (PutMetricAlarm), from @aws-sdk/client-cloudwatch; TreatMissingData is a
  // string in the API, and the spec's documentation lists its values.
  'AWS::CloudWatch::Alarm.ComparisonOperator': { allowedValues: Object.values(ComparisonOperator) },
  'AWS::CloudWatch::Alarm.Statistic': { allowedValues: Object.values(Statistic) },
  'AWS::CloudWatch::Alarm.Unit': { allowedValues: Object.values(StandardUnit) },
  'AWS::CloudWatch::Alarm.TreatMissingData': {
    allowedValues: ['breaching', 'notBreaching', 'ignore', 'missing'],
  },
  'AWS::CloudWatch::Alarm.EvaluationPeriods': { minimum: 1 },
  'AWS::CloudWatch::Alarm.DatapointsToAlarm': { minimum: 1 },
};
