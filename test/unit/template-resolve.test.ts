import { describe, expect, it } from 'vitest';
import { planStack } from '#local/stack.ts';
import { loadTemplate, parseTemplate, type Template } from '#local/template/parse.ts';
import {
  evaluateConditions,
  parseParameterOverrides,
  pseudoParameters,
  type ResolveContext,
  resolveParameters,
  resolveValue,
  TemplateResolveError,
} from '#local/template/resolve.ts';

const options = {
  region: 'us-east-1',
  accountId: '000000000000',
  stackName: 'local',
  endpoint: 'http://127.0.0.1:4566',
};

const context = (overrides: Partial<ResolveContext> = {}): ResolveContext => ({
  parameters: { Mode: 'PROVISIONED', Count: '2', List: 'a,b,c' },
  conditions: { IsProvisioned: true, IsOther: false },
  resources: {
    Stream: {
      ref: 'local-Stream',
      attributes: { Arn: 'arn:aws:kinesis:us-east-1:000000000000:stream/local-Stream' },
    },
  },
  pseudo: pseudoParameters('us-east-1', '000000000000', 'local'),
  ...overrides,
});

describe('Local runtime: template resolution', () => {
  describe('YAML', () => {
    it.each([
      ['yes', true],
      ['Off', false],
      ['on', true],
      ['NO', false],
      ['y', 'y'],
      ['010', 8],
      ['1_000', 1000],
      ['1:20', 80],
      ['012345678901', '012345678901'],
      ["'010'", '010'],
      ['0o10', '0o10'],
      ['2012-10-17', '2012-10-17'],
    ])(
      'reads the plain scalar %s as YAML 1.1 does, as CloudFormation and sam deploy read it',
      (text, expected) => {
        // Act
        const template = parseTemplate(`Resources: {}\nMetadata: {Value: ${text}}`) as Template & {
          Metadata: { Value: unknown };
        };
        // Assess
        expect(template.Metadata.Value).toEqual(expected);
      },
    );

    it('reads the short-form tags, !GetAtt splitting at its first dot', () => {
      // Act
      const template = parseTemplate(`
Resources: {}
Metadata:
  - !Ref A
  - !GetAtt A.B.C
  - !If [C, !Sub '\${A}', !Ref AWS::NoValue]
  - !Equals [!Ref A, 1]
  - !Sub |
      line \${A}
      next
`) as Template & { Metadata: unknown[] };
      // Assess
      expect(template.Metadata).toEqual([
        { Ref: 'A' },
        { 'Fn::GetAtt': ['A', 'B.C'] },
        { 'Fn::If': ['C', { 'Fn::Sub': '${A}' }, { Ref: 'AWS::NoValue' }] },
        { 'Fn::Equals': [{ Ref: 'A' }, 1] },
        { 'Fn::Sub': 'line ${A}\nnext\n' },
      ]);
    });
  });

  describe('parameter overrides', () => {
    it.each([
      ['A=1 B=two', { A: '1', B: 'two' }],
      [
        'ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue=x y'.replace('x y', '"x y"'),
        { A: '1', B: 'x y' },
      ],
      ['A="with space" B=\'q\'', { A: 'with space', B: 'q' }],
      ['A=a=b', { A: 'a=b' }],
      ['A=with\\ space', { A: 'with space' }],
      ['A="say \\"hi\\"" B=it\'s', { A: 'say "hi"', B: "it's" }],
      ['A=x,y', { A: 'x,y' }],
      ['A=""', { A: '' }],
      ['', {}],
    ])('parses %s', (text, expected) => {
      expect(parseParameterOverrides(text)).toEqual(expected);
    });

    it('refuses a token without =', () => {
      expect(() => parseParameterOverrides('A=1 B')).toThrow(
        "parameter override 'B' is not of the form Key=Value",
      );
    });
  });

  describe('parameters', () => {
    const template = loadTemplate('template.yaml');

    it.each(['48', '48.0', '4.8e1', '+48'])('takes a decimal Number, as %s', (value) => {
      expect(resolveParameters(template, { RetentionHours: value }).RetentionHours).toBe(value);
    });

    it('takes defaults and overrides', () => {
      // Act
      const values = resolveParameters(template, { ShardCount: '4' });
      // Assess
      expect(values.ShardCount).toBe('4');
      expect(values.StreamMode).toBe('PROVISIONED');
    });

    it.each([
      [{ StreamMode: 'FAST' }, "parameter StreamMode='FAST' must be one of PROVISIONED, ON_DEMAND"],
      [{ RetentionHours: '12' }, "parameter RetentionHours='12' must be at least 24"],
      [{ RetentionHours: 'x' }, "parameter RetentionHours='x' must be a number"],
      [{ RetentionHours: '0x30' }, "parameter RetentionHours='0x30' must be a number"],
      [{ RetentionHours: ' 48' }, "parameter RetentionHours=' 48' must be a number"],
      [{ KmsKeyArn: 'nope' }, "parameter KmsKeyArn='nope' does not match"],
      [{ Unknown: '1' }, 'unknown parameter: Unknown'],
    ])('refuses %j', (overrides, message) => {
      expect(() => resolveParameters(template, overrides)).toThrow(message);
    });
  });

  it('masks the value of a NoEcho parameter in its error', () => {
    // Prepare
    const template = parseTemplate(`
Parameters:
  Secret: {Type: String, Default: abcd, NoEcho: true, MinLength: 4}
Resources: {}
`);
    // Act
    const act = () => resolveParameters(template, { Secret: 'abc' });
    // Assess
    expect(act).toThrow("parameter Secret='*****' is shorter than 4");
  });

  describe('list parameters', () => {
    const template = parseTemplate(`
Parameters:
  Origins: {Type: CommaDelimitedList, Default: 'a, b ,c'}
  Ports: {Type: List<Number>, Default: '80,443'}
  Stages: {Type: CommaDelimitedList, Default: 'dev,prod', AllowedValues: [dev, test, prod]}
  Names: {Type: CommaDelimitedList, Default: 'ab,cd', AllowedPattern: '[a-z]+'}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Runtime: nodejs24.x
      Environment:
        Variables:
          JOINED: !Join [':', !Ref Origins]
          SECOND: !Select [1, !Ref Origins]
          PORT: !Select ['1', !Ref Ports]
`);

    it('gives the Ref of a CommaDelimitedList or List<Number> as a list of space-trimmed members', () => {
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.functions.Fn!.environment).toEqual({ JOINED: 'a:b:c', SECOND: 'b', PORT: '443' });
    });

    it('refuses Fn::Sub of a list parameter, as CloudFormation does', () => {
      // Prepare
      const broken: Template = structuredClone(template);
      broken.Resources.Fn!.Properties!.Description = { 'Fn::Sub': '${Origins}' };
      // Act
      const act = () => planStack(broken, options);
      // Assess
      expect(act).toThrow('Resources.Fn.Properties.Description: Fn::Sub needs a string for Origins');
    });

    it.each([
      [{ Stages: 'prod, dev' }, undefined],
      [
        { Stages: 'dev,staging' },
        "parameter Stages='dev,staging' has a member that is not one of dev, test, prod",
      ],
      [{ Names: 'xy, z' }, undefined],
      [{ Names: 'xy,Z' }, "parameter Names='xy,Z' has a member that does not match [a-z]+"],
      [{ Ports: '80, 8080' }, undefined],
      [{ Ports: '80,http' }, "parameter Ports='80,http' must be numbers separated by commas"],
    ])('checks each member of a list against its constraints: %j', (overrides, message) => {
      const act = () => resolveParameters(template, overrides);
      if (message === undefined) expect(act).not.toThrow();
      else expect(act).toThrow(message);
    });
  });

  describe('intrinsic functions', () => {
    it.each([
      [{ Ref: 'Count' }, '2'],
      [{ Ref: 'Stream' }, 'local-Stream'],
      [{ Ref: 'AWS::Region' }, 'us-east-1'],
      [{ 'Fn::GetAtt': ['Stream', 'Arn'] }, 'arn:aws:kinesis:us-east-1:000000000000:stream/local-Stream'],
      [{ 'Fn::Sub': '${Stream}/${AWS::AccountId}/${!Literal}' }, 'local-Stream/000000000000/${Literal}'],
      [{ 'Fn::Sub': '${Stream.Arn}' }, 'arn:aws:kinesis:us-east-1:000000000000:stream/local-Stream'],
      [{ 'Fn::Sub': ['${X}-${Mode}', { X: { Ref: 'Count' } }] }, '2-PROVISIONED'],
      [{ 'Fn::If': ['IsProvisioned', 'yes', 'no'] }, 'yes'],
      [{ 'Fn::Select': [1, { 'Fn::Split': [',', { Ref: 'List' }] }] }, 'b'],
      [{ 'Fn::Join': ['-', ['a', { Ref: 'Count' }]] }, 'a-2'],
      [{ 'Fn::Equals': [{ Ref: 'Mode' }, 'PROVISIONED'] }, true],
      [{ 'Fn::Not': [{ Condition: 'IsOther' }] }, true],
      [{ 'Fn::And': [{ Condition: 'IsProvisioned' }, { Condition: 'IsOther' }] }, false],
      [{ 'Fn::Or': [{ Condition: 'IsProvisioned' }, { Condition: 'IsOther' }] }, true],
    ])('resolves %j', (value, expected) => {
      expect(resolveValue(value, context(), 'Test')).toEqual(expected);
    });

    it('drops AWS::NoValue from maps and lists', () => {
      // Act
      const value = resolveValue(
        {
          Keep: 1,
          Drop: { 'Fn::If': ['IsOther', 'x', { Ref: 'AWS::NoValue' }] },
          List: ['a', { 'Fn::If': ['IsOther', 'b', { Ref: 'AWS::NoValue' }] }],
        },
        context(),
        'Test',
      );
      // Assess
      expect(value).toEqual({ Keep: 1, List: ['a'] });
    });

    it.each([
      [{ Ref: 'Nothing' }, "Test.A: Ref 'Nothing' names no parameter or resource"],
      [{ 'Fn::GetAtt': ['Stream', 'Nope'] }, "attribute 'Nope' of Stream is not available locally"],
      [{ 'Fn::If': ['Missing', 1, 2] }, "condition 'Missing' is not defined"],
      [{ 'Fn::ImportValue': 'x' }, 'Test.A: Fn::ImportValue is not supported by the local runtime'],
    ])('names the place of an unresolvable %j', (value, message) => {
      const act = () => resolveValue({ A: value }, context(), 'Test');
      expect(act).toThrow(TemplateResolveError);
      expect(act).toThrow(message);
    });

    it.each([
      [{ 'Fn::And': [{ Condition: 'IsProvisioned' }] }, 'Fn::And takes a list of 2 to 10 conditions'],
      [{ 'Fn::Or': Array(11).fill({ Condition: 'IsOther' }) }, 'Fn::Or takes a list of 2 to 10 conditions'],
      [
        { 'Fn::Not': [{ Condition: 'IsOther' }, { Condition: 'IsOther' }] },
        'Fn::Not takes a list of 1 condition',
      ],
      [{ 'Fn::Equals': ['a'] }, 'Fn::Equals takes a list of 2 values'],
    ])('refuses %j, as CloudFormation does', (value, message) => {
      expect(() => resolveValue(value, context(), 'Test')).toThrow(`Test: ${message}`);
    });

    it.each([
      [['1', 1], true],
      [['true', true], true],
      [['1.0', 1], false],
    ])('compares the values of Fn::Equals %j as strings', (values, expected) => {
      expect(resolveValue({ 'Fn::Equals': values }, context(), 'Test')).toBe(expected);
    });

    it('evaluates conditions that depend on other conditions', () => {
      // Prepare
      const template = parseTemplate(`
Resources: {}
Conditions:
  B: !Not [!Condition A]
  A: !Equals [!Ref P, x]
`);
      // Act
      const conditions = evaluateConditions(template, { P: 'x' }, {});
      // Assess
      expect(conditions).toEqual({ A: true, B: false });
    });
  });

  describe('SAM Globals', () => {
    const withGlobals = (own: string, attributes = '') =>
      parseTemplate(`
Parameters:
  Level: {Type: String, Default: INFO}
Globals:
  Function:
    Runtime: nodejs24.x
    Timeout: 10
    Layers: [arn:aws:lambda:us-east-1:000000000000:layer:a:1]
    Environment:
      Variables:
        LEVEL: !Ref Level
        SHARED: global
Resources:
  Fn:
    Type: AWS::Serverless::Function${attributes}
    Properties:
      Handler: index.handler
${own}
`);

    it("keeps a function's own intrinsic function over the global one, as SAM takes an intrinsic as a single value", () => {
      // Prepare
      const template = withGlobals(`      Environment:
        Variables:
          LEVEL: !Sub '\${Level}-own'`);
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.functions.Fn!.environment).toEqual({ LEVEL: 'INFO-own', SHARED: 'global' });
    });

    it("appends a function's own list to the global one, as SAM does", () => {
      // Prepare
      const template = withGlobals('      Layers: [arn:aws:lambda:us-east-1:000000000000:layer:b:1]');
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.resources.Fn!.properties.Layers).toEqual([
        'arn:aws:lambda:us-east-1:000000000000:layer:a:1',
        'arn:aws:lambda:us-east-1:000000000000:layer:b:1',
      ]);
    });

    it.each([
      ["'*'", { timeoutSeconds: 3, environment: {} }],
      ['[Timeout]', { timeoutSeconds: 3, environment: { LEVEL: 'INFO', SHARED: 'global' } }],
    ])('leaves out the Globals that IgnoreGlobals: %s names', (ignore, expected) => {
      // Prepare
      const template = withGlobals('', `\n    IgnoreGlobals: ${ignore}`);
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.functions.Fn).toMatchObject(expected);
    });
  });

  describe("a function's LoggingConfig", () => {
    it.each([
      {
        case: 'LogFormat JSON, with its ApplicationLogLevel',
        config: '{LogFormat: JSON, ApplicationLogLevel: warn}',
        jsonLogs: { applicationLogLevel: 'WARN' },
      },
      {
        case: 'LogFormat JSON, at INFO by default',
        config: '{LogFormat: JSON}',
        jsonLogs: { applicationLogLevel: 'INFO' },
      },
      { case: 'LogFormat Text', config: '{LogFormat: Text}', jsonLogs: undefined },
    ])('plans $case', ({ config, jsonLogs }) => {
      // Prepare
      const template = parseTemplate(`
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Handler: index.handler, Runtime: nodejs24.x, LoggingConfig: ${config}}
`);
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.functions.Fn!.jsonLogs).toEqual(jsonLogs);
    });
  });

  describe('planning the stack from template.yaml', () => {
    const template = loadTemplate('template.yaml');

    it('names resources and gives each function its environment, Globals included', () => {
      // Act
      const stack = planStack(template, options);
      // Assess
      expect(stack.resources.EventStream!.refs.ref).toBe('local-EventStream');
      const ingest = stack.functions.IngestFunction!;
      expect(stack.functions.ConsumerFunction!.roleArn).toBe(
        stack.resources.ConsumerFunctionRole!.refs.attributes.Arn,
      );
      expect(ingest).toMatchObject({
        handler: 'handler.handler',
        runtime: 'nodejs24.x',
        timeoutSeconds: 10,
        memoryMb: 512,
        // Globals' Tracing: Active, which samples its invocations (Sampled=1 in _X_AMZN_TRACE_ID)
        tracing: 'Active',
        // Its LoggingConfig's log group, which Lambda gives the function as AWS_LAMBDA_LOG_GROUP_NAME
        logGroupName: stack.resources.IngestFunctionLogs!.refs.ref,
      });
      expect(ingest.environment).toMatchObject({
        STREAM_NAME: 'local-EventStream',
        MAX_RECORD_SIZE_KIB: '1024',
        POWERTOOLS_SERVICE_NAME: 'ingest',
        POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
      expect(ingest.events).toContainEqual(
        expect.objectContaining({
          type: 'HttpApi',
          properties: expect.objectContaining({ Method: 'POST', Path: '/events' }),
        }),
      );
    });

    it('applies parameter overrides and conditions', () => {
      // Act
      const stack = planStack(template, {
        ...options,
        parameterOverrides: { StreamMode: 'ON_DEMAND', LogLevel: 'DEBUG' },
      });
      // Assess
      expect(stack.resources.EventStream!.properties.ShardCount).toBeUndefined();
      expect(stack.functions.IngestFunction!.environment.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
    });

    it('refuses a resource type it cannot run, naming the resource', () => {
      // Prepare
      const broken: Template = structuredClone(template);
      broken.Resources.Cluster = { Type: 'AWS::ECS::Cluster', Properties: {} };
      // Act
      const act = () => planStack(broken, options);
      // Assess
      expect(act).toThrow('Resources.Cluster: type AWS::ECS::Cluster is not supported by the local runtime');
    });
  });
});
