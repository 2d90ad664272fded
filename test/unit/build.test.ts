import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildError, buildFunction, esbuildOptionsFor, type FunctionBuild } from '#local/build/bundle.ts';
import { loadTemplate } from '#local/template/parse.ts';

const templatePath = resolve('template.yaml');
const template = loadTemplate(templatePath);
let out: string;
let ingest: FunctionBuild;

describe('Build: esbuild bundles as sam build makes them', () => {
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'bundle-'));
    ingest = await buildFunction(template, 'IngestFunction', templatePath, out);
  });

  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it('writes the handler module named by Handler, minified ESM with a source map', () => {
    // Assess
    expect(ingest.file).toBe('handler.mjs');
    const code = readFileSync(join(ingest.outdir, 'handler.mjs'), 'utf8');
    expect(code.startsWith("import { createRequire } from 'node:module';")).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*as handler/);
    expect(code.length / code.split('\n').length).toBeGreaterThan(1_000);
    expect(existsSync(join(ingest.outdir, 'handler.mjs.map'))).toBe(true);
    expect(ingest.bytes).toBeGreaterThan(0);
    expect(ingest.largestInputs[0]!.bytes).toBeGreaterThan(0);
  });

  it('runs in a fresh Node process and answers a sample event', () => {
    // Prepare
    const script = `
      const { handler } = await import(${JSON.stringify(join(ingest.outdir, 'handler.mjs'))});
      const event = JSON.parse(process.env.SAMPLE);
      const context = { functionName: 'IngestFunction', awsRequestId: 'r-1', getRemainingTimeInMillis: () => 3000 };
      const response = await handler(event, context);
      process.stdout.write(JSON.stringify(response));`;
    // Act
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH,
        STREAM_NAME: 'stream',
        AWS_REGION: 'us-east-1',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        SAMPLE: readFileSync('events/ingest-invalid.json', 'utf8'),
      },
      encoding: 'utf8',
    });
    // Assess
    const response = JSON.parse(stdout);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).errors.length).toBe(5);
  });

  it('bundles the SDK clients a function always uses, and links the project node_modules for the rest', () => {
    // Assess
    const packages = ingest.largestInputs.map((input) => input.name);
    expect(packages).toContain('@aws-sdk/client-kinesis');
    expect(packages).toContain('@smithy/core');
    const code = readFileSync(join(ingest.outdir, 'handler.mjs'), 'utf8');
    expect(code).not.toMatch(/from\s*"@aws-sdk\//);
    expect(code).toMatch(/import\("@aws-sdk\/credential-provider-ini"\)/);
    expect(realpathSync(join(out, 'node_modules'))).toBe(realpathSync('node_modules'));
  });

  it('imports no runtime package and no node:http at load: S3, SQS and Lambda wait for their first use', async () => {
    // Act
    const others = await Promise.all(
      ['ConsumerFunction', 'DlqReplayFunction', 'ReprocessorFunction'].map((id) =>
        buildFunction(template, id, templatePath, out),
      ),
    );
    // Assess
    for (const build of [ingest, ...others]) {
      expect(build.runtimeImports, build.logicalId).toEqual([]);
      // An ES-module import of node:http loads undici at start (http.WebSocket's getter): 20-50 ms of init.
      const code = readFileSync(join(build.outdir, build.file), 'utf8');
      expect(code, build.logicalId).not.toMatch(/from\s*"node:http"/);
    }
    const [consumer, replay, reprocessor] = others as [FunctionBuild, FunctionBuild, FunctionBuild];
    expect(readFileSync(join(consumer.outdir, consumer.file), 'utf8')).toMatch(
      /import\("@aws-sdk\/client-s3"\)/,
    );
    expect(readFileSync(join(replay.outdir, replay.file), 'utf8')).toMatch(
      /import\("@aws-sdk\/client-sqs"\)/,
    );
    expect(readFileSync(join(reprocessor.outdir, reprocessor.file), 'utf8')).toMatch(
      /import\("@aws-sdk\/client-lambda"\)/,
    );
    const consumerPackages = consumer.largestInputs.map((input) => input.name);
    expect(consumerPackages).toContain('@aws-sdk/client-dynamodb');
    // KPL aggregates are read with @bufbuild/protobuf's wire reader, not with protobufjs whole.
    expect(consumerPackages).toContain('@bufbuild/protobuf');
    expect(consumerPackages).not.toContain('protobufjs');
    expect(consumerPackages).not.toContain('aws-kinesis-agg');
    expect(consumerPackages).not.toContain('@aws-sdk/client-s3');
  });

  it('refuses an External package that the Lambda runtime does not provide', () => {
    // Act
    const act = () =>
      esbuildOptionsFor(
        'Fn',
        {},
        { EntryPoints: ['a.ts'], External: ['@aws-sdk/*', 'protobufjs'] },
        '/r',
        '/o',
      );
    // Assess
    expect(act).toThrow(BuildError);
    expect(act).toThrow('Fn: External protobufjs would be missing at run time');
  });

  it('applies the lambda-builders defaults when BuildProperties are absent', () => {
    // Act
    const options = esbuildOptionsFor(
      'Fn',
      { CodeUri: './' },
      { EntryPoints: ['app.ts'] },
      '/repo',
      '/out/Fn',
    );
    // Assess
    expect(options).toMatchObject({
      bundle: true,
      platform: 'node',
      format: 'cjs',
      minify: true,
      sourcemap: false,
      target: 'es2020',
      mainFields: ['main', 'module'],
      entryPoints: ['/repo/app.ts'],
    });
  });

  it('passes other BuildProperties on to esbuild as lambda-builders does: true, text, key=value pairs, lists', () => {
    // Act
    const options = esbuildOptionsFor(
      'Fn',
      {},
      {
        EntryPoints: ['a.ts'],
        Define: ['process.env.STAGE="prod"', 'DEBUG=false'],
        Alias: ['old-pkg=./new-pkg.ts'],
        Drop: ['debugger'],
        KeepNames: true,
        TreeShaking: 'true',
        Splitting: false,
        LegalComments: 'none',
      },
      '/r',
      '/o',
    );
    // Assess
    expect(options).toMatchObject({
      define: { 'process.env.STAGE': '"prod"', DEBUG: 'false' },
      alias: { 'old-pkg': './new-pkg.ts' },
      drop: ['debugger'],
      keepNames: true,
      treeShaking: true,
      legalComments: 'none',
    });
    expect(options).not.toHaveProperty('splitting');
  });

  it('gives each passed-on property the type esbuild API wants for the flag lambda-builders makes of it', async () => {
    // Act: --supported:bigint=false, --tree-shaking=false, --line-limit=80, --resolve-extensions=.ts,.js,
    // --mangle-props=_$ as lambda-builders writes them
    const options = esbuildOptionsFor(
      'Fn',
      {},
      {
        EntryPoints: ['a.ts'],
        Supported: ['bigint=false', 'arrow=true'],
        TreeShaking: 'false',
        LineLimit: '80',
        ResolveExtensions: '.ts,.js',
        Conditions: 'node,import',
        MangleProps: '_$',
        Write: 'false',
      },
      '/r',
      '/o',
    );
    // Assess
    expect(options).toMatchObject({
      supported: { bigint: false, arrow: true },
      treeShaking: false,
      lineLimit: 80,
      resolveExtensions: ['.ts', '.js'],
      conditions: ['node', 'import'],
      mangleProps: /_$/,
      write: true,
    });
    // esbuild itself takes them (it validates options before it reads any entry point)
    const result = await transform('export const a = 1; export const b = () => a;', {
      supported: options.supported,
      treeShaking: options.treeShaking,
      lineLimit: options.lineLimit,
      mangleProps: options.mangleProps,
      loader: 'ts',
    }).catch((error: Error) => error);
    expect(result).not.toBeInstanceOf(Error);
  });

  it.each([
    [{ Platform: 'browser' }, 'Fn: BuildProperties.Platform cannot be set: sam build always sets it'],
    [{ Define: ['no-value'] }, "Fn: BuildProperties.Define takes key=value, got 'no-value'"],
  ])('refuses %j, naming the function', (properties, message) => {
    // Act
    const act = () => esbuildOptionsFor('Fn', {}, { EntryPoints: ['a.ts'], ...properties }, '/r', '/o');
    // Assess
    expect(act).toThrow(BuildError);
    expect(act).toThrow(message);
  });

  it('builds with a property passed on, and names one esbuild does not know', async () => {
    // Prepare: the ingest function with a Define, and with a property no esbuild option has
    const withProperties = (extra: Record<string, unknown>) => {
      const copy = structuredClone(template);
      const metadata = copy.Resources.IngestFunction!.Metadata!;
      metadata.BuildProperties = { ...(metadata.BuildProperties as Record<string, unknown>), ...extra };
      return copy;
    };
    const folder = mkdtempSync(join(tmpdir(), 'bundle-passed-on-'));
    try {
      // Act
      const built = await buildFunction(
        withProperties({ Define: ['process.env.POWERTOOLS_SERVICE_NAME="marked-at-build"'] }),
        'IngestFunction',
        templatePath,
        folder,
      );
      const unknown = buildFunction(
        withProperties({ NoSuchFlag: true }),
        'IngestFunction',
        templatePath,
        folder,
      );
      // Assess
      // The project's logger reads that variable: the bundle holds the defined text in its place.
      expect(readFileSync(join(built.outdir, built.file), 'utf8')).toContain('marked-at-build');
      await expect(unknown).rejects.toThrow(BuildError);
      await expect(unknown).rejects.toThrow(/^IngestFunction: .*noSuchFlag/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
