import { at, type Finding, finding, type Location } from './findings.ts';
import { branches, intrinsicName, isPlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';
import { SELF_RESOURCE_POLICIES, STAR_ONLY_ACTIONS } from './sam-spec-overlay.ts';
import type { TemplateSpec } from './spec.ts';

/**
 * Rule 5: least privilege in every inline policy document (any `{ Statement: … }` in a resource: SAM function
 * Policies, IAM roles and policies, bucket, queue and key policies). In an Allow statement no action is `*` or
 * `service:*`, and `Resource: '*'` only appears with actions that support nothing else. Deny statements may use
 * wildcards (they restrict). SAM policy templates and managed policies in SAM `Policies` are reported too: this
 * project writes its statements out. A SAM function with its own `Role` must not have `Policies`: SAM ignores
 * them then, and a reader would trust statements that grant nothing.
 */

const SAM_TYPES_WITH_POLICIES = new Set(['AWS::Serverless::Function', 'AWS::Serverless::StateMachine']);

interface Located {
  readonly value: unknown;
  readonly location: Location;
}

/** The literal-or-intrinsic elements of a string-or-list field, with `Fn::If` branches expanded. */
const elements = (value: unknown, location: Location): Located[] => {
  if (Array.isArray(value)) {
    return value.flatMap((element, index) =>
      branches(element).map((branch) => ({ value: branch, location: at(location, index) })),
    );
  }
  return branches(value).flatMap((branch) =>
    Array.isArray(branch) ? elements(branch, location) : [{ value: branch, location }],
  );
};

const isWildcardAction = (action: string): boolean => action === '*' || /^[^:]+:\*$/.test(action);

const checkStatement = (
  statement: unknown,
  location: Location,
  selfResource: boolean,
  out: Finding[],
): void => {
  if (!isPlainObject(statement) || statement.Effect !== 'Allow') return;
  const actions = elements(statement.Action, at(location, 'Action'));
  for (const { value, location: actionLocation } of actions) {
    if (typeof value === 'string' && isWildcardAction(value)) {
      out.push(finding(actionLocation, `wildcard action ${value}: list the actions instead`));
    }
  }
  if (selfResource) return;
  const resources = elements(statement.Resource, at(location, 'Resource'));
  const star = resources.find(({ value }) => value === '*');
  if (!star) return;
  const scopable = actions
    .map(({ value }) => value)
    .filter((action) => typeof action !== 'string' || !STAR_ONLY_ACTIONS.has(action))
    .map((action) => (typeof action === 'string' ? action : JSON.stringify(action)));
  if (actions.length === 0 || scopable.length > 0) {
    out.push(
      finding(
        star.location,
        `Resource '*' grants ${scopable.join(', ') || 'the statement'} on every resource: name the ARNs instead`,
      ),
    );
  }
};

const checkDocument = (
  document: Record<string, unknown>,
  location: Location,
  selfResource: boolean,
  out: Finding[],
) => {
  const statements = document.Statement;
  const statementsLocation = at(location, 'Statement');
  for (const { value, location: statementLocation } of elements(statements, statementsLocation)) {
    checkStatement(value, statementLocation, selfResource, out);
  }
};

/** Finds policy documents anywhere below `value`. */
const walk = (value: unknown, location: Location, selfResource: boolean, out: Finding[]): void => {
  if (Array.isArray(value)) {
    value.forEach((element, index) => {
      walk(element, at(location, index), selfResource, out);
    });
    return;
  }
  if (!isPlainObject(value)) return;
  if ('Statement' in value && intrinsicName(value) === undefined) {
    checkDocument(value, location, selfResource, out);
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    // Arguments of intrinsic functions stay at the location of the property they compute.
    walk(child, intrinsicName(value) === undefined ? at(location, key) : location, selfResource, out);
  }
};

const checkSamPolicies = (
  policies: unknown,
  location: Location,
  spec: TemplateSpec,
  out: Finding[],
): void => {
  for (const { value, location: entryLocation } of elements(policies, location)) {
    if (typeof value === 'string') {
      out.push(finding(entryLocation, `managed policy ${value}: write explicit statements instead`));
    } else if (isPlainObject(value) && intrinsicName(value) === undefined) {
      if ('Statement' in value) {
        checkDocument(value, entryLocation, false, out);
        continue;
      }
      const [name] = Object.keys(value);
      out.push(
        finding(
          entryLocation,
          name !== undefined && spec.samPolicyTemplates.has(name)
            ? `SAM policy template ${name}: write explicit statements instead`
            : 'expected a policy document with a Statement',
        ),
      );
    }
  }
};

export const checkIam = (template: Template, spec: TemplateSpec): Finding[] => {
  const out: Finding[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || !isPlainObject(resource.Properties)) continue;
    const type = String(resource.Type);
    const location = { resource: logicalId, path: '' };
    const role = resource.Properties.Role ?? template.Globals?.Function?.Role;
    if (type === 'AWS::Serverless::Function' && role !== undefined && 'Policies' in resource.Properties) {
      out.push(
        finding(
          at(location, 'Policies'),
          'SAM ignores Policies when the function has a Role: put them in the role',
        ),
      );
    }
    for (const [name, value] of Object.entries(resource.Properties)) {
      if (SAM_TYPES_WITH_POLICIES.has(type) && name === 'Policies') {
        checkSamPolicies(value, at(location, name), spec, out);
      } else {
        walk(value, at(location, name), SELF_RESOURCE_POLICIES[type] === name, out);
      }
    }
  }
  return out;
};
