import type { IncomingMessage, ServerResponse } from 'node:http';
import { goesBy, parseFunctionName } from '#local/functions/function-names.ts';
import { invalidFunctionName, LambdaApiError, validationError } from '#local/functions/lambda-api-error.ts';
import { LOG_TAIL_BYTES, type LocalFunction } from '#local/functions/runner.ts';
import { sendJsonError, serviceOf } from '#local/gateway.ts';
import { closeAfterAnswer, readBody } from '#local/net.ts';

/**
 * The Lambda Invoke API (`POST /2015-03-31/functions/{FunctionName}/invocations`) for the local functions, with
 * the checks and answers of AWS: function names, full and partial ARNs and the `$LATEST` qualifier; the
 * RequestResponse, Event and DryRun invocation types; LogType Tail; and the payload limits.
 */

export interface InvokeApiOptions {
  /** The functions by name (their logical id); undefined while the runtime is starting. */
  functions: () => ReadonlyMap<string, LocalFunction> | undefined;
  region: string;
  accountId: string;
}

/** Largest request payload of a synchronous invocation (RequestResponse, and DryRun): 6 MB. */
export const SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
/** Largest request payload of an asynchronous (Event) invocation: 1 MB. */
export const ASYNC_PAYLOAD_LIMIT_BYTES = 1024 * 1024;

const INVOCATION_TYPES = ['Event', 'RequestResponse', 'DryRun'];
const LOG_TYPES = ['Tail', 'None'];

/** AWS's message when a request parameter is outside its enum (sent as ValidationException, 400). */
const enumError = (value: string, member: string, allowed: string[]) =>
  validationError(value, member, `Member must satisfy enum value set: [${allowed.join(', ')}]`);

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The FunctionName of the path; a malformed escape leaves it as sent, which the name pattern then refuses. */
const decodePathName = (raw: string): string => {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
};

/** The local function a FunctionName (and Qualifier) names, or the error AWS answers. */
const resolveFunction = (
  functions: ReadonlyMap<string, LocalFunction>,
  rawName: string,
  queryQualifier: string | null,
  options: InvokeApiOptions,
): LocalFunction => {
  const parsed = parseFunctionName(rawName);
  if (!parsed) throw invalidFunctionName(rawName);
  const { region, account, name, qualifier: nameQualifier } = parsed;
  // As AWS (and LocalStack's AWS-validated tests): a function of another region is out of reach.
  if (region && region !== options.region) {
    throw new LambdaApiError(
      404,
      'ResourceNotFoundException',
      `Functions from '${region}' are not reachable in this region ('${options.region}')`,
    );
  }
  if (queryQualifier && nameQualifier && queryQualifier !== nameQualifier) {
    throw new LambdaApiError(
      400,
      'InvalidParameterValueException',
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
  }
  const qualifier = queryQualifier || nameQualifier;
  const arn = `arn:aws:lambda:${options.region}:${account ?? options.accountId}:function:${name}`;
  // By the name it is kept under (its logical id), else by any name it goes by (its FunctionName).
  const fn =
    account && account !== options.accountId
      ? undefined
      : (functions.get(name) ?? [...functions.values()].find((f) => goesBy(f.definition, name)));
  // Locally every function has $LATEST only: no published versions, no aliases.
  if (!fn || (qualifier !== undefined && qualifier !== '$LATEST')) {
    throw new LambdaApiError(
      404,
      'ResourceNotFoundException',
      `Function not found: ${arn}${qualifier && qualifier !== '$LATEST' ? `:${qualifier}` : ''}`,
    );
  }
  return fn;
};

/** Answers a request whose body is not read to its end, and closes the connection rather than read the rest. */
const refuseUnread = (
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
) => {
  closeAfterAnswer(req, res);
  sendJsonError(res, status, type, message);
};

/**
 * The ClientContext of X-Amz-Client-Context: base64 of a JSON object, which Lambda gives the function decoded
 * (its context's clientContext); anything else is refused with AWS's InvalidRequestContentException.
 */
const parseClientContext = (value: string | undefined): Record<string, unknown> | undefined => {
  if (value === undefined || value === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LambdaApiError(
      400,
      'InvalidRequestContentException',
      'Client context must be a valid Base64-encoded JSON object.',
    );
  }
  return parsed as Record<string, unknown>;
};

/** X-Amz-Log-Result: the base64 of the log's last 4 KB, cut on bytes as Lambda cuts it. */
const logResult = (log: string): string => {
  const bytes = Buffer.from(log, 'utf8');
  return bytes.subarray(Math.max(0, bytes.byteLength - LOG_TAIL_BYTES)).toString('base64');
};

export const lambdaInvokeRoute =
  (options: InvokeApiOptions) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://l');
    const path = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(url.pathname);
    if (!path || req.method !== 'POST') {
      if (serviceOf(req) !== 'lambda') return false;
      // Another Lambda operation (get-function, say): name what is emulated, not "no lambda here".
      refuseUnread(
        req,
        res,
        400,
        'UnknownOperationException',
        'The local runtime emulates these Lambda operations only: Invoke (POST /2015-03-31/functions/{FunctionName}/invocations), ' +
          'ListEventSourceMappings (GET /2015-03-31/event-source-mappings/) and GetEventSourceMapping ' +
          `(GET /2015-03-31/event-source-mappings/{UUID}), not ${req.method} ${url.pathname}; ` +
          'the event source mappings are also in GET /_local/status',
      );
      return true;
    }
    const functions = options.functions();
    if (!functions) {
      refuseUnread(req, res, 503, 'ServiceException', 'The local runtime is still starting; try again');
      return true;
    }
    let fn: LocalFunction;
    const type = header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    const logType = header(req, 'x-amz-log-type') ?? 'None';
    try {
      if (!INVOCATION_TYPES.includes(type)) throw enumError(type, 'invocationType', INVOCATION_TYPES);
      if (!LOG_TYPES.includes(logType)) throw enumError(logType, 'logType', LOG_TYPES);
      fn = resolveFunction(functions, decodePathName(path[1]!), url.searchParams.get('Qualifier'), options);
    } catch (error) {
      if (!(error instanceof LambdaApiError)) throw error;
      refuseUnread(req, res, error.status, error.type, error.message);
      return true;
    }

    const limit = type === 'Event' ? ASYNC_PAYLOAD_LIMIT_BYTES : SYNC_PAYLOAD_LIMIT_BYTES;
    const body = await readBody(req, limit);
    if (!Buffer.isBuffer(body)) {
      refuseUnread(
        req,
        res,
        413,
        // The type AWS sends in X-Amzn-ErrorType (the API model names it RequestTooLargeException), and its texts.
        'RequestEntityTooLargeException',
        type === 'Event'
          ? `${body.tooLarge} byte payload is too large for the Event invocation type (limit ${limit} bytes)`
          : `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
      );
      return true;
    }
    let event: unknown;
    try {
      const text = body.toString('utf8');
      event = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      sendJsonError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
      return true;
    }

    if (type === 'DryRun') {
      res.writeHead(204);
      res.end();
      return true;
    }
    if (type === 'Event') {
      // LogType applies to synchronous invocations only; with Event it is accepted and has no effect.
      const requestId = fn.invokeAsync(event);
      res.writeHead(202, { 'x-amzn-requestid': requestId });
      res.end();
      return true;
    }
    // Lambda passes the ClientContext to the function for synchronous invocations only.
    let clientContext: Record<string, unknown> | undefined;
    try {
      clientContext = parseClientContext(header(req, 'x-amz-client-context'));
    } catch (error) {
      if (!(error instanceof LambdaApiError)) throw error;
      sendJsonError(res, error.status, error.type, error.message);
      return true;
    }
    if (fn.atReservedConcurrency) {
      // As Lambda throttles a synchronous invocation past the function's ReservedConcurrentExecutions.
      res.writeHead(429, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'TooManyRequestsException',
      });
      res.end(
        JSON.stringify({
          Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
          Type: 'User',
          message: 'Rate Exceeded.',
        }),
      );
      return true;
    }
    const result = await fn.invoke(event, undefined, { clientContext });
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-amzn-requestid': result.requestId,
      'x-amz-executed-version': '$LATEST',
      ...(result.functionError ? { 'x-amz-function-error': result.functionError } : {}),
      ...(logType === 'Tail' ? { 'x-amz-log-result': logResult(result.log ?? '') } : {}),
    });
    res.end(JSON.stringify(result.payload));
    return true;
  };
