import { KinesisClient } from '@aws-sdk/client-kinesis';
import { keepAliveHandler } from './http-handler.ts';
import { KINESIS_CLIENT_SETTINGS } from './kinesis-settings.ts';

/** Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_KINESIS) points it at the local runtime. */
export const kinesis = new KinesisClient({ ...KINESIS_CLIENT_SETTINGS, requestHandler: keepAliveHandler() });

/**
 * For the shard readers of the DLQ replay and the reprocessor: one attempt per call, since the reader retries
 * throttled and failed calls itself, each attempt paced to the per-shard rate it was given. The SDK's own retries
 * would go out unpaced.
 */
export const kinesisReader = new KinesisClient({
  ...KINESIS_CLIENT_SETTINGS,
  requestHandler: keepAliveHandler(),
  maxAttempts: 1,
});
