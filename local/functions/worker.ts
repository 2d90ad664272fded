import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
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
}

interface SerializedError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

const { modulePath, exportName, functionName, functionArn, memoryMb, logGroupName } = workerData as {
  modulePath: string;
  exportName: string;
  functionName: string;
  functionArn: string;
  memoryMb: number;
  logGroupName: string;
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

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const serializeError = (error: unknown): SerializedError => {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
};

/** The heap this environment uses, for the REPORT line's Max Memory Used. */
const memoryUsedMb = () => Math.ceil(getHeapStatistics().used_heap_size / (1024 * 1024));

const load = async (): Promise<Handler> => {
  const module = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    throw new Error(`${modulePath} does not export a function named '${exportName}'`);
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
const fatal = (error: SerializedError, exitCode: number): never => {
  console.error(`Uncaught Exception\t${JSON.stringify(error)}`);
  if (current !== undefined)
    port.postMessage({ type: 'fatal', id: current, error, memoryMb: memoryUsedMb() });
  process.exit(exitCode);
};
process.on('uncaughtException', (error) => fatal(serializeError(error), 129));
process.on('unhandledRejection', (reason) =>
  fatal(
    {
      errorType: 'Runtime.UnhandledPromiseRejection',
      errorMessage: String(reason),
    },
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

const ready = load();
ready.then(
  () => port.postMessage({ type: 'ready' }),
  (error: unknown) => port.postMessage({ type: 'init-error', error: serializeError(error) }),
);

port.on('message', async (message: Invocation) => {
  current = message.id;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: message.awsRequestId,
    logGroupName,
    logStreamName: `local/[$LATEST]${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${message.awsRequestId.replaceAll('-', '').slice(0, 24)}`;
  let answer: Record<string, unknown>;
  try {
    const handler = await ready;
    answer = responseMessage(message.id, await handler(message.event, context));
  } catch (error) {
    answer = { type: 'error', id: message.id, error: serializeError(error) };
  }
  if (current === message.id) current = undefined;
  port.postMessage({ ...answer, memoryMb: memoryUsedMb() });
});
