import { EventSourceMappingConfigError, kinesisMappingConfig, sqsMappingConfig } from '#local/esm/config.ts';
import { type LocalStack, planStack } from '#local/stack.ts';
import { environmentSizeProblem } from './environment.ts';
import type { Finding } from './findings.ts';
import type { Template } from './parse.ts';
import { LocalLimitError } from './resolve.ts';

/**
 * What the resource specification cannot say, checked on the template as CloudFormation would resolve it with its
 * parameter defaults (an environment's overrides are checked when it is planned: `npm start`, `sam deploy`):
 * - each default against its own AllowedValues, MinValue, MaxValue, AllowedPattern and lengths;
 * - the conditions, and references to resources that a false condition leaves out;
 * - each function's environment variables against Lambda's 4 KB, with Globals and the values resolved;
 * - each event source mapping's properties against AWS's ranges and rules (BatchSize, the batching window,
 *   ParallelizationFactor, MaximumRetryAttempts, StartingPosition and its timestamp, FunctionResponseTypes…):
 *   the checks the local runtime makes before it polls (local/esm/config.ts), less what it only cannot emulate.
 * The specification gives the properties' names and types, not these values' ranges, and references are checked
 * without the conditions by references.ts.
 */
export const checkPlan = (template: Template): Finding[] => {
  // A parameter without a default takes its value at deploy: the template cannot be resolved without it.
  const parameters = Object.values(template.Parameters ?? {}) as Array<Record<string, unknown>>;
  if (parameters.some((parameter) => parameter?.Default === undefined)) return [];
  let stack: LocalStack;
  try {
    stack = planStack(template, {
      parameterOverrides: {},
      region: 'us-east-1',
      accountId: '123456789012',
      stackName: 'validate',
      endpoint: 'http://127.0.0.1:4566',
    });
  } catch (error) {
    // What the local runtime cannot do says nothing about the template: the other checks cover it.
    if (error instanceof LocalLimitError) return [];
    return [
      {
        resource: 'Template',
        path: '',
        message: `resolved with its parameter defaults, as CloudFormation would: ${(error as Error).message}`,
      },
    ];
  }
  const findings: Finding[] = [];
  for (const fn of Object.values(stack.functions)) {
    // Names are checked as written (environment.ts); the size needs the values.
    const size = environmentSizeProblem(fn.environment);
    if (size) {
      findings.push({
        resource: fn.logicalId,
        path: 'Environment.Variables',
        message: `${size} (with the parameter defaults)`,
      });
    }
    for (const event of fn.events) {
      try {
        if (event.type === 'Kinesis') kinesisMappingConfig(event.properties, { emulation: false });
        if (event.type === 'SQS') {
          const fifo = String(event.properties.Queue ?? '').endsWith('.fifo');
          sqsMappingConfig(event.properties, { fifo, emulation: false });
        }
      } catch (error) {
        if (!(error instanceof EventSourceMappingConfigError)) throw error;
        for (const problem of error.problems) {
          findings.push({
            resource: fn.logicalId,
            path: `Events.${event.name}.Properties`,
            message: `${problem} (with the parameter defaults)`,
          });
        }
      }
    }
  }
  return findings;
};
