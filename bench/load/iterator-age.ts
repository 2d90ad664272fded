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
}

export class IteratorAgeUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IteratorAgeUnavailableError';
  }
}

/** The part of the local runtime's status document the load test reads. */
interface StatusDocument {
  streams?: Array<{ streamName?: string; shards?: Array<{ iteratorAgeMs?: number }> }>;
}

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
      );
    }
    // The runtime answers 503 while it starts; try again at the next sample.
    if (answer.status === 503) return [];
    if (answer.status !== 200) {
      throw new IteratorAgeUnavailableError(
        `${endpoint}/_local/status answered HTTP ${answer.status}: the endpoint is not a local runtime with a status document`,
      );
    }
    const age = iteratorAgeOf((await answer.json()) as StatusDocument, stream);
    if (age === undefined) {
      throw new IteratorAgeUnavailableError(
        `the local runtime's status shows no consumer polling stream ${stream}`,
      );
    }
    return [{ atMs: elapsedMs, ageMs: age }];
  },
});

/**
 * The deployed consumer's iterator age: Lambda's IteratorAge of the consumer function, the age of the last record
 * of each batch its event source mapping hands over. Not the stream's GetRecords.IteratorAgeMilliseconds, which
 * is the oldest over every reader, the DLQ replay and the reprocessor included. CloudWatch keeps it at one-minute
 * resolution, published a few minutes late.
 */
export const cloudWatchSource = (
  client: CloudWatchClient,
  consumerFunction: string,
  startedAt: Date,
): IteratorAgeSource => ({
  name: `CloudWatch AWS/Lambda IteratorAge (FunctionName=${consumerFunction})`,
  everyMs: 60_000,
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
                Period: 60,
                Stat: 'Maximum',
              },
            },
          ],
        }),
      )
      .catch((error: Error) => {
        throw new IteratorAgeUnavailableError(
          `CloudWatch GetMetricData failed: ${error.name}: ${error.message}`,
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
