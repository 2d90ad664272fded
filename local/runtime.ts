import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { buildFunctions } from '#local/build/bundle.ts';
import {
  clientConfig,
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulator,
  startKinesis,
} from '#local/emulators/index.ts';
import { type InvokeResult, LocalFunction } from '#local/functions/runner.ts';
import { type RunningGateway, sendJsonError, startGateway } from '#local/gateway.ts';
import { type RunningHttpApi, startHttpApi } from '#local/http-api.ts';
import { type LocalStack, type PlannedResource, planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';

/**
 * The local runtime: reads template.yaml, starts the emulators behind one AWS endpoint, creates the template's
 * resources, builds and runs its functions, and serves its HTTP API.
 */

export interface RuntimeOptions {
  templatePath?: string;
  parameterOverrides?: Record<string, string>;
  apiPort?: number;
  endpointPort?: number;
  /** Where data is kept across restarts; `undefined` keeps everything in memory. */
  dataDir?: string;
  /** Start with empty data. */
  fresh?: boolean;
  /** Skip `npm run build` (use the bundles already in bundleRoot). */
  skipBuild?: boolean;
  bundleRoot?: string;
  /** Receives runtime messages and function logs. */
  log?: (source: string, line: string) => void;
}

export interface LocalRuntime {
  stack: LocalStack;
  endpoint: string;
  apiEndpoint: string;
  functions: Map<string, LocalFunction>;
  clients: { kinesis: KinesisClient };
  invoke(functionName: string, event: unknown): Promise<InvokeResult>;
  stop(): Promise<void>;
}

export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** Local shard count for an ON_DEMAND stream, which has no ShardCount. */
const ON_DEMAND_LOCAL_SHARDS = 4;

const createStream = async (kinesis: KinesisClient, resource: PlannedResource): Promise<void> => {
  const p = resource.properties as {
    ShardCount?: number | string;
    RetentionPeriodHours?: number | string;
    StreamModeDetails?: { StreamMode?: string };
  };
  const name = resource.refs.ref;
  const exists = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name })).then(
    () => true,
    (error: Error) => {
      if (error.name === 'ResourceNotFoundException') return false;
      throw error;
    },
  );
  if (exists) return;
  const onDemand = p.StreamModeDetails?.StreamMode === 'ON_DEMAND';
  const shards = onDemand ? ON_DEMAND_LOCAL_SHARDS : Number(p.ShardCount ?? 1);
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  const hours = Number(p.RetentionPeriodHours ?? 24);
  if (hours > 24) {
    await kinesis.send(
      new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: hours }),
    );
  }
};

const lambdaInvokeRoute =
  (runtime: () => LocalRuntime) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(
      new URL(req.url ?? '/', 'http://l').pathname,
    );
    if (!match || req.method !== 'POST') return false;
    const rawName = decodeURIComponent(match[1]!);
    const name = rawName.includes(':function:') ? rawName.split(':function:')[1]!.split(':')[0]! : rawName;
    const fn = runtime().functions.get(name);
    if (!fn) {
      sendJsonError(
        res,
        404,
        'ResourceNotFoundException',
        `Function not found: arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${name}`,
      );
      return true;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let event: unknown;
    try {
      event = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      sendJsonError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
      return true;
    }
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type === 'DryRun') {
      res.writeHead(204);
      res.end();
      return true;
    }
    if (type === 'Event') {
      void fn.invoke(event);
      res.writeHead(202, { 'x-amzn-requestid': crypto.randomUUID() });
      res.end();
      return true;
    }
    const result = await fn.invoke(event);
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-amzn-requestid': result.requestId,
      'x-amz-executed-version': '$LATEST',
      ...(result.functionError ? { 'x-amz-function-error': result.functionError } : {}),
    });
    res.end(JSON.stringify(result.payload));
    return true;
  };

export const startRuntime = async (options: RuntimeOptions = {}): Promise<LocalRuntime> => {
  const log = options.log ?? ((source, line) => console.log(`[${source}] ${line}`));
  const templatePath = resolve(options.templatePath ?? 'template.yaml');
  const template = loadTemplate(templatePath);
  const endpointPort = options.endpointPort ?? 4566;
  const plan = (endpoint: string) =>
    planStack(template, {
      parameterOverrides: options.parameterOverrides,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      stackName: 'local',
      endpoint,
    });
  // Planned once before anything starts, so that a template the runtime cannot run fails fast.
  let stack = plan(`http://127.0.0.1:${endpointPort}`);

  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  if (dataDir && options.fresh) rmSync(dataDir, { recursive: true, force: true });

  const started: Array<{ close(): Promise<void> }> = [];
  const functions = new Map<string, LocalFunction>();
  try {
    const kinesisEmulator: RunningEmulator = await startKinesis(
      dataDir ? { path: join(dataDir, 'kinesis') } : {},
    );
    started.push(kinesisEmulator);
    let runtime: LocalRuntime | undefined;
    const gateway: RunningGateway = await startGateway({
      port: endpointPort,
      services: { kinesis: kinesisEmulator.endpoint },
      routes: [lambdaInvokeRoute(() => runtime!)],
    });
    started.push(gateway);
    // Again with the port actually bound (0 picks a free one), since queue URLs contain it.
    stack = plan(gateway.endpoint);

    const kinesis = new KinesisClient({
      ...clientConfig(gateway.endpoint),
      requestHandler: new NodeHttpHandler(),
    });
    for (const resource of Object.values(stack.resources)) {
      if (resource.type === 'AWS::Kinesis::Stream') {
        await createStream(kinesis, resource);
        log('runtime', `stream ${resource.refs.ref} ready (${resource.logicalId})`);
      }
    }

    const bundleRoot = resolve(options.bundleRoot ?? 'dist/functions');
    if (!options.skipBuild) {
      const builds = await buildFunctions(template, templatePath, bundleRoot, Object.keys(stack.functions));
      log('runtime', `built ${builds.map((b) => b.logicalId).join(', ')}`);
    }
    const baseEnvironment = {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL: gateway.endpoint,
      TZ: 'UTC',
      PATH: process.env.PATH ?? '',
    };
    for (const definition of Object.values(stack.functions)) {
      functions.set(
        definition.name,
        new LocalFunction(definition, { bundleRoot, baseEnvironment, log: (name, line) => log(name, line) }),
      );
    }
    started.push({
      close: async () => Promise.all([...functions.values()].map((f) => f.close())).then(() => undefined),
    });

    const routes = Object.values(stack.functions).flatMap((fn) =>
      fn.events
        .filter((event) => event.type === 'HttpApi')
        .map((event) => {
          const local = functions.get(fn.name)!;
          return {
            method: String(event.properties.Method ?? 'ANY').toUpperCase(),
            path: String(event.properties.Path ?? '/{proxy+}'),
            functionName: fn.name,
            invoke: (e: unknown) => local.invoke(e),
          };
        }),
    );
    const httpApi: RunningHttpApi = await startHttpApi(routes, {
      port: options.apiPort ?? 3000,
      log: (line) => log('http-api', line),
    });
    started.push(httpApi);

    runtime = {
      stack,
      endpoint: gateway.endpoint,
      apiEndpoint: httpApi.endpoint,
      functions,
      clients: { kinesis },
      invoke: (name, event) => {
        const fn = functions.get(name);
        if (!fn)
          throw new RuntimeError(
            `no function named ${name}; the template has ${[...functions.keys()].join(', ')}`,
          );
        return fn.invoke(event);
      },
      stop: async () => {
        kinesis.destroy();
        for (const service of started.reverse()) await service.close().catch(() => undefined);
      },
    };
    return runtime;
  } catch (error) {
    for (const service of started.reverse()) await service.close().catch(() => undefined);
    throw error;
  }
};
