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
const handle = emulator.server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;

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

port.on('message', async (message: ToEmulatorThread) => {
  if (message.type === 'close') {
    await emulator.close();
    send({ type: 'closed' });
    return;
  }
  const req = new DispatchedRequest(message.method, message.url, message.headers);
  handle(req as unknown as IncomingMessage, new DispatchedResponse(message.id) as unknown as ServerResponse);
  if (message.body.byteLength > 0) {
    req.emit('data', Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength));
  }
  req.emit('end');
});

send({ type: 'listening', endpoint: emulator.endpoint, port: emulator.port });
