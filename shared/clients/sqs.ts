import { SQSClient } from '@aws-sdk/client-sqs';
import { keepAliveHandler } from './http-handler.ts';

/** Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SQS) points it at the local runtime. */
export const sqs = new SQSClient({ requestHandler: keepAliveHandler() });
