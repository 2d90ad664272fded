import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Quarantine, QuarantineEntry } from '#shared/quarantine/quarantine.ts';
import { readStoredVersion } from '#shared/sink/dynamodb-event-store.ts';
import type { EventStore, EventToStore, PutResult } from '#shared/sink/event-store.ts';

/**
 * The sink of a dry run: it answers what a real put would do, and writes nothing. The answer follows the sink's
 * rule (write when the item is missing or holds an older projection version) from one read of the item. It does
 * not size the item, so an event too large to store is reported as written, not quarantined.
 */

/** The projection version an item holds, or undefined when there is no item. */
export type StoredVersionLookup = (
  identity: string,
) => Promise<{ projectionVersion: number; sequenceNumber?: string } | undefined>;

export class DryRunEventStore implements EventStore {
  readonly projectionVersion: number;
  readonly #lookup: StoredVersionLookup;

  constructor(projectionVersion: number, lookup: StoredVersionLookup) {
    this.projectionVersion = projectionVersion;
    this.#lookup = lookup;
  }

  async put(event: EventToStore): Promise<PutResult> {
    const stored = await this.#lookup(event.identity);
    if (stored === undefined || stored.projectionVersion < this.projectionVersion)
      return { outcome: 'written' };
    return {
      outcome: stored.projectionVersion > this.projectionVersion ? 'stale-version' : 'duplicate',
      stored,
    };
  }
}

/** A dry run's quarantine: it counts, and stores nothing. */
export class DryRunQuarantine implements Quarantine {
  readonly entries: Array<Omit<QuarantineEntry, 'data'>> = [];

  async put(entry: QuarantineEntry): Promise<void> {
    const { data: _data, ...rest } = entry;
    this.entries.push(rest);
  }
}

/** Reads an item's projection version and stream position from the event table (the event store's read). */
export const dynamoDbVersionLookup =
  (client: Pick<DynamoDBClient, 'send'>, tableName: string): StoredVersionLookup =>
  (identity) =>
    readStoredVersion(client, tableName, identity);
