import { intrinsicName, isPlainObject } from './template/intrinsics.ts';
import type { Template, TemplateResource } from './template/parse.ts';
import {
  evaluateConditions,
  LocalLimitError,
  listParameters,
  pseudoParameters,
  type ResolveContext,
  type ResourceRefs,
  resolveParameters,
  resolveValue,
  TemplateResolveError,
} from './template/resolve.ts';

/**
 * The local stack: every resource of template.yaml with its local name, ARN and resolved properties, and every
 * function with the environment the template gives it. Creating the resources is the runtime's job; this only
 * plans them, so that a template construct the runtime cannot run fails before anything starts.
 */

export interface StackOptions {
  parameterOverrides?: Record<string, string>;
  region: string;
  accountId: string;
  stackName: string;
  /** The single AWS endpoint the local services sit behind, e.g. http://127.0.0.1:4566. */
  endpoint: string;
}

export interface PlannedResource {
  logicalId: string;
  type: string;
  properties: Record<string, unknown>;
  refs: ResourceRefs;
  /** `false` for types that exist in the template but have no local counterpart (alarms, IAM, …). */
  emulated: boolean;
}

export interface PlannedEvent {
  name: string;
  type: string;
  properties: Record<string, unknown>;
}

export interface PlannedFunction {
  logicalId: string;
  name: string;
  /**
   * The template's FunctionName, resolved (e.g. local-reprocessor): the function's name in its context, its
   * AWS_LAMBDA_FUNCTION_NAME, its ARN and its Ref. The Invoke API takes it as well as `name`, the logical id.
   */
  functionName?: string;
  /** The log group the function writes to: its LoggingConfig.LogGroup, resolved, when the template gives one. */
  logGroupName?: string;
  /**
   * Its LoggingConfig's LogFormat JSON, with the ApplicationLogLevel (INFO when not given, as Lambda's default),
   * when set; Text (the default) otherwise.
   */
  jsonLogs?: { applicationLogLevel: string };
  arn: string;
  /** The execution role: the template's Role, or the one SAM makes (`<Function>Role`). */
  roleArn: string;
  handler: string;
  runtime: string;
  /** Its Tracing: `Active` samples every invocation locally (Sampled=1 in its trace header); else PassThrough. */
  tracing?: 'Active' | 'PassThrough';
  timeoutSeconds: number;
  memoryMb: number;
  /**
   * Its ReservedConcurrentExecutions, when set: the most invocations it runs at once (0 throttles them all); a
   * synchronous Invoke past it is refused with 429 TooManyRequestsException, as Lambda refuses it.
   */
  reservedConcurrency?: number;
  /** Its EventInvokeConfig's MaximumRetryAttempts (0 to 2), when set: the retries of a failed Event invocation. */
  asyncRetryAttempts?: number;
  environment: Record<string, string>;
  events: PlannedEvent[];
}

export interface LocalStack {
  name: string;
  parameters: Record<string, string>;
  conditions: Record<string, boolean>;
  context: ResolveContext;
  resources: Record<string, PlannedResource>;
  functions: Record<string, PlannedFunction>;
  outputs: Record<string, string>;
}

/** A function's Ref (its name) and Arn, as CloudFormation gives them. */
const functionRefs = (name: string, o: StackOptions): ResourceRefs => ({
  ref: name,
  attributes: { Arn: `arn:aws:lambda:${o.region}:${o.accountId}:function:${name}` },
});

/** Types the local runtime stands up; each gives Ref and GetAtt values like CloudFormation's. */
const EMULATED: Record<
  string,
  (id: string, props: Record<string, unknown>, o: StackOptions) => ResourceRefs
> = {
  'AWS::Kinesis::Stream': (id, props, o) => {
    const name = String(props.Name ?? `${o.stackName}-${id}`);
    return { ref: name, attributes: { Arn: `arn:aws:kinesis:${o.region}:${o.accountId}:stream/${name}` } };
  },
  'AWS::DynamoDB::Table': (id, props, o) => {
    const name = String(props.TableName ?? `${o.stackName}-${id}`);
    const arn = `arn:aws:dynamodb:${o.region}:${o.accountId}:table/${name}`;
    return { ref: name, attributes: { Arn: arn, StreamArn: `${arn}/stream/local` } };
  },
  'AWS::S3::Bucket': (id, props, o) => {
    const name = String(props.BucketName ?? `${o.stackName}-${id}`.toLowerCase()).slice(0, 63);
    return {
      ref: name,
      attributes: {
        Arn: `arn:aws:s3:::${name}`,
        DomainName: `${name}.s3.amazonaws.com`,
        RegionalDomainName: `${name}.s3.${o.region}.amazonaws.com`,
      },
    };
  },
  'AWS::SQS::Queue': (id, props, o) => {
    const fifo = props.FifoQueue === true || props.FifoQueue === 'true';
    const name = String(props.QueueName ?? `${o.stackName}-${id}${fifo ? '.fifo' : ''}`);
    const url = `${o.endpoint}/${o.accountId}/${name}`;
    return {
      ref: url,
      attributes: { Arn: `arn:aws:sqs:${o.region}:${o.accountId}:${name}`, QueueName: name, QueueUrl: url },
    };
  },
  // A function without FunctionName keeps its logical id locally: SAM's `<stack>-<LogicalId>-<random>` would
  // change with every start. One with FunctionName is named by planStack once its intrinsics can be resolved.
  'AWS::Serverless::Function': (id, _props, o) => functionRefs(id, o),
  'AWS::Serverless::HttpApi': (id, _props, o) => ({
    ref: id.toLowerCase(),
    attributes: { ApiEndpoint: 'http://127.0.0.1:3000', ApiId: id.toLowerCase(), Region: o.region },
  }),
};

/** Types that are part of a deployed stack but have no effect locally; they resolve but are not created. */
const NOT_EMULATED: Record<
  string,
  (id: string, props: Record<string, unknown>, o: StackOptions) => ResourceRefs
> = {
  'AWS::Logs::LogGroup': (id, props, o) => {
    const name = String(props.LogGroupName ?? `/local/${o.stackName}/${id}`);
    return { ref: name, attributes: { Arn: `arn:aws:logs:${o.region}:${o.accountId}:log-group:${name}:*` } };
  },
  'AWS::SNS::Topic': (id, _props, o) => {
    const arn = `arn:aws:sns:${o.region}:${o.accountId}:${o.stackName}-${id}`;
    return { ref: arn, attributes: { TopicArn: arn, TopicName: `${o.stackName}-${id}` } };
  },
  'AWS::SNS::Subscription': (id) => ({ ref: id, attributes: {} }),
  'AWS::KMS::Key': (id, _props, o) => {
    const keyId = `00000000-0000-0000-0000-${id.toLowerCase().padEnd(12, '0').slice(0, 12)}`;
    return {
      ref: keyId,
      attributes: { Arn: `arn:aws:kms:${o.region}:${o.accountId}:key/${keyId}`, KeyId: keyId },
    };
  },
  'AWS::KMS::Alias': (id) => ({ ref: `alias/${id}`, attributes: {} }),
  'AWS::CloudWatch::Alarm': (id, _props, o) => ({
    ref: `${o.stackName}-${id}`,
    attributes: { Arn: `arn:aws:cloudwatch:${o.region}:${o.accountId}:alarm:${o.stackName}-${id}` },
  }),
  'AWS::CloudWatch::Dashboard': (id, _props, o) => ({ ref: `${o.stackName}-${id}`, attributes: {} }),
  'AWS::IAM::Role': (id, _props, o) => ({
    ref: `${o.stackName}-${id}`,
    attributes: { Arn: `arn:aws:iam::${o.accountId}:role/${o.stackName}-${id}`, RoleId: id },
  }),
  'AWS::IAM::Policy': (id) => ({ ref: id, attributes: {} }),
  'AWS::IAM::ManagedPolicy': (id, _props, o) => ({
    ref: `arn:aws:iam::${o.accountId}:policy/${o.stackName}-${id}`,
    attributes: {},
  }),
  'AWS::S3::BucketPolicy': (id) => ({ ref: id, attributes: {} }),
  'AWS::SQS::QueuePolicy': (id) => ({ ref: id, attributes: {} }),
  'AWS::Lambda::Permission': (id) => ({ ref: id, attributes: {} }),
  // The JWT ingest API (IngestJwtIssuer set): not created anywhere, but served from these by http-api.ts.
  'AWS::ApiGatewayV2::Api': (id, _props, o) => ({
    ref: id.toLowerCase(),
    attributes: {
      ApiEndpoint: `https://${id.toLowerCase()}.execute-api.${o.region}.amazonaws.com`,
      ApiId: id.toLowerCase(),
    },
  }),
  'AWS::ApiGatewayV2::Authorizer': (id) => ({
    ref: id.toLowerCase(),
    attributes: { AuthorizerId: id.toLowerCase() },
  }),
  'AWS::ApiGatewayV2::Integration': (id) => ({
    ref: id.toLowerCase(),
    attributes: { IntegrationId: id.toLowerCase() },
  }),
  'AWS::ApiGatewayV2::Route': (id) => ({ ref: id.toLowerCase(), attributes: { RouteId: id.toLowerCase() } }),
  'AWS::ApiGatewayV2::Stage': (id) => ({ ref: id, attributes: {} }),
};

export const isEmulatedType = (type: string): boolean => type in EMULATED;

const number = (value: unknown, fallback: number): number =>
  value === undefined || value === null || value === '' ? fallback : Number(value);

/**
 * Merges SAM Globals.Function into one function's properties, as SAM's globals plugin does
 * (samtranslator/plugins/globals/globals.py): maps merge key by key, lists are the global members followed by the
 * function's own, and any other value, an intrinsic function among them (`!Ref`, `!Sub`, `!If`), is the function's
 * own when it has one.
 */
const withGlobals = (
  properties: Record<string, unknown>,
  globals: Record<string, unknown>,
): Record<string, unknown> => {
  const merged: Record<string, unknown> = { ...globals };
  for (const [key, value] of Object.entries(properties)) {
    const global = merged[key];
    merged[key] =
      isMap(global) && isMap(value)
        ? withGlobals(value, global)
        : Array.isArray(global) && Array.isArray(value)
          ? [...global, ...value]
          : value;
  }
  return merged;
};

/** A map to merge: an object that is not an intrinsic function, which SAM takes as a single value. */
const isMap = (value: unknown): value is Record<string, unknown> =>
  isPlainObject(value) &&
  intrinsicName(value) === undefined &&
  !('Condition' in value && Object.keys(value).length === 1);

/** The Globals a function takes: all of them, none (`IgnoreGlobals: '*'`), or all but the properties it names. */
const globalsFor = (
  id: string,
  resource: TemplateResource,
  globals: Record<string, unknown>,
): Record<string, unknown> => {
  const ignore = (resource as { IgnoreGlobals?: unknown }).IgnoreGlobals;
  if (ignore === undefined) return globals;
  if (ignore === '*') return {};
  if (!Array.isArray(ignore)) {
    throw new TemplateResolveError(
      `Resources.${id}.IgnoreGlobals: takes '*' or a list of Globals properties`,
    );
  }
  const kept = { ...globals };
  for (const name of ignore) {
    if (!(String(name) in kept)) {
      throw new TemplateResolveError(
        `Resources.${id}.IgnoreGlobals: ${String(name)} is not in Globals.Function`,
      );
    }
    delete kept[String(name)];
  }
  return kept;
};

export const planStack = (template: Template, options: StackOptions): LocalStack => {
  const pseudo = pseudoParameters(options.region, options.accountId, options.stackName);
  const parameters = resolveParameters(template, options.parameterOverrides);
  const conditions = evaluateConditions(template, parameters, pseudo);
  const excluded: Record<string, string> = {};
  const context: ResolveContext = {
    parameters,
    conditions,
    resources: {},
    pseudo,
    excluded,
    lists: listParameters(template),
  };

  const active = Object.entries(template.Resources).filter(([id, resource]) => {
    if (resource.Condition === undefined) return true;
    if (!(resource.Condition in conditions)) {
      throw new TemplateResolveError(`Resources.${id}: condition '${resource.Condition}' is not defined`);
    }
    if (!conditions[resource.Condition]) excluded[id] = resource.Condition;
    return conditions[resource.Condition];
  });

  // Names first (they depend only on literal properties), so that properties can refer to any resource.
  for (const [id, resource] of active) {
    const naming = EMULATED[resource.Type] ?? NOT_EMULATED[resource.Type];
    if (!naming) {
      throw new LocalLimitError(
        `Resources.${id}: type ${resource.Type} is not supported by the local runtime; remove it or add a Condition that is false locally`,
      );
    }
    const literal = Object.fromEntries(
      Object.entries(resource.Properties ?? {}).filter(([, v]) => typeof v !== 'object' || v === null),
    );
    context.resources[id] = naming(id, literal, options);
    if (resource.Type === 'AWS::Serverless::Function') {
      // SAM creates a role per function, named <Function>Role.
      context.resources[`${id}Role`] = NOT_EMULATED['AWS::IAM::Role']!(`${id}Role`, {}, options);
    }
  }

  // A FunctionName is the function's name, its Ref and the end of its ARN, as on AWS; it may be built with
  // intrinsics (!Sub ${AWS::StackName}-reprocessor), so it is resolved once the other names are known.
  for (const [id, resource] of active) {
    const given = resource.Properties?.FunctionName;
    if (resource.Type !== 'AWS::Serverless::Function' || given === undefined) continue;
    const where = `Resources.${id}.Properties.FunctionName`;
    const name = resolveValue(given, context, where);
    if (typeof name !== 'string' || name === '') throw new TemplateResolveError(`${where}: not a name`);
    context.resources[id] = functionRefs(name, options);
  }

  const globals = (template.Globals?.Function ?? {}) as Record<string, unknown>;
  const resources: Record<string, PlannedResource> = {};
  const functions: Record<string, PlannedFunction> = {};
  for (const [id, resource] of active as Array<[string, TemplateResource]>) {
    const raw =
      resource.Type === 'AWS::Serverless::Function'
        ? withGlobals(resource.Properties ?? {}, globalsFor(id, resource, globals))
        : (resource.Properties ?? {});
    const properties = (resolveValue(raw, context, `Resources.${id}.Properties`) ?? {}) as Record<
      string,
      unknown
    >;
    resources[id] = {
      logicalId: id,
      type: resource.Type,
      properties,
      refs: context.resources[id]!,
      emulated: isEmulatedType(resource.Type),
    };
    if (resource.Type !== 'AWS::Serverless::Function') continue;
    if (properties.PackageType === 'Image') {
      throw new LocalLimitError(
        `Resources.${id}: container-image functions are not supported by the local runtime`,
      );
    }
    const variables = ((properties.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    const logging = properties.LoggingConfig as
      | { LogFormat?: unknown; ApplicationLogLevel?: unknown }
      | undefined;
    // -1 when unset: a count of 0 is one the function sets.
    const reservedConcurrency = number(properties.ReservedConcurrentExecutions, -1);
    const asyncRetryAttempts = number(
      (properties.EventInvokeConfig as { MaximumRetryAttempts?: unknown } | undefined)?.MaximumRetryAttempts,
      -1,
    );
    functions[id] = {
      logicalId: id,
      name: id,
      ...(typeof properties.FunctionName === 'string' ? { functionName: properties.FunctionName } : {}),
      ...(typeof (properties.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup === 'string'
        ? { logGroupName: (properties.LoggingConfig as { LogGroup: string }).LogGroup }
        : {}),
      ...(logging?.LogFormat === 'JSON'
        ? { jsonLogs: { applicationLogLevel: String(logging.ApplicationLogLevel ?? 'INFO').toUpperCase() } }
        : {}),
      arn: context.resources[id]!.attributes.Arn!,
      roleArn:
        typeof properties.Role === 'string'
          ? properties.Role
          : context.resources[`${id}Role`]!.attributes.Arn!,
      handler: String(properties.Handler ?? ''),
      runtime: String(properties.Runtime ?? ''),
      tracing: properties.Tracing === 'Active' ? 'Active' : 'PassThrough',
      timeoutSeconds: number(properties.Timeout, 3),
      memoryMb: number(properties.MemorySize, 128),
      ...(reservedConcurrency >= 0 ? { reservedConcurrency } : {}),
      ...(asyncRetryAttempts >= 0 ? { asyncRetryAttempts } : {}),
      environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, String(v)])),
      events: Object.entries(
        (properties.Events ?? {}) as Record<string, { Type: string; Properties?: Record<string, unknown> }>,
      ).map(([name, event]) => ({ name, type: event.Type, properties: event.Properties ?? {} })),
    };
  }

  const outputs: Record<string, string> = {};
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    if (typeof output.Condition === 'string' && !conditions[output.Condition]) continue;
    outputs[name] = String(resolveValue(output.Value, context, `Outputs.${name}.Value`));
  }
  return { name: options.stackName, parameters, conditions, context, resources, functions, outputs };
};
