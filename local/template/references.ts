import { at, type Finding, finding, type Location } from './findings.ts';
import {
  intrinsicName,
  isPlainObject,
  type PlainObject,
  PSEUDO_PARAMETERS,
  subReferences,
} from './intrinsics.ts';
import type { Template } from './parse.ts';
import { LIST_PARAMETER_TYPE } from './resolve.ts';
import { samTranslations } from './sam-spec-overlay.ts';
import type { TemplateSpec } from './spec.ts';

/**
 * Rule 3: every `Ref`, `Fn::GetAtt`, `Fn::Sub` variable, condition name, mapping and `DependsOn` resolves (in
 * Rules too, which may name parameters only); every parameter and condition is used; every parameter has a
 * Description. Intrinsic functions get an arity check.
 */

type Context = 'resource' | 'condition' | 'output';

/** Argument counts of the intrinsic functions that take a list: [min, max]. */
const LIST_ARITY: Readonly<Record<string, readonly [number, number]>> = {
  'Fn::And': [2, 10],
  'Fn::Cidr': [3, 3],
  'Fn::Equals': [2, 2],
  'Fn::FindInMap': [3, 4],
  'Fn::If': [3, 3],
  'Fn::Join': [2, 2],
  'Fn::Not': [1, 1],
  'Fn::Or': [2, 10],
  'Fn::Select': [2, 2],
  'Fn::Split': [2, 2],
};
const OTHER_FUNCTIONS = new Set([
  'Fn::Base64',
  // Rule functions (the Rules section only).
  'Fn::Contains',
  'Fn::EachMemberEquals',
  'Fn::EachMemberIn',
  'Fn::RefAll',
  'Fn::ValueOf',
  'Fn::ValueOfAll',
  'Fn::GetAZs',
  'Fn::ImportValue',
  'Fn::Length',
  'Fn::ToJsonString',
  'Fn::Transform',
]);

interface Symbols {
  readonly parameters: ReadonlySet<string>;
  /** Logical IDs → resource types, including the resources SAM generates (`<Function>Role`). */
  readonly resources: ReadonlyMap<string, string>;
  /** SAM referenceable properties (`MyFunction.Alias`). */
  readonly referenceable: ReadonlySet<string>;
  readonly conditions: ReadonlySet<string>;
  readonly mappings: ReadonlySet<string>;
}

const symbolsOf = (template: Template): Symbols => {
  const resources = new Map<string, string>();
  const referenceable = new Set<string>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || typeof resource.Type !== 'string') continue;
    resources.set(logicalId, resource.Type);
    const translation = samTranslations[resource.Type];
    for (const [suffix, generated] of Object.entries(translation?.generated ?? {})) {
      const properties = isPlainObject(resource.Properties) ? resource.Properties : {};
      if (!(generated.unless in properties)) resources.set(`${logicalId}${suffix}`, generated.type);
    }
    for (const name of translation?.referenceable ?? []) referenceable.add(`${logicalId}.${name}`);
  }
  return {
    parameters: new Set(Object.keys(template.Parameters ?? {})),
    resources,
    referenceable,
    conditions: new Set(Object.keys(template.Conditions ?? {})),
    mappings: new Set(Object.keys(template.Mappings ?? {})),
  };
};

class ReferenceChecker {
  readonly findings: Finding[] = [];
  readonly usedParameters = new Set<string>();
  readonly usedConditions = new Set<string>();
  readonly symbols: Symbols;
  readonly spec: TemplateSpec;

  constructor(symbols: Symbols, spec: TemplateSpec) {
    this.symbols = symbols;
    this.spec = spec;
  }

  report(location: Location, message: string): void {
    this.findings.push(finding(location, message));
  }

  walk(value: unknown, location: Location, context: Context): void {
    if (Array.isArray(value)) {
      value.forEach((element, index) => {
        this.walk(element, at(location, index), context);
      });
      return;
    }
    if (!isPlainObject(value)) return;
    const name = intrinsicName(value);
    if (name !== undefined) {
      this.checkFunction(name, value[name], location, context);
      return;
    }
    if (context === 'condition' && Object.keys(value).length === 1 && typeof value.Condition === 'string') {
      this.useCondition(value.Condition, location, 'Condition');
      return;
    }
    for (const [key, child] of Object.entries(value)) this.walk(child, at(location, key), context);
  }

  /** Arguments of a function are walked at the location of the function itself. */
  walkArguments(args: unknown, location: Location, context: Context): void {
    if (Array.isArray(args)) for (const arg of args) this.walk(arg, location, context);
    else this.walk(args, location, context);
  }

  checkFunction(name: string, args: unknown, location: Location, context: Context): void {
    const arity = LIST_ARITY[name];
    if (arity && (!Array.isArray(args) || args.length < arity[0] || args.length > arity[1])) {
      const count = arity[0] === arity[1] ? `${arity[0]}` : `${arity[0]} to ${arity[1]}`;
      this.report(location, `${name} takes a list of ${count} arguments`);
      return;
    }
    switch (name) {
      case 'Ref':
        if (typeof args === 'string') this.useName(args, location, 'Ref', context);
        else this.report(location, 'Ref takes a name');
        return;
      case 'Fn::GetAtt':
        this.checkGetAtt(args, location, context);
        return;
      case 'Fn::Sub':
        this.checkSub(args, location, context);
        return;
      case 'Fn::If': {
        const [condition, ...rest] = args as unknown[];
        if (context === 'condition') this.report(location, 'Fn::If cannot be used inside Conditions');
        if (typeof condition !== 'string') this.report(location, 'Fn::If needs a condition name first');
        else this.useCondition(condition, location, 'Fn::If');
        this.walkArguments(rest, location, context);
        return;
      }
      case 'Fn::FindInMap': {
        const [mapping] = args as unknown[];
        if (typeof mapping === 'string' && !this.symbols.mappings.has(mapping)) {
          this.report(location, `Fn::FindInMap names unknown mapping ${mapping}`);
        }
        this.walkArguments(args, location, context);
        return;
      }
      default:
        if (arity || OTHER_FUNCTIONS.has(name)) this.walkArguments(args, location, context);
        else this.report(location, `unknown intrinsic function ${name}`);
    }
  }

  useName(name: string, location: Location, by: string, context: Context): void {
    if (PSEUDO_PARAMETERS.has(name)) return;
    if (this.symbols.parameters.has(name)) {
      this.usedParameters.add(name);
      return;
    }
    if (context === 'condition') {
      this.report(
        location,
        `${by} in a condition can only name a parameter or pseudo parameter, not ${name}`,
      );
      return;
    }
    if (this.symbols.resources.has(name) || this.symbols.referenceable.has(name)) return;
    this.report(location, `${by} to unknown name ${name} (not a parameter, resource or pseudo parameter)`);
  }

  useCondition(name: string, location: Location, by: string): void {
    if (this.symbols.conditions.has(name)) this.usedConditions.add(name);
    else this.report(location, `${by} names unknown condition ${name}`);
  }

  useAttribute(resource: string, attribute: string, location: Location, by: string, context: Context): void {
    if (context === 'condition') {
      this.report(location, `${by} cannot be used inside Conditions`);
      return;
    }
    const type = this.symbols.resources.get(resource);
    if (type === undefined) {
      this.report(location, `${by} to unknown resource ${resource}`);
      return;
    }
    const attributes = this.spec.resource(type)?.attributes;
    if (attributes && !attributes.has(attribute)) {
      this.report(
        location,
        `${by} to unknown attribute ${attribute} of ${resource} (${type} has ${[...attributes].join(', ')})`,
      );
    }
  }

  checkGetAtt(args: unknown, location: Location, context: Context): void {
    const parts =
      typeof args === 'string'
        ? [
            args.slice(0, args.indexOf('.') < 0 ? args.length : args.indexOf('.')),
            args.slice(args.indexOf('.') + 1),
          ]
        : args;
    if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== 'string') {
      this.report(location, 'Fn::GetAtt takes [resource, attribute]');
      return;
    }
    const [resource, attribute] = parts as [string, unknown];
    if (typeof attribute === 'string') {
      this.useAttribute(resource, attribute, location, 'Fn::GetAtt', context);
      return;
    }
    if (!this.symbols.resources.has(resource))
      this.report(location, `Fn::GetAtt to unknown resource ${resource}`);
    this.walk(attribute, location, context);
  }

  checkSub(args: unknown, location: Location, context: Context): void {
    const [text, variables] = Array.isArray(args) ? args : [args, {}];
    if (typeof text !== 'string' || !isPlainObject(variables) || (Array.isArray(args) && args.length !== 2)) {
      this.report(location, 'Fn::Sub takes a string or [string, variables]');
      return;
    }
    for (const value of Object.values(variables)) this.walk(value, location, context);
    for (const name of subReferences(text)) {
      if (name in variables) continue;
      const dot = name.indexOf('.');
      if (dot > 0 && !this.symbols.referenceable.has(name)) {
        this.useAttribute(name.slice(0, dot), name.slice(dot + 1), location, 'Fn::Sub', context);
      } else {
        this.useName(name, location, 'Fn::Sub', context);
      }
    }
  }
}

const RULE_KEYS = ['RuleCondition', 'Assertions'];
const ASSERTION_KEYS = ['Assert', 'AssertDescription'];
/**
 * The rule functions, with the number of arguments of those that take a fixed list (CloudFormation Template
 * Reference, "Rule functions": `"Fn::Contains" : [[list_of_strings], string]`, `"Fn::EachMemberIn" :
 * [[strings_to_check], [strings_to_match]]`, `"Fn::ValueOf" : [ parameter_logical_id, attribute ]`, …).
 */
const RULE_FUNCTIONS: Readonly<Record<string, number | undefined>> = {
  Ref: undefined,
  'Fn::And': undefined,
  'Fn::Or': undefined,
  'Fn::Not': 1,
  'Fn::Equals': 2,
  'Fn::Contains': 2,
  'Fn::EachMemberEquals': 2,
  'Fn::EachMemberIn': 2,
  'Fn::RefAll': undefined,
  'Fn::ValueOf': 2,
  'Fn::ValueOfAll': 2,
};
/** Rule functions whose first argument is a list of strings. */
const LIST_FIRST = new Set(['Fn::Contains', 'Fn::EachMemberEquals', 'Fn::EachMemberIn']);

/**
 * A rule's keys (RuleCondition, Assertions), its assertions' keys (Assert, AssertDescription), the number of
 * arguments of its rule functions, and a list where Fn::Contains, Fn::EachMemberEquals and Fn::EachMemberIn take
 * one (a String parameter is no list). CloudFormation refuses the template otherwise; the local runtime does not
 * evaluate rules.
 */
const checkRuleShape = (
  rule: unknown,
  location: Location,
  parameters: Readonly<Record<string, unknown>>,
): Finding[] => {
  const out: Finding[] = [];
  if (!isPlainObject(rule)) return [finding(location, 'a rule is a map of RuleCondition and Assertions')];
  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.includes(key))
      out.push(finding(at(location, key), `unknown rule key (a rule takes ${RULE_KEYS.join(', ')})`));
  }
  const assertions = Array.isArray(rule.Assertions) ? rule.Assertions : [];
  assertions.forEach((assertion, index) => {
    if (!isPlainObject(assertion)) return;
    for (const key of Object.keys(assertion)) {
      if (!ASSERTION_KEYS.includes(key)) {
        out.push(
          finding(
            at(at(at(location, 'Assertions'), index), key),
            `unknown assertion key (an assertion takes ${ASSERTION_KEYS.join(', ')})`,
          ),
        );
      }
    }
  });
  const isList = (value: unknown): boolean => {
    if (Array.isArray(value)) return true;
    const name = intrinsicName(value);
    if (name === 'Fn::RefAll' || name === 'Fn::ValueOfAll') return true;
    if (name !== 'Ref') return name !== undefined;
    const parameter = parameters[String((value as PlainObject).Ref)];
    return !isPlainObject(parameter) || LIST_PARAMETER_TYPE.test(String(parameter.Type));
  };
  const walk = (value: unknown, where: Location): void => {
    if (Array.isArray(value)) {
      for (const element of value) walk(element, where);
      return;
    }
    if (!isPlainObject(value)) return;
    const name = intrinsicName(value);
    if (name === undefined) {
      for (const [key, child] of Object.entries(value)) walk(child, at(where, key));
      return;
    }
    const args = value[name];
    if (!(name in RULE_FUNCTIONS)) {
      walk(args, where);
      return;
    }
    const arity = RULE_FUNCTIONS[name];
    if (arity !== undefined && (!Array.isArray(args) || args.length !== arity)) {
      out.push(finding(where, `${name} takes a list of ${arity} argument${arity === 1 ? '' : 's'}`));
      return;
    }
    if (LIST_FIRST.has(name) && !isList((args as unknown[])[0])) {
      const first = (args as unknown[])[0];
      const named = intrinsicName(first) === 'Ref' ? String((first as PlainObject).Ref) : undefined;
      const got =
        named === undefined
          ? 'a single value'
          : `parameter ${named} of Type ${String((parameters[named] as PlainObject).Type)}`;
      out.push(
        finding(where, `${name} takes a list first (a CommaDelimitedList or List<…> parameter), got ${got}`),
      );
    }
    walk(args, where);
  };
  walk(rule.RuleCondition, at(location, 'RuleCondition'));
  assertions.forEach((assertion, index) => {
    if (isPlainObject(assertion)) walk(assertion.Assert, at(at(at(location, 'Assertions'), index), 'Assert'));
  });
  return out;
};

/** A resource's DependsOn as a list: CloudFormation takes one name or a list of them. */
const dependsOnOf = (resource: Record<string, unknown>): unknown[] => {
  const dependsOn = resource.DependsOn;
  return Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : [];
};

export const checkReferences = (template: Template, spec: TemplateSpec): Finding[] => {
  const symbols = symbolsOf(template);
  const checker = new ReferenceChecker(symbols, spec);

  for (const [name, condition] of Object.entries(template.Conditions ?? {})) {
    checker.walk(condition, { resource: 'Conditions', path: name }, 'condition');
  }
  // A rule, like a condition, can only name parameters.
  for (const [name, rule] of Object.entries(template.Rules ?? {})) {
    const location = { resource: 'Rules', path: name };
    const assertions = isPlainObject(rule) ? rule.Assertions : undefined;
    if (!Array.isArray(assertions) || !assertions.every((item) => isPlainObject(item) && 'Assert' in item)) {
      checker.report(at(location, 'Assertions'), 'a rule needs a list of { Assert, AssertDescription }');
    }
    checker.findings.push(...checkRuleShape(rule, location, template.Parameters ?? {}));
    checker.walk(rule, location, 'condition');
  }
  for (const [section, properties] of Object.entries(template.Globals ?? {})) {
    checker.walk(properties, { resource: 'Globals', path: section }, 'resource');
  }
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource)) continue;
    const location = { resource: logicalId, path: '' };
    if (resource.Condition !== undefined) {
      if (typeof resource.Condition === 'string') {
        checker.useCondition(resource.Condition, at(location, 'Condition'), 'Condition');
      } else checker.report(at(location, 'Condition'), 'Condition takes a condition name');
    }
    const dependsOn = resource.DependsOn;
    for (const [index, target] of dependsOnOf(resource).entries()) {
      if (typeof target !== 'string' || !symbols.resources.has(target)) {
        const path = Array.isArray(dependsOn)
          ? at(at(location, 'DependsOn'), index)
          : at(location, 'DependsOn');
        checker.report(path, `DependsOn names unknown resource ${String(target)}`);
      }
    }
    checker.walk(resource.Properties, location, 'resource');
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    const location = { resource: 'Outputs', path: name };
    if (!isPlainObject(output)) continue;
    const { Condition: condition, ...rest } = output;
    if (typeof condition === 'string')
      checker.useCondition(condition, at(location, 'Condition'), 'Condition');
    if (!('Value' in output)) checker.report(at(location, 'Value'), 'an output needs a Value');
    checker.walk(rest, location, 'output');
  }

  for (const [name, parameter] of Object.entries(template.Parameters ?? {})) {
    const location = { resource: 'Parameters', path: name };
    if (!checker.usedParameters.has(name)) checker.report(location, 'is declared but never used');
    const description = isPlainObject(parameter) ? parameter.Description : undefined;
    if (typeof description !== 'string' || description.trim() === '') {
      checker.report(at(location, 'Description'), 'every parameter needs a Description');
    }
  }
  for (const name of symbols.conditions) {
    if (!checker.usedConditions.has(name)) {
      checker.report({ resource: 'Conditions', path: name }, 'is declared but never used');
    }
  }
  return checker.findings;
};

/** The resources a value refers to: Ref, Fn::GetAtt and `${X}` / `${X.Attr}` in Fn::Sub (not its own variables). */
const referencedResources = (
  value: unknown,
  resources: ReadonlyMap<string, string>,
  out: Set<string>,
): void => {
  if (Array.isArray(value)) {
    for (const element of value) referencedResources(element, resources, out);
    return;
  }
  if (!isPlainObject(value)) return;
  const name = intrinsicName(value);
  const args = name === undefined ? undefined : value[name];
  if (name === 'Ref' && typeof args === 'string' && resources.has(args)) out.add(args);
  if (name === 'Fn::GetAtt') {
    const target = Array.isArray(args) ? args[0] : typeof args === 'string' ? args.split('.')[0] : undefined;
    if (typeof target === 'string' && resources.has(target)) out.add(target);
  }
  if (name === 'Fn::Sub') {
    const [text, variables] = Array.isArray(args) ? args : [args, undefined];
    const own = new Set(isPlainObject(variables) ? Object.keys(variables) : []);
    if (typeof text === 'string') {
      for (const [, variable] of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const target = variable!.split('.')[0]!;
        if (!own.has(variable!) && resources.has(target)) out.add(target);
      }
    }
    if (isPlainObject(variables)) referencedResources(variables, resources, out);
    return;
  }
  for (const child of Object.values(value)) referencedResources(child, resources, out);
};

/**
 * Circular dependencies, which CloudFormation refuses before it creates anything: through Ref, Fn::GetAtt,
 * Fn::Sub and DependsOn. A SAM function and the role SAM makes from its Policies are one node: a function whose
 * Policies name its own ARN depends on itself.
 */
export const checkCycles = (template: Template): Finding[] => {
  const resources = new Map(
    Object.entries(template.Resources)
      .filter(([, resource]) => isPlainObject(resource))
      .map(([logicalId, resource]) => [logicalId, String(resource.Type)]),
  );
  const edges = new Map<string, Set<string>>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource)) continue;
    const targets = new Set<string>();
    referencedResources(resource.Properties, resources, targets);
    for (const target of dependsOnOf(resource)) {
      if (typeof target === 'string' && resources.has(target)) targets.add(target);
    }
    edges.set(logicalId, targets);
  }
  const findings: Finding[] = [];
  const done = new Set<string>();
  const reported = new Set<string>();
  const visit = (node: string, path: string[]): void => {
    const start = path.indexOf(node);
    if (start >= 0) {
      const cycle = path.slice(start);
      const key = [...cycle].sort().join(' ');
      if (!reported.has(key)) {
        reported.add(key);
        findings.push(
          finding(
            { resource: node, path: '' },
            `circular dependency: ${[...cycle, node].join(' → ')}; CloudFormation refuses the template (name a resource by a known name, as a Sub of its name, instead of a Ref or GetAtt on one side)`,
          ),
        );
      }
      return;
    }
    if (done.has(node)) return;
    path.push(node);
    for (const next of edges.get(node) ?? []) visit(next, path);
    path.pop();
    done.add(node);
  };
  for (const logicalId of edges.keys()) visit(logicalId, []);
  return findings;
};
