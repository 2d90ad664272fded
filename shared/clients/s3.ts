import type { S3Client } from '@aws-sdk/client-s3';
import { HTTP_OPTIONS } from './http-options.ts';
import { KeyedSha256 } from './keyed-sha256.ts';
import { lazyClient } from './lazy.ts';

/**
 * Created once per process, on the first request: the functions reach S3 only to quarantine a record or to
 * claim-check an oversized one. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) points it at the local runtime, which
 * serves buckets by path rather than by virtual host.
 */
export const s3: Pick<S3Client, 'send'> = lazyClient(async () => {
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    requestHandler: HTTP_OPTIONS,
    sha256: KeyedSha256,
    forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3),
  });
});
