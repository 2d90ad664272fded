import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { buildFunctions } from '#local/build/bundle.ts';
import {
  clientConfig,
  isLevelDbLockHeld,
  LOCAL_ACCOUNT_ID,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  levelDbOpenProblem,
  startS3,
  startSqs,
  unopenableStore,
} from '#local/emulators/index.ts';
import { startEmulatorThread } from '#local/emulators/thread.ts';
import { lambdaEventSourceMappingsRoute } from '#local/esm/mappings-api.ts';
import { createEventSources, type EventSources } from '#local/event-sources.ts';
import {
  createFaultInjector,
  type FaultInjector,
  type FaultSettings,
  openShardRanges,
  tableBillingMode,
  validateFaults,
} from '#local/faults/faults.ts';
import { lambdaInvokeRoute } from '#local/functions/invoke-api.ts';
import { type InvokeResult, LocalFunction } from '#local/functions/runner.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';
import {
  type HttpRoute,
  httpApiThrottling,
  jwtAuthorizer,
  plainHttpApis,
  type RouteAuthorizer,
  type RunningHttpApi,
  startHttpApi,
} from '#local/http-api.ts';
import { checkPortFree, closeAfterAnswer, readBody } from '#local/net.ts';
import { createResources, leftOverLines, type ResourceClients } from '#local/resources.ts';
import { type LocalStack, planStack } from '#local/stack.ts';
import { collectStatus, type RuntimeStatus } from '#local/status.ts';
import { environmentProblems } from '#local/template/environment.ts';
import { loadTemplate } from '#local/template/parse.ts';

/**
 * The local runtime: reads template.yaml, starts the emulators behind one AWS endpoint, creates the template's
 * resources, builds and runs its functions, and serves its HTTP APIs.
 */

export interface RuntimeOptions {
  templatePath?: string;
  parameterOverrides?: Record<string, string>;
  apiPort?: number;
  /**
   * The port of the template's AWS::ApiGatewayV2 HTTP API (the JWT ingest API), when its condition holds: 3001 by
   * default, or any free port when `apiPort` is 0 (a runtime started for one call or one test binds no fixed port).
   */
  jwtApiPort?: number;
  /** A CA certificate (PEM) to trust, besides the public ones, for the JWT issuer's discovery document and keys. */
  jwtIssuerCa?: string;
  endpointPort?: number;
  /** Where data is kept across restarts; `undefined` keeps everything in memory. */
  dataDir?: string;
  /** Start with empty data. */
  fresh?: boolean;
  /** Skip `npm run build` (use the bundles already in bundleRoot). */
  skipBuild?: boolean;
  bundleRoot?: string;
  /** Faults to inject from the start (all off by default); PUT /_local/faults changes them while running. */
  faults?: Partial<FaultSettings>;
  /** How long idle event source mappings wait before polling again (default 1000 ms, as AWS). */
  pollIntervalMs?: number;
  /** First wait before an event source mapping retries a failed batch (default 250 ms, doubling). */
  retryBaseDelayMs?: number;
  /** Called with every invocation of every function, before it runs (for tests and tracing). */
  observe?: (functionName: string, event: unknown) => void;
  /** Called when an invocation has ended, with its result (benchmarks count what the consumer finished). */
  settled?: (functionName: string, event: unknown, result: InvokeResult) => void;
  /** Receives runtime messages and function logs. */
  log?: (source: string, line: string) => void;
}

export interface LocalRuntime {
  stack: LocalStack;
  endpoint: string;
  apiEndpoint: string;
  /** The JWT ingest API's URL, when the template has it (IngestJwtIssuer set). */
  jwtApiEndpoint?: string;
  functions: Map<string, LocalFunction>;
  clients: ResourceClients;
  faults: FaultInjector;
  eventSources: EventSources;
  /** Everything the live view shows, as GET /_local/status answers it. */
  status(): Promise<RuntimeStatus>;
  invoke(functionName: string, event: unknown): Promise<InvokeResult>;
  stop(): Promise<void>;
}

export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** The data folder is held by another local runtime (LevelDB's lock on the emulators' files). */
export class DataDirInUseError extends Error {
  readonly dataDir: string;
  constructor(dataDir: string, cause: Error) {
    super(cause.message, { cause });
    this.name = 'DataDirInUseError';
    this.dataDir = dataDir;
  }
}

/** The runtime's servers, each on a port of its own. */
export type RuntimeServer = 'api' | 'jwtApi' | 'endpoint';

export const RUNTIME_SERVER_NAMES: Record<RuntimeServer, string> = {
  api: 'the HTTP API',
  jwtApi: 'the JWT API',
  endpoint: 'the AWS endpoint',
};

/** `a and b`, `a, b and c`. */
export const listWithAnd = (items: readonly string[]): string =>
  items.length > 2 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : items.join(' and ');

/**
 * Ports the runtime cannot serve on, all of them found at once before anything starts: `shared`, one port given to
 * two of its servers; `taken`, ports another process listens on.
 */
export class PortsUnavailableError extends Error {
  readonly shared: { port: number; servers: RuntimeServer[] }[];
  readonly taken: { port: number; server: RuntimeServer }[];
  constructor(
    shared: { port: number; servers: RuntimeServer[] }[],
    taken: { port: number; server: RuntimeServer }[],
  ) {
    super(
      [
        ...shared.map(
          ({ port, servers }) =>
            `${listWithAnd(servers.map((s) => RUNTIME_SERVER_NAMES[s]))} are ${servers.length > 2 ? 'all' : 'both'} given port ${port}`,
        ),
        ...taken.map(
          ({ port, server }) => `port ${port} (${RUNTIME_SERVER_NAMES[server]}) is already in use`,
        ),
      ].join('; '),
    );
    this.name = 'PortsUnavailableError';
    this.shared = shared;
    this.taken = taken;
  }
}

/** Refuses a port given to two servers, then probes every other one, so that one start names all that cannot be had. */
const checkServerPorts = async (ports: { port: number; server: RuntimeServer }[]): Promise<void> => {
  const byPort = new Map<number, RuntimeServer[]>();
  // Port 0 picks a free port for each server: never shared.
  for (const { port, server } of ports)
    if (port !== 0) byPort.set(port, [...(byPort.get(port) ?? []), server]);
  const shared = [...byPort]
    .filter(([, servers]) => servers.length > 1)
    .map(([port, servers]) => ({ port, servers }));
  if (shared.length > 0) throw new PortsUnavailableError(shared, []);
  const taken: { port: number; server: RuntimeServer }[] = [];
  for (const entry of ports) {
    await checkPortFree(entry.port).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') throw error;
      taken.push(entry);
    });
  }
  if (taken.length > 0) throw new PortsUnavailableError([], taken);
};

/** `load`, with each name's answer kept for `ms` (the fault injector asks on every write it may fault). */
const cachedFor = <T>(ms: number, load: (name: string) => Promise<T>): ((name: string) => Promise<T>) => {
  const cache = new Map<string, { at: number; value: T }>();
  return async (name) => {
    const cached = cache.get(name);
    if (cached && Date.now() - cached.at < ms) return cached.value;
    const value = await load(name);
    cache.set(name, { at: Date.now(), value });
    return value;
  };
};

/** The local runtime's own routes, as the answer to a path or method it does not have names them. */
const LOCAL_ROUTES = 'GET /_local/status, and GET or PUT (or POST) /_local/faults';

/** GET /_local/status: the live view's data as JSON. */
export const statusRoute =
  (runtime: () => LocalRuntime | undefined) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (new URL(req.url ?? '/', 'http://l').pathname !== '/_local/status') return false;
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET' });
      res.end(
        JSON.stringify({ message: `use GET to read the status; the local routes are ${LOCAL_ROUTES}` }),
      );
      return true;
    }
    const current = runtime();
    res.writeHead(current ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(current ? await current.status() : { message: 'starting' }));
    return true;
  };

/**
 * Any other path under /_local/: a 404 that names the local routes. Without it the request would go on to S3,
 * whose answer (NoSuchBucket) says nothing of the mistake. No bucket name starts with an underscore.
 */
export const unknownLocalRoute = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
  const path = new URL(req.url ?? '/', 'http://l').pathname;
  if (path !== '/_local' && !path.startsWith('/_local/')) return false;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({ message: `there is no local route ${path}; the local routes are ${LOCAL_ROUTES}` }),
  );
  return true;
};

/** The settings are a few short fields; a larger body is no settings at all. */
const MAX_FAULT_SETTINGS_BYTES = 64 * 1024;

/** GET /_local/faults shows the fault settings and counts; PUT or POST changes them (JSON, partial). */
export const faultsRoute =
  (faults: FaultInjector) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (new URL(req.url ?? '/', 'http://l').pathname !== '/_local/faults') return false;
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      // Ended with a newline, so that the answer to a curl at a prompt ends its line.
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method === 'GET') {
      answer(200, { settings: faults.settings(), injected: faults.counts });
      return true;
    }
    if (req.method !== 'PUT' && req.method !== 'POST') {
      answer(405, { message: 'use GET to read the fault settings, PUT (or POST) to change them' });
      return true;
    }
    const body = await readBody(req, MAX_FAULT_SETTINGS_BYTES);
    if (!Buffer.isBuffer(body)) {
      closeAfterAnswer(req, res);
      answer(413, {
        message: `the fault settings must be at most ${MAX_FAULT_SETTINGS_BYTES} bytes of JSON`,
      });
      return true;
    }
    const text = body.toString('utf8');
    if (text.trim() === '') {
      answer(400, {
        message:
          'the body must be a JSON object of the settings to change, such as {"functionPattern": "poison"}',
      });
      return true;
    }
    try {
      answer(200, { settings: faults.update(JSON.parse(text)) });
    } catch (error) {
      answer(400, { message: (error as Error).message });
    }
    return true;
  };

/** The start-up lines for the SQS messages saved at the last stop: those kept, and those of queues gone. */
export const restoredMessagesLines = (counts: {
  restored: Record<string, number>;
  dropped: Record<string, number>;
  expired: Record<string, number>;
}): string[] => {
  const messages = (count: number) => `${count} message${count === 1 ? '' : 's'}`;
  return [
    ...Object.entries(counts.restored).map(
      ([queue, count]) => `queue ${queue}: ${messages(count)} kept from the last stop`,
    ),
    ...Object.entries(counts.dropped).map(
      ([queue, count]) =>
        `queue ${queue} is no longer in the template: its ${messages(count)} from the last stop ${count === 1 ? 'is' : 'are'} dropped`,
    ),
    ...Object.entries(counts.expired).map(
      ([queue, count]) =>
        `queue ${queue}: ${messages(count)} from the last stop ${count === 1 ? 'is' : 'are'} dropped, sent longer ago than its retention period`,
    ),
  ];
};

/** What every local function gets under the template's own variables: the endpoint and the credentials. */
export const localFunctionEnvironment = (endpoint: string): Record<string, string> => ({
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  AWS_ENDPOINT_URL: endpoint,
  PATH: process.env.PATH ?? '',
});

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
  // Variables Lambda would refuse at deploy would otherwise run here, a reserved one even replacing the runtime's.
  const refused = Object.values(stack.functions).flatMap(({ logicalId, environment }) =>
    environmentProblems(environment).map(
      (problem) => `Resources.${logicalId}.Properties.Environment.Variables: ${problem}`,
    ),
  );
  if (refused.length > 0) {
    throw new RuntimeError(`Lambda would refuse this template's function variables: ${refused.join('; ')}`);
  }
  // Fault settings that name no function of the template would never fire: refused before anything starts.
  validateFaults(options.faults ?? {}, undefined, Object.values(stack.functions));
  const throttling = httpApiThrottling(stack, template);
  // The JWT API is served on one port of its own (--jwt-port): a second plain HTTP API would have none.
  const plainApis = plainHttpApis(stack);
  if (plainApis.length > 1) {
    throw new RuntimeError(
      `the local runtime serves one AWS::ApiGatewayV2::Api, the template has ${plainApis.map((api) => api.logicalId).join(', ')}`,
    );
  }

  const jwtApiPort = options.jwtApiPort ?? (options.apiPort === 0 ? 0 : 3001);
  // Every port this runtime will serve, before the data folder is touched or anything starts.
  await checkServerPorts([
    { port: options.apiPort ?? 3000, server: 'api' },
    ...(plainApis.length > 0 ? [{ port: jwtApiPort, server: 'jwtApi' as const }] : []),
    { port: endpointPort, server: 'endpoint' },
  ]);

  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  if (dataDir) {
    for (const store of ['kinesis', 'dynamodb'] as const) {
      const problem = await levelDbOpenProblem(join(dataDir, store));
      // Another runtime's folder is refused, and never emptied under it: its stores stay open, and both would
      // write here.
      if (problem?.locked) throw new DataDirInUseError(dataDir, problem.locked);
      if (problem?.unreadable && !options.fresh) {
        throw new Error(unopenableStore(store, join(dataDir, store), problem.unreadable.message), {
          cause: problem.unreadable,
        });
      }
    }
    if (options.fresh) rmSync(dataDir, { recursive: true, force: true });
  }

  const started: Array<{ close(): Promise<void> }> = [];
  const functions = new Map<string, LocalFunction>();
  try {
    // Without a data folder S3 objects go to a temporary one, removed on stop (closed last, as started first).
    const s3Directory = dataDir ? join(dataDir, 's3') : mkdtempSync(join(tmpdir(), 'local-s3-'));
    if (!dataDir) started.push({ close: async () => rmSync(s3Directory, { recursive: true, force: true }) });
    // Started together; those that did start are closed if another does not.
    const starting = {
      // Each in a thread of its own: their CPU work must not queue behind the endpoint, the API and the pollers.
      kinesis: startEmulatorThread('kinesis', dataDir ? { path: join(dataDir, 'kinesis') } : {}),
      dynamodb: startEmulatorThread('dynamodb', dataDir ? { path: join(dataDir, 'dynamodb') } : {}),
      // local-aws-sqs keeps its messages in memory: they are saved in the data folder within a second of a change.
      sqs: startSqs(
        dataDir
          ? {
              path: join(dataDir, 'sqs'),
              onSnapshotError: (error) => log('runtime', `cannot save the SQS messages: ${error.message}`),
            }
          : {},
      ),
      s3: startS3({ directory: s3Directory }),
    };
    const outcomes = await Promise.allSettled(Object.values(starting));
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') started.push(outcome.value);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    if (refused) throw refused.reason;
    const emulators = {
      kinesis: await starting.kinesis,
      dynamodb: await starting.dynamodb,
      sqs: await starting.sqs,
      s3: await starting.s3,
    };
    let runtime: LocalRuntime | undefined;
    const emulatorKinesis = new KinesisClient({
      ...clientConfig(emulators.kinesis.endpoint),
      requestHandler: new NodeHttpHandler(),
    });
    started.push({ close: async () => emulatorKinesis.destroy() });
    const emulatorDynamoDb = new DynamoDBClient(clientConfig(emulators.dynamodb.endpoint));
    started.push({ close: async () => emulatorDynamoDb.destroy() });
    const faults = createFaultInjector(
      options.faults ?? {},
      cachedFor(2_000, (streamName) => openShardRanges(emulatorKinesis, streamName)),
      Math.random,
      Object.values(stack.functions),
      cachedFor(2_000, (tableName) => tableBillingMode(emulatorDynamoDb, tableName)),
    );
    const gateway: RunningGateway = await startGateway({
      port: endpointPort,
      services: Object.fromEntries(Object.entries(emulators).map(([service, e]) => [service, e.endpoint])),
      dispatch: { kinesis: emulators.kinesis.dispatch, dynamodb: emulators.dynamodb.dispatch },
      routes: [
        lambdaEventSourceMappingsRoute({
          mappings: () => runtime?.eventSources.mappings,
          region: LOCAL_REGION,
          accountId: LOCAL_ACCOUNT_ID,
        }),
        lambdaInvokeRoute({
          functions: () => runtime?.functions,
          region: LOCAL_REGION,
          accountId: LOCAL_ACCOUNT_ID,
        }),
        faultsRoute(faults),
        statusRoute(() => runtime),
        unknownLocalRoute,
      ],
      intercept: faults.intercept,
    });
    started.push(gateway);
    // Again with the port actually bound (0 picks a free one), since queue URLs contain it.
    stack = plan(gateway.endpoint);

    const config = clientConfig(gateway.endpoint);
    const clients: ResourceClients = {
      kinesis: new KinesisClient({ ...config, requestHandler: new NodeHttpHandler() }),
      dynamodb: new DynamoDBClient(config),
      s3: new S3Client({ ...config, forcePathStyle: true }),
      sqs: new SQSClient(config),
    };
    started.push({
      close: async () => {
        for (const client of Object.values(clients)) client.destroy();
      },
    });
    for (const line of await createResources(stack, clients)) log('runtime', line);
    for (const line of await leftOverLines(stack, clients)) log('runtime', line);
    for (const line of restoredMessagesLines(emulators.sqs.restoreMessages())) log('runtime', line);

    const bundleRoot = resolve(options.bundleRoot ?? 'dist/functions');
    if (!options.skipBuild) {
      const builds = await buildFunctions(template, templatePath, bundleRoot, Object.keys(stack.functions));
      log('runtime', `built ${builds.map((b) => b.logicalId).join(', ')}`);
    }
    const baseEnvironment = localFunctionEnvironment(gateway.endpoint);
    for (const definition of Object.values(stack.functions)) {
      functions.set(
        definition.name,
        new LocalFunction(definition, {
          bundleRoot,
          baseEnvironment,
          log: (name, line) => log(name, line),
          ...(options.observe ? { observe: options.observe } : {}),
          ...(options.settled ? { settled: options.settled } : {}),
        }),
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
            throttle: throttling.limitsOf(fn, event),
            invoke: (e: unknown) => local.invoke(e),
          };
        }),
    );
    const httpApi: RunningHttpApi = await startHttpApi(routes, {
      port: options.apiPort ?? 3000,
      log: (line) => log('http-api', line),
    });
    started.push(httpApi);

    // The template's plain HTTP API (the JWT ingest API), planned again with the bound endpoint.
    const [plainApi] = plainHttpApis(stack);
    let jwtApi: RunningHttpApi | undefined;
    if (plainApi) {
      const authorizers = new Map<string, RouteAuthorizer>();
      const jwtRoutes: HttpRoute[] = plainApi.routes.map((route) => {
        const local = functions.get(route.function.name)!;
        let authorizer: RouteAuthorizer | undefined;
        if (route.authorizer) {
          const config = route.authorizer;
          authorizer =
            authorizers.get(config.name) ??
            jwtAuthorizer(config, {
              ...(options.jwtIssuerCa !== undefined ? { issuerCa: options.jwtIssuerCa } : {}),
              log: (line) => log('jwt-api', line),
            });
          authorizers.set(config.name, authorizer);
        }
        return {
          method: route.method,
          path: route.path,
          functionName: route.function.name,
          throttle: throttling.limitsOfRoute(plainApi.apiId, route.routeKey),
          ...(authorizer ? { authorizer, authorizationScopes: route.authorizationScopes } : {}),
          invoke: (e: unknown) => local.invoke(e),
        };
      });
      jwtApi = await startHttpApi(jwtRoutes, {
        port: jwtApiPort,
        apiId: plainApi.apiId,
        ...(plainApi.cors ? { cors: plainApi.cors } : {}),
        log: (line) => log('jwt-api', line),
      });
      started.push(jwtApi);
    }

    const eventSources = createEventSources({
      stack,
      functions,
      clients,
      faults,
      ...(dataDir ? { dataDir, persistQueues: () => emulators.sqs.saveNow() } : {}),
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.retryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.retryBaseDelayMs } : {}),
      log,
    });
    // Stopped before the functions and emulators they use.
    started.push({ close: () => eventSources.stop() });
    await eventSources.start();

    runtime = {
      stack,
      endpoint: gateway.endpoint,
      apiEndpoint: httpApi.endpoint,
      ...(jwtApi ? { jwtApiEndpoint: jwtApi.endpoint } : {}),
      functions,
      clients,
      faults,
      eventSources,
      status: () =>
        collectStatus(stack, clients, eventSources, faults, functions, {
          endpoints: {
            aws: gateway.endpoint,
            api: httpApi.endpoint,
            ...(jwtApi ? { jwtApi: jwtApi.endpoint } : {}),
          },
        }),
      invoke: (name, event) => {
        const fn = functions.get(name);
        if (!fn)
          throw new RuntimeError(
            `no function named ${name}; the template has ${[...functions.keys()].join(', ')}`,
          );
        return fn.invoke(event);
      },
      stop: async () => {
        for (const service of started.reverse()) await service.close().catch(() => undefined);
      },
    };
    return runtime;
  } catch (error) {
    for (const service of started.reverse()) await service.close().catch(() => undefined);
    if (dataDir && isLevelDbLockHeld(error as Error)) throw new DataDirInUseError(dataDir, error as Error);
    throw error;
  }
};
