import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { DispatchRequest, DispatchResponse } from '#local/emulators/thread.ts';
import { listenOn } from '#local/net.ts';

/**
 * The single AWS endpoint (http://127.0.0.1:4566). Like LocalStack's edge port, it tells services apart by the
 * X-Amz-Target header and by the service in the SigV4 credential scope, and forwards each request unchanged to
 * the emulator behind it. Requests that the runtime answers itself (the Lambda Invoke API) go to a local route.
 */

export type LocalRoute = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface GatewayOptions {
  port: number;
  host?: string;
  /** Service name (as in the credential scope: kinesis, dynamodb, sqs, s3) → emulator endpoint. */
  services: Record<string, string>;
  /**
   * Emulators answered without an HTTP hop (local/emulators/thread.ts), by service name; the endpoint in
   * `services` is still what a fault that forwards a request itself talks to.
   */
  dispatch?: Record<string, (request: DispatchRequest) => Promise<DispatchResponse>>;
  /**
   * Tried first, for requests without X-Amz-Target (those are calls to an emulated service's JSON API, which no
   * local route answers); a route returns true when it answered the request.
   */
  routes?: LocalRoute[];
  /** Called for each request forwarded; may answer it instead (fault injection) by returning true. */
  intercept?: (
    service: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    upstream: string,
  ) => Promise<boolean>;
}

const TARGET_PREFIXES: Array<[RegExp, string]> = [
  [/^Kinesis_\d+\./, 'kinesis'],
  [/^DynamoDB_\d+\./, 'dynamodb'],
  [/^DynamoDBStreams_\d+\./, 'dynamodbstreams'],
  [/^AmazonSQS\./, 'sqs'],
];

/** Which service a request is for, or undefined. */
export const serviceOf = (req: IncomingMessage): string | undefined => {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    for (const [pattern, service] of TARGET_PREFIXES) if (pattern.test(target)) return service;
  }
  const authorization = req.headers.authorization ?? '';
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization);
  if (scope) return scope[1];
  const query = new URL(req.url ?? '/', 'http://local').searchParams.get('X-Amz-Credential');
  if (query) return query.split('/')[3];
  return undefined;
};

/** Services whose answers contain their own endpoint (SQS queue URLs). */
const REWRITTEN_SERVICES = new Set(['sqs']);

// Events rather than `for await`, which costs a promise per chunk on every request through the endpoint.
const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });

export const sendJsonError = (res: ServerResponse, status: number, type: string, message: string): void => {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
};

export interface RunningGateway {
  endpoint: string;
  server: Server;
  close(): Promise<void>;
}

export const startGateway = async (options: GatewayOptions): Promise<RunningGateway> => {
  const server = createServer(async (req, res) => {
    try {
      if (req.headers['x-amz-target'] === undefined) {
        for (const route of options.routes ?? []) if (await route(req, res)) return;
      }
      const service = serviceOf(req);
      const target = service ? options.services[service] : undefined;
      if (!service || !target) {
        sendJsonError(
          res,
          400,
          'UnrecognizedServiceException',
          service
            ? `The service '${service}' is not emulated by the local runtime; emulated: ${Object.keys(options.services).join(', ')}`
            : 'Could not tell which AWS service this request is for (no X-Amz-Target header or SigV4 credential scope)',
        );
        return;
      }
      const body = await readBody(req);
      if (options.intercept && (await options.intercept(service, req, body, res, target))) return;
      const dispatch = options.dispatch?.[service];
      if (dispatch) {
        let answer: DispatchResponse;
        try {
          answer = await dispatch({
            method: req.method ?? 'GET',
            url: req.url ?? '/',
            headers: req.headers,
            body,
          });
        } catch (error) {
          sendJsonError(res, 502, 'ServiceUnavailable', `${service} emulator: ${(error as Error).message}`);
          return;
        }
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        return;
      }
      const url = new URL(req.url ?? '/', target);
      const upstream = request(
        url,
        { method: req.method, headers: { ...req.headers, 'content-length': String(body.byteLength) } },
        (answer) => {
          if (!REWRITTEN_SERVICES.has(service) || !req.headers.host) {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            return;
          }
          // Queue URLs name the emulator's own port; clients must see the single endpoint instead.
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const text = Buffer.concat(chunks)
              .toString('utf8')
              .replaceAll(target, `http://${req.headers.host}`);
            const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(text)) };
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(text);
          });
        },
      );
      upstream.on('error', (error) => {
        if (!res.headersSent)
          sendJsonError(res, 502, 'ServiceUnavailable', `${service} emulator: ${error.message}`);
        else res.destroy(error);
      });
      upstream.end(body);
    } catch (error) {
      if (!res.headersSent) sendJsonError(res, 500, 'InternalFailure', (error as Error).message);
      else res.destroy(error as Error);
    }
  });
  server.keepAliveTimeout = 65_000;
  return { ...(await listenOn(server, options.port, options.host)), server };
};
