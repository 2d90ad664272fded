import type { IncomingHttpHeaders } from 'node:http';
import { Worker } from 'node:worker_threads';
import { type EmulatorOptions, isLevelDbLockHeld, type RunningEmulator, unopenableStore } from './index.ts';

/**
 * kinesalite or dynalite in a worker thread of its own, so that the emulator's CPU work does not share one event
 * loop with the AWS endpoint, the HTTP API and the event source pollers. The emulator still listens on its port;
 * `dispatch` hands it a request without that socket (the AWS endpoint forwards through it), and it answers
 * exactly what it would answer over HTTP.
 */

export type ThreadedEmulatorKind = 'kinesis' | 'dynamodb';

/** A request as the AWS endpoint received it. */
export interface DispatchRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** The emulator's answer: status, headers as it set them, and the body (a string is UTF-8). */
export interface DispatchResponse {
  status: number;
  headers: Record<string, string | number | string[]>;
  body: string | Uint8Array;
}

export interface ThreadedEmulator extends RunningEmulator {
  dispatch(request: DispatchRequest): Promise<DispatchResponse>;
}

/** Messages between this module and thread-worker.ts. */
export type ToEmulatorThread = ({ type: 'request'; id: number } & DispatchRequest) | { type: 'close' };
export type FromEmulatorThread =
  | { type: 'listening'; endpoint: string; port: number }
  | ({ type: 'response'; id: number } & DispatchResponse)
  | { type: 'closed' };

export class EmulatorThreadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EmulatorThreadError';
  }
}

/**
 * How long a dispatched request may go unanswered before it fails, with a 502 ServiceUnavailable at the AWS
 * endpoint. The longest answers the emulators give in the benchmarks (GetRecords of thousands of records, scans
 * of large tables) take seconds; the AWS CLI gives up on an answer after 60 s by default.
 */
export const EMULATOR_ANSWER_TIMEOUT_MS = 120_000;

/**
 * The error an emulator thread died of. A store in the data folder that LevelDB cannot open (kinesalite and dynalite
 * report `OpenError: Corruption: …`, after a crash mid-write or a disk that filled up) fails every request: the
 * folder is named, with the ways on.
 */
export const emulatorFailure = (
  kind: ThreadedEmulatorKind,
  error: Error,
  path?: string,
): EmulatorThreadError => {
  const advice =
    path !== undefined &&
    /OpenError|Corruption/.test(`${error.name} ${error.message}`) &&
    !isLevelDbLockHeld(error)
      ? `: ${unopenableStore(kind, path)}`
      : '';
  return new EmulatorThreadError(`${kind} emulator failed: ${error.message}${advice}`, { cause: error });
};

/** Starts the emulator in a new worker thread; resolves once it listens. */
export const startEmulatorThread = async (
  kind: ThreadedEmulatorKind,
  {
    answerTimeoutMs = EMULATOR_ANSWER_TIMEOUT_MS,
    ...options
  }: EmulatorOptions & {
    shardLimit?: number;
    answerTimeoutMs?: number;
  } = {},
): Promise<ThreadedEmulator> => {
  const worker = new Worker(new URL('./thread-worker.ts', import.meta.url), {
    workerData: { kind, options },
  });
  const pending = new Map<number, { resolve: (r: DispatchResponse) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  let onClosed: (() => void) | undefined;
  let nextId = 0;

  const fail = (error: Error): void => {
    failure ??= error;
    for (const { reject } of pending.values()) reject(failure);
    pending.clear();
  };
  worker.on('error', (error) => fail(emulatorFailure(kind, error, options.path)));
  worker.on('exit', (code) => {
    fail(new EmulatorThreadError(`${kind} emulator thread exited (code ${code})`));
    onClosed?.();
  });

  const listening = await new Promise<{ endpoint: string; port: number }>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => reject(failure));
    worker.on('message', (message: FromEmulatorThread) => {
      if (message.type === 'listening') resolve({ endpoint: message.endpoint, port: message.port });
      else if (message.type === 'closed') onClosed?.();
      else {
        const waiting = pending.get(message.id);
        pending.delete(message.id);
        waiting?.resolve({ status: message.status, headers: message.headers, body: message.body });
      }
    });
  });

  return {
    ...listening,
    dispatch: (request) => {
      if (failure) return Promise.reject(failure);
      const id = ++nextId;
      // A copy of exactly the body's bytes, moved rather than cloned (a small Buffer is a view of a shared pool).
      const body = new Uint8Array(request.body.byteLength);
      body.set(request.body);
      return new Promise<DispatchResponse>((resolve, reject) => {
        // An emulator that never answers (a lock it never releases, a loop it never leaves) fails the request
        // rather than holding it, and its client, forever. A late answer finds nothing waiting and is dropped.
        const timer = setTimeout(() => {
          pending.delete(id);
          const target = request.headers['x-amz-target'];
          reject(
            new EmulatorThreadError(
              `${kind} emulator gave no answer within ${answerTimeoutMs} ms (${request.method} ${request.url}${target ? ` ${target}` : ''})`,
            ),
          );
        }, answerTimeoutMs);
        timer.unref();
        pending.set(id, {
          resolve: (answer) => {
            clearTimeout(timer);
            resolve(answer);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        const message: ToEmulatorThread = { type: 'request', id, ...request, body };
        worker.postMessage(message, [body.buffer]);
      });
    },
    close: async () => {
      if (!failure) {
        const closed = new Promise<void>((resolve) => {
          onClosed = resolve;
        });
        worker.postMessage({ type: 'close' } satisfies ToEmulatorThread);
        await closed;
      }
      await worker.terminate();
    },
  };
};
