import { at, type Finding, finding, type Location } from './findings.ts';
import { isPlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';

/**
 * A function's environment variables as Lambda takes them (the Lambda developer guide, "Working with Lambda
 * environment variables"): keys that start with a letter, of at least two letters, digits and underscores
 * (`[a-zA-Z]([a-zA-Z0-9_])+`, the API's Environment.Variables key pattern), none of the keys Lambda reserves, and at
 * most 4 KB in all. CreateFunction refuses anything else with InvalidParameterValueException ("… contains reserved
 * keys that are currently not supported for modification"; "… exceeded the 4KB limit. String measured: {…}", the
 * variables as one JSON object), so a template that sets them cannot be deployed.
 */

/**
 * The keys Lambda sets itself and refuses in a function's configuration ("Defined runtime environment variables":
 * "The keys for these environment variables are reserved and cannot be set in your function configuration").
 * TZ, LANG, PATH, NODE_PATH and the X-Ray addresses may be set: the same page lists them as not reserved.
 */
export const LAMBDA_RESERVED_VARIABLES: ReadonlySet<string> = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

/** The most bytes a function's variables take, measured as Lambda measures them: their JSON object. */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4096;

const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]+$/;

/** What Lambda would refuse in one variable's name, if anything. */
export const variableNameProblem = (name: string): string | undefined => {
  if (LAMBDA_RESERVED_VARIABLES.has(name)) {
    return `${name} is reserved by Lambda, which sets it itself: a function's configuration cannot set it (CreateFunction refuses the template's variables)`;
  }
  if (!VARIABLE_NAME.test(name)) {
    return `'${name}' is not a variable name Lambda takes: a letter, then at least one more letter, digit or underscore`;
  }
  return undefined;
};

/** Lambda's refusal of a function's resolved variables for their size, if they are over 4 KB. */
export const environmentSizeProblem = (variables: Readonly<Record<string, string>>): string | undefined => {
  const bytes = Buffer.byteLength(JSON.stringify(variables), 'utf8');
  return bytes > LAMBDA_ENVIRONMENT_MAX_BYTES
    ? `the variables take ${bytes} bytes as Lambda measures them (their JSON object), over its limit of ${LAMBDA_ENVIRONMENT_MAX_BYTES} (4 KB)`
    : undefined;
};

/** What Lambda would refuse in a function's resolved variables: their names, then their size. */
export const environmentProblems = (variables: Readonly<Record<string, string>>): string[] => {
  const size = environmentSizeProblem(variables);
  return [
    ...Object.keys(variables).flatMap((name) => variableNameProblem(name) ?? []),
    ...(size === undefined ? [] : [size]),
  ];
};

const FUNCTION_TYPES = new Set(['AWS::Serverless::Function', 'AWS::Lambda::Function']);

/**
 * The variable names of every function, and of SAM's Globals, as written: names are literal in a template, so this
 * holds whatever the parameters. Their size depends on the values, and is checked on the resolved template
 * (plan-check.ts).
 */
export const checkEnvironmentNames = (template: Template): Finding[] => {
  const findings: Finding[] = [];
  const check = (location: Location, environment: unknown) => {
    const variables = isPlainObject(environment) ? environment.Variables : undefined;
    if (!isPlainObject(variables)) return;
    const where = at(at(location, 'Environment'), 'Variables');
    for (const name of Object.keys(variables)) {
      const problem = variableNameProblem(name);
      if (problem) findings.push(finding(at(where, name), problem));
    }
  };
  const globals = template.Globals?.Function;
  if (isPlainObject(globals)) check({ resource: 'Globals', path: 'Function' }, globals.Environment);
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (!FUNCTION_TYPES.has(resource.Type)) continue;
    const properties = resource.Properties;
    if (isPlainObject(properties)) check({ resource: id, path: '' }, properties.Environment);
  }
  return findings;
};
