import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { type LocalRuntime, type RuntimeOptions, startRuntime } from '#local/runtime.ts';

/** Bundles are built once per test process into one folder. */
let bundleRoot: string | undefined;

/** Overrides that make the consumer's mapping fast and small enough to test: few retries, no batching window. */
export const FAST_CONSUMER = {
  ConsumerMaximumRetryAttempts: '2',
  ConsumerMaximumBatchingWindowInSeconds: '0',
  ConsumerBatchSize: '10',
};

export interface TestRuntime {
  runtime: LocalRuntime;
  /** Every ConsumerFunction invocation's records, in the order the invocations started. */
  consumerBatches: KinesisStreamEvent['Records'][];
}

/** Starts the local runtime from template.yaml on free ports, with quick polling and retries. */
export const startTestRuntime = async (options: Partial<RuntimeOptions> = {}): Promise<TestRuntime> => {
  const consumerBatches: KinesisStreamEvent['Records'][] = [];
  bundleRoot ??= mkdtempSync(join(tmpdir(), 'e2e-bundles-'));
  const runtime = await startRuntime({
    apiPort: 0,
    endpointPort: 0,
    bundleRoot,
    pollIntervalMs: 50,
    retryBaseDelayMs: 10,
    log: () => undefined,
    observe: (name, event) => {
      if (name === 'ConsumerFunction') consumerBatches.push((event as KinesisStreamEvent).Records);
    },
    ...options,
    parameterOverrides: { ...FAST_CONSUMER, ...options.parameterOverrides },
  });
  return { runtime, consumerBatches };
};

export const tempDataDir = (): string => mkdtempSync(join(tmpdir(), 'e2e-data-'));

export const postEvents = async (runtime: LocalRuntime, events: unknown[]) => {
  const response = await fetch(`${runtime.apiEndpoint}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
  const body = (await response.json()) as { accepted?: number };
  if (response.status !== 202)
    throw new Error(`POST /events answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
};

/** Every item of the event table. */
export const scanItems = async (runtime: LocalRuntime): Promise<Array<Record<string, unknown>>> => {
  const table = Object.values(runtime.stack.resources).find((r) => r.type === 'AWS::DynamoDB::Table')!.refs
    .ref;
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await runtime.clients.dynamodb.send(
      new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
    );
    items.push(...((page.Items ?? []) as Array<Record<string, unknown>>));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
};

/** Polls until `check` holds, or fails with the last value seen. */
export const eventually = async <T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> => {
  const until = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last).slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await read();
  }
  return last;
};

/** A port nothing listens on (one just let go): for a runtime that must be refused it before it binds anything. */
export const unusedPort = async (): Promise<number> => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
};

/** How an AWS SDK call failed (a call that succeeded is a failure of the test): the error's name, message and status. */
export const callFailure = async (promise: Promise<unknown>) => {
  const error = (await promise.then(
    () => new Error('the call succeeded'),
    (e: unknown) => e,
  )) as Error & { $metadata?: { httpStatusCode?: number } };
  return { name: error.name, message: error.message, status: error.$metadata?.httpStatusCode };
};
