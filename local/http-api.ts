import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InvokeResult } from '#local/functions/runner.ts';
import { closeAfterAnswer, listenOn, readBody } from '#local/net.ts';
import type { LocalStack, PlannedEvent, PlannedFunction } from '#local/stack.ts';
import { at, type Finding, finding, formatFinding, type Location } from '#local/template/findings.ts';
import type { Template } from '#local/template/parse.ts';
import { resolveValue, TemplateResolveError } from '#local/template/resolve.ts';
import { type Clock, systemClock } from '#shared/kinesis/rate-limiter.ts';

/**
 * API Gateway HTTP APIs for the template's `HttpApi` events, payload format 2.0: the route is matched, the
 * request becomes the same event API Gateway sends, and the function's answer becomes the HTTP response by the
 * 2.0 rules (a result with statusCode is taken as is; anything else is a 200 JSON body). Each route is throttled
 * as the API's stage throttles it, from the template's route settings.
 */

export interface HttpRoute {
  method: string;
  path: string;
  functionName: string;
  /** The route's throttling; the account-level quota when not given. */
  throttle?: RouteThrottle;
  invoke(event: APIGatewayProxyEventV2): Promise<InvokeResult>;
}

/**
 * Throttling of HTTP APIs, as API Gateway documents it
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html):
 * - a token bucket, a token per request: ThrottlingBurstLimit is the bucket's size ("the burst (that is, the
 *   maximum bucket size)") and ThrottlingRateLimit the steady-state requests per second that refill it;
 * - a stage's DefaultRouteSettings set it for every route, a route's RouteSettings (keyed by route key, as
 *   `POST /events`) override it for that route;
 * - a request over the limits gets 429 Too Many Requests and never reaches the integration;
 * - where no limit is set, the account-level quota applies: 10,000 requests per second with a bucket of 5,000
 *   (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html; some Regions 2,500 and 1,250).
 * SAM merges an HttpApi event's RouteSettings into its API's RouteSettings under the event's route key
 * (aws/serverless-application-model samtranslator/plugins/api/implicit_http_api_plugin.py), and Globals.HttpApi
 * into every HTTP API.
 * Not confirmed, and chosen here: each route has a bucket of its own (the REST API docs say stage limits apply per
 * method; nothing says so of HTTP API routes); a route's settings that set only one of the two limits take the
 * other from DefaultRouteSettings (AWS may take the account quota instead: the lower limit is the safer guess);
 * the account-level bucket, shared by all APIs of an account and Region, is not added on top of limits the
 * template sets (a raised account quota would allow them).
 */
export interface ThrottleLimits {
  /** Requests per second that refill the bucket (ThrottlingRateLimit). */
  rateLimit: number;
  /** The bucket's size: the most requests let through at once (ThrottlingBurstLimit). */
  burstLimit: number;
}

/** The limits, with where in the template each comes from. */
export interface RouteThrottle extends ThrottleLimits {
  source: string;
}

/** The account-level quota, per Region, which applies where the template sets no limit. */
export const ACCOUNT_THROTTLE_LIMITS: Readonly<ThrottleLimits> = { rateLimit: 10_000, burstLimit: 5_000 };

/**
 * A token bucket that lets a request through or refuses it at once, on an injectable clock. Hand-written:
 * shared/kinesis/rate-limiter.ts paces work by making it wait, which an API that answers 429 must not do, and has
 * no burst; npm's token buckets (`limiter` and the like) read the system clock themselves.
 */
export class TokenBucket {
  readonly limits: ThrottleLimits;
  readonly #clock: Pick<Clock, 'now'>;
  /**
   * In thousandths of a token, so that whole milliseconds at a whole rate refill exactly: tenths of a token added
   * up in floating point fall short of one.
   */
  #milliTokens: number;
  #at: number;

  constructor(limits: ThrottleLimits, clock: Pick<Clock, 'now'> = systemClock) {
    this.limits = { rateLimit: limits.rateLimit, burstLimit: limits.burstLimit };
    this.#clock = clock;
    // A bucket starts full.
    this.#milliTokens = limits.burstLimit * 1000;
    this.#at = clock.now();
  }

  /** Takes a token when there is one; false when the request is to be throttled. */
  tryTake(): boolean {
    const now = this.#clock.now();
    if (now > this.#at) {
      const refill = (now - this.#at) * this.limits.rateLimit;
      this.#milliTokens = Math.min(this.limits.burstLimit * 1000, this.#milliTokens + refill);
      this.#at = now;
    }
    if (this.#milliTokens < 1000) return false;
    this.#milliTokens -= 1000;
    return true;
  }
}

const THROTTLE_FIELDS: Array<[keyof ThrottleLimits, string]> = [
  ['rateLimit', 'ThrottlingRateLimit'],
  ['burstLimit', 'ThrottlingBurstLimit'],
];

type Limit = { value: number; source: string };
type Limits = Partial<Record<keyof ThrottleLimits, Limit>>;

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const named = ({ resource, path }: Location): string => (path === '' ? resource : `${resource}.${path}`);

/**
 * The throttling limits of one route settings object (resolved: parameters come as strings); a limit that is not a
 * number ≥ 0 (a whole one for the burst, an Integer in CloudFormation) is a finding.
 */
const limitsIn = (settings: unknown, location: Location, findings: Finding[]): Limits => {
  if (settings === undefined || settings === null) return {};
  if (!isMap(settings)) {
    findings.push(finding(location, 'must be a map of route settings'));
    return {};
  }
  const limits: Limits = {};
  for (const [key, field] of THROTTLE_FIELDS) {
    const value = settings[field];
    if (value === undefined || value === null) continue;
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : Number.NaN;
    const whole = key === 'burstLimit';
    if (!Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n))) {
      findings.push(
        finding(
          at(location, field),
          whole
            ? `must be a whole number ≥ 0 (the most requests let through at once), got ${JSON.stringify(value)}`
            : `must be a number ≥ 0 (requests per second), got ${JSON.stringify(value)}`,
        ),
      );
      continue;
    }
    limits[key] = { value: n, source: named(location) };
  }
  return limits;
};

interface ApiThrottleSettings {
  defaults: Limits;
  /** By route key (`POST /events`, `$default`). */
  routes: Record<string, Limits>;
}

const settingsOf = (
  properties: Record<string, unknown>,
  location: Location,
  findings: Finding[],
): ApiThrottleSettings => {
  const defaults = limitsIn(properties.DefaultRouteSettings, at(location, 'DefaultRouteSettings'), findings);
  const routes: Record<string, Limits> = {};
  const perRoute = properties.RouteSettings;
  if (isMap(perRoute)) {
    for (const [routeKey, settings] of Object.entries(perRoute))
      routes[routeKey] = limitsIn(settings, at(at(location, 'RouteSettings'), routeKey), findings);
  } else if (perRoute !== undefined && perRoute !== null) {
    findings.push(finding(at(location, 'RouteSettings'), 'must be a map from route key to route settings'));
  }
  return { defaults, routes };
};

/** The limits a route gets: its event's settings, then its API's route settings, then the API's defaults. */
export interface HttpApiThrottling {
  limitsOf(fn: PlannedFunction, event: PlannedEvent): RouteThrottle;
}

/**
 * Reads the throttling of every HTTP API in the planned stack (parameter overrides and intrinsics resolved), and
 * refuses, naming each, limits that are not numbers ≥ 0: called before anything starts.
 */
export const httpApiThrottling = (stack: LocalStack, template: Template): HttpApiThrottling => {
  const findings: Finding[] = [];
  const rawGlobals = template.Globals?.HttpApi;
  const globalProperties =
    rawGlobals === undefined ? {} : resolveValue(rawGlobals, stack.context, 'Globals.HttpApi');
  const globals = settingsOf(
    isMap(globalProperties) ? globalProperties : {},
    { resource: 'Globals', path: 'HttpApi' },
    findings,
  );
  // By the value `Ref` gives, which is what an event's resolved ApiId holds.
  const apis = new Map<string, ApiThrottleSettings>();
  for (const resource of Object.values(stack.resources)) {
    if (resource.type !== 'AWS::Serverless::HttpApi') continue;
    const own = settingsOf(resource.properties, { resource: resource.logicalId, path: '' }, findings);
    // Globals merge as SAM merges maps: the resource's own values win.
    const routes: Record<string, Limits> = { ...globals.routes };
    for (const [routeKey, limits] of Object.entries(own.routes))
      routes[routeKey] = { ...routes[routeKey], ...limits };
    apis.set(resource.refs.ref, { defaults: { ...globals.defaults, ...own.defaults }, routes });
  }
  // By function and event name: the runtime plans the stack again once its ports are bound.
  const events = new Map<string, Limits>();
  for (const fn of Object.values(stack.functions)) {
    for (const event of fn.events) {
      if (event.type !== 'HttpApi') continue;
      const location = { resource: fn.logicalId, path: `Events.${event.name}.Properties.RouteSettings` };
      events.set(
        `${fn.logicalId}.${event.name}`,
        limitsIn(event.properties.RouteSettings, location, findings),
      );
    }
  }
  if (findings.length > 0) {
    throw new TemplateResolveError(
      `invalid HTTP API throttling settings: ${findings.map(formatFinding).join('; ')}`,
    );
  }
  return {
    limitsOf: (fn, event) => {
      const method = String(event.properties.Method ?? 'ANY').toUpperCase();
      const path = String(event.properties.Path ?? '/{proxy+}');
      const routeKey = path === '$default' ? '$default' : `${method} ${path}`;
      const apiId = event.properties.ApiId;
      // Without ApiId the event is on SAM's implicit API, which has only what Globals.HttpApi gives it.
      const api = (typeof apiId === 'string' ? apis.get(apiId) : undefined) ?? globals;
      const chosen: Limits = {
        ...api.defaults,
        ...api.routes[routeKey],
        ...events.get(`${fn.logicalId}.${event.name}`),
      };
      const sources = new Set(
        THROTTLE_FIELDS.map(([key]) => chosen[key]?.source ?? 'the account-level quota'),
      );
      return {
        rateLimit: chosen.rateLimit?.value ?? ACCOUNT_THROTTLE_LIMITS.rateLimit,
        burstLimit: chosen.burstLimit?.value ?? ACCOUNT_THROTTLE_LIMITS.burstLimit,
        source: [...sources].join(' and '),
      };
    },
  };
};

/** HTTP APIs accept payloads up to 10 MB. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** Lambda's synchronous invoke takes an event of at most 6 MB (6,291,456 bytes); a larger one never runs. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * The bodies an HTTP API (payload format 2.0) hands the function as text; every other body arrives base64, as
 * reported from real HTTP APIs: `application/cloudevents+json` and other `+json` types, form bodies and bodies
 * without a Content-Type are base64.
 */
const TEXT_TYPES = /^\s*(text\/[^;]*|application\/(json|xml|javascript))\s*(;|$)/i;

const compile = (path: string): RegExp => {
  const pattern = path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) return `(?<${greedy[1]}>.+)`;
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) return `(?<${param[1]}>[^/]+)`;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${pattern}$`);
};

const formatTime = (date: Date): string => {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
};

export const toEventV2 = (
  req: IncomingMessage,
  body: Buffer,
  route: { routeKey: string; pathParameters?: Record<string, string> },
  apiId: string,
): APIGatewayProxyEventV2 => {
  const url = new URL(req.url ?? '/', 'http://local');
  // Repeated headers are joined with bare commas, as API Gateway does ("value1,value2"), every copy kept.
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined && name !== 'cookie') headers[name] = values.join(',');
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  const isText = body.byteLength === 0 || (contentType !== '' && TEXT_TYPES.test(contentType));
  const cookies = req.headers.cookie?.split(/;\s*/).filter(Boolean);
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId,
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127').split('.')[0]!,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: formatTime(now),
      timeEpoch: now.getTime(),
    },
    ...(route.pathParameters && Object.keys(route.pathParameters).length
      ? { pathParameters: route.pathParameters }
      : {}),
    ...(body.byteLength > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: !isText,
  } as APIGatewayProxyEventV2;
};

/** Whether a request comes with a body (RFC 9112 §6.3: a Content-Length above 0, or a Transfer-Encoding). */
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export interface RunningHttpApi {
  endpoint: string;
  server: Server;
  close(): Promise<void>;
}

export const startHttpApi = async (
  routes: HttpRoute[],
  options: {
    port: number;
    host?: string;
    apiId?: string;
    log?: (line: string) => void;
    /** The throttling buckets' clock (tests move it by hand). */
    clock?: Pick<Clock, 'now'>;
  },
): Promise<RunningHttpApi> => {
  // API Gateway tries the most specific route first: a path without variables, then with variables, then a greedy
  // {proxy+}, then $default; within each, a route for the method before one for ANY.
  const rank = (route: HttpRoute): number =>
    (route.path === '$default'
      ? 30
      : /\{\w+\+\}/.test(route.path)
        ? 20
        : /\{\w+\}/.test(route.path)
          ? 10
          : 0) + (route.method === 'ANY' ? 1 : 0);
  const compiled = [...routes]
    .sort((a, b) => rank(a) - rank(b))
    .map((route) => ({ route, pattern: compile(route.path) }));
  const throttles = new Map(
    routes.map((route) => {
      const limits = route.throttle ?? { ...ACCOUNT_THROTTLE_LIMITS, source: 'the account-level quota' };
      options.log?.(
        `${route.method} ${route.path} → ${route.functionName}: throttled at ${limits.rateLimit} requests/s, burst ${limits.burstLimit} (${limits.source})`,
      );
      // How many requests in a row were throttled: a run is logged when it starts and when it ends, not each one.
      return [route, { bucket: new TokenBucket(limits, options.clock), throttledInRow: 0 }];
    }),
  );
  const server = createServer((req, res) => {
    // One request's failure is that request's: a client that goes away, or a function's answer that cannot be
    // sent, never takes the runtime down with it.
    handle(req, res).catch((error: Error) => {
      options.log?.(`${req.method} ${req.url}: ${error.message}`);
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    let matched: { route: HttpRoute; pathParameters: Record<string, string> } | undefined;
    for (const { route, pattern } of compiled) {
      const match = pattern.exec(url.pathname);
      if (match && (route.method === 'ANY' || route.method === method)) {
        matched = { route, pathParameters: { ...match.groups } };
        break;
      }
    }
    if (!matched) return send(404, { message: 'Not Found' });

    const throttle = throttles.get(matched.route)!;
    const routeKey = `${matched.route.method} ${matched.route.path}`;
    if (!throttle.bucket.tryTake()) {
      if (throttle.throttledInRow++ === 0) {
        const { rateLimit, burstLimit } = throttle.bucket.limits;
        options.log?.(
          `${routeKey} throttled: over ${rateLimit} requests/s (burst ${burstLimit}), answering 429 without invoking ${matched.route.functionName}`,
        );
      }
      // Answered before the body is read (the rest of it is not: the connection closes after the answer), and the
      // function is not invoked. The body is API Gateway's, as seen from HTTP APIs (3rd-party reports:
      // github.com/pulumi/pulumi-aws/issues/2363, github.com/terraform-aws-modules/terraform-aws-apigateway-v2/issues/13).
      if (hasBody(req)) closeAfterAnswer(req, res);
      return send(429, { message: 'Too Many Requests' });
    }
    if (throttle.throttledInRow > 0) {
      options.log?.(`${routeKey} passes again after ${throttle.throttledInRow} requests answered 429`);
      throttle.throttledInRow = 0;
    }

    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    // The rest of the upload is not read: the connection is closed after the answer.
    if (!Buffer.isBuffer(body)) {
      closeAfterAnswer(req, res);
      return send(413, { message: 'Request Entity Too Large' });
    }
    const { route } = matched;
    const event = toEventV2(
      req,
      body,
      { routeKey: `${route.method} ${route.path}`, pathParameters: matched.pathParameters },
      options.apiId ?? 'local',
    );
    if (Buffer.byteLength(JSON.stringify(event)) > MAX_INVOKE_PAYLOAD_BYTES) {
      // Lambda refuses the invoke (RequestEntityTooLargeException) and the function never runs.
      options.log?.(`${method} ${url.pathname} → ${route.functionName} refused: the event is over 6 MB`);
      return send(413, { message: 'Request Entity Too Large' });
    }
    const result = await route.invoke(event).catch((error: Error) => ({
      requestId: event.requestContext.requestId,
      payload: { errorMessage: error.message },
      functionError: 'Unhandled' as const,
      durationMs: 0,
    }));
    const apigwHeaders = { 'apigw-requestid': event.requestContext.requestId };
    options.log?.(
      `${method} ${url.pathname} → ${route.functionName} ${result.functionError ? 'error' : 'ok'} in ${Math.round(result.durationMs)} ms`,
    );
    if (result.functionError) return send(500, { message: 'Internal Server Error' }, apigwHeaders);
    const payload = result.payload as Record<string, unknown> | null;
    if (payload && typeof payload === 'object' && 'statusCode' in payload) {
      const headers: Record<string, string | string[]> = { ...apigwHeaders };
      for (const [k, v] of Object.entries((payload.headers ?? {}) as Record<string, unknown>))
        headers[k] = String(v);
      if (Array.isArray(payload.cookies)) headers['set-cookie'] = payload.cookies.map(String);
      const raw = payload.body === undefined ? '' : String(payload.body);
      // An answer the gateway could not send (no valid status, a header it cannot carry) is its 500.
      const status = Number(payload.statusCode);
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        return send(500, { message: 'Internal Server Error' }, apigwHeaders);
      }
      try {
        res.writeHead(status, headers);
      } catch {
        return send(500, { message: 'Internal Server Error' }, apigwHeaders);
      }
      res.end(payload.isBase64Encoded ? Buffer.from(raw, 'base64') : raw);
      return;
    }
    return send(200, payload, apigwHeaders);
  };
  return { ...(await listenOn(server, options.port, options.host)), server };
};
