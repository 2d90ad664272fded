import { LambdaClient } from '@aws-sdk/client-lambda';
import { keepAliveHandler } from './http-handler.ts';

/**
 * Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_LAMBDA) points it at the local runtime, which
 * serves the Lambda Invoke API on the same endpoint.
 */
export const lambda = new LambdaClient({ requestHandler: keepAliveHandler() });
