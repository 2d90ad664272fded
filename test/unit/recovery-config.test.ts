import { describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config.ts';
import { SHARD_READ_BYTES_PER_SECOND } from '#shared/kinesis/shard-reader.ts';
import { loadDlqReplayConfig, loadReprocessorConfig, replayReaderOptions } from '#shared/recovery/config.ts';

const KiB = 1024;

const ENV = {
  STREAM_NAME: 'kinesis-pipeline-EventStream',
  TABLE_NAME: 'events-table',
  QUARANTINE_BUCKET: 'quarantine-bucket',
  FAILURE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/kinesis-pipeline-ConsumerFailureQueue',
  JOBS_TABLE_NAME: 'jobs-table',
};

/** The bytes per second each recovery function reads a shard at, given its environment. */
const bytesPerSecond = {
  'DLQ replay': (env: Record<string, string>) => replayReaderOptions(loadDlqReplayConfig(env)).bytesPerSecond,
  reprocessor: (env: Record<string, string>) => loadReprocessorConfig(env).settings.getRecordsBytesPerSecond,
};

describe('Recovery configuration: GET_RECORDS_KIB_PER_SECOND', () => {
  describe.each(Object.entries(bytesPerSecond))('%s', (_name, bytesOf) => {
    it('reads half of the shard’s 2 MiB/s by default, leaving the live consumer the other half', () => {
      // Act
      const bytes = bytesOf(ENV);
      // Assess
      expect(bytes).toBe(1024 * KiB);
      expect(bytes).toBe(SHARD_READ_BYTES_PER_SECOND / 2);
    });

    it.each([
      ['1', KiB],
      ['512', 512 * KiB],
      ['2048', SHARD_READ_BYTES_PER_SECOND],
    ])('reads %s KiB/s as %i bytes per second', (value, bytes) => {
      // Act & Assess
      expect(bytesOf({ ...ENV, GET_RECORDS_KIB_PER_SECOND: value })).toBe(bytes);
    });

    it.each([
      ['0', 'Environment variable GET_RECORDS_KIB_PER_SECOND must be at least 1, got 0'],
      ['2049', 'Environment variable GET_RECORDS_KIB_PER_SECOND must be at most 2048, got 2049'],
      ['1.5', "Environment variable GET_RECORDS_KIB_PER_SECOND must be an integer, got '1.5'"],
      ['1MiB', "Environment variable GET_RECORDS_KIB_PER_SECOND must be an integer, got '1MiB'"],
    ])('refuses %s, naming the variable', (value, message) => {
      // Act & Assess
      expect(() => bytesOf({ ...ENV, GET_RECORDS_KIB_PER_SECOND: value })).toThrow(new ConfigError(message));
    });
  });

  it('keeps the DLQ replay’s call rate and records per call beside the byte rate', () => {
    // Act
    const config = loadDlqReplayConfig({
      ...ENV,
      GET_RECORDS_PER_SECOND: '3',
      GET_RECORDS_LIMIT: '200',
      GET_RECORDS_KIB_PER_SECOND: '256',
    });
    // Assess
    expect(config.getRecordsKiBPerSecond).toBe(256);
    expect(replayReaderOptions(config)).toEqual({ limit: 200, callsPerSecond: 3, bytesPerSecond: 256 * KiB });
  });
});

describe('Recovery configuration: the reprocessor’s TIME_RESERVE_MS and STOP_RESERVE_MS', () => {
  it.each([
    [{}, 2_000, 30_000],
    [{ TIME_RESERVE_MS: '30000' }, 30_000, 30_000],
    [{ TIME_RESERVE_MS: '5000', STOP_RESERVE_MS: '8000' }, 5_000, 8_000],
  ])('takes %j', (values, timeReserveMs, stopReserveMs) => {
    // Act
    const { settings } = loadReprocessorConfig({ ...ENV, ...values });
    // Assess
    expect(settings).toMatchObject({ timeReserveMs, stopReserveMs });
  });

  it.each([
    [{ TIME_RESERVE_MS: '30001' }, 30_001, 30_000],
    [{ TIME_RESERVE_MS: '5000', STOP_RESERVE_MS: '1000' }, 5_000, 1_000],
  ])('refuses %j, naming both variables and their values', (values, time, stop) => {
    // Act & Assess
    expect(() => loadReprocessorConfig({ ...ENV, ...values })).toThrow(
      new ConfigError(
        `Environment variable TIME_RESERVE_MS (${time}) must not be greater than STOP_RESERVE_MS (${stop}): ` +
          'records are not started with less than TIME_RESERVE_MS left, so the records of a GetRecords call ' +
          'started with less than that could never be processed',
      ),
    );
  });
});

describe('Recovery configuration: the DLQ replay’s TIME_RESERVE_MS and STOP_RESERVE_MS', () => {
  it.each([
    [{}, 2_000, 10_000],
    [{ TIME_RESERVE_MS: '10000' }, 10_000, 10_000],
  ])('takes %j', (values, timeReserveMs, stopReserveMs) => {
    // Act
    const config = loadDlqReplayConfig({ ...ENV, ...values });
    // Assess
    expect(config).toMatchObject({ timeReserveMs, stopReserveMs });
  });

  it('refuses a time reserve above its stop reserve of 10 s, naming both variables and their values', () => {
    // Act & Assess: a message started in the gap would spend one of its receives on nothing.
    expect(() => loadDlqReplayConfig({ ...ENV, TIME_RESERVE_MS: '10001' })).toThrow(
      new ConfigError(
        'Environment variable TIME_RESERVE_MS (10001) must not be greater than STOP_RESERVE_MS (10000): ' +
          'records are not started with less than TIME_RESERVE_MS left, so the records of a GetRecords call ' +
          'started with less than that could never be processed',
      ),
    );
  });
});
