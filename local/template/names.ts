import { at, type Finding, finding, type Location } from './findings.ts';
import { branches, intrinsicName, isPlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';

/**
 * Names AWS would refuse: a resource name, literal or built with Fn::Sub or Fn::Join, whose literal parts hold a
 * character the service does not take, or are already longer than its limit. The stack name and the other values
 * substituted into a name are unknown here, so only what is certainly wrong is reported: a stack name counts as one
 * character, an account id as twelve, anything else as none, and only the literal parts' characters are checked.
 *
 * Sources: neither the specification nor the AWS SDK for JavaScript (whose schemas drop @length and @pattern) carries
 * these limits; they are the AWS API models' (as the services' API references print them, "Length Constraints" and
 * "Pattern" of each parameter), or the service's documentation where its model has none:
 * - Lambda CreateFunction FunctionName: "If you specify only the function name, it is limited to 64 characters";
 *   the name part of its pattern is [a-zA-Z0-9-_]+.
 * - SQS CreateQueue QueueName: "up to 80 characters", "alphanumeric characters, hyphens (-), and underscores (_)",
 *   "A FIFO queue name must end with the .fifo suffix" (within the 80).
 * - SNS CreateTopic Name: letters, numbers, underscores and hyphens, 1 to 256, ".fifo" for a FIFO topic.
 * - Kinesis CreateStream StreamName: 1-128, [a-zA-Z0-9_.-]+.
 * - DynamoDB CreateTable TableName: 3-255, [a-zA-Z0-9_.-]+.
 * - CloudWatch Logs CreateLogGroup logGroupName: 1-512, [\.\-_/#A-Za-z0-9]+.
 * - CloudWatch PutMetricAlarm AlarmName: 1-255, "can't contain ASCII control characters".
 * - IAM CreateRole RoleName: 1-64, [\w+=,.@-]+.
 * - KMS CreateAlias AliasName: 1-256, ^[a-zA-Z0-9:/_-]+$, beginning with alias/.
 * - S3 BucketName: the specification's own documentation ("only lowercase letters, numbers, periods (.), and dashes
 *   (-)") and https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (3-63 characters, begin
 *   and end with a letter or number, no two adjacent periods).
 */

interface NameRule {
  /** What the name is, for messages. */
  readonly what: string;
  readonly min: number;
  readonly max: number;
  /** One character the name may hold. */
  readonly char: RegExp;
  /** The characters, in words. */
  readonly chars: string;
  /** A property that makes the resource FIFO, whose name must then end with .fifo. */
  readonly fifo?: string;
  /** Begin and end with a letter or number, no two adjacent periods (S3). */
  readonly edges?: boolean;
  readonly prefix?: string;
}

const LAMBDA: NameRule = {
  what: 'Lambda function name',
  min: 1,
  max: 64,
  char: /[A-Za-z0-9_-]/,
  chars: 'letters, digits, hyphens and underscores',
};
const TABLE: NameRule = {
  what: 'DynamoDB table name',
  min: 3,
  max: 255,
  char: /[A-Za-z0-9_.-]/,
  chars: 'letters, digits, underscores, hyphens and periods',
};

export const NAME_RULES: Readonly<Record<string, NameRule>> = {
  'AWS::Lambda::Function.FunctionName': LAMBDA,
  'AWS::Serverless::Function.FunctionName': LAMBDA,
  'AWS::SQS::Queue.QueueName': {
    what: 'SQS queue name',
    min: 1,
    max: 80,
    char: /[A-Za-z0-9_-]/,
    chars: 'letters, digits, hyphens and underscores, and .fifo at the end of a FIFO queue',
    fifo: 'FifoQueue',
  },
  'AWS::SNS::Topic.TopicName': {
    what: 'SNS topic name',
    min: 1,
    max: 256,
    char: /[A-Za-z0-9_-]/,
    chars: 'letters, digits, hyphens and underscores, and .fifo at the end of a FIFO topic',
    fifo: 'FifoTopic',
  },
  'AWS::Kinesis::Stream.Name': {
    what: 'Kinesis stream name',
    min: 1,
    max: 128,
    char: /[A-Za-z0-9_.-]/,
    chars: 'letters, digits, underscores, hyphens and periods',
  },
  'AWS::DynamoDB::Table.TableName': TABLE,
  'AWS::Serverless::SimpleTable.TableName': TABLE,
  'AWS::Logs::LogGroup.LogGroupName': {
    what: 'log group name',
    min: 1,
    max: 512,
    char: /[A-Za-z0-9._/#-]/,
    chars: 'letters, digits, and . _ - / #',
  },
  'AWS::CloudWatch::Alarm.AlarmName': {
    what: 'alarm name',
    min: 1,
    max: 255,
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what AWS refuses
    char: /[^\u0000-\u001f\u007f]/,
    chars: 'no ASCII control characters',
  },
  'AWS::IAM::Role.RoleName': {
    what: 'IAM role name',
    min: 1,
    max: 64,
    char: /[\w+=,.@-]/,
    chars: 'letters, digits, and _ + = , . @ -',
  },
  'AWS::KMS::Alias.AliasName': {
    what: 'KMS alias name',
    min: 1,
    max: 256,
    char: /[A-Za-z0-9:/_-]/,
    chars: 'letters, digits, and : / _ -',
    prefix: 'alias/',
  },
  'AWS::S3::Bucket.BucketName': {
    what: 'S3 bucket name',
    min: 3,
    max: 63,
    char: /[a-z0-9.-]/,
    chars: 'lower-case letters, digits, periods and hyphens',
    edges: true,
  },
};

/** A literal piece of a name, or an unknown one of at least `min` characters. */
type Part = { readonly literal: string } | { readonly min: number };

/** The fewest characters a pseudo parameter stands for: a stack name has one at least, an account id twelve. */
const PSEUDO_MINIMUM: Readonly<Record<string, number>> = { 'AWS::StackName': 1, 'AWS::AccountId': 12 };

/** The ways a name value may be spelt once conditions are chosen, as parts; undefined when it cannot be told. */
const spellings = (value: unknown, parameters: Readonly<Record<string, unknown>>): Part[][] => {
  if (typeof value === 'string') return [[{ literal: value }]];
  const name = intrinsicName(value);
  const args = name !== undefined && isPlainObject(value) ? value[name] : undefined;
  if (name === 'Fn::If') return branches(value).flatMap((branch) => spellings(branch, parameters));
  if (name === 'Ref' && typeof args === 'string') {
    const parameter = parameters[args];
    if (isPlainObject(parameter) && typeof parameter.Default === 'string')
      return [[{ literal: parameter.Default }]];
    return [[{ min: PSEUDO_MINIMUM[args] ?? 0 }]];
  }
  if (name === 'Fn::Sub') {
    const [source, variables] = Array.isArray(args) ? args : [args, {}];
    if (typeof source !== 'string') return [];
    const map = isPlainObject(variables) ? variables : {};
    const parts: Part[] = [];
    let last = 0;
    for (const match of source.matchAll(/\$\{([^}]*)\}/g)) {
      parts.push({ literal: source.slice(last, match.index) });
      last = match.index + match[0].length;
      const inner = (match[1] ?? '').trim();
      if (inner.startsWith('!')) parts.push({ literal: `\${${inner.slice(1)}}` });
      else if (typeof map[inner] === 'string') parts.push({ literal: map[inner] as string });
      else parts.push({ min: PSEUDO_MINIMUM[inner] ?? 0 });
    }
    parts.push({ literal: source.slice(last) });
    // An empty literal beside a variable is no part: `${Name}` ends with what Name holds, not with "".
    return [parts.filter((part) => !('literal' in part) || part.literal !== '' || parts.length === 1)];
  }
  if (name === 'Fn::Join' && Array.isArray(args) && typeof args[0] === 'string' && Array.isArray(args[1])) {
    const delimiter = args[0];
    const parts: Part[] = [];
    args[1].forEach((element, index) => {
      if (index > 0) parts.push({ literal: delimiter });
      parts.push(typeof element === 'string' ? { literal: element } : { min: 0 });
    });
    return [parts];
  }
  return [];
};

const isTrue = (value: unknown): boolean => value === true || value === 'true';

/** "a Lambda function name", "an S3 bucket name". */
const an = (what: string): string => `${/^(?:[aeio]|S3|SQS|SNS|IAM)/.test(what) ? 'an' : 'a'} ${what}`;

/** Why a spelling of a name is one AWS refuses, or undefined. */
const nameProblems = (parts: readonly Part[], rule: NameRule, fifo: boolean): string[] => {
  const problems: string[] = [];
  const literals = parts.flatMap((part) => ('literal' in part ? [part.literal] : []));
  const whole = parts.every((part) => 'literal' in part) ? literals.join('') : undefined;
  const shown = whole ?? parts.map((part) => ('literal' in part ? part.literal : '…')).join('');
  const lastPart = parts.at(-1);
  const endsLiteral = lastPart !== undefined && 'literal' in lastPart ? lastPart.literal : undefined;
  if (rule.fifo !== undefined && fifo && endsLiteral !== undefined && !endsLiteral.endsWith('.fifo'))
    problems.push(
      `the name of a FIFO ${rule.what.replace(/ name$/, '')} ends with .fifo, got ${JSON.stringify(shown)}`,
    );
  // The .fifo suffix of a FIFO name is the one place its period may stand.
  const checked = parts.map((part, index) =>
    'literal' in part && fifo && index === parts.length - 1 && part.literal.endsWith('.fifo')
      ? part.literal.slice(0, -'.fifo'.length)
      : 'literal' in part
        ? part.literal
        : '',
  );
  const bad = [...new Set([...checked.join('')].filter((char) => !rule.char.test(char)))];
  if (bad.length > 0) {
    problems.push(
      `${JSON.stringify(shown)} holds ${bad.map((char) => JSON.stringify(char)).join(', ')}, which no ${rule.what} may hold: ${rule.chars}`,
    );
  }
  const least = parts.reduce((sum, part) => sum + ('literal' in part ? part.literal.length : part.min), 0);
  if (least > rule.max) {
    problems.push(
      `${JSON.stringify(shown)} is ${whole === undefined ? 'at least ' : ''}${least} characters, more than the ${rule.max} of ${an(rule.what)}`,
    );
  } else if (whole !== undefined && whole.length < rule.min) {
    problems.push(
      `${JSON.stringify(shown)} is shorter than the ${rule.min} characters ${an(rule.what)} needs`,
    );
  }
  const first = parts[0];
  const startsLiteral = first !== undefined && 'literal' in first ? first.literal : undefined;
  if (rule.prefix !== undefined && startsLiteral !== undefined) {
    const known = whole ?? startsLiteral;
    const decided = whole !== undefined || startsLiteral.length >= rule.prefix.length;
    if (decided && !known.startsWith(rule.prefix))
      problems.push(`${an(rule.what)} begins with ${rule.prefix}, got ${JSON.stringify(shown)}`);
  }
  if (rule.edges) {
    if (
      (startsLiteral && !/^[a-z0-9]/.test(startsLiteral)) ||
      (endsLiteral && !/[a-z0-9]$/.test(endsLiteral))
    )
      problems.push(`${an(rule.what)} begins and ends with a letter or digit, got ${JSON.stringify(shown)}`);
    if (literals.some((literal) => literal.includes('..')))
      problems.push(`${an(rule.what)} has no two adjacent periods, got ${JSON.stringify(shown)}`);
  }
  return problems;
};

/** Every named resource's name against the rules of its service. */
export const checkNames = (template: Template): Finding[] => {
  const findings: Finding[] = [];
  const parameters = template.Parameters ?? {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || !isPlainObject(resource.Properties)) continue;
    const properties = resource.Properties;
    for (const [property, value] of Object.entries(properties)) {
      const rule = NAME_RULES[`${String(resource.Type)}.${property}`];
      if (rule === undefined) continue;
      const location: Location = at({ resource: logicalId, path: '' }, property);
      const fifo = rule.fifo !== undefined && isTrue(properties[rule.fifo]);
      const problems = spellings(value, parameters).flatMap((parts) => nameProblems(parts, rule, fifo));
      for (const problem of new Set(problems)) findings.push(finding(location, problem));
    }
  }
  return findings;
};
