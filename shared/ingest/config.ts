import { integerFrom, requireString } from '#shared/config.ts';

/** Largest request body the ingest function accepts when MAX_BODY_BYTES is not set (template.yaml sets none). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

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
  // Lambda's synchronous payload limit is 6 MB (6,291,456 bytes), and it holds the body as API Gateway sends it:
  // base64 for a media type it does not take for text (4/3 of the bytes), inside the JSON of the event with its
  // headers. 4 MiB in base64 is 5,592,408 bytes, which leaves room for those; 5 MiB would not fit.
  maxBodyBytes: integerFrom('MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, { min: 1024, max: 4_700_000 }, env),
  responseReserveMs: integerFrom('RESPONSE_RESERVE_MS', 500, { min: 0 }, env),
});
