import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { Property, PropertyType, Resource, TypeDefinition } from '@aws-cdk/service-spec-types';
import {
  type PropertySource,
  resourceCorrections,
  type SpecCorrection,
  samTranslations,
  typeCorrections,
  type ValueConstraint,
  valueConstraints,
} from './sam-spec-overlay.ts';

/**
 * The CloudFormation resource specification (`@aws-cdk/aws-service-spec`) with the SAM overlay applied: the one
 * source of resource types, properties, type definitions and attributes for the template checks.
 */

export type SpecDatabase = ReturnType<typeof loadAwsServiceSpecSync>;
export type { Property, PropertyType };

/** A number's range, which the spec does not carry; added from the overlay's value constraints. */
export interface Bounds {
  readonly minimum?: number;
  readonly maximum?: number;
}

/** The overlay's constraint on a type: enumerations on strings, ranges on numbers, each element of a list. */
const constrain = (type: PropertyType, constraint: ValueConstraint): PropertyType => {
  switch (type.type) {
    case 'array':
      return { ...type, element: constrain(type.element, constraint) };
    case 'string':
      return constraint.allowedValues ? { ...type, allowedValues: [...constraint.allowedValues] } : type;
    case 'integer':
    case 'number':
      return Object.assign({ ...type }, { minimum: constraint.minimum, maximum: constraint.maximum });
    default:
      return type;
  }
};

const constrained = (
  type: string,
  properties: Readonly<Record<string, Property>>,
): Record<string, Property> =>
  Object.fromEntries(
    Object.entries(properties).map(([name, property]) => {
      const constraint = valueConstraints[`${type}.${name}`];
      return [name, constraint ? { ...property, type: constrain(property.type, constraint) } : property];
    }),
  );

export interface ResourceShape {
  readonly type: string;
  readonly properties: Readonly<Record<string, Property>>;
  /** Attribute names `Fn::GetAtt` may use; undefined when the spec does not list them. */
  readonly attributes: ReadonlySet<string> | undefined;
  /** The spec's `isStateful`: the resource holds data that its replacement or deletion loses. */
  readonly stateful: boolean;
  /**
   * Property paths whose change replaces the resource besides those whose property says `causesReplacement`
   * (the spec's `additionalReplacementProperties`, for properties inside shared types such as tags).
   */
  readonly replacementPaths: ReadonlyArray<readonly string[]>;
}

export interface DefinitionShape {
  readonly name: string;
  readonly properties: Readonly<Record<string, Property>>;
}

export interface TemplateSpec {
  resource(type: string): ResourceShape | undefined;
  definition(type: PropertyType & { type: 'ref' }): DefinitionShape;
  /** Type names of the spec's SAM policy templates (`{ KinesisCrudPolicy: … }`). */
  readonly samPolicyTemplates: ReadonlySet<string>;
}

const primitive = (type: 'string' | 'boolean' | 'number' | 'json'): Property => ({ type: { type } });

export const createTemplateSpec = (db: SpecDatabase): TemplateSpec => {
  const rawResource = (type: string): Resource | undefined =>
    db.lookup('resource', 'cloudFormationType', 'equals', type)[0];

  const definitionNamed = (resourceType: string, name: string): TypeDefinition | undefined => {
    const resource = rawResource(resourceType);
    return resource
      ? db.follow('usesType', resource).find((link) => link.entity.name === name)?.entity
      : undefined;
  };

  const resolveSource = (name: string, source: PropertySource): Property => {
    if ('primitive' in source) return primitive(source.primitive);
    const dot = source.from.lastIndexOf('.');
    const properties =
      dot > 0
        ? definitionNamed(source.from.slice(0, dot), source.from.slice(dot + 1))?.properties
        : rawResource(source.from)?.properties;
    const property = properties?.[source.property ?? name];
    if (!property)
      throw new Error(`sam-spec-overlay: ${source.from} has no property ${source.property ?? name}`);
    return { ...property, required: false };
  };

  // A newer spec that already has a correction wins, so upgrading the spec never breaks the checks.
  const corrected = (
    properties: Readonly<Record<string, Property>>,
    correction: SpecCorrection | undefined,
  ): Record<string, Property> => {
    const result = { ...properties };
    for (const [from, to] of Object.entries(correction?.rename ?? {})) {
      const property = result[from];
      if (!property || result[to]) continue;
      delete result[from];
      result[to] = property;
    }
    for (const [name, source] of Object.entries(correction?.add ?? {})) {
      result[name] ??= resolveSource(name, source);
    }
    return result;
  };

  // Type definitions are shared by reference ($id), so corrections are keyed by id once resolved.
  const definitionCorrections = new Map<string, SpecCorrection>();
  for (const [key, correction] of Object.entries(typeCorrections)) {
    const dot = key.lastIndexOf('.');
    const definition = definitionNamed(key.slice(0, dot), key.slice(dot + 1));
    if (!definition) throw new Error(`sam-spec-overlay: the spec has no type ${key}`);
    definitionCorrections.set(definition.$id, correction);
  }

  const resources = new Map<string, ResourceShape | undefined>();
  const definitions = new Map<string, DefinitionShape>();

  const resource = (type: string): ResourceShape | undefined => {
    if (resources.has(type)) return resources.get(type);
    const raw = rawResource(type);
    let shape: ResourceShape | undefined;
    if (raw) {
      const attributesOf = rawResource(samTranslations[type]?.becomes ?? type)?.attributes ?? {};
      const names = Object.keys(attributesOf);
      shape = {
        type,
        properties: constrained(type, corrected(raw.properties, resourceCorrections[type])),
        attributes: names.length > 0 ? new Set(names) : undefined,
        stateful: raw.isStateful === true,
        replacementPaths: raw.additionalReplacementProperties ?? [],
      };
    }
    resources.set(type, shape);
    return shape;
  };

  const definition = (type: PropertyType & { type: 'ref' }): DefinitionShape => {
    const id = type.reference.$ref;
    const cached = definitions.get(id);
    if (cached) return cached;
    const raw = db.get('typeDefinition', id);
    const shape = { name: raw.name, properties: corrected(raw.properties, definitionCorrections.get(id)) };
    definitions.set(id, shape);
    return shape;
  };

  const samPolicyTemplates = new Set(
    Object.keys(definitionNamed('AWS::Serverless::Function', 'SAMPolicyTemplate')?.properties ?? {}),
  );

  return { resource, definition, samPolicyTemplates };
};

let shared: TemplateSpec | undefined;

/** The spec loaded once per process (it takes a second or so to load). */
export const defaultTemplateSpec = (): TemplateSpec => {
  shared ??= createTemplateSpec(loadAwsServiceSpecSync());
  return shared;
};
