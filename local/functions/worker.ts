import { pathToFileURL } from 'node:url';
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

const { modulePath, exportName, functionName, functionArn, memoryMb, logGroupName } = workerData as {
  modulePath: string;
  exportName: string;
  functionName: string;
  functionArn: string;
  memoryMb: number;
  logGroupName: string;
};

process.setSourceMapsEnabled(true);

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const serializeError = (error: unknown) => {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
};

const load = async (): Promise<Handler> => {
  const module = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    throw new Error(`${modulePath} does not export a function named '${exportName}'`);
  }
  return handler as Handler;
};

const ready = load();
ready.then(
  () => parentPort!.postMessage({ type: 'ready' }),
  (error: unknown) => parentPort!.postMessage({ type: 'init-error', error: serializeError(error) }),
);

parentPort!.on('message', async (message: Invocation) => {
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
  try {
    const handler = await ready;
    const result = await handler(message.event, context);
    // Lambda answers with the JSON serialisation of what the handler returned.
    parentPort!.postMessage({ type: 'result', id: message.id, json: JSON.stringify(result ?? null) });
  } catch (error) {
    parentPort!.postMessage({ type: 'error', id: message.id, error: serializeError(error) });
  }
});
