import {
  type AttributeValue,
  CreateTableCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { waitForTable } from '#local/resources.ts';

/** The CloudEvent the throughput benchmarks write: about 0.4 KB, 1,000 users as partition keys. */
export const benchEvent = (n: number, source: string, type: string) => ({
  specversion: '1.0',
  id: `bench-${n}`,
  source,
  type,
  subject: `user-${n % 1000}`,
  data: { n, u: `user-${n % 1000}`, a: 'click', padding: 'x'.repeat(200) },
});

/** An on-demand table whose key attributes are strings, once it is ACTIVE. */
export const createTable = async (
  dynamodb: Pick<DynamoDBClient, 'send'>,
  name: string,
  keys: Array<[string, 'HASH' | 'RANGE']>,
): Promise<void> => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keys.map(([AttributeName]) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
    }),
  );
  await waitForTable(dynamodb, name);
};

/** Items in a table, counted by the table itself (a paginated COUNT scan). */
export const countItems = async (
  dynamodb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
): Promise<number> => {
  let items = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(
      new ScanCommand({
        TableName: tableName,
        Select: 'COUNT',
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    items += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
};
