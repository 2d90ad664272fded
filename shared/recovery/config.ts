import { ConfigError, integerFrom, optionalString, requireString } from '#shared/config.ts';
import { type ConsumerConfig, loadConsumerConfig } from '#shared/consumer/config.ts';
import type { TimestampPositioning } from '#shared/kinesis/shard-reader.ts';
import type { ReprocessSettings } from './reprocessor.ts';

type Env = Record<string, string | undefined>;

/**
 * The recovery functions' settings, read once at init. They write through the consumer's sink, so they read the
 * consumer's settings (table, quarantine, claim check, projection version, key concurrency) the same way.
 */

/** Settings both recovery functions read the stream with. */
export interface StreamReadConfig {
  streamName: string;
  /** GetRecords calls per second per shard (1-5; Kinesis allows 5 per shard across every reader). */
  getRecordsPerSecond: number;
  /**
   * KiB per second per shard taken by GetRecords answers (1-2048; Kinesis allows 2 MiB/s per shard across every
   * reader, so the default of 1024 leaves the live consumer its share).
   */
  getRecordsKiBPerSecond: number;
  /** Records asked of one GetRecords call. */
  getRecordsLimit: number;
  /** No message or GetRecords call is started with less than this many milliseconds left. */
  stopReserveMs: number;
  /** Runs of failed records before they are left failed. */
  retryAttempts: number;
}

const streamReadConfig = (env: Env, stopReserveMs: number): StreamReadConfig => ({
  streamName: requireString('STREAM_NAME', env),
  getRecordsPerSecond: integerFrom('GET_RECORDS_PER_SECOND', 2, { min: 1, max: 5 }, env),
  getRecordsKiBPerSecond: integerFrom('GET_RECORDS_KIB_PER_SECOND', 1_024, { min: 1, max: 2_048 }, env),
  getRecordsLimit: integerFrom('GET_RECORDS_LIMIT', 1_000, { min: 1, max: 10_000 }, env),
  stopReserveMs: integerFrom('STOP_RESERVE_MS', stopReserveMs, { min: 0 }, env),
  retryAttempts: integerFrom('RETRY_ATTEMPTS', 3, { min: 1, max: 10 }, env),
});

/** The shard reader counts bytes; the setting is in KiB. */
const bytesPerSecondOf = (read: StreamReadConfig): number => read.getRecordsKiBPerSecond * 1_024;

export interface DlqReplayConfig extends ConsumerConfig, StreamReadConfig {
  failureQueueUrl: string;
}

/**
 * Records are not started with less than TIME_RESERVE_MS left, and reads (a GetRecords call, a failure-queue
 * message) not with less than STOP_RESERVE_MS. A time reserve above the stop reserve would let a read start whose
 * records could never be processed: the reprocessor would hand such shards over without progress, and the DLQ
 * replay would spend one of a message's receives on nothing.
 */
const checkReserves = (consumer: ConsumerConfig, read: StreamReadConfig): void => {
  if (consumer.timeReserveMs > read.stopReserveMs) {
    throw new ConfigError(
      `Environment variable TIME_RESERVE_MS (${consumer.timeReserveMs}) must not be greater than STOP_RESERVE_MS ` +
        `(${read.stopReserveMs}): records are not started with less than TIME_RESERVE_MS left, so the records of ` +
        'a GetRecords call started with less than that could never be processed',
    );
  }
};

export const loadDlqReplayConfig = (env: Env = process.env): DlqReplayConfig => {
  const consumer = loadConsumerConfig(env);
  const read = streamReadConfig(env, 10_000);
  checkReserves(consumer, read);
  return { ...consumer, ...read, failureQueueUrl: requireString('FAILURE_QUEUE_URL', env) };
};

/** How the DLQ replay reads each shard: its records per call, calls per second and bytes per second. */
export const replayReaderOptions = (
  config: StreamReadConfig,
): { limit: number; callsPerSecond: number; bytesPerSecond: number } => ({
  limit: config.getRecordsLimit,
  callsPerSecond: config.getRecordsPerSecond,
  bytesPerSecond: bytesPerSecondOf(config),
});

export interface ReprocessorConfig extends ConsumerConfig {
  jobsTableName: string;
  settings: ReprocessSettings;
}

const POSITIONINGS: readonly TimestampPositioning[] = ['iterator', 'scan'];

export const loadReprocessorConfig = (env: Env = process.env): ReprocessorConfig => {
  const consumer = loadConsumerConfig(env);
  const read = streamReadConfig(env, 30_000);
  checkReserves(consumer, read);
  const positioning = optionalString('TIMESTAMP_POSITIONING', 'iterator', env);
  if (!POSITIONINGS.includes(positioning as TimestampPositioning)) {
    throw new ConfigError(
      `Environment variable TIMESTAMP_POSITIONING must be ${POSITIONINGS.join(' or ')}, got '${positioning}'`,
    );
  }
  return {
    ...consumer,
    jobsTableName: requireString('JOBS_TABLE_NAME', env),
    settings: {
      streamName: read.streamName,
      projectionVersion: consumer.projectionVersion,
      keyConcurrency: consumer.keyConcurrency,
      timeReserveMs: consumer.timeReserveMs,
      stopReserveMs: read.stopReserveMs,
      leaseDurationMs: integerFrom('LEASE_DURATION_MS', 60_000, { min: 1_000 }, env),
      windowGraceMs: integerFrom('WINDOW_GRACE_MS', 5_000, { min: 0 }, env),
      defaultMaxRecordsPerSecond: integerFrom('MAX_RECORDS_PER_SECOND', 1_000, { min: 1, max: 100_000 }, env),
      getRecordsPerSecond: read.getRecordsPerSecond,
      getRecordsBytesPerSecond: bytesPerSecondOf(read),
      getRecordsLimit: read.getRecordsLimit,
      shardConcurrency: integerFrom('SHARD_CONCURRENCY', 4, { min: 1, max: 100 }, env),
      timestampPositioning: positioning as TimestampPositioning,
      timestampIteratorTimeoutMs: integerFrom('TIMESTAMP_ITERATOR_TIMEOUT_MS', 5_000, { min: 100 }, env),
      retryAttempts: read.retryAttempts,
      maxInvocations: integerFrom('MAX_INVOCATIONS', 1_000, { min: 1 }, env),
      jobRetentionDays: integerFrom('JOB_RETENTION_DAYS', 30, { min: 1, max: 3650 }, env),
    },
  };
};
