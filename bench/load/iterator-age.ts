import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';

/**
 * Where the consumer's iterator age comes from: the local runtime's GET /_local/status, or the consumer function's
 * IteratorAge in CloudWatch for a deployed stack. Either may be unavailable; the load test then says why.
 */

export interface IteratorAgeSample {
  /** Milliseconds since the load started. */
  atMs: number;
  ageMs: number;
}

export interface IteratorAgeSource {
  name: string;
  /** How often to sample while the load runs. */
  everyMs: number;
  /** The samples taken now (none when there is nothing yet); throws IteratorAgeUnavailableError to give up. */
  sample(elapsedMs: number): Promise<IteratorAgeSample[]>;
  /**
   * Whether `samples` already tell how far behind the consumer was when the load ended at `loadEndMs`, so that a
   * wait for late data points (`--metrics-wait`) can end before its time.
   */
  settled?(samples: readonly IteratorAgeSample[], loadEndMs: number): boolean;
}

export class IteratorAgeUnavailableError extends Error {
  /**
   * A miss the next sample may not have (no answer in time, a throttled or failing call), rather than a source that
   * can never give one (no status document there, no consumer, access denied).
   */
  readonly transient: boolean;
  constructor(message: string, { transient = false }: { transient?: boolean } = {}) {
    super(message);
    this.name = 'IteratorAgeUnavailableError';
    this.transient = transient;
  }
}

/** The part of the local runtime's status document the load test reads. */
interface StatusDocument {
  streams?: Array<{ streamName?: string; shards?: Array<{ iteratorAgeMs?: number }> }>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// Hand-written: no schema library is a dependency, and only these few fields are read.
/** What in `value` is not the shape of a status document, where iteratorAgeOf reads; undefined when it is. */
export const statusDocumentProblem = (value: unknown): string | undefined => {
  if (!isObject(value)) return 'the document is not a JSON object';
  if (value.streams === undefined) return undefined;
  if (!Array.isArray(value.streams)) return 'streams is not an array';
  for (const [i, stream] of value.streams.entries()) {
    if (!isObject(stream)) return `streams[${i}] is not an object`;
    if (stream.shards === undefined) continue;
    if (!Array.isArray(stream.shards)) return `streams[${i}].shards is not an array`;
    for (const [j, shard] of stream.shards.entries()) {
      if (!isObject(shard)) return `streams[${i}].shards[${j}] is not an object`;
      if (shard.iteratorAgeMs !== undefined && typeof shard.iteratorAgeMs !== 'number') {
        return `streams[${i}].shards[${j}].iteratorAgeMs is not a number`;
      }
    }
  }
  return undefined;
};

/** The oldest iterator age over the shards of `stream` in a status document, or undefined when none polls it. */
export const iteratorAgeOf = (status: StatusDocument, stream: string): number | undefined => {
  const ages = (status.streams ?? [])
    .filter((s) => s.streamName === stream)
    .flatMap((s) => (s.shards ?? []).map((shard) => shard.iteratorAgeMs))
    .filter((age): age is number => typeof age === 'number');
  return ages.length > 0 ? Math.max(...ages) : undefined;
};

export const localStatusSource = (endpoint: string, stream: string): IteratorAgeSource => ({
  name: `GET ${endpoint}/_local/status`,
  everyMs: 1_000,
  async sample(elapsedMs) {
    let answer: Response;
    try {
      answer = await fetch(`${endpoint}/_local/status`, { signal: AbortSignal.timeout(2_000) });
    } catch (error) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status did not answer: ${(error as Error).message}`,
        { transient: true },
      );
    }
    // The runtime answers 503 while it starts; try again at the next sample.
    if (answer.status === 503) return [];
    if (answer.status !== 200) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status answered HTTP ${answer.status}: the endpoint is not a local runtime with a status document`,
      );
    }
    const notStatus = 'the endpoint is not a local runtime with a status document';
    let body: string;
    try {
      body = await answer.text();
    } catch (error) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status did not answer in full: ${(error as Error).message}`,
        { transient: true },
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(body);
    } catch (error) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status answered HTTP 200 with a body that is not JSON ` +
          `(content-type ${answer.headers.get('content-type') ?? 'none'}; ${(error as Error).message}): ${notStatus}`,
      );
    }
    const problem = statusDocumentProblem(document);
    if (problem !== undefined) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status answered JSON that is not a status document (${problem}): ${notStatus}`,
      );
    }
    const age = iteratorAgeOf(document as StatusDocument, stream);
    if (age === undefined) {
      throw new IteratorAgeUnavailableError(
        `the local runtime's status shows no consumer polling stream ${stream}`,
      );
    }
    return [{ atMs: elapsedMs, ageMs: age }];
  },
  // The consumer has caught up with what the load wrote.
  settled: (samples, loadEndMs) => samples.some((s) => s.atMs >= loadEndMs && s.ageMs === 0),
});

/** One CloudWatch data point of Lambda's metrics: a minute. */
export const CLOUDWATCH_PERIOD_MS = 60_000;

/**
 * The deployed consumer's iterator age: Lambda's IteratorAge of the consumer function, the age of the last record
 * of each batch its event source mapping hands over. Not the stream's GetRecords.IteratorAgeMilliseconds, which
 * is the oldest over every reader, the DLQ replay and the reprocessor included. CloudWatch keeps it at one-minute
 * resolution, published a few minutes late: the data point of the minute the load ended in settles the wait for
 * late data points. `everyMs` is how often it is read while the load runs (a minute by default).
 */
export const cloudWatchSource = (
  client: CloudWatchClient,
  consumerFunction: string,
  startedAt: Date,
  everyMs = CLOUDWATCH_PERIOD_MS,
): IteratorAgeSource => ({
  name: `CloudWatch AWS/Lambda IteratorAge (FunctionName=${consumerFunction})`,
  everyMs,
  settled: (samples, loadEndMs) => samples.some((s) => s.atMs + CLOUDWATCH_PERIOD_MS > loadEndMs),
  async sample() {
    const answer = await client
      .send(
        new GetMetricDataCommand({
          StartTime: new Date(startedAt.getTime() - 60_000),
          EndTime: new Date(),
          MetricDataQueries: [
            {
              Id: 'age',
              MetricStat: {
                Metric: {
                  Namespace: 'AWS/Lambda',
                  MetricName: 'IteratorAge',
                  Dimensions: [{ Name: 'FunctionName', Value: consumerFunction }],
                },
                Period: CLOUDWATCH_PERIOD_MS / 1000,
                Stat: 'Maximum',
              },
            },
          ],
        }),
      )
      .catch((error: Error & { $metadata?: { httpStatusCode?: number } }) => {
        const status = error.$metadata?.httpStatusCode ?? 0;
        throw new IteratorAgeUnavailableError(
          `CloudWatch GetMetricData failed: ${error.name}: ${error.message}`,
          // Throttled or failing on CloudWatch's side: the next reading may get through.
          { transient: status >= 500 || status === 429 || /Throttl/.test(error.name) },
        );
      });
    const result = answer.MetricDataResults?.[0];
    return (result?.Timestamps ?? []).map((at, i) => ({
      atMs: at.getTime() - startedAt.getTime(),
      ageMs: result?.Values?.[i] ?? 0,
    }));
  },
});

/** No iterator age to be had, for the reason given; the load test runs and its report says why. */
export const unavailableSource = (name: string, reason: string): IteratorAgeSource => ({
  name,
  everyMs: 60_000,
  sample: async () => {
    throw new IteratorAgeUnavailableError(reason);
  },
});

export { CloudWatchClient };
