import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadTemplate, TemplateParseError } from '#local/template/parse.ts';
import { findReplacements, formatReplacements } from '#local/template/replacements.ts';
import { defaultTemplateSpec } from '#local/template/spec.ts';
import { formatFinding, validateTemplate } from '#local/template/validate.ts';
import { parseFlags } from '#scripts/lib/flags.ts';

const USAGE = `usage: npm run validate [-- [--replacements] <template file>]

Validates a SAM template (template.yaml by default) offline, against the CloudFormation and SAM resource
specifications and the template format: sections, resource types, property names and types, required
properties, the values and ranges of properties the spec leaves open (runtimes, memory, timeouts, queue settings,
alarm statistics, alarm periods; also for a parameter that sets them), the Globals SAM shares, parameter keys and
types, resource names AWS would refuse (whatever the stack name), AWS/ namespaces a letter off a documented one,
the shape of Rules, intrinsic functions, references, circular dependencies, outputs and export names.
Then resolves it with its parameter defaults, as CloudFormation would: each default against its own constraints,
the conditions, references to resources a false condition leaves out, and each event source mapping's settings
against AWS's ranges.

--replacements  after the findings, also list the parameters whose change on an existing stack replaces, creates
                or deletes a stateful resource (a stream, table, bucket, queue, key or log group), as the resource
                specification marks its properties (docs/operations.md, "Parameters whose change replaces a
                resource"); informational, it never changes the exit status.

Exit status: 0 when nothing is found, 1 when something is, 2 for bad usage.`;

const parse = () =>
  parseFlags({
    options: { help: { type: 'boolean', short: 'h' }, replacements: { type: 'boolean' } },
    allowPositionals: true,
  });

const main = (): number => {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    console.error(`one template at a time, got ${parsed.positionals.length}\n\n${USAGE}`);
    return 2;
  }
  const path = resolve(parsed.positionals[0] ?? 'template.yaml');
  if (!existsSync(path)) {
    console.error(`no template at ${path}\n\n${USAGE}`);
    return 2;
  }
  try {
    const template = loadTemplate(path);
    const findings = validateTemplate(template, { root: dirname(path) });
    for (const item of findings) console.log(formatFinding(item));
    console.log(`${findings.length} finding${findings.length === 1 ? '' : 's'} in ${path}`);
    if (parsed.values.replacements) {
      console.log('');
      for (const line of formatReplacements(findReplacements(template, defaultTemplateSpec())))
        console.log(line);
    }
    return findings.length === 0 ? 0 : 1;
  } catch (error) {
    if (!(error instanceof TemplateParseError)) throw error;
    console.error(error.message);
    return 1;
  }
};

process.exitCode = main();
