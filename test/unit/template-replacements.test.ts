import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplate, type Template } from '#local/template/parse.ts';
import {
  findReplacements,
  formatReplacements,
  type Replacement,
  replacementKind,
  replacementProperty,
} from '#local/template/replacements.ts';
import { defaultTemplateSpec, type TemplateSpec } from '#local/template/spec.ts';

const root = resolve(import.meta.dirname, '../..');
const template = loadTemplate(resolve(root, 'template.yaml'));
// Loaded once for the whole file: it takes a second or so.
const spec = defaultTemplateSpec();

const parameter = (type = 'String') => ({ Type: type, Description: 'a parameter' });

/** A template of the given parameters, conditions and resources. */
const templateOf = (
  parameters: readonly string[],
  resources: Template['Resources'],
  conditions: Template['Conditions'] = {},
): Template => ({
  Parameters: Object.fromEntries(parameters.map((name) => [name, parameter()])),
  Conditions: conditions,
  Resources: resources,
});

/** The rows of a result: parameter, resource, property column, replacement column, conditions. */
const rows = (replacements: readonly Replacement[]) =>
  replacements.map((replacement) => [
    replacement.parameter,
    replacement.resource,
    replacementProperty(replacement),
    replacementKind(replacement),
    replacement.conditions.join(' '),
  ]);

describe('Function: findReplacements', () => {
  it('finds a parameter set by Ref on a property that replaces a stateful resource, not on one updated in place', () => {
    // Prepare
    const candidate = templateOf(['Name', 'Billing'], {
      Table: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          TableName: { Ref: 'Name' },
          BillingMode: { Ref: 'Billing' },
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        },
      },
    });
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([['Name', 'Table', 'TableName', 'yes', '']]);
    expect(found[0]).toMatchObject({ type: 'AWS::DynamoDB::Table', policy: 'Delete' });
  });

  it('finds the parameters of an Fn::Sub, not a variable the Sub gives itself, and those inside Fn::Join', () => {
    // Prepare
    const candidate = templateOf(['Prefix', 'Shadowed', 'Suffix'], {
      Stream: {
        Type: 'AWS::Kinesis::Stream',
        UpdateReplacePolicy: 'Retain',
        Properties: { Name: { 'Fn::Sub': ['${Prefix}-${Shadowed}-${AWS::Region}', { Shadowed: 'x' }] } },
      },
      Bucket: {
        Type: 'AWS::S3::Bucket',
        Properties: { BucketName: { 'Fn::Join': ['-', ['data', { Ref: 'Suffix' }]] } },
      },
    });
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([
      ['Prefix', 'Stream', 'Name', 'yes', ''],
      ['Suffix', 'Bucket', 'BucketName', 'yes', ''],
    ]);
    expect(found[0]?.policy).toBe('Retain');
  });

  it('finds the parameters of the condition of an Fn::If in a replacing property, and those of its branches', () => {
    // Prepare
    const candidate = templateOf(
      ['Stage', 'QueueName', 'Other'],
      {
        Queue: {
          Type: 'AWS::SQS::Queue',
          Properties: {
            FifoQueue: { 'Fn::If': ['IsProd', true, { Ref: 'AWS::NoValue' }] },
            QueueName: { 'Fn::If': ['IsProd', { Ref: 'QueueName' }, { Ref: 'AWS::NoValue' }] },
            // An Fn::If on a property that changes in place replaces nothing.
            DelaySeconds: { 'Fn::If': ['IsOther', 5, 0] },
          },
        },
      },
      {
        IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] },
        IsOther: { 'Fn::Equals': [{ Ref: 'Other' }, 'yes'] },
      },
    );
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([
      ['Stage', 'Queue', 'FifoQueue', 'yes', 'IsProd'],
      ['Stage', 'Queue', 'QueueName', 'yes', 'IsProd'],
      ['QueueName', 'Queue', 'QueueName', 'yes', ''],
    ]);
  });

  it('finds the parameters of a Condition that creates or deletes a stateful resource, through the conditions it names', () => {
    // Prepare
    const candidate = templateOf(
      ['Mode', 'TopicMode'],
      {
        Key: {
          Type: 'AWS::KMS::Key',
          Condition: 'CreatesKey',
          DeletionPolicy: 'Retain',
          Properties: { KeyPolicy: {} },
        },
        // A topic is not stateful: its Condition replaces nothing the spec calls data.
        Topic: { Type: 'AWS::SNS::Topic', Condition: 'HasTopic', Properties: {} },
      },
      {
        HasKey: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'Mode' }, 'NONE'] }] },
        CreatesKey: { 'Fn::And': [{ Condition: 'HasKey' }, { 'Fn::Equals': [{ Ref: 'Mode' }, 'CREATE'] }] },
        HasTopic: { 'Fn::Equals': [{ Ref: 'TopicMode' }, 'on'] },
      },
    );
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([
      ['Mode', 'Key', 'Condition CreatesKey', 'created or deleted', 'CreatesKey'],
    ]);
    expect(found[0]?.policy).toBe('Retain');
  });

  it('takes a replacing property below a shape that an Fn::If chooses, with that condition, and keeps the spec’s maybe', () => {
    // Prepare: the spec marks a global table's GlobalSecondaryIndexes.KeySchema.AttributeName as 'maybe', and
    // GlobalSecondaryIndexes itself as updated in place.
    const candidate = templateOf(
      ['KeyName', 'Layout'],
      {
        Global: {
          Type: 'AWS::DynamoDB::GlobalTable',
          Properties: {
            GlobalSecondaryIndexes: {
              'Fn::If': [
                'IsWide',
                [
                  {
                    IndexName: 'byKey',
                    KeySchema: [{ AttributeName: { Ref: 'KeyName' }, KeyType: 'HASH' }],
                    Projection: { ProjectionType: 'ALL' },
                  },
                ],
                { Ref: 'AWS::NoValue' },
              ],
            },
          },
        },
      },
      { IsWide: { 'Fn::Equals': [{ Ref: 'Layout' }, 'wide'] } },
    );
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([
      ['Layout', 'Global', 'GlobalSecondaryIndexes.KeySchema.AttributeName', 'maybe', 'IsWide'],
      ['KeyName', 'Global', 'GlobalSecondaryIndexes.KeySchema.AttributeName', 'maybe', ''],
      ['Layout', 'Global', 'GlobalSecondaryIndexes.KeySchema.KeyType', 'maybe', 'IsWide'],
      ['Layout', 'Global', 'GlobalSecondaryIndexes.Projection.ProjectionType', 'maybe', 'IsWide'],
    ]);
  });

  it('judges a SAM resource as the resource it becomes: a SimpleTable as a table, a function not at all', () => {
    // Prepare: the spec's SAM part marks a function's MemorySize as replacing; Lambda updates it in place.
    const candidate = templateOf(['Name', 'Memory'], {
      Simple: { Type: 'AWS::Serverless::SimpleTable', Properties: { TableName: { Ref: 'Name' } } },
      Function: {
        Type: 'AWS::Serverless::Function',
        Properties: { FunctionName: { Ref: 'Name' }, MemorySize: { Ref: 'Memory' } },
      },
    });
    // Act
    const found = findReplacements(candidate, spec);
    // Assess
    expect(rows(found)).toEqual([['Name', 'Simple', 'TableName', 'yes', '']]);
    expect(found[0]?.type).toBe('AWS::DynamoDB::Table');
  });

  it("takes the spec's additional replacement paths as replacing", () => {
    // Prepare: a spec whose queue lists RedrivePolicy among its additionalReplacementProperties.
    const withPath: TemplateSpec = {
      ...spec,
      resource: (type) => {
        const shape = spec.resource(type);
        return type === 'AWS::SQS::Queue' && shape
          ? { ...shape, replacementPaths: [['RedrivePolicy']] }
          : shape;
      },
    };
    const candidate = templateOf(['Receives'], {
      Queue: {
        Type: 'AWS::SQS::Queue',
        Properties: { RedrivePolicy: { deadLetterTargetArn: 'arn', maxReceiveCount: { Ref: 'Receives' } } },
      },
    });
    // Act
    const found = findReplacements(candidate, withPath);
    // Assess
    expect(rows(found)).toEqual([['Receives', 'Queue', 'RedrivePolicy', 'yes', '']]);
    expect(findReplacements(candidate, spec)).toEqual([]);
  });
});

/** The rows of the table under `heading` in a Markdown file, each as its cells without backticks. */
const markdownTable = (path: string, heading: string): string[][] => {
  const lines = readFileSync(path, 'utf8').split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`${path} has no heading ${heading}`);
  const first = lines.findIndex((line, index) => index > start && line.startsWith('|'));
  const table: string[][] = [];
  for (let index = first + 2; lines[index]?.startsWith('|'); index += 1) {
    table.push(
      lines[index]!.slice(1, -1)
        .split(' | ')
        .map((cell) => cell.replaceAll('`', '').trim()),
    );
  }
  return table;
};

describe('Template: the parameters whose change replaces a resource', () => {
  it('are the rows of the table in docs/operations.md, no more and no fewer', () => {
    // Prepare
    const documented = markdownTable(
      resolve(root, 'docs/operations.md'),
      '### Parameters whose change replaces a resource',
    );
    // Act
    const found = findReplacements(template, spec);
    // Assess
    expect(documented.map((cells) => cells.slice(0, 4))).toEqual(rows(found).map((row) => row.slice(0, 4)));
    for (const cells of documented) {
      expect(cells[4], `what ${cells[0]} loses`).not.toBe('');
      expect(cells[5], `the advice for ${cells[0]}`).not.toBe('');
    }
  });

  it('are KmsKeyMode only: PipelineKey, kept by its DeletionPolicy when KmsKeyMode leaves CREATE', () => {
    // Act
    const found = findReplacements(template, spec);
    // Assess
    expect(formatReplacements(found)).toEqual([
      'Parameters whose change replaces, creates or deletes a stateful resource (from the resource specification):',
      '  KmsKeyMode: PipelineKey (AWS::KMS::Key) Condition CreatesCustomerKey, created or deleted; deleting it leaves it in the account (DeletionPolicy Retain), out of the stack',
    ]);
  });
});
