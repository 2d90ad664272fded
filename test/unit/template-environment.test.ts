import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  environmentProblems,
  environmentSizeProblem,
  LAMBDA_ENVIRONMENT_MAX_BYTES,
  variableNameProblem,
} from '#local/template/environment.ts';
import { loadTemplate } from '#local/template/parse.ts';
import { defaultTemplateSpec } from '#local/template/spec.ts';
import { formatFinding, validateTemplate } from '#local/template/validate.ts';

const templatePath = resolve(import.meta.dirname, '../../template.yaml');
const template = loadTemplate(templatePath);

/** Variables whose JSON object takes exactly `bytes` bytes. */
const variablesOf = (bytes: number): Record<string, string> => {
  const empty = Buffer.byteLength(JSON.stringify({ PADDING: '' }));
  return { PADDING: 'x'.repeat(bytes - empty) };
};

describe('Function: variableNameProblem', () => {
  it.each(['AWS_REGION', 'AWS_ACCESS_KEY_ID', '_HANDLER', '_X_AMZN_TRACE_ID', 'LAMBDA_TASK_ROOT'])(
    'refuses %s, which Lambda reserves',
    (name) => {
      // Act / Assess
      expect(variableNameProblem(name)).toBe(
        `${name} is reserved by Lambda, which sets it itself: a function's configuration cannot set it (CreateFunction refuses the template's variables)`,
      );
    },
  );

  it.each(['A', '1ABC', 'TABLE-NAME', 'TABLE NAME', 'ÉVÉNEMENT', ''])(
    "refuses '%s', which is not a name Lambda takes",
    (name) => {
      // Act / Assess
      expect(variableNameProblem(name)).toBe(
        `'${name}' is not a variable name Lambda takes: a letter, then at least one more letter, digit or underscore`,
      );
    },
  );

  it.each(['TZ', 'LANG', 'NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'aws_region', 'x1'])(
    'takes %s',
    (name) => {
      // Act / Assess
      expect(variableNameProblem(name)).toBeUndefined();
    },
  );
});

describe('Function: environmentSizeProblem', () => {
  it('takes variables of exactly 4 KB, measured as their JSON object, and refuses one byte more', () => {
    // Act / Assess
    expect(environmentSizeProblem(variablesOf(LAMBDA_ENVIRONMENT_MAX_BYTES))).toBeUndefined();
    expect(environmentSizeProblem(variablesOf(LAMBDA_ENVIRONMENT_MAX_BYTES + 1))).toBe(
      'the variables take 4097 bytes as Lambda measures them (their JSON object), over its limit of 4096 (4 KB)',
    );
  });

  it('counts bytes of UTF-8, not characters', () => {
    // Prepare: 2,100 two-byte characters are under 4,096 characters and over 4,096 bytes.
    const variables = { NAME: 'é'.repeat(2_100) };
    // Act / Assess
    expect(JSON.stringify(variables).length).toBeLessThan(LAMBDA_ENVIRONMENT_MAX_BYTES);
    expect(environmentSizeProblem(variables)).toMatch(/^the variables take 4211 bytes/);
  });
});

describe('Function: environmentProblems', () => {
  it('names every refused name, then the size', () => {
    // Prepare
    const variables = { AWS_REGION: 'x', OK_NAME: 'y'.repeat(5_000), 'BAD-NAME': 'z' };
    // Act
    const problems = environmentProblems(variables);
    // Assess
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^AWS_REGION is reserved/);
    expect(problems[1]).toMatch(/^'BAD-NAME' is not a variable name/);
    expect(problems[2]).toMatch(/^the variables take \d+ bytes/);
    expect(environmentProblems({ TABLE_NAME: 'events', TZ: 'UTC' })).toEqual([]);
  });
});

describe('Template: function variables in validateTemplate', () => {
  const spec = defaultTemplateSpec();
  const validate = (candidate: typeof template) =>
    validateTemplate(candidate, { root: dirname(templatePath), spec }).map(formatFinding);

  it('reports reserved and malformed names in Globals and in each function, whatever the parameters', () => {
    // Prepare
    const candidate = structuredClone(template);
    const globals = candidate.Globals?.Function as { Environment: { Variables: Record<string, unknown> } };
    globals.Environment.Variables.AWS_DEFAULT_REGION = 'eu-west-1';
    const ingest = candidate.Resources.IngestFunction!.Properties as { Environment: { Variables: object } };
    Object.assign(ingest.Environment.Variables, { 'STREAM-NAME': { Ref: 'EventStream' } });
    // Act
    const findings = validate(candidate);
    // Assess
    expect(findings).toEqual([
      expect.stringMatching(
        /^Globals\.Function\.Environment\.Variables\.AWS_DEFAULT_REGION: AWS_DEFAULT_REGION is reserved by Lambda/,
      ),
      expect.stringMatching(
        /^IngestFunction\.Environment\.Variables\.STREAM-NAME: 'STREAM-NAME' is not a variable name Lambda takes/,
      ),
    ]);
  });

  it('reports variables over 4 KB once resolved, with Globals and the parameter defaults', () => {
    // Prepare: a parameter whose default fills the consumer's variables past 4 KB.
    const candidate = structuredClone(template);
    candidate.Parameters!.ProbePadding = {
      Type: 'String',
      Default: 'p'.repeat(4_000),
      Description: 'padding',
    };
    const consumer = candidate.Resources.ConsumerFunction!.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    consumer.Environment.Variables.PADDING = { Ref: 'ProbePadding' };
    // Act
    const findings = validate(candidate);
    // Assess
    expect(findings).toEqual([
      expect.stringMatching(
        /^ConsumerFunction\.Environment\.Variables: the variables take \d+ bytes as Lambda measures them \(their JSON object\), over its limit of 4096 \(4 KB\) \(with the parameter defaults\)$/,
      ),
    ]);
  });
});
