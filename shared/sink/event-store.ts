/**
 * The sink's port: one item per event identity, written idempotently. The consumer depends on this interface
 * only; `DynamoDbEventStore` is the production adapter and `MemoryEventStore` serves the unit tests.
 */

/** Where a user record sat on the stream. */
export interface StreamPosition {
  shardId: string;
  /** The outer record's sequence number (the one the event source mapping checkpoints). */
  sequenceNumber: string;
  /** The place inside a KPL aggregate; absent for a record that was not aggregated. */
  subSequenceNumber?: number;
  /** The user record's own partition key. */
  partitionKey: string;
  /** ISO 8601, from the record's ApproximateArrivalTimestamp. */
  approximateArrivalTimestamp: string;
}

/** An event ready to be stored. */
export interface EventToStore {
  /** `ce:<source>:<id>` for a CloudEvent, `json:sha256:<hex>` for plain JSON. */
  identity: string;
  kind: 'cloudevent' | 'json';
  /** The CloudEvent's context and extension attributes (everything but the data); empty for plain JSON. */
  attributes: Record<string, unknown>;
  /** The CloudEvent's `data`, or the whole plain JSON payload. */
  data?: unknown;
  /** The CloudEvent's `data_base64`. */
  dataBase64?: string;
  position: StreamPosition;
}

/**
 * - `written`: the item did not exist, or held an older projection version, and now holds this event.
 * - `duplicate`: the item already holds this identity at this projection version (a redelivery, a replay, a
 *   reprocess with the same code, or a producer sending the same event again); nothing was written.
 * - `stale-version`: the item holds a newer projection version; nothing was written.
 */
export type PutOutcome = 'written' | 'duplicate' | 'stale-version';

export interface PutResult {
  outcome: PutOutcome;
  /** For `duplicate` and `stale-version`: the version and position the item already holds, when known. */
  stored?: { projectionVersion: number; sequenceNumber?: string; subSequenceNumber?: number };
  /**
   * For `duplicate`: the item holds the same identity at the same projection version with other content (its
   * attributes or data), as when a producer sends two events under one id. The first stays; this says so.
   */
  conflict?: true;
}

export interface EventStore {
  /** The version of the projection logic this store writes; see docs/consumer.md. */
  readonly projectionVersion: number;
  /**
   * Stores the event unless the item already holds it at this or a newer projection version. Throws
   * `UnstorableEventError` when the event can never become an item; any other error is worth a retry.
   */
  put(event: EventToStore): Promise<PutResult>;
}

/** The event can never be stored as an item (too large even after the claim check, too deeply nested, …). */
export class UnstorableEventError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnstorableEventError';
  }
}
