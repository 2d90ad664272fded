import { dirname, resolve } from 'node:path';
import { loadTemplate, TemplateParseError } from '#local/template/parse.ts';
import { formatFinding, validateTemplate } from '#local/template/validate.ts';

// Validates template.yaml (or the template given as argument) offline; exits 1 when anything is found.
const path = resolve(process.argv[2] ?? 'template.yaml');

try {
  const findings = validateTemplate(loadTemplate(path), { root: dirname(path) });
  for (const item of findings) console.log(formatFinding(item));
  console.log(`${findings.length} finding${findings.length === 1 ? '' : 's'} in ${path}`);
  process.exitCode = findings.length === 0 ? 0 : 1;
} catch (error) {
  if (!(error instanceof TemplateParseError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
