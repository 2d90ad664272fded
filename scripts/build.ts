import { resolve } from 'node:path';
import { buildFunctions, formatBytes } from '#local/build/bundle.ts';
import { loadTemplate } from '#local/template/parse.ts';
import { parseFlags } from '#scripts/lib/flags.ts';

/** `npm run build [-- --template template.yaml --out dist/functions FunctionId…]` */
const { values, positionals } = parseFlags({
  options: {
    template: { type: 'string', default: 'template.yaml' },
    out: { type: 'string', default: 'dist/functions' },
  },
  allowPositionals: true,
});

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
