import { checkEnvironmentNames } from './environment.ts';
import type { Finding } from './findings.ts';
import { checkHandlers } from './handlers.ts';
import { checkIam } from './iam.ts';
import { checkNames } from './names.ts';
import { checkObservability } from './observability.ts';
import type { Template } from './parse.ts';
import { checkPlan } from './plan-check.ts';
import { checkCycles, checkReferences } from './references.ts';
import { checkSchema } from './schema.ts';
import { defaultTemplateSpec, type TemplateSpec } from './spec.ts';
import { checkWiring } from './wiring.ts';

/**
 * Offline checks of a SAM template, parsed by parse.ts: resource types, properties and value types against the
 * CloudFormation resource specification with its SAM overlay, resource names against the services' rules (names.ts),
 * functions' environment variables against Lambda's (environment.ts),
 * references, handler files, least-privilege IAM, the pipeline's wiring rules, alarms and dashboards against the
 * metrics AWS and the functions publish, and the template resolved with its parameter defaults (plan-check.ts).
 * cfn-lint and `sam validate` need Python and the network; these need neither.
 */

export type { Finding } from './findings.ts';
export { formatFinding } from './findings.ts';

export interface ValidateOptions {
  /** The template's folder: CodeUri and esbuild entry points are relative to it. */
  readonly root: string;
  /** The resource specification; loaded once per process when not given. */
  readonly spec?: TemplateSpec;
}

export const validateTemplate = (
  template: Template,
  { root, spec = defaultTemplateSpec() }: ValidateOptions,
): Finding[] => {
  const references = checkReferences(template, spec);
  return [
    ...checkSchema(template, spec),
    ...checkNames(template),
    ...checkEnvironmentNames(template),
    ...references,
    ...checkCycles(template),
    ...checkHandlers(template, root),
    ...checkIam(template, spec),
    ...checkWiring(template),
    ...checkObservability(template),
    // Resolving needs references that hold; when one does not, it is reported once, above.
    ...(references.length === 0 ? checkPlan(template) : []),
  ];
};
