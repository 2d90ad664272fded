import { readFileSync } from 'node:fs';
import { type CollectionTag, parseDocument, Scalar, type ScalarTag, type Tags } from 'yaml';

/**
 * Parses a CloudFormation/SAM template, turning the short-form intrinsic tags (`!Ref`, `!GetAtt`, `!Sub`, …)
 * into their long form (`{ Ref: … }`, `{ 'Fn::GetAtt': […] }`), exactly as CloudFormation reads them, and reading
 * plain scalars as YAML 1.1, which CloudFormation supports (its User Guide, "Template format").
 */

export type TemplateValue = unknown;

export interface Template {
  AWSTemplateFormatVersion?: string;
  Transform?: string | string[];
  Description?: string;
  Parameters?: Record<string, Record<string, unknown>>;
  Mappings?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, TemplateValue>;
  /** Parameter checks CloudFormation makes before it creates or updates the stack. */
  Rules?: Record<string, TemplateValue>;
  Globals?: Record<string, Record<string, unknown>>;
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, Record<string, unknown>>;
}

export interface TemplateResource {
  Type: string;
  Condition?: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

const FUNCTIONS = [
  'And',
  'Base64',
  'Cidr',
  'Equals',
  'FindInMap',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Not',
  'Or',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'ToJsonString',
  'Length',
] as const;

const longName = (name: string): string => (name === 'Condition' ? 'Condition' : `Fn::${name}`);

const tagsFor = (name: string): Array<ScalarTag | CollectionTag> => [
  { tag: `!${name}`, resolve: (value: string) => ({ [longName(name)]: value }) },
  {
    tag: `!${name}`,
    collection: 'seq',
    resolve: (value) => ({ [longName(name)]: (value as { toJSON(): unknown }).toJSON() }),
  },
  {
    tag: `!${name}`,
    collection: 'map',
    resolve: (value) => ({ [longName(name)]: (value as { toJSON(): unknown }).toJSON() }),
  },
];

const intrinsicTags: Array<ScalarTag | CollectionTag> = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  // `!GetAtt A.B` is short for `Fn::GetAtt: [A, B]`; only the first dot separates the resource.
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  {
    tag: '!GetAtt',
    collection: 'seq',
    resolve: (value) => ({ 'Fn::GetAtt': (value as { toJSON(): unknown }).toJSON() }),
  },
  ...FUNCTIONS.flatMap(tagsFor),
  ...tagsFor('Condition'),
];

/**
 * YAML 1.1 booleans as PyYAML reads them (yes/no, on/off, true/false, in lower, title or upper case), not the
 * single letters y/n that the YAML 1.1 type repository also lists.
 */
const bool = (value: boolean, test: RegExp): ScalarTag => ({
  tag: 'tag:yaml.org,2002:bool',
  default: true,
  identify: (v) => v === value,
  test,
  resolve: () => new Scalar(value),
});
const BOOLEANS = [
  bool(true, /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/),
  bool(false, /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/),
];

/** The YAML 1.1 tags CloudFormation does not take ("Template format": binary, omap, pairs, set, timestamp). */
const UNSUPPORTED = /^tag:yaml\.org,2002:(?:binary|omap|pairs|set|timestamp|bool)$/;

/**
 * YAML 1.1's decimal integer has no leading zero: 012345678901 (not octal, for its 8 and 9) is text, as PyYAML reads
 * it, where the yaml package would read the number 12345678901 and lose an account ID's zero.
 */
const decimalWithoutLeadingZero = (tag: Tags[number]): Tags[number] =>
  typeof tag === 'object' &&
  !('collection' in tag && tag.collection) &&
  tag.tag === 'tag:yaml.org,2002:int' &&
  (tag as ScalarTag).test?.source === '^[-+]?[0-9][0-9_]*$'
    ? { ...(tag as ScalarTag), test: /^[-+]?(?:0|[1-9][0-9_]*)$/ }
    : tag;

/**
 * The scalars of a template are read as YAML 1.1, as CloudFormation and `sam deploy` (PyYAML) read them: `yes`, `on`
 * and `off` are booleans, 010 is octal (8), 1_000 is 1000 and 1:20 is sexagesimal (80); under YAML 1.2 they were
 * the text `yes`, 10, and text. A date stays text: CloudFormation has no timestamp type.
 */
const customTags = (tags: Tags): Tags => [
  ...tags
    .filter((tag) => typeof tag !== 'object' || !UNSUPPORTED.test(tag.tag))
    .map(decimalWithoutLeadingZero),
  ...BOOLEANS,
  ...intrinsicTags,
];

export class TemplateParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateParseError';
  }
}

/** Parses template text; throws TemplateParseError with the YAML error's position. */
export const parseTemplate = (text: string, source = 'template.yaml'): Template => {
  let document: unknown;
  try {
    const parsed = parseDocument(text, {
      version: '1.1',
      customTags,
      uniqueKeys: true,
      prettyErrors: true,
    });
    const [error] = parsed.errors;
    if (error) throw error;
    // A tag that is no intrinsic function (`!GetAZ`, `!Refs`) would be kept as plain text; CloudFormation
    // refuses the template.
    const unknownTag = parsed.warnings.find((warning) => warning.code === 'TAG_RESOLVE_FAILED');
    if (unknownTag) throw unknownTag;
    document = parsed.toJS({ maxAliasCount: -1 });
  } catch (error) {
    throw new TemplateParseError(`${source}: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new TemplateParseError(`${source}: a template must be a YAML mapping`);
  }
  const template = document as Template;
  if (typeof template.Resources !== 'object' || template.Resources === null) {
    throw new TemplateParseError(`${source}: the template has no Resources section`);
  }
  return template;
};

export const loadTemplate = (path: string): Template => parseTemplate(readFileSync(path, 'utf8'), path);
