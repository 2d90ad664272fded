import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTemplate, type Template } from '#local/template/parse.ts';
import {
  actionOf,
  type CodePermissions,
  compare,
  grantedTo,
  requiredBy,
  roleOf,
  type SdkCommand,
  scenario,
  sdkCommandsIn,
  sdkCommandsOf,
} from '#test/helpers/least-privilege.ts';
import * as consumer from '../../functions/consumer/permissions.ts';
import * as dlqReplay from '../../functions/dlq-replay/permissions.ts';
import * as ingest from '../../functions/ingest/permissions.ts';
import * as reprocessor from '../../functions/reprocessor/permissions.ts';

const templatePath = resolve(import.meta.dirname, '../../template.yaml');
const template = loadTemplate(templatePath);

/** Each function with the list of AWS calls kept beside its code. */
const FUNCTIONS: Array<{
  logicalId: string;
  code: CodePermissions;
  notCalled: Readonly<Record<string, string>>;
}> = [
  { logicalId: 'IngestFunction', ...ingest },
  { logicalId: 'ConsumerFunction', ...consumer },
  { logicalId: 'DlqReplayFunction', ...dlqReplay },
  { logicalId: 'ReprocessorFunction', ...reprocessor },
].map(({ logicalId, permissions, notCalled }) => ({ logicalId, code: permissions, notCalled }));

const KEY_MODES: Array<[string, Record<string, string>]> = [
  ['AWS-managed keys', {}],
  ['a key the stack creates', { KmsKeyMode: 'CREATE' }],
  [
    'a given key',
    { KmsKeyMode: 'EXISTING', KmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab' },
  ],
];

describe('Template: every function role grants exactly what the function needs', () => {
  it('gives every function of the template a role of its own, assumable by Lambda only', () => {
    // Prepare
    const functions = Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::Serverless::Function')
      .map(([logicalId]) => logicalId);

    // Act
    const roles = functions.map((logicalId) => roleOf(template, logicalId));

    // Assess
    expect(functions.sort()).toEqual(FUNCTIONS.map(({ logicalId }) => logicalId).sort());
    expect(new Set(roles).size).toBe(functions.length);
    for (const role of roles) {
      const trust = template.Resources[role!]?.Properties?.AssumeRolePolicyDocument as {
        Statement: Array<{ Principal: unknown; Action: unknown }>;
      };
      expect(trust.Statement).toHaveLength(1);
      expect(trust.Statement[0]).toMatchObject({
        Principal: { Service: 'lambda.amazonaws.com' },
        Action: 'sts:AssumeRole',
      });
      expect(template.Resources[role!]?.Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });

  describe.each(FUNCTIONS)('$logicalId', ({ logicalId, code, notCalled }) => {
    let commands: Map<string, { command: SdkCommand; files: string[] }>;

    beforeAll(async () => {
      commands = await sdkCommandsOf(template, templatePath, logicalId);
    });

    it('lists every AWS call its code graph makes, and no call it does not make', () => {
      // Act
      const sent = [...commands.values()].filter(({ command }) => !(command.command in notCalled));
      const actions = sent.map(({ command }) => actionOf(command));

      // Assess
      expect(
        sent.filter((_, index) => actions[index] === undefined).map(({ command }) => command),
        'commands without an IAM action in actionOf: add them there',
      ).toEqual([]);
      expect([...new Set(actions)].sort(), 'permissions.ts against the code').toEqual(
        Object.keys(code).sort(),
      );
      expect(
        Object.keys(notCalled).filter((command) => !commands.has(command)),
        'notCalled names commands the code no longer has',
      ).toEqual([]);
    });

    it.each(KEY_MODES)('is granted exactly that, with %s', (_mode, overrides) => {
      // Prepare
      const world = scenario(template, overrides);

      // Act
      const difference = compare(grantedTo(world, logicalId), requiredBy(world, logicalId, code));

      // Assess
      expect(difference).toEqual({ extra: [], missing: [] });
    });
  });
});

describe('Least privilege: the checks catch the mistakes', () => {
  const ingestRole = (candidate: Template) =>
    (
      candidate.Resources.IngestFunctionRole!.Properties!.Policies as Array<{
        PolicyDocument: { Statement: unknown[] };
      }>
    )[0]!.PolicyDocument.Statement;

  it('reports an API function granted kinesis:GetRecords, which it never calls', () => {
    // Prepare
    const candidate = structuredClone(template);
    ingestRole(candidate).push({
      Effect: 'Allow',
      Action: ['kinesis:GetRecords'],
      Resource: { 'Fn::GetAtt': ['EventStream', 'Arn'] },
    });
    const world = scenario(candidate);

    // Act
    const difference = compare(
      grantedTo(world, 'IngestFunction'),
      requiredBy(world, 'IngestFunction', ingest.permissions),
    );

    // Assess
    expect(difference).toEqual({ extra: ['kinesis:GetRecords EventStream'], missing: [] });
  });

  it('reports a grant the event source needs but the role lacks', () => {
    // Prepare
    const candidate = structuredClone(template);
    const statements = (
      candidate.Resources.DlqReplayFunctionRole!.Properties!.Policies as Array<{
        PolicyDocument: { Statement: Array<{ Sid?: string; Action: string[] }> };
      }>
    )[0]!.PolicyDocument.Statement;
    const drain = statements.find((statement) => statement.Sid === 'DrainTheFailureQueue')!;
    drain.Action = drain.Action.filter((action) => action !== 'sqs:GetQueueAttributes');
    const world = scenario(candidate);

    // Act
    const difference = compare(
      grantedTo(world, 'DlqReplayFunction'),
      requiredBy(world, 'DlqReplayFunction', dlqReplay.permissions),
    );

    // Assess
    expect(difference).toEqual({ extra: [], missing: ['sqs:GetQueueAttributes ConsumerFailureQueue'] });
  });

  it('reports a KMS grant missing for a key the stack creates', () => {
    // Prepare
    const candidate = structuredClone(template);
    const statements = ingestRole(candidate);
    statements.splice(statements.length - 1, 1);
    const world = scenario(candidate, { KmsKeyMode: 'CREATE' });

    // Act
    const difference = compare(
      grantedTo(world, 'IngestFunction'),
      requiredBy(world, 'IngestFunction', ingest.permissions),
    );

    // Assess
    expect(difference).toEqual({ extra: [], missing: ['kms:GenerateDataKey PipelineKey'] });
  });

  it('finds the SDK commands a source sends, through aliases, and not the types it only imports', () => {
    // Prepare
    const source = `
      import { type GetRecordsCommandOutput, PutRecordsCommand, DeleteStreamCommand as Drop } from '@aws-sdk/client-kinesis';
      import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
      const a = new PutRecordsCommand({});
      const b = new Drop({});
      const c = new GetCommand({});
    `;

    // Act
    const commands = sdkCommandsIn(source);

    // Assess
    expect(commands.map((command) => [command.command, actionOf(command)])).toEqual([
      ['PutRecordsCommand', 'kinesis:PutRecords'],
      ['DeleteStreamCommand', 'kinesis:DeleteStream'],
      ['GetCommand', 'dynamodb:GetItem'],
    ]);
  });

  it('finds the SDK commands of a package imported where first needed', () => {
    // Prepare
    const source = `
      const { PutObjectCommand, GetObjectCommand: Get } = await import('@aws-sdk/client-s3');
      const { InvokeCommand } = await import('@aws-sdk/client-lambda');
      await s3.send(new PutObjectCommand({}));
      await s3.send(new Get({}));
    `;

    // Act
    const commands = sdkCommandsIn(source);

    // Assess
    expect(commands.map((command) => [command.command, actionOf(command)])).toEqual([
      ['PutObjectCommand', 's3:PutObject'],
      ['GetObjectCommand', 's3:GetObject'],
    ]);
  });
});
