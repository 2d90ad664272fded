import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';

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
