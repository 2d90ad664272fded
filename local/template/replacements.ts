import { intrinsicName, isNoValue, isPlainObject, type PlainObject, subReferences } from './intrinsics.ts';
import type { Template } from './parse.ts';
import { samTranslations } from './sam-spec-overlay.ts';
import type { Property, PropertyType, ResourceShape, TemplateSpec } from './spec.ts';

/**
 * Which parameters, changed on an existing stack (`sam deploy --parameter-overrides`), make CloudFormation replace
 * a stateful resource (a new one, empty, under a new name) or create or delete one. Both come from the resource
 * specification: a resource is stateful when the spec says `isStateful`, a property replaces it when the spec says
 * `causesReplacement` ('yes' or 'maybe') or lists it in `additionalReplacementProperties`. A parameter reaches a
 * property through Ref, Fn::Sub, any other function's arguments, and the conditions of Fn::If; it reaches a whole
 * resource through the resource's Condition. A SAM resource is judged as the CloudFormation resource it becomes
 * (an AWS::Serverless::SimpleTable as an AWS::DynamoDB::Table): the spec's SAM part marks nearly every property as
 * replacing, which the generated resources do not do.
 */

export type ReplacementKind = 'yes' | 'maybe' | 'condition';

export interface Replacement {
  readonly parameter: string;
  /** Logical ID of the stateful resource. */
  readonly resource: string;
  /** Its CloudFormation type (for a SAM resource, the type it becomes). */
  readonly type: string;
  /** The property whose change replaces the resource (`KeySchema`, `StreamEncryption.KeyId`); undefined for kind condition. */
  readonly property: string | undefined;
  /** yes or maybe: the spec's causesReplacement; condition: the parameter creates or deletes the resource. */
  readonly kind: ReplacementKind;
  /** The conditions the parameter goes through: the resource's own, or those of Fn::If around the value. */
  readonly conditions: readonly string[];
  /**
   * What CloudFormation does with the old resource: its DeletionPolicy for kind condition, its UpdateReplacePolicy
   * otherwise (Delete when not set).
   */
  readonly policy: string;
}

/** The parameters each condition depends on, through `Ref` and through the conditions it names. */
const conditionParameters = (template: Template): Map<string, Set<string>> => {
  const definitions = template.Conditions ?? {};
  const parameters = new Set(Object.keys(template.Parameters ?? {}));
  const result = new Map<string, Set<string>>();
  const resolve = (name: string, visiting: Set<string>): Set<string> => {
    const known = result.get(name);
    if (known) return known;
    const found = new Set<string>();
    if (visiting.has(name) || !(name in definitions)) return found;
    visiting.add(name);
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) {
        for (const element of value) walk(element);
        return;
      }
      if (!isPlainObject(value)) return;
      if (intrinsicName(value) === 'Ref' && typeof value.Ref === 'string' && parameters.has(value.Ref)) {
        found.add(value.Ref);
        return;
      }
      if (Object.keys(value).length === 1 && typeof value.Condition === 'string') {
        for (const parameter of resolve(value.Condition, visiting)) found.add(parameter);
        return;
      }
      for (const child of Object.values(value)) walk(child);
    };
    walk(definitions[name]);
    visiting.delete(name);
    result.set(name, found);
    return found;
  };
  for (const name of Object.keys(definitions)) resolve(name, new Set());
  return result;
};

/** A parameter that reaches a value, with the Fn::If conditions it goes through (empty when by Ref or Fn::Sub). */
type Reach = Map<string, Set<string>>;

const add = (reach: Reach, parameter: string, condition?: string): void => {
  const conditions = reach.get(parameter) ?? new Set<string>();
  if (condition !== undefined) conditions.add(condition);
  reach.set(parameter, conditions);
};

class ReplacementFinder {
  readonly parameters: ReadonlySet<string>;
  readonly byCondition: ReadonlyMap<string, ReadonlySet<string>>;
  readonly spec: TemplateSpec;

  constructor(template: Template, spec: TemplateSpec) {
    this.parameters = new Set(Object.keys(template.Parameters ?? {}));
    this.byCondition = conditionParameters(template);
    this.spec = spec;
  }

  /** Adds the parameters of `condition` to `reach`, as going through it. */
  throughCondition(condition: unknown, reach: Reach): void {
    if (typeof condition !== 'string') return;
    for (const parameter of this.byCondition.get(condition) ?? []) add(reach, parameter, condition);
  }

  /** Every parameter whose value can change `value`. */
  reach(value: unknown, reach: Reach = new Map()): Reach {
    if (Array.isArray(value)) {
      for (const element of value) this.reach(element, reach);
      return reach;
    }
    if (!isPlainObject(value)) return reach;
    const name = intrinsicName(value);
    const args = name === undefined ? undefined : value[name];
    if (name === 'Ref') {
      if (typeof args === 'string' && this.parameters.has(args)) add(reach, args);
      return reach;
    }
    if (name === 'Fn::Sub') {
      const [text, variables] = Array.isArray(args) ? args : [args, undefined];
      const own = isPlainObject(variables) ? variables : {};
      if (typeof text === 'string') {
        for (const variable of subReferences(text)) {
          if (!(variable in own) && this.parameters.has(variable)) add(reach, variable);
        }
      }
      this.reach(own, reach);
      return reach;
    }
    if (name === 'Fn::If' && Array.isArray(args)) {
      const [condition, ...rest] = args as unknown[];
      this.throughCondition(condition, reach);
      this.reach(rest, reach);
      return reach;
    }
    for (const child of Object.values(value)) this.reach(child, reach);
    return reach;
  }

  /**
   * The replacing properties under `value`, walked along its spec type: each with the parameters that reach it,
   * including those of an Fn::If that chooses between shapes above it.
   */
  replacing(
    value: unknown,
    type: PropertyType | { readonly properties: Readonly<Record<string, Property>> },
    path: readonly string[],
    shape: ResourceShape,
    around: Reach,
    out: Array<{ path: string; kind: 'yes' | 'maybe'; reach: Reach }>,
  ): void {
    // An Fn::If between shapes: the branches are walked, the condition's parameters reach what is inside.
    if (intrinsicName(value) === 'Fn::If') {
      const args = (value as PlainObject)['Fn::If'];
      if (!Array.isArray(args) || args.length !== 3) return;
      const inner: Reach = new Map([...around].map(([k, v]) => [k, new Set(v)]));
      this.throughCondition(args[0], inner);
      this.replacing(args[1], type, path, shape, inner, out);
      this.replacing(args[2], type, path, shape, inner, out);
      return;
    }
    if (isNoValue(value)) return;
    if ('properties' in type) {
      if (!isPlainObject(value) || intrinsicName(value) !== undefined) return;
      for (const [name, child] of Object.entries(value)) {
        const property = type.properties[name];
        if (!property) continue;
        const childPath = [...path, name];
        const extra = shape.replacementPaths.some((candidate) => candidate.join('.') === childPath.join('.'));
        const kind = extra ? 'yes' : property.causesReplacement;
        if (kind === 'yes' || kind === 'maybe') {
          const reach: Reach = new Map([...around].map(([k, v]) => [k, new Set(v)]));
          this.reach(child, reach);
          out.push({ path: childPath.join('.'), kind, reach });
        } else {
          this.replacing(child, property.type, childPath, shape, around, out);
        }
      }
      return;
    }
    switch (type.type) {
      case 'array':
        if (Array.isArray(value)) {
          for (const element of value) this.replacing(element, type.element, path, shape, around, out);
        }
        return;
      case 'map':
        if (isPlainObject(value) && intrinsicName(value) === undefined) {
          for (const element of Object.values(value))
            this.replacing(element, type.element, path, shape, around, out);
        }
        return;
      case 'ref':
        this.replacing(value, this.spec.definition(type), path, shape, around, out);
        return;
      case 'union':
        for (const member of type.types) {
          if (member.type === 'ref') this.replacing(value, member, path, shape, around, out);
        }
        return;
      default:
        return;
    }
  }
}

/** The CloudFormation resource a template resource is judged as: a SAM resource as the one it becomes. */
const shapeOf = (type: string, spec: TemplateSpec): ResourceShape | undefined =>
  spec.resource(samTranslations[type]?.becomes ?? type);

/** Every parameter whose change replaces, creates or deletes a stateful resource; in template order. */
export const findReplacements = (template: Template, spec: TemplateSpec): Replacement[] => {
  const finder = new ReplacementFinder(template, spec);
  const out: Replacement[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || typeof resource.Type !== 'string') continue;
    const shape = shapeOf(resource.Type, spec);
    if (!shape?.stateful) continue;
    if (typeof resource.Condition === 'string') {
      for (const parameter of finder.byCondition.get(resource.Condition) ?? []) {
        out.push({
          parameter,
          resource: logicalId,
          type: shape.type,
          property: undefined,
          kind: 'condition',
          conditions: [resource.Condition],
          policy: resource.DeletionPolicy ?? 'Delete',
        });
      }
    }
    const found: Array<{ path: string; kind: 'yes' | 'maybe'; reach: Reach }> = [];
    finder.replacing(resource.Properties ?? {}, shape, [], shape, new Map(), found);
    for (const { path, kind, reach } of found) {
      for (const [parameter, conditions] of reach) {
        out.push({
          parameter,
          resource: logicalId,
          type: shape.type,
          property: path,
          kind,
          conditions: [...conditions],
          policy: resource.UpdateReplacePolicy ?? 'Delete',
        });
      }
    }
  }
  return out;
};

/** The property column: the property's path, or the resource's Condition. */
export const replacementProperty = (replacement: Replacement): string =>
  replacement.property ?? `Condition ${replacement.conditions.join(', ')}`;

/** The replacement column: yes, maybe, or created or deleted. */
export const replacementKind = (replacement: Replacement): string =>
  replacement.kind === 'condition' ? 'created or deleted' : replacement.kind;

/** What happens to the old resource, in words. */
const fate = (replacement: Replacement): string => {
  const kept = replacement.policy === 'Retain' || replacement.policy === 'RetainExceptOnCreate';
  if (replacement.kind === 'condition') {
    return kept
      ? `deleting it leaves it in the account (DeletionPolicy ${replacement.policy}), out of the stack`
      : 'deleting it deletes it and its data';
  }
  const how = replacement.kind === 'maybe' ? 'may replace it' : 'replaces it';
  return kept
    ? `${how}: a new, empty one; the old one is kept (UpdateReplacePolicy ${replacement.policy})`
    : `${how}: a new, empty one, and the old one and its data are deleted`;
};

/** The lines `npm run validate -- --replacements` prints. */
export const formatReplacements = (replacements: readonly Replacement[]): string[] => {
  if (replacements.length === 0) return ['No parameter replaces, creates or deletes a stateful resource.'];
  return [
    'Parameters whose change replaces, creates or deletes a stateful resource (from the resource specification):',
    ...replacements.map((replacement) => {
      const through =
        replacement.property !== undefined && replacement.conditions.length > 0
          ? ` (through ${replacement.conditions.join(', ')})`
          : '';
      return `  ${replacement.parameter}: ${replacement.resource} (${replacement.type}) ${replacementProperty(replacement)}${through}, ${replacementKind(replacement)}; ${fate(replacement)}`;
    }),
  ];
};
