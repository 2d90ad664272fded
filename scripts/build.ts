import { resolve } from 'node:path';
import { buildFunctions, formatBytes } from '#local/build/bundle.ts';
import { loadTemplate } from '#local/template/parse.ts';
import { flagErrorMessage, isFlagError, parseFlags } from '#scripts/lib/flags.ts';

const USAGE = `usage: npm run build -- [FunctionLogicalId ...] [options]

Bundles the template's functions as sam build does (Metadata BuildMethod esbuild and its BuildProperties), every
function unless some are named.

  --template <file>   template (default: template.yaml)
  --out <dir>         where the bundles go, one folder per function (default: dist/functions)
  -h, --help          this text

Exit status: 0 when every function was built, 1 when one could not be, 2 for bad usage.`;

/** `npm run build [-- --template template.yaml --out dist/functions FunctionId…]` */
const parse = () =>
  parseFlags({
    options: {
      template: { type: 'string', default: 'template.yaml' },
      out: { type: 'string', default: 'dist/functions' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
let parsed: ReturnType<typeof parse>;
try {
  parsed = parse();
} catch (error) {
  if (!isFlagError(error)) throw error;
  console.error(`build: ${flagErrorMessage(error as Error)}\n\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const templatePath = resolve(values.template);
try {
  const template = loadTemplate(templatePath);
  const started = performance.now();
  const builds = await buildFunctions(
    template,
    templatePath,
    resolve(values.out),
    positionals.length ? positionals : undefined,
  );
  const width = Math.max(...builds.map((b) => b.logicalId.length));
  for (const b of builds) {
    const largest = b.largestInputs[0];
    console.log(
      `${b.logicalId.padEnd(width)}  ${b.file}  ${formatBytes(b.bytes).padStart(10)}` +
        `${b.mapBytes ? `  (source map ${formatBytes(b.mapBytes)})` : ''}` +
        `${largest ? `  largest input: ${largest.name} ${formatBytes(largest.bytes)}` : ''}`,
    );
  }
  console.log(
    `built ${builds.length} function${builds.length === 1 ? '' : 's'} into ${values.out} in ${Math.round(performance.now() - started)} ms`,
  );
} catch (error) {
  console.error(`build failed: ${(error as Error).message}`);
  process.exit(1);
}
