import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { atMost, type Benchmark, type ResultRow } from '#bench/lib/results.ts';
import { median } from '#bench/lib/stats.ts';
import { buildFunctions, type FunctionBuild, formatBytes } from '#local/build/bundle.ts';
import { planStack } from '#local/stack.ts';
import { loadTemplate, type Template } from '#local/template/parse.ts';

/**
 * 5. Cold start: each function's bundle as `sam build` makes it (local/build/bundle.ts), its module
 * initialisation time in a fresh Node process (median of several), and its largest dependency. The baseline is an
 * empty module loaded by the same harness, so the ratio shows what the function's own init adds.
 */

export const BUNDLE_LIMIT_BYTES = 300 * 1024;
export const INIT_LIMIT_MS = 150;
const RUNS = 7;

const run = promisify(execFile);

/** Imports the module given as the first argument and prints how long the import took, in ms. */
const HARNESS = `const url = process.argv[1];
const started = performance.now();
await import(url);
process.stdout.write(JSON.stringify({ ms: performance.now() - started }));
process.exit(0);`;

const initMillis = async (file: string, env: Record<string, string>): Promise<number> => {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', HARNESS, pathToFileURL(file).href],
    {
      env,
      timeout: 30_000,
    },
  );
  return (JSON.parse(stdout) as { ms: number }).ms;
};

/** The template with every function's whole AWS SDK left to the runtime: the other way to build it, compared. */
const withRuntimeSdk = (template: Template): Template => {
  const copy = structuredClone(template);
  for (const resource of Object.values(copy.Resources)) {
    const properties = resource.Metadata?.BuildProperties as Record<string, unknown> | undefined;
    if (resource.Type === 'AWS::Serverless::Function' && properties) properties.External = ['@aws-sdk/*'];
  }
  return copy;
};

/** Bytes of the bundle that are the AWS SDK (its clients and the Smithy runtime under them). */
const sdkBytes = (build: FunctionBuild): number =>
  build.largestInputs
    .filter(({ name }) => name.startsWith('@aws-sdk/') || name.startsWith('@smithy/'))
    .reduce((sum, { bytes }) => sum + bytes, 0);

const medianInit = async (file: string, env: Record<string, string>): Promise<number> => {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) times.push(await initMillis(file, env));
  return median(times);
};

export const coldStart: Benchmark = {
  id: 5,
  title: 'Cold start',
  async run({ log }) {
    const templatePath = resolve('template.yaml');
    const template = loadTemplate(templatePath);
    const stack = planStack(template, {
      region: 'us-east-1',
      accountId: '000000000000',
      stackName: 'local',
      endpoint: 'http://127.0.0.1:4566',
    });
    const outRoot = mkdtempSync(join(tmpdir(), 'bench-cold-start-'));
    try {
      const builds = await buildFunctions(template, templatePath, join(outRoot, 'template'));
      const runtimeSdkBuilds = await buildFunctions(
        withRuntimeSdk(template),
        templatePath,
        join(outRoot, 'runtime-sdk'),
      );
      const empty = join(outRoot, 'empty.mjs');
      writeFileSync(empty, 'export const handler = async () => ({});\n');
      const rows: ResultRow[] = [];
      const failures: string[] = [];
      for (const build of builds) {
        const fn = stack.functions[build.logicalId]!;
        // The environment Lambda would give the function (template.yaml, Globals included), nothing else.
        const env: Record<string, string> = {
          PATH: process.env.PATH ?? '',
          AWS_REGION: 'us-east-1',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_LAMBDA_FUNCTION_NAME: fn.name,
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
          ...fn.environment,
        };
        const dependency = build.largestInputs.find((input) => input.name !== '(project)');
        const own = build.largestInputs.find((input) => input.name === '(project)');
        rows.push({
          case: build.logicalId,
          measured: { label: 'bundle, minified', value: build.bytes / 1024, unit: 'KiB' },
          target: atMost(build.bytes / 1024, BUNDLE_LIMIT_BYTES / 1024, '≤ 300 KiB', 'measured'),
          detail:
            `largest dependency: ${dependency ? `${dependency.name} (${formatBytes(dependency.bytes)})` : 'none'}` +
            `; AWS SDK ${formatBytes(sdkBytes(build))}` +
            `${own ? `; project code ${formatBytes(own.bytes)}` : ''}`,
        });
        let init: number;
        try {
          init = await medianInit(join(build.outdir, build.file), env);
        } catch (error) {
          // One function that cannot start must not hide the others' figures.
          failures.push(`${build.logicalId} did not initialise: ${(error as Error).message.split('\n')[0]}`);
          continue;
        }
        const baseline = await medianInit(empty, env);
        log(
          `${build.logicalId}: ${formatBytes(build.bytes)}, init ${init.toFixed(1)} ms (empty module ${baseline.toFixed(1)} ms)`,
        );
        rows.push({
          case: build.logicalId,
          measured: { label: `module init, median of ${RUNS}`, value: init, unit: 'ms' },
          baseline: { label: 'empty module, same harness', value: baseline, unit: 'ms' },
          ratio: { value: init / baseline, label: '× empty module' },
          target: atMost(init, INIT_LIMIT_MS, `≤ ${INIT_LIMIT_MS} ms`, 'measured'),
        });
        // The same function with its whole SDK left to the runtime, loaded from complete packages at init.
        const other = runtimeSdkBuilds.find((candidate) => candidate.logicalId === build.logicalId);
        if (other) {
          const otherInit = await medianInit(join(other.outdir, other.file), env);
          rows.push({
            case: build.logicalId,
            measured: {
              label: 'whole AWS SDK left to the runtime, module init',
              value: otherInit,
              unit: 'ms',
            },
            baseline: { label: 'the template build above', value: init, unit: 'ms' },
            ratio: { value: otherInit / init, label: '× the template build' },
            detail: `bundle ${formatBytes(other.bytes)}; loads ${other.runtimeImports.join(', ') || 'no SDK package'} at init`,
          });
        }
      }
      return {
        rows,
        notes: [
          ...failures,
          'Bundles are built as sam build would (template.yaml BuildProperties); sizes exclude the source map.',
          "The SDK clients a function uses on every invocation are bundled (tree-shaken ES modules); the clients it uses only now and then (S3, SQS, Lambda) and the credential providers Lambda never reaches are External, left to the nodejs24.x runtime and imported where first needed. The 'AWS SDK' figure is the SDK's share of the bundle.",
          "The 'whole AWS SDK left to the runtime' rows build the same functions with External '@aws-sdk/*', the other way to build them, and load them in the same harness: the harness resolves the SDK from the project node_modules, as Lambda resolves it from the runtime, where every client is a complete CommonJS package.",
          `Init is the time to import the bundle in a fresh \`node\` process with the function's template environment (NODE_OPTIONS included), median of ${RUNS} processes; Node's own start-up is not counted, as Lambda's runtime start is not part of a function's init either.`,
        ],
      };
    } finally {
      rmSync(outRoot, { recursive: true, force: true });
    }
  },
};
