import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream';
import type { DispatchRequest, DispatchResponse } from '#local/emulators/thread.ts';
import { closeAfterAnswer, listenOn, readBody } from '#local/net.ts';

/**
 * The single AWS endpoint (http://127.0.0.1:4566). Like LocalStack's edge port, it tells services apart by the
 * X-Amz-Target header and by the service in the SigV4 credential scope (SigV2 and unsigned requests go to S3,
 * or to SQS when they carry a query-protocol Action), and forwards each request to the emulator behind it with
 * its method, path, headers and body as they came, less the headers about the client's own connection. Requests
 * that the runtime answers itself (the Lambda Invoke API) go to a local route.
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

/** Which service a request is for, from its X-Amz-Target or SigV4 credential scope; undefined when it has neither. */
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

/**
 * The service of a request without X-Amz-Target or SigV4 scope: SigV2 (`Authorization: AWS key:sig`, or
 * `?AWSAccessKeyId=…&Signature=…&Expires=…`) and unsigned requests (anonymous GETs, browser form POSTs). The
 * query protocol's `Action` (in the query string or a form body) is SQS's, the only emulated query-protocol
 * service; anything else is S3's, the only emulated service with a REST path API. A request with an
 * X-Amz-Target that no emulated service owns is for none of them.
 */
export const unscopedServiceOf = (req: IncomingMessage, body: Buffer): string | undefined => {
  if (req.headers['x-amz-target'] !== undefined) return undefined;
  return isQueryProtocol(req, body) ? 'sqs' : 's3';
};

/** Whether a request is in the query protocol: an `Action` in its query string or its form body. */
export const isQueryProtocol = (req: IncomingMessage, body: Buffer): boolean => {
  if (new URL(req.url ?? '/', 'http://local').searchParams.has('Action')) return true;
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  return (
    req.method === 'POST' &&
    type.startsWith('application/x-www-form-urlencoded') &&
    new URLSearchParams(body.toString('latin1')).has('Action')
  );
};

/**
 * A query-protocol request sent as a GET (`/<account>/<queue>?Action=…&…`), which SQS takes as it takes a form
 * POST, as the form POST local-aws-sqs reads: the query string becomes the body, the path is kept, and the queue the
 * path names is added as `QueueUrl` (on `emulator`, its URL there), which local-aws-sqs reads instead of the path.
 * Undefined for anything else.
 */
export const queryAsForm = (
  method: string,
  url: string,
  emulator: string,
): { path: string; body: Buffer } | undefined => {
  if (method !== 'GET') return undefined;
  const parsed = new URL(url, 'http://local');
  const form = parsed.searchParams;
  if (!form.has('Action')) return undefined;
  if (parsed.pathname !== '/' && !form.has('QueueUrl')) form.set('QueueUrl', `${emulator}${parsed.pathname}`);
  return { path: parsed.pathname, body: Buffer.from(form.toString(), 'utf8') };
};

/** Headers about one connection rather than the message (RFC 9110 §7.6.1), never forwarded. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The headers of a message less those about its connection, including any its Connection header names. */
export const endToEndHeaders = (headers: IncomingHttpHeaders): IncomingHttpHeaders => {
  const named = String(headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((name) => name.trim());
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !CONNECTION_HEADERS.has(name) && !named.includes(name)) kept[name] = value;
  }
  return kept;
};

/**
 * The headers a request is forwarded with once its body has been read whole: the body goes as one piece of a
 * known length (never chunked), and there is nothing left to wait for a 100 Continue on.
 */
export const forwardedRequestHeaders = (
  headers: IncomingHttpHeaders,
  bodyLength: number,
): IncomingHttpHeaders => {
  const { expect: _expect, ...kept } = endToEndHeaders(headers);
  return { ...kept, 'content-length': String(bodyLength) };
};

/** Services whose answers contain their own endpoint (SQS queue URLs). */
const REWRITTEN_SERVICES = new Set(['sqs']);

/** The fields of SQS answers that hold queue URLs (JSON protocol; ListDeadLetterSourceQueues says queueUrls). */
const QUEUE_URL_FIELDS = ['QueueUrl', 'QueueUrls', 'queueUrls'];

/**
 * An SQS answer with the queue URLs that name the emulator (`from`) naming the endpoint (`to`) instead, or
 * undefined when there is none. Only the queue URL fields change: message bodies and attributes that happen to
 * contain the emulator's address stay byte for byte what was sent, so their MD5 digests still match.
 */
export const rewriteQueueUrls = (
  text: string,
  contentType: string,
  from: string,
  to: string,
): string | undefined => {
  let changed = false;
  const swap = (url: string): string => {
    if (url !== from && !url.startsWith(`${from}/`)) return url;
    changed = true;
    return `${to}${url.slice(from.length)}`;
  };
  if (contentType.includes('json')) {
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return undefined;
    const fields = answer as Record<string, unknown>;
    for (const field of QUEUE_URL_FIELDS) {
      const value = fields[field];
      if (typeof value === 'string') fields[field] = swap(value);
      else if (Array.isArray(value))
        fields[field] = value.map((url) => (typeof url === 'string' ? swap(url) : url));
    }
    return changed ? JSON.stringify(fields) : undefined;
  }
  // Query protocol (XML): a message body in it is escaped text, so a literal <QueueUrl> element is never one.
  const rewritten = text.replace(
    /<QueueUrl>([^<]*)<\/QueueUrl>/g,
    (_element, url: string) => `<QueueUrl>${swap(url)}</QueueUrl>`,
  );
  return changed ? rewritten : undefined;
};

/**
 * The largest request body each emulator takes; kinesalite and dynalite answer 413 past it. The endpoint refuses a
 * larger one itself, before it holds more of it than that.
 */
const BODY_LIMITS: Readonly<Record<string, number>> = {
  kinesis: 7 * 1024 * 1024,
  dynamodb: 16 * 1024 * 1024,
};

export const sendJsonError = (res: ServerResponse, status: number, type: string, message: string): void => {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
};

const escapeXml = (text: string): string =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/**
 * An error in the XML a client of the query protocol (`<ErrorResponse>`, as SNS, STS and CloudWatch's query API
 * answer) or of S3's REST-XML protocol (`<Error>`) reads; such clients cannot read a JSON error at all.
 */
export const sendXmlError = (
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  protocol: 'query' | 'rest-xml',
): void => {
  const requestId = randomUUID();
  const error = `<Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>`;
  const body =
    protocol === 'query'
      ? `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>${error}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${error}<RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, { 'content-type': protocol === 'query' ? 'text/xml' : 'application/xml' });
  res.end(body);
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
      const scoped = serviceOf(req);
      const limit =
        scoped !== undefined && Object.hasOwn(BODY_LIMITS, scoped) ? BODY_LIMITS[scoped] : undefined;
      const body = await readBody(req, limit);
      if (!Buffer.isBuffer(body)) {
        closeAfterAnswer(req, res);
        sendJsonError(
          res,
          413,
          'RequestEntityTooLargeException',
          `Request must be smaller than ${limit} bytes for the ${scoped} emulator`,
        );
        return;
      }
      const service = scoped ?? unscopedServiceOf(req, body);
      // An error of the endpoint's own in the shape the client reads: XML for the query protocol and S3, else JSON.
      // Told only when an error is sent, so that a request passed on does not have its body read again.
      const sendError = (status: number, code: string, message: string): void => {
        const xml =
          req.headers['x-amz-target'] !== undefined
            ? undefined
            : isQueryProtocol(req, body)
              ? 'query'
              : service === 's3'
                ? 'rest-xml'
                : undefined;
        if (xml) sendXmlError(res, status, code, message, xml);
        else sendJsonError(res, status, code, message);
      };
      // Own names only: a scope of `constructor` or `__proto__` names no emulator.
      const target =
        service && Object.hasOwn(options.services, service) ? options.services[service] : undefined;
      if (!service || !target) {
        const emulated = Object.keys(options.services).join(', ');
        sendError(
          400,
          'UnrecognizedServiceException',
          scoped
            ? `The service '${scoped}' is not emulated by the local runtime; emulated: ${emulated}`
            : service
              ? `A request without X-Amz-Target or SigV4 credential scope is for ${service}, which the local runtime does not emulate here; emulated: ${emulated}`
              : 'Could not tell which AWS service this request is for (no X-Amz-Target header or SigV4 credential scope)',
        );
        return;
      }
      if (options.intercept && (await options.intercept(service, req, body, res, target))) return;
      const asForm =
        service === 'sqs'
          ? queryAsForm(req.method ?? 'GET', req.url ?? '/', new URL(target).origin)
          : undefined;
      const payload = asForm?.body ?? body;
      const headers = forwardedRequestHeaders(req.headers, payload.byteLength);
      if (asForm) headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
      const method = asForm ? 'POST' : (req.method ?? 'GET');
      const path = asForm?.path ?? req.url ?? '/';
      const dispatch =
        options.dispatch && Object.hasOwn(options.dispatch, service) ? options.dispatch[service] : undefined;
      if (dispatch) {
        let answer: DispatchResponse;
        try {
          answer = await dispatch({ method, url: path, headers, body: payload });
        } catch (error) {
          sendJsonError(res, 502, 'ServiceUnavailable', `${service} emulator: ${(error as Error).message}`);
          return;
        }
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        return;
      }
      const host = req.headers.host;
      const rewritten = REWRITTEN_SERVICES.has(service) && host !== undefined;
      // An answer to be edited must come as plain text, whatever encodings the client would accept.
      if (rewritten) headers['accept-encoding'] = 'identity';
      const origin = new URL(target);
      // The path as it came, never resolved against the emulator's URL, where `//host/…` would name another host.
      const destination = { hostname: origin.hostname, port: origin.port, path };
      const upstream = request({ ...destination, method, headers }, (answer) => {
        const status = answer.statusCode ?? 502;
        const answerHeaders = endToEndHeaders(answer.headers);
        const encoding = answer.headers['content-encoding'];
        if (!rewritten || (encoding !== undefined && encoding !== 'identity')) {
          res.writeHead(status, answerHeaders);
          // pipeline ends the client's answer when the emulator's breaks off, where pipe would leave it open.
          pipeline(answer, res, () => undefined);
          return;
        }
        // Queue URLs name the emulator's own port; clients must see the single endpoint instead.
        readBody(answer).then(
          (read) => {
            const bytes = read as Buffer; // no limit: never tooLarge
            const type = String(answer.headers['content-type'] ?? '');
            const text = rewriteQueueUrls(bytes.toString('utf8'), type, origin.origin, `http://${host}`);
            const out = text === undefined ? bytes : Buffer.from(text, 'utf8');
            res.writeHead(status, { ...answerHeaders, 'content-length': String(out.byteLength) });
            res.end(out);
          },
          (error: Error) => res.destroy(error),
        );
      });
      upstream.on('error', (error) => {
        if (!res.headersSent) sendError(502, 'ServiceUnavailable', `${service} emulator: ${error.message}`);
        else res.destroy(error);
      });
      // A client that hangs up abandons its request; the emulator's connection goes with it (a long poll included).
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(payload);
    } catch (error) {
      if (!res.headersSent) sendJsonError(res, 500, 'InternalFailure', (error as Error).message);
      else res.destroy(error as Error);
    }
  });
  server.keepAliveTimeout = 65_000;
  return { ...(await listenOn(server, options.port, options.host)), server };
};
