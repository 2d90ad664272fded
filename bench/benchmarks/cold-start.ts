import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { atMost, type Benchmark, type ResultRow } from '#bench/lib/results.ts';
import { median } from '#bench/lib/stats.ts';
import { buildFunctions, formatBytes } from '#local/build/bundle.ts';
import { planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';

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
      const builds = await buildFunctions(template, templatePath, outRoot);
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
        // What the AWS SDK alone adds: the runtime-provided packages the function imports at load, nothing else.
        let sdkOnly: number | undefined;
        if (build.runtimeImports.length > 0) {
          const file = join(build.outdir, 'sdk-only.mjs');
          writeFileSync(file, build.runtimeImports.map((name) => `import '${name}';\n`).join(''));
          sdkOnly = await medianInit(file, env);
        }
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
        if (sdkOnly !== undefined) {
          rows.push({
            case: build.logicalId,
            measured: { label: 'loading its AWS SDK packages alone', value: sdkOnly, unit: 'ms' },
            baseline: { label: 'the module init above', value: init, unit: 'ms' },
            ratio: { value: sdkOnly / init, label: 'of the init' },
            detail: build.runtimeImports.join(', '),
          });
        }
      }
      return {
        rows,
        notes: [
          ...failures,
          'Bundles are built as sam build would (template.yaml BuildProperties); sizes exclude the source map.',
          'The SDK rows load, in the same harness, only the AWS SDK packages the function imports when it loads (S3, Lambda and SQS clients, and aws-kinesis-agg, are imported where first needed and are not in them): what the function would cost with no code of its own.',
          'The AWS SDK for JavaScript v3 is External (the nodejs24.x runtime provides it), so it is not in the bundle sizes; its load is in the init time: the harness resolves it from the project node_modules, as Lambda resolves it from the runtime.',
          `Init is the time to import the bundle in a fresh \`node\` process with the function's template environment (NODE_OPTIONS included), median of ${RUNS} processes; Node's own start-up is not counted, as Lambda's runtime start is not part of a function's init either.`,
        ],
      };
    } finally {
      rmSync(outRoot, { recursive: true, force: true });
    }
  },
};
