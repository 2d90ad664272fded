import type { NodeHttpHandlerOptions } from '@smithy/node-http-handler';

/**
 * The HTTP settings of every client: kept-alive connections (at most 64 per host) and timeouts that fail a stuck
 * call rather than the invocation. Passed as options, each client makes its HTTP/1.1 handler from them with the
 * SDK's own code (nothing extra to load at a cold start); see http-handler.ts for the Kinesis client.
 *
 * `throwOnRequestTimeout`: without it the SDK only logs a warning when `requestTimeout` passes and goes on
 * waiting, so a call to an endpoint that stopped answering would hold the invocation to its timeout. With it the
 * call fails as a TimeoutError, which the SDK's retry strategy retries.
 */
export const HTTP_OPTIONS = {
  httpAgent: { keepAlive: true, maxSockets: 64 },
  httpsAgent: { keepAlive: true, maxSockets: 64 },
  connectionTimeout: 3_000,
  requestTimeout: 10_000,
  throwOnRequestTimeout: true,
} as const satisfies NodeHttpHandlerOptions;
