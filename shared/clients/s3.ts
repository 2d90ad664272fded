import { S3Client } from '@aws-sdk/client-s3';
import { keepAliveHandler } from './http-handler.ts';

/**
 * Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) points it at the local runtime, which
 * serves buckets by path rather than by virtual host.
 */
export const s3 = new S3Client({
  requestHandler: keepAliveHandler(),
  forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3),
});
