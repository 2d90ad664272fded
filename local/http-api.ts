import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InvokeResult } from '#local/functions/runner.ts';
import { listenOn } from '#local/net.ts';

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

const TEXT_TYPES = /^(text\/|application\/(.*\+)?(json|xml|javascript|x-www-form-urlencoded)|.*\+json)/i;

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
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && name !== 'cookie')
      headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  const isText = body.byteLength === 0 || TEXT_TYPES.test(contentType);
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
  const compiled = routes.map((route) => ({ route, pattern: compile(route.path) }));
  const server = createServer(async (req, res) => {
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

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).byteLength;
      if (size > MAX_PAYLOAD_BYTES) return send(413, { message: 'Request Entity Too Large' });
      chunks.push(chunk as Buffer);
    }
    const { route } = matched;
    const event = toEventV2(
      req,
      Buffer.concat(chunks),
      { routeKey: `${route.method} ${route.path}`, pathParameters: matched.pathParameters },
      options.apiId ?? 'local',
    );
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
      res.writeHead(Number(payload.statusCode), headers);
      res.end(payload.isBase64Encoded ? Buffer.from(raw, 'base64') : raw);
      return;
    }
    return send(200, payload, apigwHeaders);
  });
  return { ...(await listenOn(server, options.port, options.host)), server };
};
