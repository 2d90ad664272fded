import { at, type Finding, finding, type Location } from './findings.ts';
import { branches, intrinsicName, isPlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';
import { SELF_RESOURCE_POLICIES, STAR_ONLY_ACTIONS } from './sam-spec-overlay.ts';
import type { TemplateSpec } from './spec.ts';

/**
 * Rule 5: least privilege in every inline policy document (any `{ Statement: … }` in a resource: SAM function
 * Policies, IAM roles and policies, bucket, queue and key policies). In an Allow statement no action is `*`,
 * `service:*` or a pattern (`kinesis:Put*`, except in a key's own policy, where AWS's key administrators are
 * written that way), there is no NotAction or NotResource, there is a Resource (but for trust policies), no ARN
 * names any region, any account or every resource of a service, `Resource: '*'` only appears with actions that
 * support nothing else, and `Principal: '*'` only with a Condition. Effect is Allow or Deny, as IAM spells them.
 * Deny statements may use wildcards (they restrict). SAM policy templates and managed policies in SAM `Policies`
 * are reported too: this project writes its statements out. A SAM function with its own `Role` must not have `Policies`: SAM ignores
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
/** `kinesis:Put*`, `s3:*Object`: a pattern that grants whatever actions the service adds under it. */
const isPatternAction = (action: string): boolean => /^[^:]+:.*[*?]/.test(action);

/** The text of a literal ARN or of an `Fn::Sub` template, where `${…}` stands for a value not known here. */
const arnText = (value: unknown): string | undefined => {
  if (typeof value === 'string') return value;
  if (isPlainObject(value) && intrinsicName(value) === 'Fn::Sub') {
    const argument = value['Fn::Sub'];
    const text = Array.isArray(argument) ? argument[0] : argument;
    return typeof text === 'string' ? text : undefined;
  }
  return undefined;
};

/** What is too wide in an ARN: any region or account, or every resource of a service. */
const wideArn = (arn: string): string | undefined => {
  // A `${…}` is one value, whatever colons its name holds (`${AWS::Region}`).
  const parts = arn.replace(/\$\{[^}]*\}/g, 'v').split(':');
  if (parts[0] !== 'arn' || parts.length < 6) return undefined;
  const [, , service, region, account] = parts;
  const resource = parts.slice(5).join(':');
  if (region === '*' || account === '*') return `any ${region === '*' ? 'region' : 'account'}`;
  if (resource === '*') return `every ${service} resource`;
  return undefined;
};

const isEveryone = (principal: unknown): boolean =>
  principal === '*' ||
  (isPlainObject(principal) &&
    elements(principal.AWS, { resource: '', path: '' }).some(({ value }) => value === '*'));

export interface StatementKind {
  /** A key policy or the like, about the resource that holds it: its Resource is that resource. */
  readonly selfResource: boolean;
  /** A role's trust policy: it names principals, and has no Resource. */
  readonly trust: boolean;
}

const checkStatement = (
  statement: unknown,
  location: Location,
  { selfResource, trust }: StatementKind,
  out: Finding[],
): void => {
  if (!isPlainObject(statement)) return;
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') {
    out.push(
      finding(
        at(location, 'Effect'),
        `Effect must be Allow or Deny, as IAM spells them, got ${JSON.stringify(statement.Effect)}`,
      ),
    );
    return;
  }
  if (statement.Effect !== 'Allow') return;
  for (const name of ['NotAction', 'NotResource'] as const) {
    if (statement[name] !== undefined) {
      out.push(
        finding(
          at(location, name),
          `${name} in an Allow grants every other ${name === 'NotAction' ? 'action' : 'resource'}: list them instead`,
        ),
      );
    }
  }
  if (!selfResource && statement.Principal !== undefined && statement.Condition === undefined) {
    if (isEveryone(statement.Principal)) {
      out.push(
        finding(
          at(location, 'Principal'),
          "Principal '*' lets anyone in: name the principals, or add a Condition",
        ),
      );
    }
  }
  const actions = elements(statement.Action, at(location, 'Action'));
  for (const { value, location: actionLocation } of actions) {
    if (typeof value !== 'string') continue;
    if (isWildcardAction(value) || (!selfResource && isPatternAction(value))) {
      out.push(finding(actionLocation, `wildcard action ${value}: list the actions instead`));
    }
  }
  if (selfResource || trust) return;
  if (statement.Resource === undefined && statement.NotResource === undefined) {
    out.push(finding(location, 'an Allow statement with no Resource: IAM refuses the policy; name the ARNs'));
    return;
  }
  const resources = elements(statement.Resource, at(location, 'Resource'));
  for (const { value, location: resourceLocation } of resources) {
    const arn = arnText(value);
    const wide = arn === undefined ? undefined : wideArn(arn);
    if (wide) out.push(finding(resourceLocation, `${arn} names ${wide}: name the resources instead`));
  }
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
  kind: StatementKind,
  out: Finding[],
) => {
  const statements = document.Statement;
  const statementsLocation = at(location, 'Statement');
  for (const { value, location: statementLocation } of elements(statements, statementsLocation)) {
    checkStatement(value, statementLocation, kind, out);
  }
};

/** Finds policy documents anywhere below `value`. */
const walk = (value: unknown, location: Location, kind: StatementKind, out: Finding[]): void => {
  if (Array.isArray(value)) {
    value.forEach((element, index) => {
      walk(element, at(location, index), kind, out);
    });
    return;
  }
  if (!isPlainObject(value)) return;
  if ('Statement' in value && intrinsicName(value) === undefined) {
    checkDocument(value, location, kind, out);
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    // Arguments of intrinsic functions stay at the location of the property they compute.
    walk(child, intrinsicName(value) === undefined ? at(location, key) : location, kind, out);
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
        checkDocument(value, entryLocation, { selfResource: false, trust: false }, out);
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
        walk(
          value,
          at(location, name),
          { selfResource: SELF_RESOURCE_POLICIES[type] === name, trust: name === 'AssumeRolePolicyDocument' },
          out,
        );
      }
    }
  }
  return out;
};
