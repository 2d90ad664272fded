import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { type EmulatorOptions, startDynamoDb, startKinesis } from './index.ts';
import type { FromEmulatorThread, ThreadedEmulatorKind, ToEmulatorThread } from './thread.ts';

/**
 * The worker thread of local/emulators/thread.ts: starts one emulator and answers dispatched requests by calling
 * its HTTP request handler with a request and a response that stand in for the socket's. kinesalite and dynalite
 * read only `method`, `url`, `headers` and the 'data'/'end' events, and answer with `statusCode`, `setHeader` and
 * `end`.
 */

const { kind, options } = workerData as { kind: ThreadedEmulatorKind; options: EmulatorOptions };
const port = parentPort!;
const send = (message: FromEmulatorThread, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

const emulator = kind === 'kinesis' ? await startKinesis(options) : await startDynamoDb(options);
const emulatorHandler = emulator.server.listeners('request')[0] as (
  req: IncomingMessage,
  res: ServerResponse,
) => void;

/**
 * An exception the emulator throws from a callback while it answers a request (kinesalite throws a TypeError on
 * `{"Records":[null]}`) would end this thread, and with it the service, for every client. Each request runs in an
 * async context that names its response, so such an exception fails that request alone, with a 500 InternalFailure.
 */
const inFlight = new AsyncLocalStorage<ServerResponse>();
const answer = (res: ServerResponse, status: number, type: string, message: string): void => {
  if (res.headersSent || res.writableEnded) return;
  res.statusCode = status;
  res.setHeader(
    'content-type',
    kind === 'dynamodb' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
  );
  res.setHeader('x-amzn-errortype', type);
  res.end(JSON.stringify({ __type: type, message }));
};
const answerFailure = (res: ServerResponse, error: unknown): void =>
  answer(
    res,
    500,
    'InternalFailure',
    `the ${kind === 'kinesis' ? 'kinesalite' : 'dynalite'} emulator failed on this request: ${String(error)}`,
  );

/** The body as JSON, or undefined when it is not JSON (the emulator then answers it as it would). */
const jsonOf = (body: Buffer): unknown => {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
};

/**
 * Where a JSON body has `null` as a list member (`{"Records":[null]}`), as `records.1.member`, or undefined. The
 * emulators take such a request past their validation and throw on it while they hold the stream's lock, which
 * stays held: every later write to that stream would wait forever. AWS refuses null members of its lists.
 * The cheap test first: base64 and most text cannot hold `[null` or `,null`.
 */
const nullListMember = (body: Buffer): string | undefined => {
  if (body.indexOf('null') === -1 || !/[[,]\s*null\s*[,\]]/.test(body.toString('latin1'))) return undefined;
  const parsed = jsonOf(body);
  if (parsed === undefined) return undefined;
  // Walked with a list of its own, not by recursion: a body nested deep enough would overflow the stack, and the
  // request would never be answered. Members are taken in document order, so the first null is the one named.
  const pending: Array<{ value: unknown; path: string; member: boolean }> = [
    { value: parsed, path: '', member: false },
  ];
  while (pending.length > 0) {
    const { value, path, member } = pending.pop()!;
    if (value === null) {
      if (member) return path;
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index -= 1)
        pending.push({ value: value[index], path: `${path}.${index + 1}.member`, member: true });
    } else if (typeof value === 'object') {
      const entries = Object.entries(value);
      for (let index = entries.length - 1; index >= 0; index -= 1) {
        const [key, child] = entries[index]!;
        pending.push({
          value: child,
          path: path === '' ? toLowerFirst(key) : `${path}.${toLowerFirst(key)}`,
          member: false,
        });
      }
    }
  }
  return undefined;
};
const toLowerFirst = (key: string) => key.charAt(0).toLowerCase() + key.slice(1);

/**
 * DynamoDB refuses an attribute name that is the empty string wherever a request carries one, a map key at any
 * depth included (`{"M": {"": …}}`); dynalite stores it. The answer here is DynamoDB's ValidationException, so that
 * an item the service would refuse is refused locally too. Only written items and values are looked at (`Item`
 * and every `M`); the cheap test first: no empty key, no `""` followed by a colon. The refusal's wording is this
 * endpoint's: DynamoDB's exact text could not be confirmed (the sink refuses such data before any call anyway).
 */
const emptyAttributeName = (body: Buffer): boolean => {
  if (body.indexOf('""') === -1 || !/""\s*:/.test(body.toString('latin1'))) return false;
  const parsed = jsonOf(body);
  if (parsed === undefined) return false;
  // A list of its own, not recursion: see nullListMember.
  const pending: Array<{ value: unknown; names: boolean }> = [{ value: parsed, names: false }];
  while (pending.length > 0) {
    const { value, names } = pending.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const member of value) pending.push({ value: member, names: false });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      if (names && key === '') return true;
      pending.push({ value: child, names: key === 'M' || key === 'Item' });
    }
  }
  return false;
};
process.on('uncaughtException', (error) => {
  const res = inFlight.getStore();
  // Outside any request (the emulator failing to start, its data folder locked by another runtime): the thread
  // ends with the error, as it would without this listener, and the runtime reports it.
  // A plain Error: one of the emulators' own classes (levelup's OpenError) reaches the runtime as `{}`.
  if (!res) throw new Error(`${error.name}: ${error.message}`, { cause: error });
  answerFailure(res, error);
});
class DispatchedRequest extends EventEmitter {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;

  constructor(method: string, url: string, headers: IncomingHttpHeaders) {
    super();
    this.method = method;
    this.url = url;
    this.headers = headers;
  }
}

class DispatchedResponse {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  readonly headers: Record<string, string | number | string[]> = {};
  private readonly id: number;

  constructor(id: number) {
    this.id = id;
  }

  setHeader(name: string, value: string | number | string[]): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  getHeader(name: string): string | number | string[] | undefined {
    return this.headers[name.toLowerCase()];
  }

  removeHeader(name: string): void {
    delete this.headers[name.toLowerCase()];
  }

  end(body?: string | Uint8Array | null): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    this.headersSent = true;
    if (typeof body === 'string' || body === undefined || body === null) {
      send({
        type: 'response',
        id: this.id,
        status: this.statusCode,
        headers: this.headers,
        body: body ?? '',
      });
      return;
    }
    const bytes = new Uint8Array(body.byteLength);
    bytes.set(body);
    send({ type: 'response', id: this.id, status: this.statusCode, headers: this.headers, body: bytes }, [
      bytes.buffer,
    ]);
  }
}

/**
 * Hands a request, with its whole body, to the emulator in an async context of its own (see `inFlight`). The body
 * is buffered first on both paths: events of a socket run in the socket's context, not the request's.
 */
const serve = (
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  res: ServerResponse,
) =>
  inFlight.run(res, () => {
    const nullMember = nullListMember(body);
    if (nullMember !== undefined) {
      const message = `1 validation error detected: Value null at '${nullMember}' failed to satisfy constraint: Member must not be null`;
      answer(res, 400, 'ValidationException', message);
      return;
    }
    if (kind === 'dynamodb' && emptyAttributeName(body)) {
      answer(
        res,
        400,
        'ValidationException',
        'One or more parameter values were invalid: Empty attribute name',
      );
      return;
    }
    const req = new DispatchedRequest(method, url, headers);
    try {
      emulatorHandler(req as unknown as IncomingMessage, res);
      if (body.byteLength > 0) req.emit('data', body);
      req.emit('end');
    } catch (error) {
      answerFailure(res, error);
    }
  });

// Requests on the emulator's own port get the same protection.
emulator.server.removeListener('request', emulatorHandler);
emulator.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => serve(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks), res));
});

port.on('message', async (message: ToEmulatorThread) => {
  if (message.type === 'close') {
    await emulator.close();
    send({ type: 'closed' });
    return;
  }
  serve(
    message.method,
    message.url,
    message.headers,
    Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
    new DispatchedResponse(message.id) as unknown as ServerResponse,
  );
});

send({ type: 'listening', endpoint: emulator.endpoint, port: emulator.port });
