import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { EventToStore } from '#shared/sink/event-store.ts';

/** A Lambda context whose remaining time counts down from `timeoutMs`. */
export const lambdaContext = (functionName = 'IngestFunction', timeoutMs = 10_000): Context => {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/27/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

/** A sample event from events/, parsed. */
export const sampleEvent = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(`../../events/${file}`, import.meta.url), 'utf8')) as T;

/** An API Gateway HTTP API (payload 2.0) request to POST /events; a null content type sends none. */
export const apiRequest = (
  body: string | undefined,
  contentType: string | null = 'application/cloudevents+json',
): APIGatewayProxyEventV2 => {
  const event = sampleEvent<APIGatewayProxyEventV2>('ingest-single.json');
  const headers: Record<string, string | undefined> = { ...event.headers };
  delete headers['content-type'];
  if (contentType !== null) headers['content-type'] = contentType;
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return { ...event, headers, body, isBase64Encoded: false };
};

/** A valid CloudEvent; `i` varies its id and subject. */
export const cloudEvent = (i = 1, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `evt-${i}`,
  source: 'urn:test:producer',
  type: 'com.example.thing.happened',
  subject: `subject-${i}`,
  data: { n: i },
  ...extra,
});

/** An event as the sink receives it: a CloudEvent of the source `urn:s`, its data `{ n: 1 }`. */
export const eventToStore = (overrides: Partial<EventToStore> = {}): EventToStore => ({
  identity: 'ce:urn%3As:e-1',
  kind: 'cloudevent',
  attributes: { specversion: '1.0', id: 'e-1', source: 'urn:s', type: 't' },
  data: { n: 1 },
  position: {
    shardId: 'shardId-000000000000',
    sequenceNumber: '49660000000000000000000000000000000000000000000001000001',
    partitionKey: 'k',
    approximateArrivalTimestamp: '2026-11-24T16:00:00.000Z',
  },
  ...overrides,
});
