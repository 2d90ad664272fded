import { createRequire } from 'node:module';
import { DynamoDBClient, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import {
  clientConfig,
  type RunningEmulator,
  startDynamoDb,
  VALIDATED_EXPRESSION_KEY_CHARS,
  VALIDATED_EXPRESSIONS_KEPT,
} from '#local/emulators/index.ts';

type Validate = ((data: Record<string, unknown>) => string | undefined) & {
  remembers?: true;
  original?: (data: Record<string, unknown>) => string | undefined;
};
const validations = createRequire(import.meta.url)('dynalite/validations') as {
  validateExpressions: Validate;
};

let emulator: RunningEmulator;
let dynamodb: DynamoDBClient;

beforeAll(async () => {
  emulator = await startDynamoDb();
  dynamodb = new DynamoDBClient({
    ...clientConfig(emulator.endpoint),
    requestHandler: new NodeHttpHandler(),
  });
  await createTable(dynamodb, 'expressions', [
    ['pk', 'HASH'],
    ['sk', 'RANGE'],
  ]);
});

afterAll(async () => {
  dynamodb?.destroy();
  await emulator?.close();
});

/** Requests' expression fields as the actions hand them over (parsed from JSON): valid ones and refused ones. */
const requests = (): Array<Record<string, unknown>> => [
  {
    ConditionExpression: 'attribute_not_exists(#identity) OR #projectionVersion < :projectionVersion',
    ExpressionAttributeNames: { '#identity': 'identity', '#projectionVersion': 'projectionVersion' },
    ExpressionAttributeValues: { ':projectionVersion': { N: '1' } },
  },
  {
    ConditionExpression: 'attribute_not_exists(#identity) OR #projectionVersion < :projectionVersion',
    ExpressionAttributeNames: { '#identity': 'identity', '#projectionVersion': 'projectionVersion' },
    ExpressionAttributeValues: { ':projectionVersion': { N: '2' } },
  },
  {
    UpdateExpression: 'SET #a = :v, #c = list_append(#c, :l) REMOVE #b',
    ConditionExpression: 'size(#a) > :n AND #b IN (:v, :n)',
    ProjectionExpression: '#a, #b[1].c',
    ExpressionAttributeNames: { '#a': 'a', '#b': 'b', '#c': 'c' },
    ExpressionAttributeValues: { ':v': { S: 'x' }, ':n': { N: '2' }, ':l': { L: [{ S: 'y' }] } },
  },
  {
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    FilterExpression: 'attribute_exists(#constructor) AND #n >= :n',
    ExpressionAttributeNames: { '#n': 'n', '#constructor': 'constructor' },
    ExpressionAttributeValues: { ':pk': { S: 'p' }, ':prefix': { S: 's#' }, ':n': { N: '3' } },
  },
  { ConditionExpression: 'attribute_not_exists(#identity)', ExpressionAttributeNames: { '#unused': 'x' } },
  { ConditionExpression: 'a = :missing' },
  { UpdateExpression: 'SET a = :v', ExpressionAttributeValues: { ':v': { S: 'x' }, ':other': { S: 'y' } } },
  { ConditionExpression: 'NOT (' },
  { ConditionExpression: 'a = :v', ExpressionAttributeValues: { ':v': { S: 'x', N: '1' } } },
  { ProjectionExpression: '' },
];

const PARSED = ['_updates', '_condition', '_keyCondition', '_filter', '_projection'];
const parsedOf = (data: Record<string, unknown>) =>
  Object.fromEntries(PARSED.filter((field) => field in data).map((field) => [field, data[field]]));

describe("Local DynamoDB: a request's validated expressions are remembered", () => {
  it("answers and parses as dynalite's own validation does, the first time and from memory", () => {
    expect(validations.validateExpressions.remembers).toBe(true);
    for (let round = 0; round < 3; round += 1) {
      for (const [theirs, ours] of requests().map((request, i) => [request, requests()[i]!])) {
        const expected = validations.validateExpressions.original!(theirs!);
        expect(validations.validateExpressions(ours!), JSON.stringify(ours)).toBe(expected);
        expect(parsedOf(ours!)).toStrictEqual(parsedOf(theirs!));
      }
    }
    // The error messages are dynalite's own: an undefined name or value, an unused value, a syntax error, a value of
    // two types, an empty expression.
    const answers = requests().map((request) => validations.validateExpressions(request));
    expect(answers.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(answers.slice(4).every((answer) => typeof answer === 'string' && answer.length > 0)).toBe(true);
  });

  it('gives each request a copy of what was parsed, with the prototypes dynalite gave it', () => {
    const [first, second] = [requests()[3]!, requests()[3]!];
    validations.validateExpressions(first);
    validations.validateExpressions(second);
    const filter = (data: Record<string, unknown>) =>
      data._filter as { expression: { args: unknown[] }; pathHeads: Record<string, unknown> };
    expect(filter(first)).not.toBe(filter(second));
    filter(first).expression.args.length = 0;
    filter(first).pathHeads.n = 'changed';
    const third = requests()[3]!;
    validations.validateExpressions(third);
    expect(filter(third)).toStrictEqual(filter(second));
    // dynalite makes pathHeads without a prototype: an attribute called "constructor" is not found on Object's.
    expect(Object.getPrototypeOf(filter(third).pathHeads)).toBeNull();
    expect(Object.keys(filter(third).pathHeads).sort()).toEqual(['constructor', 'n']);
  });

  it(`keeps answering right past ${VALIDATED_EXPRESSIONS_KEPT} requests and for keys over ${VALIDATED_EXPRESSION_KEY_CHARS} characters`, () => {
    const many = Array.from({ length: VALIDATED_EXPRESSIONS_KEPT + 20 }, (_, i) => ({
      ConditionExpression: '#a < :v',
      ExpressionAttributeNames: { '#a': 'a' },
      ExpressionAttributeValues: { ':v': { N: String(i) } },
    }));
    const long = {
      ConditionExpression: '#a = :v',
      ExpressionAttributeNames: { '#a': 'a' },
      ExpressionAttributeValues: { ':v': { S: 'x'.repeat(VALIDATED_EXPRESSION_KEY_CHARS) } },
    };
    for (const request of [...many, long, many[0]!, long]) {
      const copy = structuredClone(request) as Record<string, unknown>;
      expect(validations.validateExpressions(copy)).toBe(
        validations.validateExpressions.original!(request as Record<string, unknown>),
      );
      expect(parsedOf(copy)).toStrictEqual(parsedOf(request as Record<string, unknown>));
    }
  });

  it('writes, updates and queries alike whether the expressions are new or remembered', async () => {
    const put = (version: number) =>
      dynamodb.send(
        new PutItemCommand({
          TableName: 'expressions',
          Item: {
            pk: { S: 'p' },
            sk: { S: 's#1' },
            projectionVersion: { N: String(version) },
            n: { N: '5' },
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR #projectionVersion < :projectionVersion',
          ExpressionAttributeNames: { '#pk': 'pk', '#projectionVersion': 'projectionVersion' },
          ExpressionAttributeValues: { ':projectionVersion': { N: String(version) } },
        }),
      );
    await put(1);
    await expect(put(1)).rejects.toThrow('The conditional request failed');
    await put(2);
    await expect(put(2)).rejects.toThrow('The conditional request failed');
    const update = () =>
      dynamodb.send(
        new UpdateItemCommand({
          TableName: 'expressions',
          Key: { pk: { S: 'p' }, sk: { S: 's#1' } },
          UpdateExpression: 'SET #n = #n + :one, #l = list_append(if_not_exists(#l, :empty), :item)',
          ExpressionAttributeNames: { '#n': 'n', '#l': 'l' },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':empty': { L: [] },
            ':item': { L: [{ S: 'x' }] },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
    await update();
    const { Attributes } = await update();
    expect(Attributes?.n).toEqual({ N: '7' });
    expect(Attributes?.l).toEqual({ L: [{ S: 'x' }, { S: 'x' }] });
    const query = (minimum: number) =>
      dynamodb.send(
        new QueryCommand({
          TableName: 'expressions',
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          FilterExpression: '#n >= :n',
          ProjectionExpression: 'sk, #n',
          ExpressionAttributeNames: { '#n': 'n' },
          ExpressionAttributeValues: {
            ':pk': { S: 'p' },
            ':prefix': { S: 's#' },
            ':n': { N: String(minimum) },
          },
        }),
      );
    for (let i = 0; i < 2; i += 1) {
      expect((await query(7)).Items).toEqual([{ sk: { S: 's#1' }, n: { N: '7' } }]);
      expect((await query(8)).Items).toEqual([]);
    }
    // Binary and set values in a remembered condition compare as they do the first time.
    await dynamodb.send(
      new PutItemCommand({
        TableName: 'expressions',
        Item: {
          pk: { S: 'p' },
          sk: { S: 's#2' },
          b: { B: Uint8Array.from([1, 2, 3]) },
          tags: { SS: ['x', 'y'] },
        },
      }),
    );
    const touch = (bytes: number[], tag: string) =>
      dynamodb.send(
        new UpdateItemCommand({
          TableName: 'expressions',
          Key: { pk: { S: 'p' }, sk: { S: 's#2' } },
          UpdateExpression: 'SET touched = :true',
          ConditionExpression: '#b = :b AND contains(tags, :tag)',
          ExpressionAttributeNames: { '#b': 'b' },
          ExpressionAttributeValues: {
            ':b': { B: Uint8Array.from(bytes) },
            ':tag': { S: tag },
            ':true': { BOOL: true },
          },
        }),
      );
    for (let i = 0; i < 2; i += 1) {
      await touch([1, 2, 3], 'x');
      await expect(touch([1, 2, 4], 'x')).rejects.toThrow('The conditional request failed');
      await expect(touch([1, 2, 3], 'z')).rejects.toThrow('The conditional request failed');
    }
  });
});
