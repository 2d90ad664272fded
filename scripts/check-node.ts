import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EnginesRangeError, satisfiesEngines } from '#scripts/lib/node-engines.ts';

// Run by .ci/run before anything is installed: a Node that cannot run this .ts file fails it too, as it should.
const USAGE = `usage: node scripts/check-node.ts [<version>]

Exits 0 when the Node.js version given (this Node's when none is) is in package.json's engines.node, the
versions that run the project's .ts files as they are, and 1 when it is not.`;

const main = (): number => {
  const args = process.argv.slice(2);
  if (args[0] === '-h' || args[0] === '--help') {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 1 || args[0]?.startsWith('-')) {
    console.error(USAGE);
    return 2;
  }
  const path = resolve(import.meta.dirname, '..', 'package.json');
  const range = (JSON.parse(readFileSync(path, 'utf8')) as { engines?: { node?: string } }).engines?.node;
  if (range === undefined) {
    console.error(`${path} has no engines.node`);
    return 2;
  }
  const version = args[0] ?? process.versions.node;
  try {
    if (satisfiesEngines(version, range)) return 0;
  } catch (error) {
    if (!(error instanceof EnginesRangeError)) throw error;
    console.error(error.message);
    return 2;
  }
  console.error(`Node.js ${version} is not in package.json's engines.node (${range})`);
  return 1;
};

process.exitCode = main();
