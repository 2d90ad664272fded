import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { isConditionFailure } from '#shared/clients/dynamodb-errors.ts';
import { MARSHALL_OPTIONS } from '#shared/clients/marshall-options.ts';
import { sameDecimal } from '#shared/events/canonical-json.ts';
import type { ClaimCheck } from './claim-check.ts';
import { type EventStore, type EventToStore, type PutResult, UnstorableEventError } from './event-store.ts';
import { estimateItemSize, MAX_ITEM_BYTES } from './item-size.ts';
import {
  DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
  type EventItem,
  planStorage,
  tooLargeWithoutData,
} from './storage-plan.ts';

/** The table's partition key. */
export const KEY_ATTRIBUTE = 'identity';

/**
 * Write if the item is new, or if it holds an older projection version. Everything else fails the check, and a
 * failed check writes nothing: that is the whole of the idempotency, with no read before the write.
 */
export const UPSERT_CONDITION = 'attribute_not_exists(#identity) OR #projectionVersion < :projectionVersion';

export interface DynamoDbEventStoreOptions {
  /**
   * The low-level client: the store converts its items itself, so that the client can keep its resolved middleware
   * (`cacheMiddleware`), which the document client does not allow (docs/performance.md).
   */
  client: Pick<DynamoDBClient, 'send'>;
  tableName: string;
  projectionVersion: number;
  claimCheck?: ClaimCheck;
  claimCheckThresholdBytes?: number;
}

/** DynamoDB's answers that mean "this item can never be stored", as opposed to a fault worth a retry. */
const UNSTORABLE_MESSAGES = [
  /item size has exceeded/i,
  /item size to update has exceeded/i,
  /nesting levels have exceeded/i,
  /number overflow/i,
  /number underflow/i,
  /more than 38 significant digits/i,
  /size of hashkey has exceeded/i,
  // An empty name of an attribute or a map member, at any depth.
  /empty attribute name/i,
];

/**
 * The converter's refusals (`marshall`, @aws-sdk/util-dynamodb), thrown before any request: the same item is
 * refused every time (a number it will not turn into a double, a value of a type it cannot convert).
 */
const UNCONVERTIBLE_MESSAGES = [/Number\.(MAX|MIN)_SAFE_INTEGER/, /Unsupported type passed/];

const isUnstorableAnswer = (error: unknown): boolean => {
  const { name, message } = error as Error;
  if (name === 'ValidationException') return UNSTORABLE_MESSAGES.some((pattern) => pattern.test(message));
  return (
    name === 'Error' &&
    (error as { $metadata?: unknown }).$metadata === undefined &&
    UNCONVERTIBLE_MESSAGES.some((pattern) => pattern.test(message))
  );
};

type StoredVersion = NonNullable<PutResult['stored']>;

/** Two attribute values alike, numbers compared as decimals (DynamoDB gives back `1.5` for `1.50`). */
const sameValue = (a: AttributeValue | undefined, b: AttributeValue | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b;
  if (a.N !== undefined || b.N !== undefined) {
    return a.N !== undefined && b.N !== undefined && sameDecimal(a.N, b.N);
  }
  if (a.M !== undefined || b.M !== undefined) {
    if (a.M === undefined || b.M === undefined) return false;
    const names = Object.keys(a.M);
    return (
      names.length === Object.keys(b.M).length && names.every((name) => sameValue(a.M![name], b.M![name]))
    );
  }
  if (a.L !== undefined || b.L !== undefined) {
    if (a.L === undefined || b.L === undefined || a.L.length !== b.L.length) return false;
    return a.L.every((element, index) => sameValue(element, b.L![index]));
  }
  if (a.B !== undefined || b.B !== undefined) {
    return a.B !== undefined && b.B !== undefined && Buffer.from(a.B).equals(Buffer.from(b.B));
  }
  return JSON.stringify(a) === JSON.stringify(b);
};

/**
 * Whether a refused item holds what the stored one does: the event's attributes and its data (for data in the
 * claim check, the digest of its bytes). The stream position and the projection version are not content.
 */
const sameContent = (item: Record<string, AttributeValue>, stored: Record<string, AttributeValue>): boolean =>
  sameValue(item.attributes, stored.attributes) &&
  sameValue(item.data, stored.data) &&
  sameValue(item.dataBase64, stored.dataBase64) &&
  sameValue(item.claimCheck?.M?.sha256, stored.claimCheck?.M?.sha256);

/** The version and stream position an item holds, from the item as DynamoDB returns it (attribute values). */
const storedOf = (item: Record<string, AttributeValue>): StoredVersion => {
  const stream = item.stream?.M;
  const sequenceNumber = stream?.sequenceNumber?.S;
  const subSequenceNumber = stream?.subSequenceNumber?.N;
  return {
    projectionVersion: Number(item.projectionVersion?.N),
    ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
    ...(subSequenceNumber === undefined ? {} : { subSequenceNumber: Number(subSequenceNumber) }),
  };
};

/**
 * The version and stream position of the item with this identity, from a consistent read of those two attributes;
 * undefined when there is no such item. What a dry run reads to tell what a write would do
 * (shared/recovery/dry-run.ts).
 */
export const readStoredVersion = async (
  client: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  identity: string,
): Promise<StoredVersion | undefined> => {
  const { Item } = await client.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { [KEY_ATTRIBUTE]: { S: identity } },
      ProjectionExpression: '#projectionVersion, #stream',
      ExpressionAttributeNames: { '#projectionVersion': 'projectionVersion', '#stream': 'stream' },
      ConsistentRead: true,
    }),
  );
  return Item && storedOf(Item);
};

/**
 * The sink's DynamoDB adapter: one conditional PutItem per event (see UPSERT_CONDITION), with the claim check
 * for data too large for an item.
 */
export class DynamoDbEventStore implements EventStore {
  readonly projectionVersion: number;
  readonly #client: Pick<DynamoDBClient, 'send'>;
  readonly #tableName: string;
  readonly #claimCheck: ClaimCheck | undefined;
  readonly #threshold: number;

  constructor(options: DynamoDbEventStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.projectionVersion = options.projectionVersion;
    this.#claimCheck = options.claimCheck;
    this.#threshold = options.claimCheckThresholdBytes ?? DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES;
  }

  async put(event: EventToStore): Promise<PutResult> {
    const item = await this.#itemFor(event);
    let marshalled: Record<string, AttributeValue> | undefined;
    try {
      // In the try: a value the converter refuses is the item's fault (UNCONVERTIBLE_MESSAGES).
      marshalled = marshall(item, MARSHALL_OPTIONS);
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: marshalled,
          ConditionExpression: UPSERT_CONDITION,
          ExpressionAttributeNames: { '#identity': KEY_ATTRIBUTE, '#projectionVersion': 'projectionVersion' },
          ExpressionAttributeValues: { ':projectionVersion': { N: String(this.projectionVersion) } },
          // The failed check carries the item it failed against, which tells a duplicate from a stale version.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'written' };
    } catch (error) {
      if (isConditionFailure(error)) {
        const old =
          (error as { Item?: Record<string, AttributeValue> }).Item ??
          (await this.#itemAfterRefusal(event.identity));
        const result = this.#classify(storedOf(old));
        if (
          result.outcome === 'duplicate' &&
          result.stored?.projectionVersion === this.projectionVersion &&
          old.attributes !== undefined &&
          marshalled !== undefined &&
          !sameContent(marshalled, old)
        ) {
          result.conflict = true;
        }
        return result;
      }
      if (isUnstorableAnswer(error)) {
        throw new UnstorableEventError(`DynamoDB refused the item: ${(error as Error).message}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  #classify(stored: StoredVersion): PutResult {
    return {
      outcome: stored.projectionVersion > this.projectionVersion ? 'stale-version' : 'duplicate',
      stored,
    };
  }

  /**
   * Only for a failed check that did not carry the old item (emulators without ReturnValuesOnConditionCheckFailure):
   * the write has already been refused, so this read only labels the outcome, and tells a conflicting duplicate, as
   * the old item would have; it never decides a write. The content is read as the check would have returned it.
   */
  async #itemAfterRefusal(identity: string): Promise<Record<string, AttributeValue>> {
    const names = ['projectionVersion', 'stream', 'attributes', 'data', 'dataBase64', 'claimCheck'];
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { [KEY_ATTRIBUTE]: { S: identity } },
        ProjectionExpression: names.map((name) => `#${name}`).join(', '),
        ExpressionAttributeNames: Object.fromEntries(names.map((name) => [`#${name}`, name])),
        ConsistentRead: true,
      }),
    );
    // Deleted between the check and the read: let the record be retried rather than guess.
    if (!Item) throw new Error(`item ${identity} failed the condition check but cannot be read`);
    return Item;
  }

  async #itemFor(event: EventToStore): Promise<EventItem> {
    const plan = planStorage(event, this.projectionVersion, this.#threshold, this.#claimCheck !== undefined);
    if (!('claim' in plan)) return plan.item;
    const { rest, field, value } = plan.claim;
    const claimed: EventItem = {
      ...rest,
      claimCheck: await this.#claimCheck!.store(event.identity, field, value),
    };
    const claimedSize = estimateItemSize(claimed as unknown as Record<string, unknown>);
    if (claimedSize > MAX_ITEM_BYTES) throw tooLargeWithoutData(claimedSize);
    return claimed;
  }
}
