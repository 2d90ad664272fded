import type { SQSClient } from '@aws-sdk/client-sqs';
import { HTTP_OPTIONS } from './http-options.ts';
import { KeyedSha256 } from './keyed-sha256.ts';
import { lazyClient } from './lazy.ts';

/**
 * Created once per process, on the first request: only the DLQ replay's on-demand mode calls SQS (its SQS-trigger
 * mode is handed the messages). AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SQS) points it at the local runtime.
 */
export const sqs: Pick<SQSClient, 'send'> = lazyClient(async () => {
  const { SQSClient } = await import('@aws-sdk/client-sqs');
  return new SQSClient({ requestHandler: HTTP_OPTIONS, sha256: KeyedSha256 });
});
