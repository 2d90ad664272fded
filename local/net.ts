import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';

export interface Listening {
  /** `http://<host>:<port>` */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a server on a loopback port (0 picks a free one) and gives a close that also ends kept-alive sockets. */
export const listenOn = async (server: Server, port: number, host = '127.0.0.1'): Promise<Listening> => {
  server.listen(port, host);
  return listening(server, host);
};

/**
 * Fails as a server's listen would (EADDRINUSE, with the port) when a loopback port is taken, and leaves it free
 * otherwise. A check before anything starts, so that a taken port is found before a data folder is touched or a
 * function built; the servers still bind for themselves afterwards, and report a port taken in between.
 */
export const checkPortFree = (port: number, host = '127.0.0.1'): Promise<void> =>
  new Promise((resolve, reject) => {
    if (port === 0) {
      resolve();
      return;
    }
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException & { port?: number }) => {
      error.port ??= port;
      reject(error);
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });

/** The same for a server something else started listening (or is about to). */
export const listening = async (server: Server, host = '127.0.0.1'): Promise<Listening> => {
  if (!server.listening) await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
};

/**
 * A request's body, or how many bytes it has once that is more than `limit`: refused from its Content-Length
 * before any of it is read, or as soon as the bytes read pass the limit, so that no more than the limit is held
 * (the rest is left unread: answer, then `closeAfterAnswer`). Events rather than `for await`, which costs a
 * promise per chunk on every request through the AWS endpoint.
 */
export const readBody = (
  req: IncomingMessage,
  limit = Number.POSITIVE_INFINITY,
): Promise<Buffer | { tooLarge: number }> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve({ tooLarge: declared });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', reject);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        stop();
        req.pause();
        resolve({ tooLarge: size });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });

/** For an answer sent before the request's body was read to its end: the connection goes once it is sent. */
export const closeAfterAnswer = (req: IncomingMessage, res: ServerResponse): void => {
  res.shouldKeepAlive = false;
  res.setHeader('connection', 'close');
  res.once('finish', () => req.socket.destroySoon());
};
