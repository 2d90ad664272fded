import { nearest } from './edit-distance.ts';
import { at, type Finding, finding, type Location } from './findings.ts';
import { intrinsicName, isNoValue, isPlainObject, kindOf, type PlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';
import { LIST_PARAMETER_TYPE } from './resolve.ts';
import { SAM_GLOBALS } from './sam-spec-overlay.ts';
import type { Bounds, Property, PropertyType, TemplateSpec } from './spec.ts';

/**
 * Rule 1 and 2: every resource type, property name, required property and literal value type against the
 * resource specification (SAM resources and their function events included), and the Globals section; the
 * enumerations and ranges of the spec and of its overlay, for literals and for the values a parameter lets through.
 */

const RESOURCE_KEYS = new Set([
  'Type',
  'Properties',
  'Condition',
  'DependsOn',
  'Metadata',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'UpdatePolicy',
  'CreationPolicy',
]);
// SAM resource attributes: embedded connectors and opting out of Globals.
const SAM_RESOURCE_KEYS = new Set(['Connectors', 'IgnoreGlobals']);
const SAM_PREFIX = 'AWS::Serverless::';

const describe = (type: PropertyType, spec: TemplateSpec): string => {
  switch (type.type) {
    case 'array':
      return `a list of ${describe(type.element, spec)}`;
    case 'map':
      return `a map of ${describe(type.element, spec)}`;
    case 'ref':
      return spec.definition(type).name;
    case 'union':
      return type.types.map((member) => describe(member, spec)).join(' | ');
    default:
      return type.type;
  }
};

/** A nearest-name hint for typos (edit distance ≤ 3). */
const closest = (name: string, candidates: readonly string[]): string | undefined => {
  const best = nearest(name, candidates);
  return best !== undefined && best.score <= 3 ? best.name : undefined;
};

/** ` (did you mean …?)` naming the candidate nearest a misspelt name, or nothing when none is near. */
const didYouMean = (name: string, candidates: readonly string[]): string => {
  const hint = closest(name, candidates);
  return hint ? ` (did you mean ${hint}?)` : '';
};

/** Each key of a map that is not one of `keys`, reported as an unknown `what` key with the nearest it takes. */
const checkKeys = (
  checker: SchemaChecker,
  map: PlainObject,
  keys: readonly string[],
  location: Location,
  what: string,
): void => {
  for (const key of Object.keys(map)) {
    if (!keys.includes(key)) checker.report(at(location, key), `unknown ${what} key${didYouMean(key, keys)}`);
  }
};

/** A value outside an enumeration; a long one (Lambda's runtimes) is named by its nearest member only. */
const notOneOf = (value: string, allowed: readonly string[]): string => {
  if (allowed.length <= 12) return `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`;
  // A value missing its suffix (nodejs24 for nodejs24.x) is named by the shortest value it begins.
  const hint =
    allowed.filter((candidate) => candidate.startsWith(value)).sort((a, b) => a.length - b.length)[0] ??
    closest(value, allowed);
  return `${JSON.stringify(value)} is not a value AWS takes${hint ? ` (did you mean ${hint}?)` : ''}`;
};

const rangeOf = (minimum: number | undefined, maximum: number | undefined): string =>
  minimum === undefined
    ? `at most ${maximum}`
    : maximum === undefined
      ? `at least ${minimum}`
      : `from ${minimum} to ${maximum}`;

/** Whether a type carries an enumeration or a range to check a parameter's values against. */
const isConstrained = (type: PropertyType): boolean =>
  type.type === 'array'
    ? isConstrained(type.element)
    : ((type.type === 'string' || type.type === 'integer') && type.allowedValues !== undefined) ||
      (type as Bounds).minimum !== undefined ||
      (type as Bounds).maximum !== undefined;

class SchemaChecker {
  readonly findings: Finding[] = [];
  readonly spec: TemplateSpec;
  /** The template's parameters: the values they let through stand for a `Ref` to them. */
  readonly parameters: Readonly<Record<string, unknown>>;

  constructor(spec: TemplateSpec, parameters: Readonly<Record<string, unknown>> = {}) {
    this.spec = spec;
    this.parameters = parameters;
  }

  report(location: Location, message: string): void {
    this.findings.push(finding(location, message));
  }

  /** Checks an object's keys against `properties`; `inherited` names keys supplied elsewhere (SAM Globals). */
  checkProperties(
    value: unknown,
    properties: Readonly<Record<string, Property>>,
    owner: string,
    location: Location,
    inherited: ReadonlySet<string> = new Set(),
    checkRequired = true,
  ): void {
    if (intrinsicName(value) !== undefined) {
      this.checkIntrinsic(value as PlainObject, (branch) => {
        this.checkProperties(branch, properties, owner, location, inherited, checkRequired);
      });
      return;
    }
    if (!isPlainObject(value)) {
      this.report(location, `expected ${owner} (a map), got ${kindOf(value)}`);
      return;
    }
    const names = Object.keys(properties);
    const event = this.eventType(value, properties, location);
    for (const [key, child] of Object.entries(value)) {
      const property = properties[key];
      if (!property) {
        this.report(at(location, key), `unknown property of ${owner}${didYouMean(key, names)}`);
        continue;
      }
      if (key === 'Properties' && event !== undefined) {
        if (event !== null) this.checkValue(child, event, at(location, key));
        continue;
      }
      this.checkValue(child, property.type, at(location, key));
    }
    if (!checkRequired) return;
    for (const [name, property] of Object.entries(properties)) {
      if (property.required && !(name in value) && !inherited.has(name)) {
        this.report(at(location, name), `required property of ${owner} is missing`);
      }
    }
  }

  /**
   * A SAM event (`{ Type, Properties }` whose Properties is a union of event types) is checked against the event
   * type named `<Type>Event`, the spec's naming of SAM event source types. Returns that type, null when the Type
   * is unknown (and reported), or undefined when the object is not such an event.
   */
  eventType(
    value: PlainObject,
    properties: Readonly<Record<string, Property>>,
    location: Location,
  ): PropertyType | null | undefined {
    const propertiesType = properties.Properties?.type;
    if (!properties.Type || propertiesType?.type !== 'union' || typeof value.Type !== 'string')
      return undefined;
    const events = propertiesType.types.filter((member) => member.type === 'ref');
    if (events.length === 0) return undefined;
    const event = events.find((member) => this.spec.definition(member).name === `${value.Type}Event`);
    if (event) return event;
    const known = events.map((member) => this.spec.definition(member).name.replace(/Event$/, ''));
    this.report(at(location, 'Type'), `unknown event type ${value.Type} (known: ${known.join(', ')})`);
    return null;
  }

  /**
   * A `Ref` to a parameter stands for the values the parameter lets through: its Default, its AllowedValues, its
   * MinValue and MaxValue are checked against the property's enumeration or range, so that a value the parameter
   * accepts is one CloudFormation will too.
   */
  checkParameter(value: PlainObject, type: PropertyType, location: Location): void {
    const name = value.Ref;
    const parameter = typeof name === 'string' ? this.parameters[name] : undefined;
    if (!isPlainObject(parameter) || !isConstrained(type)) return;
    const isList = typeof parameter.Type === 'string' && LIST_PARAMETER_TYPE.test(parameter.Type);
    const candidates: Array<[string, unknown]> = [
      ['Default', parameter.Default],
      ...(Array.isArray(parameter.AllowedValues)
        ? parameter.AllowedValues.map((allowed): [string, unknown] => ['AllowedValues', allowed])
        : []),
      ['MinValue', parameter.MinValue],
      ['MaxValue', parameter.MaxValue],
    ];
    for (const [key, candidate] of candidates) {
      if (candidate === undefined) continue;
      const checker = new SchemaChecker(this.spec);
      checker.checkValue(isList ? String(candidate).split(',') : candidate, type, location);
      for (const item of checker.findings) {
        this.findings.push({ ...item, message: `${item.message} (parameter ${String(name)}'s ${key})` });
      }
    }
  }

  /** `Fn::If` branches are checked against the expected type; `AWS::NoValue` stands for an absent value. */
  checkIntrinsic(value: PlainObject, checkBranch: (branch: unknown) => void): void {
    if (intrinsicName(value) !== 'Fn::If') return;
    const args = value['Fn::If'];
    if (!Array.isArray(args) || args.length !== 3) return;
    for (const branch of args.slice(1)) if (!isNoValue(branch)) checkBranch(branch);
  }

  checkValue(value: unknown, type: PropertyType, location: Location): void {
    if (intrinsicName(value) !== undefined) {
      this.checkParameter(value as PlainObject, type, location);
      this.checkIntrinsic(value as PlainObject, (branch) => this.checkValue(branch, type, location));
      return;
    }
    switch (type.type) {
      case 'string':
      case 'date-time':
        if (!['string', 'number', 'boolean'].includes(typeof value)) {
          this.report(location, `expected ${type.type}, got ${kindOf(value)}`);
          return;
        }
        if (type.type === 'string' && type.allowedValues && !type.allowedValues.includes(String(value))) {
          this.report(location, notOneOf(String(value), type.allowedValues));
        }
        return;
      case 'number':
      case 'integer': {
        const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
        if (typeof number !== 'number' || Number.isNaN(number)) {
          this.report(location, `expected ${type.type}, got ${kindOf(value)}`);
          return;
        }
        if (type.type === 'integer' && !Number.isInteger(number)) {
          this.report(location, `expected integer, got ${kindOf(value)}`);
          return;
        }
        if (type.type === 'integer' && type.allowedValues && !type.allowedValues.includes(number)) {
          this.report(location, `${number} is not one of ${type.allowedValues.join(', ')}`);
        }
        const { minimum, maximum } = type as Bounds;
        if ((minimum !== undefined && number < minimum) || (maximum !== undefined && number > maximum)) {
          this.report(location, `${number} is out of range: ${rangeOf(minimum, maximum)}`);
        }
        return;
      }
      case 'boolean':
        if (typeof value !== 'boolean' && value !== 'true' && value !== 'false') {
          this.report(location, `expected boolean, got ${kindOf(value)}`);
        }
        return;
      case 'json':
      case 'null':
        return;
      case 'tag':
        this.checkProperties(
          value,
          {
            Key: { type: { type: 'string' }, required: true },
            Value: { type: { type: 'string' }, required: true },
          },
          'Tag',
          location,
        );
        return;
      case 'array':
        if (!Array.isArray(value)) {
          this.report(location, `expected ${describe(type, this.spec)}, got ${kindOf(value)}`);
          return;
        }
        value.forEach((element, index) => {
          this.checkValue(element, type.element, at(location, index));
        });
        return;
      case 'map':
        if (!isPlainObject(value)) {
          this.report(location, `expected ${describe(type, this.spec)}, got ${kindOf(value)}`);
          return;
        }
        for (const [key, element] of Object.entries(value))
          this.checkValue(element, type.element, at(location, key));
        return;
      case 'ref': {
        const definition = this.spec.definition(type);
        this.checkProperties(value, definition.properties, definition.name, location);
        return;
      }
      case 'union':
        this.checkUnion(value, type.types, location);
        return;
    }
  }

  /** A value matches a union when it matches one member; otherwise report the closest member's findings. */
  checkUnion(value: unknown, members: readonly PropertyType[], location: Location): void {
    const attempts = members.map((member) => {
      const checker = new SchemaChecker(this.spec, this.parameters);
      checker.checkValue(value, member, location);
      return { member, findings: checker.findings };
    });
    if (attempts.some((attempt) => attempt.findings.length === 0)) return;
    const kind = Array.isArray(value) ? 'array' : isPlainObject(value) ? 'object' : 'scalar';
    const sameKind = attempts.filter(({ member }) =>
      kind === 'array'
        ? member.type === 'array'
        : kind === 'object'
          ? ['ref', 'map', 'tag'].includes(member.type)
          : !['array', 'map', 'ref', 'tag', 'union'].includes(member.type),
    );
    if (sameKind.length === 0) {
      const expected = members.map((member) => describe(member, this.spec)).join(' | ');
      this.report(location, `expected ${expected}, got ${kindOf(value)}`);
      return;
    }
    const best = sameKind.reduce((a, b) => (b.findings.length < a.findings.length ? b : a));
    this.findings.push(...best.findings);
  }
}

/** The sections of a template (CloudFormation's template anatomy, and SAM's Globals). */
const SECTIONS = [
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Rules',
  'Mappings',
  'Conditions',
  'Transform',
  'Globals',
  'Resources',
  'Outputs',
];
const OUTPUT_KEYS = ['Description', 'Value', 'Export', 'Condition'];
/** Export names: letters, digits, colons and hyphens, at most 255 (CloudFormation's Outputs section). */
const EXPORT_NAME = /^[A-Za-z0-9:-]{1,255}$/;

const PARAMETER_KEYS = [
  'Type',
  'Default',
  'AllowedValues',
  'AllowedPattern',
  'ConstraintDescription',
  'Description',
  'MaxLength',
  'MaxValue',
  'MinLength',
  'MinValue',
  'NoEcho',
];
/**
 * The AWS-specific parameter types, each also taken as a List<…> but for the key pair name (CloudFormation User Guide,
 * "Supported AWS-specific parameter types",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-supplied-parameter-types.html).
 */
const AWS_PARAMETER_TYPES = [
  'AWS::EC2::AvailabilityZone::Name',
  'AWS::EC2::Image::Id',
  'AWS::EC2::Instance::Id',
  'AWS::EC2::KeyPair::KeyName',
  'AWS::EC2::SecurityGroup::GroupName',
  'AWS::EC2::SecurityGroup::Id',
  'AWS::EC2::Subnet::Id',
  'AWS::EC2::Volume::Id',
  'AWS::EC2::VPC::Id',
  'AWS::Route53::HostedZone::Id',
];
const AWS_LIST_PARAMETER_TYPES = AWS_PARAMETER_TYPES.filter((type) => type !== 'AWS::EC2::KeyPair::KeyName');
/**
 * Parameter types (CloudFormation User Guide, "Parameters", Type): String, Number, List<Number>, CommaDelimitedList,
 * the AWS-specific types above, and the Systems Manager types of the same page ("Supported Systems Manager parameter
 * types"): AWS::SSM::Parameter::Name, and AWS::SSM::Parameter::Value<…> of String, List<String>, CommaDelimitedList,
 * an AWS-specific type or a List<…> of one.
 */
const PARAMETER_TYPES: readonly string[] = [
  'String',
  'Number',
  'List<Number>',
  'CommaDelimitedList',
  ...AWS_PARAMETER_TYPES,
  ...AWS_LIST_PARAMETER_TYPES.map((type) => `List<${type}>`),
  'AWS::SSM::Parameter::Name',
  ...['String', 'List<String>', 'CommaDelimitedList', ...AWS_PARAMETER_TYPES]
    .concat(AWS_LIST_PARAMETER_TYPES.map((type) => `List<${type}>`))
    .map((type) => `AWS::SSM::Parameter::Value<${type}>`),
];
const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** Each parameter's keys and Type, and a List<Number> default made of numbers. */
const checkParameters = (template: Template, checker: SchemaChecker): void => {
  for (const [name, parameter] of Object.entries(template.Parameters ?? {})) {
    const location = { resource: 'Parameters', path: name };
    if (!isPlainObject(parameter)) {
      checker.report(location, `expected a parameter (a map), got ${kindOf(parameter)}`);
      continue;
    }
    checkKeys(checker, parameter, PARAMETER_KEYS, location, 'parameter');
    const type = parameter.Type;
    if (typeof type !== 'string' || !PARAMETER_TYPES.includes(type)) {
      const hint = typeof type === 'string' ? didYouMean(type, PARAMETER_TYPES) : '';
      checker.report(
        at(location, 'Type'),
        `${type === undefined ? 'a parameter needs a Type' : `unknown parameter type ${JSON.stringify(type)}`}${hint}`,
      );
      continue;
    }
    if (type === 'List<Number>' && parameter.Default !== undefined) {
      const bad = String(parameter.Default)
        .split(',')
        .filter((item) => !NUMBER.test(item));
      if (bad.length > 0) {
        checker.report(
          at(location, 'Default'),
          `a List<Number> default is numbers separated by commas, got ${bad.map((item) => JSON.stringify(item)).join(', ')}`,
        );
      }
    }
  }
};

/** The template's sections, the format version, SAM's transform, and the shape of each output. */
const checkAnatomy = (template: Template, checker: SchemaChecker): void => {
  for (const section of Object.keys(template)) {
    if (SECTIONS.includes(section)) continue;
    checker.report(
      { resource: section, path: '' },
      `unknown template section${didYouMean(section, SECTIONS)}: CloudFormation refuses the template`,
    );
  }
  const version = template.AWSTemplateFormatVersion;
  if (version !== undefined && version !== '2010-09-09') {
    checker.report(
      { resource: 'AWSTemplateFormatVersion', path: '' },
      `the only template format version is '2010-09-09', got ${JSON.stringify(version)}`,
    );
  }
  const transforms = Array.isArray(template.Transform) ? template.Transform : [template.Transform];
  const usesSam = Object.values(template.Resources).some(
    (resource) => isPlainObject(resource) && String(resource.Type).startsWith(SAM_PREFIX),
  );
  if ((usesSam || template.Globals !== undefined) && !transforms.includes('AWS::Serverless-2016-10-31')) {
    checker.report(
      { resource: 'Transform', path: '' },
      'SAM resources and Globals need Transform: AWS::Serverless-2016-10-31; CloudFormation refuses them without it',
    );
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    const location = { resource: 'Outputs', path: name };
    if (!isPlainObject(output)) {
      checker.report(location, `expected an output (a map), got ${kindOf(output)}`);
      continue;
    }
    checkKeys(checker, output, OUTPUT_KEYS, location, 'output');
    if (output.Export === undefined) continue;
    const exportName = isPlainObject(output.Export) ? output.Export.Name : undefined;
    if (exportName === undefined) {
      checker.report(at(location, 'Export'), 'an Export needs a Name');
    } else if (typeof exportName === 'string' && !EXPORT_NAME.test(exportName)) {
      checker.report(
        at(at(location, 'Export'), 'Name'),
        `export name ${JSON.stringify(exportName)}: only letters, digits, colons and hyphens, at most 255`,
      );
    }
  }
};

/** Checks every resource and the SAM Globals section against the spec. */
export const checkSchema = (template: Template, spec: TemplateSpec): Finding[] => {
  const checker = new SchemaChecker(spec, template.Parameters ?? {});
  const globals = template.Globals ?? {};
  checkAnatomy(template, checker);
  checkParameters(template, checker);

  for (const [section, properties] of Object.entries(globals)) {
    const location = { resource: 'Globals', path: section };
    const shape = spec.resource(`${SAM_PREFIX}${section}`);
    const supported = SAM_GLOBALS[section];
    if (!shape && supported && isPlainObject(properties)) {
      // A SAM resource type newer than the specification (CapacityProvider): its keys against SAM's list alone.
      for (const key of Object.keys(properties)) {
        if (supported.includes(key)) continue;
        checker.report(
          at(location, key),
          `SAM does not take ${key} in Globals.${section}${didYouMean(key, supported)}: it takes ${supported.join(', ')}`,
        );
      }
      continue;
    }
    if (!shape || !supported) {
      checker.report(
        location,
        `unknown Globals section${didYouMean(section, Object.keys(SAM_GLOBALS))}: SAM takes ${Object.keys(SAM_GLOBALS).join(', ')}`,
      );
      continue;
    }
    checker.checkProperties(properties, shape.properties, shape.type, location, new Set(), false);
    if (!isPlainObject(properties)) continue;
    // A property SAM knows but does not share through Globals; an unknown one is reported above.
    for (const key of Object.keys(properties)) {
      if (key in shape.properties && !supported.includes(key)) {
        checker.report(
          at(location, key),
          `SAM does not take ${key} in Globals.${section}, only on each resource: sam deploy refuses the template`,
        );
      }
    }
  }

  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const location = { resource: logicalId, path: '' };
    if (!isPlainObject(resource)) {
      checker.report(location, `expected a resource (a map), got ${kindOf(resource)}`);
      continue;
    }
    const type = resource.Type;
    if (typeof type !== 'string') {
      checker.report(at(location, 'Type'), 'a resource needs a Type');
      continue;
    }
    const isSam = type.startsWith(SAM_PREFIX);
    for (const key of Object.keys(resource)) {
      if (!RESOURCE_KEYS.has(key) && !(isSam && SAM_RESOURCE_KEYS.has(key))) {
        checker.report(at(location, key), 'unknown resource attribute');
      }
    }
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') {
      if (!isPlainObject(resource.Properties) || !('ServiceToken' in resource.Properties)) {
        checker.report(at(location, 'ServiceToken'), 'a custom resource needs a ServiceToken');
      }
      continue;
    }
    const shape = spec.resource(type);
    if (!shape) {
      checker.report(at(location, 'Type'), `unknown resource type ${type}`);
      continue;
    }
    const inherited = new Set(isSam ? Object.keys(globals[type.slice(SAM_PREFIX.length)] ?? {}) : []);
    // Properties sit directly under the resource in finding paths: `Res.Prop`, not `Res.Properties.Prop`.
    checker.checkProperties(resource.Properties ?? {}, shape.properties, type, location, inherited);
  }
  return checker.findings;
};
