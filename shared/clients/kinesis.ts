import { KinesisClient } from '@aws-sdk/client-kinesis';
import { keepAliveHandler } from './http-handler.ts';

/** Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_KINESIS) points it at the local runtime. */
export const kinesis = new KinesisClient({ requestHandler: keepAliveHandler() });
