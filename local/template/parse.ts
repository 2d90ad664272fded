import { readFileSync } from 'node:fs';
import { type CollectionTag, parseDocument, type ScalarTag } from 'yaml';

/**
 * Parses a CloudFormation/SAM template, turning the short-form intrinsic tags (`!Ref`, `!GetAtt`, `!Sub`, …)
 * into their long form (`{ Ref: … }`, `{ 'Fn::GetAtt': […] }`), exactly as CloudFormation reads them.
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

const customTags: Array<ScalarTag | CollectionTag> = [
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
    const parsed = parseDocument(text, { customTags, uniqueKeys: true, prettyErrors: true });
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
