import type { EventStore, EventToStore, PutResult } from './event-store.ts';

export interface StoredItem extends EventToStore {
  projectionVersion: number;
}

/**
 * The sink's rules without DynamoDB, for unit tests: the same outcomes as the DynamoDB adapter's condition
 * expression (`attribute_not_exists(identity) OR projectionVersion < :version`).
 */
export class MemoryEventStore implements EventStore {
  readonly projectionVersion: number;
  readonly items: Map<string, StoredItem>;
  /** Every call to `put`, in the order made; tests read the order of writes from it. */
  readonly calls: EventToStore[] = [];

  constructor(projectionVersion = 1, items: Map<string, StoredItem> = new Map()) {
    this.projectionVersion = projectionVersion;
    this.items = items;
  }

  /** A store over the same items with another projection version, as during a deploy of new code. */
  withVersion(projectionVersion: number): MemoryEventStore {
    return new MemoryEventStore(projectionVersion, this.items);
  }

  async put(event: EventToStore): Promise<PutResult> {
    this.calls.push(event);
    const existing = this.items.get(event.identity);
    if (existing === undefined || existing.projectionVersion < this.projectionVersion) {
      this.items.set(
        event.identity,
        structuredClone({ ...event, projectionVersion: this.projectionVersion }),
      );
      return { outcome: 'written' };
    }
    const stored = {
      projectionVersion: existing.projectionVersion,
      sequenceNumber: existing.position.sequenceNumber,
      ...(existing.position.subSequenceNumber === undefined
        ? {}
        : { subSequenceNumber: existing.position.subSequenceNumber }),
    };
    return {
      outcome: existing.projectionVersion > this.projectionVersion ? 'stale-version' : 'duplicate',
      stored,
    };
  }
}
