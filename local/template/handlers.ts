import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { at, type Finding, finding } from './findings.ts';
import { isPlainObject } from './intrinsics.ts';
import type { Template } from './parse.ts';

/**
 * Rule 4: every esbuild-built function's entry points exist under its CodeUri (relative to the template's
 * folder), and its Handler's module is one of those entry points. Without EntryPoints, SAM builds the Handler's
 * module, so that file must exist.
 */

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

export interface ParsedHandler {
  /** The folders before the module, relative to the function's code (`src/lambda` of `src/lambda/index.handler`). */
  moduleRoot: string;
  /** The module: the Handler's base name up to its first dot (`index` of `index.handlers.main`). */
  moduleName: string;
  /** The rest, a path of properties through the module's exports (`handlers.main`). */
  handlerName: string;
}

/**
 * A Handler as Lambda's Node.js runtime reads it (aws-lambda-nodejs-runtime-interface-client,
 * src/utils/handler-path.ts): the module is the base name up to its FIRST dot, so `index.handlers.main` is the
 * export `handlers`'s property `main` of module `index`. Undefined for a Handler the runtime calls malformed.
 */
export const parseHandler = (handler: string): ParsedHandler | undefined => {
  const base = handler.slice(handler.lastIndexOf('/') + 1);
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match) return undefined;
  return {
    moduleRoot: handler.slice(0, handler.length - base.length).replace(/\/$/, ''),
    moduleName: match[1]!,
    handlerName: match[2]!,
  };
};

export const checkHandlers = (template: Template, root: string): Finding[] => {
  const findings: Finding[] = [];
  const globals = template.Globals?.Function ?? {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || resource.Type !== 'AWS::Serverless::Function') continue;
    const metadata = isPlainObject(resource.Metadata) ? resource.Metadata : {};
    if (metadata.BuildMethod !== 'esbuild') continue;
    const location = { resource: logicalId, path: '' };
    const properties = isPlainObject(resource.Properties) ? resource.Properties : {};
    const codeUri = properties.CodeUri ?? globals.CodeUri;
    if (typeof codeUri !== 'string') {
      findings.push(finding(at(location, 'CodeUri'), 'an esbuild function needs a local CodeUri folder'));
      continue;
    }
    const handler = properties.Handler ?? globals.Handler;
    const parsed = typeof handler === 'string' ? parseHandler(handler) : undefined;
    if (parsed === undefined || parsed.moduleName === '' || parsed.handlerName === '') {
      findings.push(finding(at(location, 'Handler'), 'expected <module>.<export>'));
      continue;
    }
    const module = parsed.moduleRoot === '' ? parsed.moduleName : `${parsed.moduleRoot}/${parsed.moduleName}`;
    const buildProperties = isPlainObject(metadata.BuildProperties) ? metadata.BuildProperties : {};
    const entryPoints = buildProperties.EntryPoints;
    if (entryPoints === undefined) {
      if (
        !SOURCE_EXTENSIONS.some((extension) => existsSync(resolve(root, codeUri, `${module}${extension}`)))
      ) {
        findings.push(
          finding(at(location, 'Handler'), `no source file for module ${module} under ${codeUri}`),
        );
      }
      continue;
    }
    const entriesLocation = at(at(at(location, 'Metadata'), 'BuildProperties'), 'EntryPoints');
    if (!Array.isArray(entryPoints) || entryPoints.length === 0) {
      findings.push(finding(entriesLocation, 'expected a non-empty list of files'));
      continue;
    }
    entryPoints.forEach((entry, index) => {
      if (typeof entry !== 'string' || !existsSync(resolve(root, codeUri, entry))) {
        findings.push(
          finding(at(entriesLocation, index), `entry point ${String(entry)} does not exist under ${codeUri}`),
        );
      }
    });
    const names = entryPoints
      .filter((entry) => typeof entry === 'string')
      .map((entry) => basename(entry, extname(entry)));
    if (!names.includes(module)) {
      findings.push(
        finding(
          at(location, 'Handler'),
          `module ${module} is not an esbuild entry point (entry points: ${names.join(', ')})`,
        ),
      );
    }
  }
  return findings;
};
