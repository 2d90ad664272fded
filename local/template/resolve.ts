import type { Template } from './parse.ts';

/**
 * Resolves a template the way CloudFormation does at deploy time, for the local runtime: Parameters (defaults
 * plus `--parameter-overrides`, checked against their constraints), Conditions, and the intrinsic functions
 * Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Select, Fn::Join, Fn::Split, Fn::Equals, Fn::Not, Fn::And, Fn::Or and
 * Fn::Base64. Anything else is reported as an error naming where it stands.
 */

export class TemplateResolveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateResolveError';
  }
}

/** Something the local runtime cannot do, though CloudFormation would: says nothing about the template itself. */
export class LocalLimitError extends TemplateResolveError {
  constructor(message: string) {
    super(message);
    this.name = 'LocalLimitError';
  }
}

/** What `Ref` and `Fn::GetAtt` give for one resource. */
export interface ResourceRefs {
  ref: string;
  attributes: Record<string, string>;
}

export interface ResolveContext {
  parameters: Record<string, string>;
  conditions: Record<string, boolean>;
  resources: Record<string, ResourceRefs>;
  pseudo: Record<string, string>;
  /** Parameters of a list type (CommaDelimitedList, List<…>), whose Ref is a list of their comma-separated values. */
  lists?: ReadonlySet<string>;
  /** Resources of the template that a false condition leaves out, with that condition. */
  excluded?: Record<string, string>;
}

/** A reference to a resource that does not exist with these parameters, as CloudFormation refuses it. */
const leftOut = (resource: string, condition: string): string =>
  `'${resource}' exists only when its condition ${condition} is true, and it is false here: refer to it under ` +
  `the same condition (Fn::If [${condition}, …, !Ref AWS::NoValue], or a Condition on the output)`;

/** Marks a value that `AWS::NoValue` removed; dropped from maps and lists. */
const NO_VALUE = Symbol('AWS::NoValue');

export const pseudoParameters = (
  region: string,
  accountId: string,
  stackName: string,
): Record<string, string> => ({
  'AWS::Region': region,
  'AWS::AccountId': accountId,
  'AWS::StackName': stackName,
  'AWS::StackId': `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/00000000-0000-0000-0000-000000000000`,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
});

/**
 * `sam deploy --parameter-overrides` syntax: `Key=Value Key2=Value2`, or `ParameterKey=K,ParameterValue=V`,
 * values optionally quoted, as the SAM CLI reads them (samcli/cli/types.py): a value wrapped in double or single
 * quotes loses them, and `\ `, `\"` and `\'` stand for a space and a quote, inside quotes or out.
 */
export const parseParameterOverrides = (text: string): Record<string, string> => {
  const overrides: Record<string, string> = {};
  const tokens = text.match(/(?:\\.|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^\s"\\])+/g) ?? [];
  const unquote = (value: string) => value.replace(/^(["'])([\s\S]*)\1$/, '$2').replace(/\\([ "'])/g, '$1');
  for (const token of tokens) {
    const long = /^ParameterKey=([^,]+),ParameterValue=([\s\S]*)$/.exec(token);
    if (long) {
      overrides[long[1]!] = unquote(long[2]!);
      continue;
    }
    const at = token.indexOf('=');
    if (at <= 0) throw new TemplateResolveError(`parameter override '${token}' is not of the form Key=Value`);
    overrides[token.slice(0, at)] = unquote(token.slice(at + 1));
  }
  return overrides;
};

/** CloudFormation's list parameter types: CommaDelimitedList, List<Number> and the List<…> of AWS-specific types. */
export const LIST_PARAMETER_TYPE = /^(CommaDelimitedList|List<.+>)$/;

/** The parameters of a list type, whose Ref is a list. */
export const listParameters = (template: Template): Set<string> =>
  new Set(
    Object.entries(template.Parameters ?? {})
      .filter(([, spec]) => LIST_PARAMETER_TYPE.test(String(spec?.Type ?? '')))
      .map(([name]) => name),
  );

/** A list parameter's value as its Ref gives it: split at each comma, each member space-trimmed. */
const listMembers = (raw: string): string[] => raw.split(',').map((member) => member.trim());

/** A Number parameter's value: an integer or a decimal fraction, with an optional sign and exponent. */
const DECIMAL = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Parameter values: overrides over defaults, each checked against the parameter's constraints. */
export const resolveParameters = (
  template: Template,
  overrides: Record<string, string> = {},
): Record<string, string> => {
  const declared = template.Parameters ?? {};
  const unknown = Object.keys(overrides).filter((name) => !(name in declared));
  if (unknown.length > 0) {
    throw new TemplateResolveError(
      `unknown parameter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
    );
  }
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const raw = overrides[name] ?? (spec.Default === undefined ? undefined : String(spec.Default));
    if (raw === undefined)
      throw new TemplateResolveError(`parameter ${name} has no default and no value was given`);
    // A NoEcho value is masked as CloudFormation masks it (*****), not printed in the error.
    const shown = spec.NoEcho === true || spec.NoEcho === 'true' ? '*****' : raw;
    const fail = (why: string) => {
      throw new TemplateResolveError(`parameter ${name}='${shown}' ${why}`);
    };
    // A list's constraints hold for each of its members, as CloudFormation checks AllowedValues and AllowedPattern.
    const isList = LIST_PARAMETER_TYPE.test(String(spec.Type ?? ''));
    const members = isList ? listMembers(raw) : [raw];
    const allowed = spec.AllowedValues as unknown[] | undefined;
    if (allowed && !members.every((member) => allowed.map(String).includes(member)))
      fail(`${isList ? 'has a member that is not' : 'must be'} one of ${allowed.join(', ')}`);
    if (spec.Type === 'List<Number>' && !members.every((member) => DECIMAL.test(member)))
      fail('must be numbers separated by commas');
    if (spec.Type === 'Number') {
      const n = Number(raw);
      // Decimal only, as CloudFormation reads a Number: JavaScript's Number() would also take ' 7', 0x10 and 0b11.
      if (!DECIMAL.test(raw) || !Number.isFinite(n)) fail('must be a number');
      if (spec.MinValue !== undefined && n < Number(spec.MinValue)) fail(`must be at least ${spec.MinValue}`);
      if (spec.MaxValue !== undefined && n > Number(spec.MaxValue)) fail(`must be at most ${spec.MaxValue}`);
    }
    const pattern =
      spec.AllowedPattern === undefined ? undefined : new RegExp(`^(?:${spec.AllowedPattern})$`);
    if (pattern && !members.every((member) => pattern.test(member))) {
      fail(`${isList ? 'has a member that does' : 'does'} not match ${spec.AllowedPattern}`);
    }
    if (spec.MinLength !== undefined && raw.length < Number(spec.MinLength))
      fail(`is shorter than ${spec.MinLength}`);
    if (spec.MaxLength !== undefined && raw.length > Number(spec.MaxLength))
      fail(`is longer than ${spec.MaxLength}`);
    values[name] = raw;
  }
  return values;
};

const single = (value: Record<string, unknown>): [string, unknown] | undefined => {
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::') || keys[0] === 'Condition')
    ? [keys[0]!, value[keys[0]!]]
    : undefined;
};

const resolveInternal = (value: unknown, ctx: ResolveContext, where: string): unknown => {
  if (Array.isArray(value)) {
    return value.map((v, i) => resolveInternal(v, ctx, `${where}[${i}]`)).filter((v) => v !== NO_VALUE);
  }
  if (typeof value !== 'object' || value === null) return value;
  const fn = single(value as Record<string, unknown>);
  if (!fn) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const resolved = resolveInternal(v, ctx, `${where}.${key}`);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }
  const [name, arg] = fn;
  const fail = (why: string): never => {
    throw new TemplateResolveError(`${where}: ${name} ${why}`);
  };
  const unsupported = (why: string): never => {
    throw new LocalLimitError(`${where}: ${name} ${why}`);
  };
  const str = (v: unknown, what: string): string => {
    const r = resolveInternal(v, ctx, where);
    if (typeof r !== 'string' && typeof r !== 'number' && typeof r !== 'boolean')
      fail(`needs a string for ${what}`);
    return String(r);
  };
  switch (name) {
    case 'Ref': {
      const target = String(arg);
      if (target === 'AWS::NoValue') return NO_VALUE;
      if (target in ctx.pseudo) return ctx.pseudo[target];
      if (target in ctx.parameters) {
        const raw = ctx.parameters[target]!;
        return ctx.lists?.has(target) ? listMembers(raw) : raw;
      }
      if (target in ctx.resources) return ctx.resources[target]!.ref;
      if (ctx.excluded?.[target] !== undefined) return fail(leftOut(target, ctx.excluded[target]!));
      return fail(`'${target}' names no parameter or resource`);
    }
    case 'Fn::GetAtt': {
      const [resource, attribute] = Array.isArray(arg) ? arg.map(String) : String(arg).split(/\.(.*)/s);
      const refs = ctx.resources[resource ?? ''];
      if (!refs && ctx.excluded?.[resource ?? ''] !== undefined)
        return fail(leftOut(resource!, ctx.excluded[resource!]!));
      if (!refs) return fail(`'${resource}' names no resource`);
      const found = refs.attributes[attribute ?? ''];
      if (found === undefined)
        return unsupported(`attribute '${attribute}' of ${resource} is not available locally`);
      return found;
    }
    case 'Fn::Sub': {
      const [text, vars] = Array.isArray(arg)
        ? [String(arg[0]), (arg[1] ?? {}) as Record<string, unknown>]
        : [String(arg), {}];
      return text.replace(/\$\{([^}]+)\}/g, (_whole, inner: string) => {
        if (inner.startsWith('!')) return `\${${inner.slice(1)}}`;
        if (inner in vars) return str(vars[inner], inner);
        if (inner.includes('.')) return str({ 'Fn::GetAtt': inner.split(/\.(.*)/s).slice(0, 2) }, inner);
        return str({ Ref: inner }, inner);
      });
    }
    case 'Fn::If': {
      const [condition, whenTrue, whenFalse] = arg as [string, unknown, unknown];
      if (!(condition in ctx.conditions)) return fail(`condition '${condition}' is not defined`);
      return resolveInternal(ctx.conditions[condition] ? whenTrue : whenFalse, ctx, where);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [unknown, unknown];
      const items = resolveInternal(list, ctx, where);
      const i = Number(resolveInternal(index, ctx, where));
      if (!Array.isArray(items) || !Number.isInteger(i) || i < 0 || i >= items.length) {
        return fail(`index ${i} is out of range`);
      }
      return items[i];
    }
    case 'Fn::Join': {
      const [separator, list] = arg as [string, unknown];
      const items = resolveInternal(list, ctx, where);
      if (!Array.isArray(items)) return fail('needs a list');
      if (items.some((item) => typeof item === 'object' && item !== null))
        return fail('needs a list of strings, got a list or map among them');
      return items.map(String).join(separator);
    }
    case 'Fn::Split': {
      const [separator, text] = arg as [string, unknown];
      return str(text, 'its source').split(separator);
    }
    case 'Fn::Base64':
      return Buffer.from(str(arg, 'its input')).toString('base64');
    case 'Fn::Equals': {
      if (!Array.isArray(arg) || arg.length !== 2) return fail('takes a list of 2 values');
      const [a, b] = arg as [unknown, unknown];
      return String(resolveInternal(a, ctx, where)) === String(resolveInternal(b, ctx, where));
    }
    case 'Fn::Not':
      if (!Array.isArray(arg) || arg.length !== 1) return fail('takes a list of 1 condition');
      return !resolveInternal(arg[0], ctx, where);
    // CloudFormation takes 2 to 10 conditions in Fn::And and Fn::Or, and refuses the template otherwise.
    case 'Fn::And':
    case 'Fn::Or': {
      if (!Array.isArray(arg) || arg.length < 2 || arg.length > 10)
        return fail('takes a list of 2 to 10 conditions');
      const values = arg.map((c) => resolveInternal(c, ctx, where) === true);
      return name === 'Fn::And' ? values.every(Boolean) : values.some(Boolean);
    }
    case 'Condition': {
      const condition = String(arg);
      if (!(condition in ctx.conditions)) return fail(`'${condition}' is not defined`);
      return ctx.conditions[condition];
    }
    default:
      return unsupported('is not supported by the local runtime');
  }
};

/** Resolves a value; `where` names its place (e.g. `Resources.IngestFunction.Properties.Environment`). */
export const resolveValue = (value: unknown, ctx: ResolveContext, where: string): unknown => {
  const resolved = resolveInternal(value, ctx, where);
  return resolved === NO_VALUE ? undefined : resolved;
};

/** Evaluates every condition, in dependency order. */
export const evaluateConditions = (
  template: Template,
  parameters: Record<string, string>,
  pseudo: Record<string, string>,
): Record<string, boolean> => {
  const definitions = template.Conditions ?? {};
  const conditions: Record<string, boolean> = {};
  const visiting = new Set<string>();
  const ctx: ResolveContext = {
    parameters,
    conditions,
    resources: {},
    pseudo,
    lists: listParameters(template),
  };
  const evaluate = (name: string): boolean => {
    if (name in conditions) return conditions[name]!;
    if (!(name in definitions)) throw new TemplateResolveError(`Conditions: '${name}' is not defined`);
    if (visiting.has(name)) throw new TemplateResolveError(`Conditions: '${name}' depends on itself`);
    visiting.add(name);
    const dependsOn = JSON.stringify(definitions[name]).match(/"Condition":"([^"]+)"/g) ?? [];
    for (const ref of dependsOn) evaluate(ref.slice(13, -1));
    const value = resolveValue(definitions[name], ctx, `Conditions.${name}`);
    if (typeof value !== 'boolean')
      throw new TemplateResolveError(`Conditions.${name}: does not evaluate to true or false`);
    conditions[name] = value;
    return value;
  };
  for (const name of Object.keys(definitions)) evaluate(name);
  return conditions;
};
