import type { LambdaClient } from '@aws-sdk/client-lambda';
import { HTTP_OPTIONS } from './http-options.ts';
import { KeyedSha256 } from './keyed-sha256.ts';
import { lazyClient } from './lazy.ts';

/**
 * Created once per process, on the first request: only a reprocessing job that outlives one invocation calls
 * Lambda. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_LAMBDA) points it at the local runtime, which serves the Lambda
 * Invoke API on the same endpoint.
 */
export const lambda: Pick<LambdaClient, 'send'> = lazyClient(async () => {
  const { LambdaClient } = await import('@aws-sdk/client-lambda');
  return new LambdaClient({ requestHandler: HTTP_OPTIONS, sha256: KeyedSha256 });
});
