import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * A kept-alive HTTP/1.1 handler for every client. The Kinesis client otherwise defaults to an HTTP/2 handler,
 * which cannot talk to a plain-HTTP endpoint such as the local runtime's.
 */
export const keepAliveHandler = (): NodeHttpHandler =>
  new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
    httpsAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
  });
