import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { listening, listenOn } from '#local/net.ts';

/**
 * The embedded protocol emulators, each started in this process on a loopback port. Used by the local runtime
 * (`npm start`) and by the integration tests, which start their own.
 */

const require = createRequire(import.meta.url);

export interface RunningEmulator {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export interface EmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** A folder to keep data in across restarts; in memory when absent. */
  path?: string;
}

/** The credentials every local client signs with. s3rver accepts only keys in its registry, so it gets these. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';

/** The server comes back too: local/emulators/thread.ts calls its request handler without a socket. */
const listen = async (
  server: Server,
  port: number,
  host: string,
): Promise<RunningEmulator & { server: Server }> => ({ ...(await listenOn(server, port, host)), server });

/** kinesalite: streams become ACTIVE at once, so tests and the local runtime do not wait. */
export const startKinesis = async (options: EmulatorOptions & { shardLimit?: number } = {}) => {
  const kinesalite = require('kinesalite') as (opts: Record<string, unknown>) => Server;
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 1000,
    ...(options.path ? { path: options.path } : {}),
  });
  return listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
};

/** dynalite: tables become ACTIVE at once. */
export const startDynamoDb = async (options: EmulatorOptions = {}) => {
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path ? { path: options.path } : {}),
  });
  return listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
};

/** local-aws-sqs: speaks both the JSON and the query protocol. */
export const startSqs = async (options: EmulatorOptions = {}) => {
  const { createSqsServer } = require('local-aws-sqs') as {
    createSqsServer: (opts: Record<string, unknown>) => Promise<Server>;
  };
  const host = options.host ?? '127.0.0.1';
  const server = await createSqsServer({
    port: options.port ?? 0,
    hostname: host,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    emulateQueueCreationLifecycle: false,
  });
  return (await listening(server, host)) satisfies RunningEmulator;
};

/** s3rver: the local credentials are registered so that SigV4-signed SDK requests are accepted. */
export const startS3 = async (options: EmulatorOptions & { directory: string }) => {
  const S3rver = require('s3rver') as new (
    opts: Record<string, unknown>,
  ) => { run(): Promise<AddressInfo>; close(): Promise<void> };
  mkdirSync(options.directory, { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const server = new S3rver({
    port: options.port ?? 0,
    address: host,
    silent: true,
    directory: options.directory,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    configureBuckets: [],
  });
  const address = await server.run();
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    close: () => server.close(),
  } satisfies RunningEmulator;
};

/** Client settings for talking to one emulator from the AWS SDK v3. */
export const clientConfig = (endpoint: string) => ({
  endpoint,
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
});
