import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HTTP_OPTIONS } from './http-options.ts';
import { KeyedSha256 } from './keyed-sha256.ts';
import { MARSHALL_OPTIONS } from './marshall-options.ts';

/**
 * Created once per process, as the low-level client is (dynamodb.ts).
 *
 * The document client, for the reads and writes that are not made per record (the reprocessor's jobs, dry runs);
 * numbers beyond 2^53 travel as NumberValue, never rounded. It has a client of its own: lib-dynamodb refuses
 * `cacheMiddleware`, as its commands resolve their middleware around the one command they are built for.
 * A module of its own, so that the consumer, which does not use it, leaves lib-dynamodb out of its bundle.
 */
export const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ requestHandler: HTTP_OPTIONS, sha256: KeyedSha256 }),
  { marshallOptions: { ...MARSHALL_OPTIONS } },
);
