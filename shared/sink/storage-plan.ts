import type { CloudEvent } from '#shared/events/cloudevent.ts';
import type { ClaimPointer } from './claim-check.ts';
import { type EventToStore, UnstorableEventError } from './event-store.ts';
import { estimateItemSize, MAX_ITEM_BYTES } from './item-size.ts';

/**
 * How an event becomes an item of the event table, and whether it can: the sink's rule, with no AWS client, so that
 * the ingest (which refuses what the sink could never store) and the dry run share it with the store.
 */

/** Items estimated above this many bytes move their data to the claim check (DynamoDB's limit is 400 KB). */
export const DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES = 350 * 1024;

/** More than a claim-check pointer takes in an item: bucket, key (two SHA-256 digests), field, size, digest. */
export const CLAIM_POINTER_ALLOWANCE_BYTES = 1024;

/** The item as stored. */
export interface EventItem {
  identity: string;
  projectionVersion: number;
  kind: EventToStore['kind'];
  attributes: Record<string, unknown>;
  data?: unknown;
  dataBase64?: string;
  claimCheck?: ClaimPointer;
  stream: EventToStore['position'];
}

export const tooLargeWithoutData = (bytes: number) =>
  new UnstorableEventError(
    `the item would be about ${bytes} bytes even without its data (the limit is ${MAX_ITEM_BYTES})`,
  );

/** A CloudEvent as its item holds it: every attribute but the data (a null one is absent), and the data. */
export const cloudEventParts = (
  event: CloudEvent,
): Pick<EventToStore, 'attributes' | 'data' | 'dataBase64'> => {
  const { data, data_base64: dataBase64, ...context } = event;
  // A null attribute is the same as an absent one (CloudEvents JSON format §2.2), so the item does not hold it.
  // `data` keeps a null: JSON null is data like any other.
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(context)) if (value !== null) attributes[name] = value;
  return {
    attributes,
    ...(data === undefined ? {} : { data }),
    ...(dataBase64 === undefined || dataBase64 === null ? {} : { dataBase64 }),
  };
};

/**
 * The largest stream position an item can hold for a record of this partition key (Kinesis's longest shard id and
 * sequence number, an aggregated record's sub-sequence number): for measuring an event before it is on the stream.
 */
const largestPosition = (partitionKey: string): EventToStore['position'] => ({
  shardId: 's'.repeat(128),
  sequenceNumber: '9'.repeat(129),
  subSequenceNumber: Number.MAX_SAFE_INTEGER,
  partitionKey,
  approximateArrivalTimestamp: '2026-01-01T00:00:00.000Z',
});

/**
 * The bytes an event's item takes whatever becomes of its data: its identity, attributes and stream position (the
 * largest one it can have), and a claim-check pointer when it has data, which the claim check can always move out.
 * Above MAX_ITEM_BYTES the event can never be stored; at or below it, planStorage finds a way.
 */
export const sizeWithoutData = (
  event: Pick<EventToStore, 'identity' | 'kind' | 'attributes'> & { hasData: boolean },
  partitionKey: string,
): number =>
  estimateItemSize({
    identity: event.identity,
    projectionVersion: 0,
    kind: event.kind,
    attributes: event.attributes,
    stream: largestPosition(partitionKey),
  }) + (event.hasData ? CLAIM_POINTER_ALLOWANCE_BYTES : 0);

/** How an event is stored: as its item, or as its item with the data moved to the claim check. */
export type StoragePlan =
  | { item: EventItem }
  | {
      claim: { rest: Omit<EventItem, 'data' | 'dataBase64'>; field: 'data' | 'data_base64'; value: unknown };
    };

/**
 * The item an event becomes, and whether its data must move to the claim check: when the item is estimated above
 * `thresholdBytes` and there is a claim check. An item above the threshold with no data to move, or with no claim
 * check, is stored whole if DynamoDB takes its size. Throws `UnstorableEventError` when DynamoDB could never store
 * it: a value it refuses (item-size.ts), or too large even without its data. What the store does before it
 * writes, and what a dry run asks to tell what a write would do.
 */
export const planStorage = (
  event: EventToStore,
  projectionVersion: number,
  thresholdBytes: number,
  hasClaimCheck: boolean,
): StoragePlan => {
  const item: EventItem = {
    identity: event.identity,
    projectionVersion,
    kind: event.kind,
    attributes: event.attributes,
    ...(event.data === undefined ? {} : { data: event.data }),
    ...(event.dataBase64 === undefined ? {} : { dataBase64: event.dataBase64 }),
    stream: event.position,
  };
  const size = estimateItemSize(item as unknown as Record<string, unknown>);
  if (size <= thresholdBytes) return { item };

  const field = item.data !== undefined ? 'data' : item.dataBase64 !== undefined ? 'data_base64' : undefined;
  if (field === undefined || !hasClaimCheck) {
    if (size <= MAX_ITEM_BYTES) return { item };
    throw new UnstorableEventError(
      field === undefined
        ? `the item would be about ${size} bytes (the limit is ${MAX_ITEM_BYTES}), and it has no data to claim-check`
        : `the item would be about ${size} bytes (the limit is ${MAX_ITEM_BYTES}), and there is no claim check for its data`,
    );
  }
  const { data, dataBase64, ...rest } = item;
  // Measured before the upload too, so that no object is left in the bucket for an item that is never written.
  const restSize =
    estimateItemSize(rest as unknown as Record<string, unknown>) + CLAIM_POINTER_ALLOWANCE_BYTES;
  if (restSize > MAX_ITEM_BYTES) throw tooLargeWithoutData(restSize);
  return { claim: { rest, field, value: field === 'data' ? data : dataBase64 } };
};
