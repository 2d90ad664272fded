import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptionsFor } from '#local/build/bundle.ts';
import { isNoValue, isPlainObject } from '#local/template/intrinsics.ts';
import type { Template } from '#local/template/parse.ts';
import { evaluateConditions, pseudoParameters, resolveParameters } from '#local/template/resolve.ts';

/**
 * Least privilege, checked from both ends: what a function's role grants (template.yaml, conditions resolved for
 * one set of parameters) against what the function needs (the AWS calls its code makes, kept beside it in
 * functions/<name>/permissions.ts and checked against the SDK commands of its code graph; the calls its event
 * sources make with its role; its log group, traces and KMS key).
 */

/** `action resource` pairs, resources as template tokens: a logical ID, `X/*`, `X:*`, `*` or a parameter name. */
export type Grants = ReadonlySet<string>;

const grant = (action: string, resource: string): string => `${action} ${resource}`;

// ---------------------------------------------------------------------------------------------------------------
// The code: SDK commands of a function's code graph, and the IAM actions they need.

/** An SDK command sent by project code: the client package it comes from and its class name. */
export interface SdkCommand {
  readonly client: string;
  readonly command: string;
}

/**
 * The SDK commands a source file constructs (`new XCommand(`) that it imports from an `@aws-sdk/*` package.
 * Written by hand: a regular expression over the file's imports is all this needs, and a TypeScript parser would
 * be a second dependency for the same answer.
 */
export const sdkCommandsIn = (source: string): SdkCommand[] => {
  const imported = new Map<string, SdkCommand>();
  for (const [, names, client] of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/[^']+)'/g)) {
    for (const raw of names!.split(',')) {
      const [name, alias] = raw
        .replace(/^\s*type\s+/, '')
        .split(/\s+as\s+/)
        .map((part) => part.trim());
      if (raw.trim().startsWith('type ') || !name?.endsWith('Command')) continue;
      imported.set(alias ?? name, { client: client!, command: name });
    }
  }
  // Commands taken from a package imported where first needed: `const { XCommand } = await import('@aws-sdk/…')`.
  for (const [, names, client] of source.matchAll(
    /const\s*\{([^}]*)\}\s*=\s*await\s+import\(\s*'(@aws-sdk\/[^']+)'\s*\)/g,
  )) {
    for (const raw of names!.split(',')) {
      const [name, alias] = raw.split(':').map((part) => part.trim());
      if (name?.endsWith('Command')) imported.set(alias ?? name, { client: client!, command: name });
    }
  }
  const used = new Set([...source.matchAll(/new\s+([A-Za-z0-9_$]+)\s*\(/g)].map((match) => match[1]!));
  return [...imported].filter(([local]) => used.has(local)).map(([, command]) => command);
};

/**
 * The IAM action of an SDK command (Service Authorization Reference: a batch API is authorized by the action of
 * its single form; the DynamoDB document client's commands by the low-level operation they send). Undefined for a
 * command this table does not know yet: the test then asks for it to be added.
 */
export const actionOf = ({ client, command }: SdkCommand): string | undefined => {
  const operation = command.replace(/Command$/, '');
  switch (client) {
    case '@aws-sdk/client-kinesis':
      return `kinesis:${operation}`;
    case '@aws-sdk/client-sqs':
      return `sqs:${operation.replace(/Batch$/, '')}`;
    case '@aws-sdk/client-s3':
      return { HeadObject: 's3:GetObject', ListObjectsV2: 's3:ListBucket' }[operation] ?? `s3:${operation}`;
    case '@aws-sdk/client-dynamodb':
      return `dynamodb:${operation}`;
    case '@aws-sdk/lib-dynamodb':
      return (
        {
          Get: 'dynamodb:GetItem',
          Put: 'dynamodb:PutItem',
          Update: 'dynamodb:UpdateItem',
          Delete: 'dynamodb:DeleteItem',
          Query: 'dynamodb:Query',
          Scan: 'dynamodb:Scan',
          BatchGet: 'dynamodb:BatchGetItem',
          BatchWrite: 'dynamodb:BatchWriteItem',
        } as Record<string, string>
      )[operation];
    case '@aws-sdk/client-lambda':
      return operation === 'Invoke' ? 'lambda:InvokeFunction' : `lambda:${operation}`;
    default:
      return undefined;
  }
};

/** The project's own source files that an esbuild-built function's bundle is made of (no dependencies). */
export const codeGraphOf = async (
  template: Template,
  templatePath: string,
  logicalId: string,
): Promise<string[]> => {
  const resource = template.Resources[logicalId];
  if (resource?.Type !== 'AWS::Serverless::Function') throw new Error(`${logicalId} is not a function`);
  const options = esbuildOptionsFor(
    logicalId,
    resource.Properties ?? {},
    (resource.Metadata?.BuildProperties ?? {}) as Record<string, unknown>,
    dirname(resolve(templatePath)),
    resolve(dirname(resolve(templatePath)), '.aws-sam', 'least-privilege'),
  );
  const result = await build({ ...options, write: false, minify: false, sourcemap: false });
  return Object.keys(result.metafile!.inputs)
    .filter((input) => !input.includes('node_modules'))
    .map((input) => resolve(options.absWorkingDir!, input));
};

/** The SDK commands of a function's code graph, each with the files that send it. */
export const sdkCommandsOf = async (
  template: Template,
  templatePath: string,
  logicalId: string,
): Promise<Map<string, { command: SdkCommand; files: string[] }>> => {
  const commands = new Map<string, { command: SdkCommand; files: string[] }>();
  for (const file of await codeGraphOf(template, templatePath, logicalId)) {
    for (const command of sdkCommandsIn(readFileSync(file, 'utf8'))) {
      const entry = commands.get(command.command) ?? { command, files: [] };
      entry.files.push(file);
      commands.set(command.command, entry);
    }
  }
  return commands;
};

// ---------------------------------------------------------------------------------------------------------------
// The template: what a function's role grants.

export interface Scenario {
  readonly template: Template;
  /** Condition values for one set of parameter overrides, as CloudFormation would evaluate them. */
  readonly conditions: Readonly<Record<string, boolean>>;
}

export const scenario = (template: Template, overrides: Record<string, string> = {}): Scenario => ({
  template,
  conditions: evaluateConditions(
    template,
    resolveParameters(template, overrides),
    pseudoParameters('us-east-1', '123456789012', 'pipeline'),
  ),
});

/** The value with every `Fn::If` decided and every `AWS::NoValue` dropped. */
const decide = (value: unknown, conditions: Readonly<Record<string, boolean>>): unknown => {
  if (Array.isArray(value)) {
    return value.map((item) => decide(item, conditions)).filter((item) => item !== undefined);
  }
  if (!isPlainObject(value)) return value;
  if (isNoValue(value)) return undefined;
  const choice = value['Fn::If'];
  if (Array.isArray(choice) && Object.keys(value).length === 1) {
    const [condition, whenTrue, whenFalse] = choice as [string, unknown, unknown];
    return decide(conditions[condition] ? whenTrue : whenFalse, conditions);
  }
  return Object.fromEntries(
    Object.entries(value)
      .map(([key, item]) => [key, decide(item, conditions)] as const)
      .filter(([, item]) => item !== undefined),
  );
};

const asList = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : value === undefined ? [] : [value];

/** The logical ID a `Ref`/`Fn::GetAtt` names, or undefined. */
const target = (value: unknown): string | undefined => {
  if (!isPlainObject(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return String(getAtt[0]);
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
};

/** A policy's or an event's resource expression as a token: `X`, `X/*`, `X:*`, `*`, a parameter, or its text. */
export const resourceToken = (template: Template, value: unknown): string => {
  if (value === '*') return '*';
  const named = target(value);
  if (named !== undefined) return named;
  const sub = isPlainObject(value) ? value['Fn::Sub'] : undefined;
  if (typeof sub === 'string') {
    const arn = /^\$\{([A-Za-z0-9]+)\.Arn\}(.*)$/.exec(sub);
    if (arn) return `${arn[1]}${arn[2]}`;
    // A function's ARN built from its FunctionName (a GetAtt of its own ARN would be a circular reference).
    const prefix = 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:';
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      const name = (resource.Properties?.FunctionName as Record<string, unknown> | undefined)?.['Fn::Sub'];
      if (typeof name === 'string' && sub.startsWith(`${prefix}${name}`)) {
        return `${logicalId}${sub.slice(prefix.length + name.length)}`;
      }
    }
    return sub;
  }
  return JSON.stringify(value);
};

/** The role a function runs with: the logical ID of the AWS::IAM::Role its `Role` names. */
export const roleOf = (template: Template, functionId: string): string | undefined =>
  target(template.Resources[functionId]?.Properties?.Role);

/** Every `action resource` pair a function's role allows, for one scenario. */
export const grantedTo = ({ template, conditions }: Scenario, functionId: string): Grants => {
  const roleId = roleOf(template, functionId);
  const role = roleId === undefined ? undefined : template.Resources[roleId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${functionId} has no AWS::IAM::Role of its own`);
  const grants = new Set<string>();
  const policies = decide(role.Properties?.Policies, conditions);
  for (const policy of asList(policies)) {
    const document = isPlainObject(policy) ? policy.PolicyDocument : undefined;
    for (const statement of asList(isPlainObject(document) ? document.Statement : undefined)) {
      if (!isPlainObject(statement) || statement.Effect !== 'Allow') continue;
      for (const action of asList(statement.Action)) {
        for (const resource of asList(statement.Resource))
          grants.add(grant(String(action), resourceToken(template, resource)));
      }
    }
  }
  for (const arn of asList(decide(role.Properties?.ManagedPolicyArns, conditions))) {
    grants.add(grant('managed-policy', resourceToken(template, arn)));
  }
  return grants;
};

// ---------------------------------------------------------------------------------------------------------------
// What a function needs.

/** The calls the function's code makes, from functions/<name>/permissions.ts. */
export type CodePermissions = Readonly<Record<string, readonly string[]>>;

/**
 * What the function's event sources do with its role (Lambda developer guide: services-kinesis-create for a
 * Kinesis event source mapping, with-sqs for an SQS one, kinesis-on-failure-destination for its destination).
 */
const eventSourceGrants = (template: Template, properties: Record<string, unknown>): string[] => {
  const grants: string[] = [];
  for (const event of Object.values((properties.Events ?? {}) as Record<string, unknown>)) {
    if (!isPlainObject(event) || !isPlainObject(event.Properties)) continue;
    const eventProperties = event.Properties;
    if (event.Type === 'Kinesis') {
      const stream = resourceToken(template, eventProperties.Stream);
      for (const action of [
        'DescribeStream',
        'DescribeStreamSummary',
        'GetRecords',
        'GetShardIterator',
        'ListShards',
      ]) {
        grants.push(grant(`kinesis:${action}`, stream));
      }
    }
    if (event.Type === 'SQS') {
      const queue = resourceToken(template, eventProperties.Queue);
      for (const action of ['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes']) {
        grants.push(grant(`sqs:${action}`, queue));
      }
    }
    const onFailure = isPlainObject(eventProperties.DestinationConfig)
      ? eventProperties.DestinationConfig.OnFailure
      : undefined;
    if (isPlainObject(onFailure)) {
      const destination = resourceToken(template, onFailure.Destination);
      const actions = {
        SQS: ['sqs:SendMessage'],
        SNS: ['sns:Publish'],
        S3: ['s3:PutObject', 's3:ListBucket'],
      }[String(onFailure.Type)];
      for (const action of actions ?? []) grants.push(grant(action, destination));
    }
  }
  return grants;
};

/**
 * KMS actions that a call on a resource encrypted with a customer-managed key needs (AWS docs: Kinesis
 * "Permissions to use user-generated KMS keys"; SQS "Configuring AWS KMS permissions"; S3 "Using server-side
 * encryption with AWS KMS keys"). DynamoDB needs none: it uses the grant it creates on the key for the table.
 */
const KMS_FOR: Readonly<Record<string, readonly string[]>> = {
  'kinesis:PutRecords': ['kms:GenerateDataKey'],
  'kinesis:PutRecord': ['kms:GenerateDataKey'],
  'kinesis:GetRecords': ['kms:Decrypt'],
  'sqs:SendMessage': ['kms:GenerateDataKey', 'kms:Decrypt'],
  'sqs:ReceiveMessage': ['kms:Decrypt'],
  's3:PutObject': ['kms:GenerateDataKey'],
  's3:GetObject': ['kms:Decrypt'],
};

/**
 * The customer-managed key a resource is encrypted with for one scenario (`PipelineKey` when the stack creates
 * it, `KmsKeyArn` when it is given), or undefined for AWS-managed keys.
 */
const customerKeyOf = ({ template, conditions }: Scenario, resource: string): string | undefined => {
  const properties = JSON.stringify(
    decide(template.Resources[resource.replace(/\/\*$/, '')]?.Properties, conditions),
  );
  if (properties === undefined) return undefined;
  if (properties.includes('{"Fn::GetAtt":["PipelineKey","Arn"]}')) return 'PipelineKey';
  if (properties.includes('{"Ref":"KmsKeyArn"}')) return 'KmsKeyArn';
  return undefined;
};

/** Everything a function needs, for one scenario. */
export const requiredBy = (scenarioValue: Scenario, functionId: string, code: CodePermissions): Grants => {
  const { template } = scenarioValue;
  const resource = template.Resources[functionId];
  const properties = (resource?.Properties ?? {}) as Record<string, unknown>;
  const globals = (template.Globals?.Function ?? {}) as Record<string, unknown>;
  const needs = new Set<string>();

  for (const [action, resources] of Object.entries(code)) {
    for (const name of resources) needs.add(grant(action, name));
  }
  for (const item of eventSourceGrants(template, properties)) needs.add(item);

  // The runtime: its own log group (LoggingConfig), and X-Ray segments when tracing is active.
  const logGroup = isPlainObject(properties.LoggingConfig)
    ? target(properties.LoggingConfig.LogGroup)
    : undefined;
  if (logGroup === undefined) throw new Error(`${functionId} has no LoggingConfig.LogGroup of its own`);
  needs.add(grant('logs:CreateLogStream', logGroup));
  needs.add(grant('logs:PutLogEvents', logGroup));
  if ((properties.Tracing ?? globals.Tracing) === 'Active') {
    needs.add(grant('xray:PutTraceSegments', '*'));
    needs.add(grant('xray:PutTelemetryRecords', '*'));
  }

  for (const item of [...needs]) {
    const [action, name] = item.split(' ') as [string, string];
    const key = customerKeyOf(scenarioValue, name);
    if (key === undefined) continue;
    for (const kmsAction of KMS_FOR[action] ?? []) needs.add(grant(kmsAction, key));
  }
  return needs;
};

export interface Difference {
  /** Granted but not needed. */
  readonly extra: string[];
  /** Needed but not granted. */
  readonly missing: string[];
}

export const compare = (granted: Grants, required: Grants): Difference => ({
  extra: [...granted].filter((item) => !required.has(item)).sort(),
  missing: [...required].filter((item) => !granted.has(item)).sort(),
});
