import type { JobStatus, ReprocessAnswer } from '#shared/recovery/reprocessor.ts';
import type { EventStore, EventToStore, PutResult } from '#shared/sink/event-store.ts';
import { MemoryEventStore } from '#shared/sink/memory-event-store.ts';

/** The stream the recovery tests read; its ARN is what on-failure records carry. */
export const STREAM_NAME = 'events';
export const streamArnOf = (name = STREAM_NAME, account = '123456789012') =>
  `arn:aws:kinesis:us-east-1:${account}:stream/${name}`;

/** A CloudEvent for key `key`, the `n`-th of that key; its identity is `ce:urn%3Atest%3Arecovery:<key>-<n>`. */
export const keyedCloudEvent = (key: string, n: number) => ({
  specversion: '1.0',
  id: `${key}-${n}`,
  source: 'urn:test:recovery',
  type: 'com.example.recovery.tested',
  subject: key,
  data: { key, n },
});

export const identityOf = (key: string, n: number): string =>
  `ce:${encodeURIComponent('urn:test:recovery')}:${key}-${n}`;

/** The on-failure record the event source mapping sends for a failed range (aws-behaviour.md §3). */
export const failureRecord = (
  shardId: string,
  startSequenceNumber: string,
  endSequenceNumber: string,
  options: { streamArn?: string; batchSize?: number } = {},
) => ({
  requestContext: {
    requestId: 'c9b8fa9f-5a7f-4a0e-af9c-0c604cde93a5',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:ConsumerFunction',
    condition: 'RetryAttemptsExhausted',
    approximateInvokeCount: 11,
  },
  responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: null },
  version: '1.0',
  timestamp: '2026-11-27T10:00:00.000Z',
  KinesisBatchInfo: {
    shardId,
    startSequenceNumber,
    endSequenceNumber,
    approximateArrivalOfFirstRecord: '2026-11-27T09:59:58.000Z',
    approximateArrivalOfLastRecord: '2026-11-27T09:59:59.000Z',
    batchSize: options.batchSize ?? 1,
    streamArn: options.streamArn ?? streamArnOf(),
  },
});

/** A store that fails, like a throttled table, for the identities in `failing` until they are removed. */
export class FailingStore implements EventStore {
  readonly inner: EventStore;
  readonly failing: Set<string>;
  attempts = 0;

  constructor(failing: string[], inner: EventStore = new MemoryEventStore()) {
    this.inner = inner;
    this.failing = new Set(failing);
  }

  get projectionVersion() {
    return this.inner.projectionVersion;
  }

  async put(event: EventToStore): Promise<PutResult> {
    if (this.failing.has(event.identity)) {
      this.attempts += 1;
      throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
        name: 'ProvisionedThroughputExceededException',
      });
    }
    return this.inner.put(event);
  }
}

/** An EventStore that records the order of puts (identities), around another store. */
export class RecordingStore implements EventStore {
  readonly inner: EventStore;
  readonly puts: EventToStore[] = [];

  constructor(inner: EventStore) {
    this.inner = inner;
  }

  get projectionVersion() {
    return this.inner.projectionVersion;
  }

  async put(event: EventToStore): Promise<PutResult> {
    this.puts.push(event);
    return this.inner.put(event);
  }
}

/** A reprocessor answer that must be a job's status: an answer that there is no such job fails the test. */
export const existingJob = (answer: ReprocessAnswer): JobStatus => {
  if (answer.state === 'not-found') throw new Error(`expected a job's status, got: ${answer.message}`);
  return answer;
};
