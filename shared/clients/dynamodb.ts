import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HTTP_OPTIONS } from './http-options.ts';

/** Created once per process. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_DYNAMODB) points it at the local runtime. */
export const dynamodb = new DynamoDBClient({ requestHandler: HTTP_OPTIONS });

/** The document client over the same connections; numbers beyond 2^53 travel as NumberValue, never rounded. */
export const documentClient = DynamoDBDocumentClient.from(dynamodb, {
  marshallOptions: { removeUndefinedValues: true },
});
