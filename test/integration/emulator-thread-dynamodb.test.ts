import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import { clientConfig } from '#local/emulators/index.ts';
import { startEmulatorThread, type ThreadedEmulator } from '#local/emulators/thread.ts';

const TABLE = 'names';

let emulator: ThreadedEmulator;
let dynamodb: DynamoDBClient;

const refusal = (send: Promise<unknown>) =>
  send.then(
    () => 'accepted',
    (error: Error) => `${error.name}: ${error.message}`,
  );

describe('Local runtime: DynamoDB refuses an empty attribute name, as the service does', () => {
  beforeAll(async () => {
    emulator = await startEmulatorThread('dynamodb');
    dynamodb = new DynamoDBClient({
      ...clientConfig(emulator.endpoint),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    await createTable(dynamodb, TABLE, [['pk', 'HASH']]);
  });

  afterAll(async () => {
    dynamodb.destroy();
    await emulator.close();
  });

  it.each([
    ['a top-level attribute', { pk: { S: 'a' }, '': { N: '1' } }],
    ['a map member', { pk: { S: 'b' }, data: { M: { '': { N: '1' } } } }],
    [
      'a map in a list in a map',
      { pk: { S: 'c' }, data: { M: { l: { L: [{ S: 'x' }, { M: { '': { S: 'y' } } }] } } } },
    ],
  ])('refuses PutItem with an empty name in %s, and stores nothing', async (_where, Item) => {
    // Act
    const answer = await refusal(dynamodb.send(new PutItemCommand({ TableName: TABLE, Item })));
    const stored = await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: Item.pk } }));
    // Assess
    expect(answer).toBe(
      'ValidationException: One or more parameter values were invalid: Empty attribute name',
    );
    expect(stored.Item).toBeUndefined();
  });

  it('refuses an empty name in an update value and in a batch write', async () => {
    // Act
    const update = await refusal(
      dynamodb.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { pk: { S: 'd' } },
          UpdateExpression: 'SET #d = :d',
          ExpressionAttributeNames: { '#d': 'data' },
          ExpressionAttributeValues: { ':d': { M: { '': { BOOL: true } } } },
        }),
      ),
    );
    const batch = await refusal(
      dynamodb.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [TABLE]: [{ PutRequest: { Item: { pk: { S: 'e' }, m: { M: { '': { NULL: true } } } } } }],
          },
        }),
      ),
    );
    // Assess
    expect(update).toBe(
      'ValidationException: One or more parameter values were invalid: Empty attribute name',
    );
    expect(batch).toBe(
      'ValidationException: One or more parameter values were invalid: Empty attribute name',
    );
  });

  it('stores empty strings, and names that merely hold quotes', async () => {
    // Prepare
    const Item = {
      pk: { S: 'f' },
      empty: { S: '' },
      data: { M: { '""': { S: '' }, list: { L: [{ S: '' }] } } },
    };
    // Act
    const answer = await refusal(dynamodb.send(new PutItemCommand({ TableName: TABLE, Item })));
    const stored = await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'f' } } }));
    // Assess
    expect(answer).toBe('accepted');
    expect(stored.Item).toEqual(Item);
  });
});
