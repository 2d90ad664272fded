import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { MetricsSink } from '#shared/consumer/process-records.ts';
import type { Quarantine, QuarantineEntry } from '#shared/quarantine/quarantine.ts';
import { readStoredVersion } from '#shared/sink/dynamodb-event-store.ts';
import type { EventStore, EventToStore, PutResult } from '#shared/sink/event-store.ts';
import { DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, planStorage } from '#shared/sink/storage-plan.ts';

/**
 * The sink of a dry run: it answers what a real put would do, and writes nothing. The item is made and measured as
 * the store makes it (planStorage), so an event DynamoDB could never store is refused as unstorable, as the
 * consumer would quarantine it; one whose data would move to the claim check counts as written. The answer then
 * follows the sink's rule (write when the item is missing or holds an older projection version) from one read of
 * the item. Only a refusal DynamoDB itself makes of an item the estimate passed is not foreseen.
 */

/** The projection version an item holds, or undefined when there is no item. */
export type StoredVersionLookup = (
  identity: string,
) => Promise<{ projectionVersion: number; sequenceNumber?: string } | undefined>;

export class DryRunEventStore implements EventStore {
  readonly projectionVersion: number;
  readonly #lookup: StoredVersionLookup;
  readonly #threshold: number;

  constructor(
    projectionVersion: number,
    lookup: StoredVersionLookup,
    claimCheckThresholdBytes = DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
  ) {
    this.projectionVersion = projectionVersion;
    this.#lookup = lookup;
    this.#threshold = claimCheckThresholdBytes;
  }

  async put(event: EventToStore): Promise<PutResult> {
    // Throws UnstorableEventError as the store would; every function's sink has a claim check.
    planStorage(event, this.projectionVersion, this.#threshold, true);
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

/**
 * A dry run's metrics: none. Its "written" and "quarantined" are what a run would do, and the processing metrics
 * (`RecordsQuarantined`, `EventsWritten`, …) feed the dashboard and RecordsQuarantinedAlarm, which would then show
 * and page for records nothing stored or set aside. The dry run's report and lines say what it would do.
 */
export const dryRunMetrics: MetricsSink = { addMetric: () => undefined };

/** Reads an item's projection version and stream position from the event table (the event store's read). */
export const dynamoDbVersionLookup =
  (client: Pick<DynamoDBClient, 'send'>, tableName: string): StoredVersionLookup =>
  (identity) =>
    readStoredVersion(client, tableName, identity);
