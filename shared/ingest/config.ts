import { integerFrom, requireString } from '#shared/config.ts';

/** The ingest function's settings, read once at init. */
export interface IngestConfig {
  streamName: string;
  maxRecordBytes: number;
  maxBodyBytes: number;
  /** Time kept back from the Lambda deadline to answer the client, in milliseconds. */
  responseReserveMs: number;
}

export const loadIngestConfig = (env: Record<string, string | undefined> = process.env): IngestConfig => ({
  streamName: requireString('STREAM_NAME', env),
  maxRecordBytes: integerFrom('MAX_RECORD_SIZE_KIB', 1024, { min: 1024, max: 10240 }, env) * 1024,
  // Lambda's synchronous payload limit is 6 MB and must also hold API Gateway's envelope around the body.
  maxBodyBytes: integerFrom('MAX_BODY_BYTES', 5 * 1024 * 1024, { min: 1024, max: 6 * 1024 * 1024 }, env),
  responseReserveMs: integerFrom('RESPONSE_RESERVE_MS', 500, { min: 0 }, env),
});
