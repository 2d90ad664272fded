import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * One Lambda execution environment: loads the function's bundle once (its init phase) and runs one invocation at
 * a time, with a Lambda-like context. Its process.env is the function's own, given by the runtime.
 */

interface Invocation {
  id: number;
  event: unknown;
  awsRequestId: string;
  deadline: number;
  clientContext?: Record<string, unknown>;
}

interface SerializedError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

const {
  modulePath,
  moduleName,
  exportPath,
  handlerName,
  functionName,
  functionArn,
  memoryMb,
  logGroupName,
  logStreamName,
  sampled,
} = workerData as {
  /** The module's file; undefined when none was found, or the Handler is malformed. */
  modulePath?: string;
  moduleName?: string;
  /** The properties to follow through the module's exports (`handlers.main`); undefined for a malformed Handler. */
  exportPath?: string;
  /** The template's Handler, as Lambda names it in its errors. */
  handlerName: string;
  functionName: string;
  functionArn: string;
  memoryMb: number;
  logGroupName: string;
  logStreamName: string;
  /** Whether X-Ray samples the invocations (the function's Tracing is Active). */
  sampled: boolean;
};

const port = parentPort!;

/** The largest response Lambda returns: MaxPayloadSize of its runtime API (RAPID), 6 MiB + 100 bytes. */
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;

process.setSourceMapsEnabled(true);

/*
 * What the function writes reaches the runtime through the port its results take, so that each line an
 * invocation logs arrives before that invocation's result (the worker's stdio is another channel, with no order
 * between the two): LogType Tail needs the lines of each invocation.
 */
for (const name of ['stdout', 'stderr'] as const) {
  const stream = process[name];
  // The bytes of one character can come in two writes: the decoder keeps the first ones until the rest comes.
  const decoder = new StringDecoder('utf8');
  stream.write = ((
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | ((error?: Error | null) => void),
    callback?: (error?: Error | null) => void,
  ): boolean => {
    const text =
      typeof chunk !== 'string'
        ? decoder.write(chunk)
        : typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8'
          ? decoder.write(Buffer.from(chunk, encoding))
          : decoder.end() + chunk;
    if (text !== '') port.postMessage({ type: 'log', stream: name, text });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  }) as typeof stream.write;
}

/** The request id of the invocation running, or `-` between invocations, as Lambda's runtime logs it. */
let requestId = '-';

/** console's levels, least severe first, as Lambda's Node.js runtime orders them (src/logging/constants.ts). */
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
type Level = (typeof LEVELS)[number];

const jsonLogs = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';

/** An Error in a JSON log line, as Lambda's runtime writes it (src/logging/formatter.ts, jsonErrorReplacer). */
const jsonErrorReplacer = (_key: string, value: unknown): unknown =>
  value instanceof Error
    ? {
        errorType: value.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
        ...value,
      }
    : value;

/**
 * One console call as a log line of Lambda's Node.js runtime (src/logging/formatter.ts): in Text format
 * `<ISO time>\t<request id>\t<LEVEL>\t<message>`; in JSON format an object of timestamp, level, requestId and
 * message (the value itself when it is alone, util.format of them all otherwise, with the first Error's type,
 * message and stack beside it). Lambda writes a multi-line text message as one record; here its lines stay lines.
 */
const logLine = (level: Level, message: unknown, params: unknown[]): string => {
  const timestamp = new Date().toISOString();
  if (!jsonLogs) return [timestamp, requestId, level, format(message, ...params)].join('\t');
  const record: Record<string, unknown> = { timestamp, level, requestId };
  if (params.length === 0) {
    record.message = message;
    try {
      return JSON.stringify(record, jsonErrorReplacer);
    } catch {
      return JSON.stringify({ ...record, message: format(message) });
    }
  }
  record.message = format(message, ...params);
  const error = params.find((param) => param instanceof Error);
  if (error) {
    record.errorType = error.constructor?.name ?? 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
};

/*
 * console's methods write as Lambda's Node.js runtime has them write (src/logging/log-patch.ts): console.log is
 * console.info, and levels under AWS_LAMBDA_LOG_LEVEL (JSON format only) write nothing. Writes to process.stdout
 * stay as they are: Powertools' Logger writes through a Console of its own on process.stdout, so its JSON is
 * unchanged, as on Lambda.
 */
{
  const minimum = LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase() ?? 'TRACE') as Level);
  const write = (level: Level) =>
    LEVELS.indexOf(level) < minimum
      ? () => undefined
      : (message?: unknown, ...params: unknown[]) => {
          process.stdout.write(`${logLine(level, message, params)}\n`);
        };
  console.trace = write('TRACE');
  console.debug = write('DEBUG');
  console.info = write('INFO');
  console.warn = write('WARN');
  console.error = write('ERROR');
  console.log = console.info;
}

/**
 * The runtime's own line for a failed invocation or an uncaught error (src/logging/log-patch.ts, logError): in
 * Text format its words and the error document, in JSON format the error itself.
 */
const logError = (words: string, serialized: SerializedError, error: unknown): void => {
  if (jsonLogs) console.error(error instanceof Error ? error : serialized);
  else console.error(`${words}\t${JSON.stringify(serialized)}`);
};

type Handler = (event: unknown, context: unknown, callback?: unknown) => Promise<unknown>;

/**
 * An error as Lambda's Node.js runtime reports it (aws-lambda-nodejs-runtime-interface-client, src/utils/error.ts):
 * an Error by its name, message and stack; anything else thrown by its type and its text, with no trace.
 */
const serializeError = (error: unknown): SerializedError =>
  error instanceof Error
    ? { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') }
    : { errorType: typeof error, errorMessage: String(error), trace: [] };

/** An error of the runtime's own, named as Lambda names it (Runtime.HandlerNotFound, ...). */
const runtimeError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

/** The Node.js major version of the function's runtime (AWS_Lambda_nodejs24.x), if it names one. */
const runtimeMajor = Number(
  /^AWS_Lambda_nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV ?? '')?.[1] ?? Number.NaN,
);

/** The heap this environment uses, for the REPORT line's Max Memory Used. */
const memoryUsedMb = () => Math.ceil(getHeapStatistics().used_heap_size / (1024 * 1024));

/** The value at a path of properties (`handlers.main`) through an object, as Lambda's runtime follows it. */
const follow = (path: string, from: unknown): unknown =>
  path
    .split('.')
    .reduce<unknown>(
      (nested, key) =>
        nested && typeof nested === 'object' ? (nested as Record<string, unknown>)[key] : undefined,
      from,
    );

/**
 * The module, loaded as Lambda's runtime loads it (src/function/module-loader.ts): a module that is not there, or
 * that requires one that is not, is Runtime.ImportModuleError; one that does not parse, Runtime.UserCodeSyntaxError.
 */
const importModule = async (): Promise<unknown> => {
  if (modulePath === undefined) {
    throw runtimeError('Runtime.ImportModuleError', `Error: Cannot find module '${moduleName}'`);
  }
  try {
    return await import(pathToFileURL(modulePath).href);
  } catch (error) {
    if (error instanceof SyntaxError) throw runtimeError('Runtime.UserCodeSyntaxError', String(error));
    if ((error as { code?: unknown })?.code === 'MODULE_NOT_FOUND') {
      throw runtimeError('Runtime.ImportModuleError', String(error));
    }
    throw error;
  }
};

const load = async (): Promise<Handler> => {
  // As Lambda's runtime (src/function/user-function-loader.ts, src/utils/handler-path.ts).
  if (handlerName.includes('..')) {
    throw runtimeError(
      'Runtime.MalformedHandlerName',
      `'${handlerName}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  if (exportPath === undefined) throw runtimeError('Runtime.MalformedHandlerName', 'Bad handler');
  const module = await importModule();
  // As Lambda's runtime (src/function/handler-resolver.ts): the path through the exports, else through the default
  // export, and errors naming the template's Handler.
  let handler = follow(exportPath, module);
  if (!handler && module && typeof module === 'object' && 'default' in module) {
    handler = follow(exportPath, (module as { default: unknown }).default);
  }
  if (!handler) {
    throw runtimeError('Runtime.HandlerNotFound', `${handlerName} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw runtimeError('Runtime.HandlerNotFound', `${handlerName} is not a function`);
  }
  // A handler that takes a third parameter is callback-based: Lambda's Node.js 24 runtime and later refuse it at
  // init (src/function/callback-deprecation.ts); the earlier runtimes pass it a callback.
  if (handler.length >= 3 && !(runtimeMajor < 24)) {
    throw runtimeError(
      'Runtime.CallbackHandlerDeprecated',
      'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.',
    );
  }
  if (handler.length >= 3) {
    return (event, context) =>
      new Promise((resolve, reject) => {
        const returned = (handler as Handler)(event, context, (error: unknown, result: unknown) =>
          error === undefined || error === null ? resolve(result) : reject(error),
        );
        if (returned && typeof (returned as Promise<unknown>).then === 'function')
          returned.then(resolve, reject);
      });
  }
  return handler as Handler;
};

/** The invocation running now, which an uncaught error ends. */
let current: number | undefined;

/*
 * As Lambda's Node.js runtime (aws-lambda-nodejs-runtime-interface-client, src/index.ts): an uncaught exception or
 * an unhandled rejection fails the running invocation with that error, then the runtime exits (129 and 128) and
 * the environment is discarded.
 */
const fatal = (error: SerializedError, thrown: unknown, exitCode: number): never => {
  logError('Uncaught Exception', error, thrown);
  if (current !== undefined)
    port.postMessage({ type: 'fatal', id: current, error, memoryMb: memoryUsedMb() });
  process.exit(exitCode);
};
process.on('uncaughtException', (error) => fatal(serializeError(error), error, 129));
process.on('unhandledRejection', (reason) =>
  fatal(
    {
      errorType: 'Runtime.UnhandledPromiseRejection',
      errorMessage: String(reason),
    },
    reason,
    128,
  ),
);

/**
 * The answer to an invocation whose handler returned `result`. Lambda's Node.js runtime serialises it with
 * `JSON.stringify(result === undefined ? null : result)` and, when that throws (a BigInt, a cycle), fails the
 * invocation with Runtime.JSONStringifyError (src/utils/serialize.ts). When it gives no JSON at all (a function or
 * a Symbol), the runtime's native client refuses the missing body and the invocation fails as well (with an
 * internal TypeError); locally that failure carries the same JSONStringifyError, which says what went wrong. A
 * response larger than the runtime API takes fails with Function.ResponseSizeTooLarge.
 */
const responseMessage = (
  id: number,
  result: unknown,
): { type: 'result'; id: number; json: string } | { type: 'error'; id: number; error: SerializedError } => {
  let json: string | undefined;
  try {
    json = JSON.stringify(result === undefined ? null : result);
  } catch {
    json = undefined;
  }
  if (json === undefined) {
    return {
      type: 'error',
      id,
      error: { errorType: 'Runtime.JSONStringifyError', errorMessage: 'Unable to stringify response body' },
    };
  }
  if (Buffer.byteLength(json, 'utf8') > MAX_RESPONSE_BYTES) {
    return {
      type: 'error',
      id,
      error: {
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
      },
    };
  }
  return { type: 'result', id, json };
};

/**
 * The X-Ray trace header Lambda gives an invocation in _X_AMZN_TRACE_ID: a new trace (`1-<epoch seconds, 8 hex
 * digits>-<24 hex digits>`), the segment of Lambda's own that is its parent (16 hex digits), and whether it is sampled.
 */
const traceHeader = (awsRequestId: string): string => {
  const time = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  const root = `1-${time}-${awsRequestId.replaceAll('-', '').slice(0, 24)}`;
  return `Root=${root};Parent=${randomBytes(8).toString('hex')};Sampled=${sampled ? 1 : 0}`;
};

const ready = load();
ready.then(
  () => port.postMessage({ type: 'ready' }),
  (error: unknown) => port.postMessage({ type: 'init-error', error: serializeError(error) }),
);

port.on('message', async (message: Invocation) => {
  current = message.id;
  // Kept after the invocation ends, as Lambda's runtime keeps it, for what the function logs until the next one.
  requestId = message.awsRequestId;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: message.awsRequestId,
    // As Lambda's runtime builds them: the caller's ClientContext, and the Cognito identity (none locally).
    clientContext: message.clientContext,
    identity: undefined,
    logGroupName,
    logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  process.env._X_AMZN_TRACE_ID = traceHeader(message.awsRequestId);
  let answer: Record<string, unknown>;
  try {
    const handler = await ready;
    answer = responseMessage(message.id, await handler(message.event, context));
  } catch (error) {
    const serialized = serializeError(error);
    // Lambda's runtime logs the error of a failed invocation before it answers it.
    logError('Invoke Error ', serialized, error);
    answer = { type: 'error', id: message.id, error: serialized };
  }
  if (current === message.id) current = undefined;
  port.postMessage({ ...answer, memoryMb: memoryUsedMb() });
});
