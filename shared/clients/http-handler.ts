import { NodeHttpHandler } from '@smithy/node-http-handler';
import { HTTP_OPTIONS } from './http-options.ts';

/**
 * A kept-alive HTTP/1.1 handler with the settings of every client. The Kinesis client needs an instance: given
 * options, it makes an HTTP/2 handler, which cannot talk to a plain-HTTP endpoint such as the local runtime's.
 */
export const keepAliveHandler = (): NodeHttpHandler => new NodeHttpHandler(HTTP_OPTIONS);
