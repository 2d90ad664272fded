import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildFunctions } from '#local/build/bundle.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { describeNames, findByName } from '#local/functions/function-names.ts';
import { LocalFunction } from '#local/functions/runner.ts';
import {
  DataDirInUseError,
  type LocalRuntime,
  localFunctionEnvironment,
  startRuntime,
} from '#local/runtime.ts';
import { planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';
import { parseParameterOverrides } from '#local/template/resolve.ts';
import { flagErrorMessage, isFlagError, parseFlags } from '#scripts/lib/flags.ts';

/**
 * `npm run invoke -- <FunctionLogicalId> -e events/<file>.json [--env-vars env.json]`, like `sam local invoke`
 * (the function's template FunctionName is taken too):
 * the function runs once, in its own worker, against the running local runtime's resources, or against a
 * runtime it boots for the call when none is running. Logs go to stderr, the response to stdout.
 */

const USAGE = `usage: npm run invoke -- <FunctionLogicalId> [options]

  The function may also be named by its template FunctionName (local-reprocessor).

  -e, --event <file>             event JSON (default: {})
  -n, --env-vars <file>          environment overrides in SAM's format:
                                 {"<FunctionLogicalId>": {"VAR": "v"}, "Parameters": {"VAR": "v"}}
  --template <file>              template (default: template.yaml)
  --parameter-overrides "<K=V>"  parameter values, as sam deploy takes them
  --endpoint <url>               the running local runtime's AWS endpoint (default: http://127.0.0.1:4566)
  --bundle-dir <dir>             where bundles are built (default: dist/functions)
  --no-build                     use the bundle already in --bundle-dir

Exit status: 0 when the function succeeded, 1 when it failed, 2 for bad usage.`;

/** The event file (`-e`), named in its error when it cannot be read or parsed. */
const readEvent = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`--event ${path}: ${(error as Error).message}`);
  }
};

const readEnvVars = (path: string, functionId: string): Record<string, string> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`--env-vars ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`--env-vars ${path}: expected an object keyed by function logical id or "Parameters"`);
  }
  const sections = parsed as Record<string, Record<string, unknown>>;
  const merged = { ...(sections.Parameters ?? {}), ...(sections[functionId] ?? {}) };
  return Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, String(v)]));
};

/**
 * Whether a local runtime answers at the endpoint: `running`, `absent` when nothing answers (a runtime is booted for
 * the call), or the HTTP status of another server, such as the runtime's own HTTP API (`--port`), given by mistake.
 */
const runtimeAt = async (endpoint: string): Promise<'running' | 'absent' | number> => {
  let response: Response;
  try {
    response = await fetch(`${endpoint}/_local/faults`, { signal: AbortSignal.timeout(1_000) });
  } catch {
    return 'absent';
  }
  await response.body?.cancel();
  return response.ok ? 'running' : response.status;
};

const parseInvokeFlags = () =>
  parseFlags({
    allowPositionals: true,
    options: {
      event: { type: 'string', short: 'e' },
      'env-vars': { type: 'string', short: 'n' },
      template: { type: 'string', default: 'template.yaml' },
      'parameter-overrides': { type: 'string', default: '' },
      endpoint: { type: 'string', default: 'http://127.0.0.1:4566' },
      'bundle-dir': { type: 'string', default: 'dist/functions' },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });

const main = async (): Promise<number> => {
  let flags: ReturnType<typeof parseInvokeFlags>;
  try {
    flags = parseInvokeFlags();
  } catch (error) {
    if (!isFlagError(error)) throw error;
    console.error(`${flagErrorMessage(error as Error)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = flags;
  if (values.help || positionals.length !== 1) {
    (values.help ? console.log : console.error)(USAGE);
    return values.help ? 0 : 2;
  }
  const asked = positionals[0]!;
  const templatePath = resolve(values.template);
  const template = loadTemplate(templatePath);
  const parameterOverrides = parseParameterOverrides(values['parameter-overrides']);
  const event = values.event ? readEvent(values.event) : {};

  const bundleRoot = resolve(values['bundle-dir']);
  const planFor = (endpoint: string) =>
    planStack(template, {
      parameterOverrides,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: 'local',
      endpoint,
    });
  // Checked before a runtime is booted for the call, which takes seconds. A function goes by its logical id or its
  // template FunctionName, as the Invoke API takes it; --env-vars is keyed by the logical id, as sam local's is.
  const functions = Object.values(planFor(values.endpoint).functions);
  const named = findByName(functions, asked);
  if (!named) {
    console.error(
      `no function '${asked}' in ${values.template}; it has ${functions.map(describeNames).join(', ')}`,
    );
    return 2;
  }
  const functionId = named.logicalId;
  const overrides = values['env-vars'] ? readEnvVars(values['env-vars'], functionId) : {};
  let booted: LocalRuntime | undefined;
  let endpoint = values.endpoint;
  const found = await runtimeAt(endpoint);
  if (typeof found === 'number') {
    // Another server answers there: a runtime booted for the call would not be the one the user meant.
    console.error(
      `${endpoint} answers, but is no local runtime's AWS endpoint (GET /_local/faults answered HTTP ${found}). Is it its HTTP API (npm start's --port)? Give the AWS endpoint (--endpoint-port, 4566 by default) with --endpoint`,
    );
    return 2;
  }
  if (found === 'absent') {
    console.error(`no local runtime at ${endpoint}; starting one for this call`);
    booted = await startRuntime({
      templatePath,
      parameterOverrides,
      apiPort: 0,
      endpointPort: 0,
      dataDir: '.local',
      skipBuild: values['no-build'],
      bundleRoot,
      log: (source, line) => console.error(`[${source}] ${line}`),
    }).catch((error: Error) => {
      // A runtime started with `npm start` on another port holds the data folder.
      if (!(error instanceof DataDirInUseError)) throw error;
      throw new Error(
        `the data folder .local is in use by a local runtime that is not at ${endpoint}; give its AWS endpoint with --endpoint http://127.0.0.1:<endpoint-port> (${error.message})`,
      );
    });
    endpoint = booted.endpoint;
  }
  try {
    const definition = planFor(endpoint).functions[functionId]!;
    if (!values['no-build'] && !booted)
      await buildFunctions(template, templatePath, bundleRoot, [functionId]);
    const fn = new LocalFunction(
      { ...definition, environment: { ...definition.environment, ...overrides } },
      {
        bundleRoot,
        baseEnvironment: localFunctionEnvironment(endpoint),
        log: (_name, line) => console.error(line),
      },
    );
    const result = await fn.invoke(event);
    await fn.close();
    console.error(
      `REPORT RequestId: ${result.requestId} Duration: ${result.durationMs.toFixed(2)} ms${result.functionError ? ` Error: ${result.functionError}` : ''}`,
    );
    console.log(JSON.stringify(result.payload, null, 2));
    return result.functionError ? 1 : 0;
  } finally {
    await booted?.stop();
  }
};

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`invoke failed: ${error.message}`);
    process.exit(2);
  },
);
