import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InvokeResult } from '#local/functions/runner.ts';
import { closeAfterAnswer, listenOn, readBody } from '#local/net.ts';

/**
 * API Gateway HTTP APIs for the template's `HttpApi` events, payload format 2.0: the route is matched, the
 * request becomes the same event API Gateway sends, and the function's answer becomes the HTTP response by the
 * 2.0 rules (a result with statusCode is taken as is; anything else is a 200 JSON body).
 */

export interface HttpRoute {
  method: string;
  path: string;
  functionName: string;
  invoke(event: APIGatewayProxyEventV2): Promise<InvokeResult>;
}

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

export interface RunningHttpApi {
  endpoint: string;
  server: Server;
  close(): Promise<void>;
}

export const startHttpApi = async (
  routes: HttpRoute[],
  options: { port: number; host?: string; apiId?: string; log?: (line: string) => void },
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
