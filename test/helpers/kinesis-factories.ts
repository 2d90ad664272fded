import { Logger } from '@aws-lambda-powertools/logger';
import aggregation from 'aws-kinesis-agg';
import type { StreamRecord } from '#shared/events/stream-record.ts';

export const SHARD_ID = 'shardId-000000000000';

/** A 56-digit sequence number; a larger `n` is a later record. */
export const sequenceNumber = (n: number): string =>
  `4966${'0'.repeat(30)}${String(1_000_000 + n).padStart(22, '0')}`;

export const ARRIVAL = new Date('2026-11-24T16:00:00.000Z');

/** A stream record as GetRecords or the handler's adapter gives it. */
export const streamRecord = (
  n: number,
  partitionKey: string,
  data: Uint8Array | string | object,
  shardId = SHARD_ID,
): StreamRecord => ({
  shardId,
  sequenceNumber: sequenceNumber(n),
  partitionKey,
  data:
    data instanceof Uint8Array
      ? data
      : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data), 'utf8'),
  approximateArrivalTimestamp: new Date(ARRIVAL.getTime() + n),
});

/** A CloudEvent whose partition key (subject) is `key`. */
export const keyedEvent = (key: string, id: string, data: unknown = { id }) => ({
  specversion: '1.0',
  id,
  source: 'urn:test:producer',
  type: 'com.example.thing.happened',
  subject: key,
  data,
});

/** A record carrying a CloudEvent; its identity is `ce:urn%3Atest%3Aproducer:<id>`. */
export const eventRecord = (n: number, key: string, id = `evt-${n}`): StreamRecord =>
  streamRecord(n, key, keyedEvent(key, id));

export const identityOfId = (id: string): string => `ce:${encodeURIComponent('urn:test:producer')}:${id}`;

/** A KPL aggregate of the user records, built with aws-kinesis-agg's RecordAggregator. */
export const kplAggregate = (users: Array<{ partitionKey: string; data: Buffer }>): Buffer => {
  // The package's type declarations omit RecordAggregator.
  const { RecordAggregator } = aggregation as unknown as {
    RecordAggregator: new () => {
      addUserRecord(user: { partitionKey: string; data: Buffer }): void;
      build(): { data: Buffer };
    };
  };
  const aggregator = new RecordAggregator();
  for (const user of users) aggregator.addUserRecord(user);
  return aggregator.build().data;
};

/** A logger that prints nothing. */
export const silentLogger = (): Logger => new Logger({ serviceName: 'consumer-test', logLevel: 'SILENT' });

/** Collects metrics by name (summed), standing in for Powertools Metrics. */
export const metricsRecorder = () => {
  const values: Record<string, number> = {};
  return {
    values,
    addMetric: (name: string, _unit: unknown, value: number): void => {
      values[name] = (values[name] ?? 0) + value;
    },
  };
};

/** Lets every pending callback and promise run `turns` times over, without a clock. */
export const settle = async (turns = 5): Promise<void> => {
  for (let i = 0; i < turns; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};
