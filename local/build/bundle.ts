import { existsSync, lstatSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type BuildOptions, build, type Message, type Metafile } from 'esbuild';
import type { Template } from '#local/template/parse.ts';

/**
 * Bundles functions the way `sam build` does for `Metadata: BuildMethod: esbuild` (aws-lambda-builders'
 * nodejs_npm_esbuild workflow): the same defaults (cjs, minify, no source map, es2020, main fields main,module),
 * the same BuildProperties, and always `--bundle --platform=node`. Written by hand because the SAM CLI is a
 * Python tool that is not part of this project's toolchain.
 */

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

export interface FunctionBuild {
  logicalId: string;
  outdir: string;
  /** The handler module, e.g. `handler.mjs`. */
  file: string;
  bytes: number;
  mapBytes?: number;
  /** The largest inputs of the bundle, grouped by npm package (or `(project)`), biggest first. */
  largestInputs: Array<{ name: string; bytes: number }>;
  /** External packages the bundle imports when it loads (not those it imports later, where first needed). */
  runtimeImports: string[];
}

/** BuildProperties keys this builder reads itself; the others are passed on to esbuild, as lambda-builders does. */
const KNOWN = new Set([
  'EntryPoints',
  'External',
  'Format',
  'Loader',
  'MainFields',
  'Minify',
  'OutExtension',
  'Sourcemap',
  'SourcesContent',
  'Target',
  'Banner',
  'Footer',
  'UseNpmCi',
]);

/** What lambda-builders always sets: a BuildProperty cannot change them. */
const NOT_CONFIGURABLE = new Set(['Bundle', 'Platform', 'Outdir']);

/** esbuild flags given as `--flag:key=value`, whose API option is an object of those pairs. */
const KEYED_FLAGS = new Set(['define', 'alias', 'supported', 'logOverride']);

/** esbuild flags given as `--flag=a,b`, whose API option is a list. */
const COMMA_LIST_FLAGS = new Set(['conditions', 'resolveExtensions', 'dropLabels', 'absPaths']);

/** esbuild flags given as `--flag=80`, whose API option is a number. */
const NUMBER_FLAGS = new Set(['lineLimit', 'logLimit']);

/** esbuild flags given as `--flag=regexp`, whose API option is a RegExp. */
const REGEXP_FLAGS = new Set(['mangleProps', 'reserveProps']);

/** A flag's text as its API option: `--tree-shaking=false` is `treeShaking: false`, `--line-limit=80` is `80`. */
const fromText = (name: string, text: string): unknown => {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (COMMA_LIST_FLAGS.has(name)) return text.split(',');
  if (NUMBER_FLAGS.has(name) && /^\d+$/.test(text)) return Number(text);
  if (REGEXP_FLAGS.has(name)) return new RegExp(text);
  return text;
};

/**
 * The esbuild options of the BuildProperties this builder does not read itself. aws-lambda-builders (since 1.32,
 * PR #498) passes any other property on as an esbuild flag named in kebab case: `true` as `--flag`, text as
 * `--flag=value`, a list as `--flag:item` each. Given to esbuild's API here, the same flag is the option of the same
 * name in camel case: an object for the flags that take `key=value` pairs (Define, Alias, ...), a list for the
 * others (Drop, Pure, Inject, ...); text in the type the option takes (a boolean, a number, a list split at commas,
 * a RegExp). An option esbuild does not know fails the build, naming it. The options this builder sets for its own
 * work (its metafile, writing the files, its silent log, the working folder) are set after these, and stay.
 */
const passedOn = (logicalId: string, properties: Record<string, unknown>): Record<string, unknown> => {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (KNOWN.has(key)) continue;
    if (NOT_CONFIGURABLE.has(key)) {
      throw new BuildError(`${logicalId}: BuildProperties.${key} cannot be set: sam build always sets it`);
    }
    const name = key.charAt(0).toLowerCase() + key.slice(1);
    // lambda-builders gives no flag for a YAML false; the text 'false' it gives as `--flag=false`.
    if (value === false) continue;
    if (value === true) options[name] = true;
    else if (Array.isArray(value)) {
      const items = value.map(String);
      options[name] = KEYED_FLAGS.has(name)
        ? Object.fromEntries(
            items.map((item) => {
              const at = item.indexOf('=');
              if (at <= 0)
                throw new BuildError(`${logicalId}: BuildProperties.${key} takes key=value, got '${item}'`);
              // `--supported:bigint=false` is `supported: { bigint: false }`.
              const text = item.slice(at + 1);
              return [item.slice(0, at), name === 'supported' ? fromText(name, text) : text];
            }),
          )
        : items;
    } else options[name] = fromText(name, String(value));
  }
  return options;
};

/**
 * What BuildProperties.External may name: packages the Lambda Node.js runtime (18.x and later) provides, the AWS
 * SDK for JavaScript v3 and the Smithy packages its clients depend on.
 */
const RUNTIME_PROVIDED = /^@(aws-sdk|smithy)\/(\*|[a-z0-9-]+(\/.*)?)$/;

const asList = (value: unknown): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : String(value).split(',');

/** `['js=foo', 'css=bar']` → `{ js: 'foo', css: 'bar' }`, splitting at the first `=` only. */
const pairs = (value: unknown): Record<string, string> =>
  Object.fromEntries(
    asList(value).map((item) => {
      const at = item.indexOf('=');
      return [item.slice(0, at), item.slice(at + 1)];
    }),
  );

const asBoolean = (value: unknown, fallback: boolean): boolean =>
  value === undefined ? fallback : value === true || value === 'true';

/** The esbuild options `sam build` would use for one function. */
export const esbuildOptionsFor = (
  logicalId: string,
  properties: Record<string, unknown>,
  buildProperties: Record<string, unknown>,
  templateDir: string,
  outdir: string,
): BuildOptions => {
  const extra = passedOn(logicalId, buildProperties);
  const external = asList(buildProperties.External);
  const unprovided = external.filter((name) => !RUNTIME_PROVIDED.test(name));
  if (unprovided.length > 0) {
    throw new BuildError(
      `${logicalId}: External ${unprovided.join(', ')} would be missing at run time: the Lambda Node.js runtime ` +
        'provides only the AWS SDK for JavaScript v3 (@aws-sdk/*, @smithy/*); bundle everything else',
    );
  }
  const codeUri = typeof properties.CodeUri === 'string' ? properties.CodeUri : '.';
  const root = resolve(templateDir, codeUri);
  const entryPoints = asList(buildProperties.EntryPoints);
  if (entryPoints.length === 0) {
    throw new BuildError(`${logicalId}: BuildProperties.EntryPoints is required by this builder`);
  }
  const sourcemap = asBoolean(buildProperties.Sourcemap, false);
  return {
    ...extra,
    absWorkingDir: root,
    entryPoints: entryPoints.map((entry) => resolve(root, entry)),
    bundle: true,
    platform: 'node',
    outdir,
    format: buildProperties.Format === 'esm' ? 'esm' : 'cjs',
    minify: asBoolean(buildProperties.Minify, true),
    sourcemap,
    sourcesContent: asBoolean(buildProperties.SourcesContent, true),
    target: String(buildProperties.Target ?? 'es2020'),
    mainFields: asList(buildProperties.MainFields ?? 'main,module'),
    external,
    outExtension: pairs(buildProperties.OutExtension),
    banner: pairs(buildProperties.Banner),
    footer: pairs(buildProperties.Footer),
    loader: pairs(buildProperties.Loader) as BuildOptions['loader'],
    metafile: true,
    write: true,
    logLevel: 'silent',
  };
};

const packageOf = (input: string): string => {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input.replaceAll('\\', '/'));
  return match ? match[1]! : '(project)';
};

const largestInputs = (metafile: Metafile, output: string) => {
  const totals = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[output]?.inputs ?? {})) {
    totals.set(packageOf(input), (totals.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
};

/** The functions of a template that this builder can bundle, by logical id. */
export const esbuildFunctions = (template: Template): string[] =>
  Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Serverless::Function' && r.Metadata?.BuildMethod === 'esbuild')
    .map(([id]) => id);

export const buildFunction = async (
  template: Template,
  logicalId: string,
  templatePath: string,
  outRoot: string,
): Promise<FunctionBuild> => {
  const resource = template.Resources[logicalId];
  if (resource?.Type !== 'AWS::Serverless::Function') {
    throw new BuildError(`${logicalId}: not an AWS::Serverless::Function in ${templatePath}`);
  }
  if (resource.Metadata?.BuildMethod !== 'esbuild') {
    throw new BuildError(`${logicalId}: Metadata.BuildMethod must be esbuild to be bundled`);
  }
  const outdir = join(outRoot, logicalId);
  const options = esbuildOptionsFor(
    logicalId,
    resource.Properties ?? {},
    (resource.Metadata.BuildProperties ?? {}) as Record<string, unknown>,
    dirname(resolve(templatePath)),
    outdir,
  );
  const result = await build(options).catch((error: Error & { errors?: Message[] }) => {
    // esbuild's own messages, each with where it is, rather than its summary ("Build failed with 1 error: …").
    const messages = (error.errors ?? []).map(
      ({ text, location }) => `${text}${location?.file ? ` (${location.file}:${location.line})` : ''}`,
    );
    throw new BuildError(`${logicalId}: ${messages.length > 0 ? messages.join('; ') : error.message}`);
  });
  if ((options.external ?? []).length > 0) provideExternals(options.absWorkingDir!, outRoot);
  const cwd = options.absWorkingDir!;
  const output = Object.keys(result.metafile!.outputs).find((file) => !file.endsWith('.map'))!;
  const absolute = resolve(cwd, output);
  const map = `${absolute}.map`;
  return {
    logicalId,
    outdir,
    file: relative(outdir, absolute),
    bytes: statSync(absolute).size,
    ...(options.sourcemap ? { mapBytes: statSync(map).size } : {}),
    largestInputs: largestInputs(result.metafile!, output),
    runtimeImports: [
      ...new Set(
        (result.metafile!.outputs[output]?.imports ?? [])
          .filter(
            (entry) => entry.external && entry.kind === 'import-statement' && !entry.path.startsWith('node:'),
          )
          .map((entry) => entry.path),
      ),
    ].sort(),
  };
};

/**
 * External packages are left out of the bundle because the Lambda runtime provides them (the AWS SDK). Here the
 * project's own node_modules stands in for the runtime's: a bundle written inside the project finds it by Node's
 * usual lookup; one written elsewhere (a temporary directory) gets a `node_modules` link to it.
 */
const provideExternals = (projectRoot: string, outRoot: string): void => {
  const inside = relative(projectRoot, resolve(outRoot));
  if (!inside.startsWith('..') && !isAbsolute(inside)) return;
  const link = join(outRoot, 'node_modules');
  const target = join(projectRoot, 'node_modules');
  if (!existsSync(target) || lstatSync(link, { throwIfNoEntry: false })) return;
  mkdirSync(outRoot, { recursive: true });
  symlinkSync(target, link, 'dir');
};

export const buildFunctions = async (
  template: Template,
  templatePath: string,
  outRoot: string,
  only?: string[],
): Promise<FunctionBuild[]> => {
  const ids = only ?? esbuildFunctions(template);
  const builds: FunctionBuild[] = [];
  for (const id of ids) builds.push(await buildFunction(template, id, templatePath, outRoot));
  return builds;
};

export const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
