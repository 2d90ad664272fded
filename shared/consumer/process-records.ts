import { FullBatchFailureError, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { PartialItemFailures } from '@aws-lambda-powertools/batch/types';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import {
  decodeStreamRecord,
  decodeUserRecords,
  type ParsedRecord,
  type StreamRecord,
} from '#shared/events/stream-record.ts';
import { MetricUnit } from '#shared/powertools/metrics.ts';
import type { Quarantine, QuarantineReason } from '#shared/quarantine/quarantine.ts';
import { type EventStore, type EventToStore, UnstorableEventError } from '#shared/sink/event-store.ts';
import { cloudEventParts } from '#shared/sink/storage-plan.ts';
import {
  type BatchEntry,
  DeadlineApproachingError,
  type KeyOrderedBatchProcessor,
  toBatchEntry,
} from './key-ordered-processor.ts';

/** What the consumer needs of Powertools Metrics. */
export interface MetricsSink {
  addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): unknown;
}

export interface ConsumerDependencies {
  store: EventStore;
  quarantine: Quarantine;
  /** Runs the batch in per-key order; one per concurrent caller. */
  processor: KeyOrderedBatchProcessor;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  metrics: MetricsSink;
  /** The Lambda context, when there is one: records are not started too close to its deadline. */
  context?: Context;
  /** Throw `FullBatchFailureError` when every record failed (the default, so that bisect applies). */
  throwOnFullBatchFailure?: boolean;
  /**
   * User records an earlier run of the same records settled (written, duplicate, stale or quarantined), by
   * `sequenceNumber/subSequenceNumber`: skipped, neither done nor counted again, and each one settled here is added.
   * A retry runs a whole KPL aggregate again when one of its user records failed; without this, the ones before it
   * would count twice (as duplicates, or, in a dry run, as written).
   */
  settled?: Set<string>;
  now?: () => number;
}

/** What happened to the batch's user records (a KPL aggregate holds several). */
export interface ConsumerCounts {
  written: number;
  duplicates: number;
  staleVersions: number;
  quarantined: number;
  /** Stream records reported as batch item failures (or all of them, when the whole batch failed). */
  failed: number;
}

export interface ConsumerReport {
  /** Exactly the partial batch response: the sequence numbers to retry from, lowest first. */
  batchItemFailures: PartialItemFailures[];
  counts: ConsumerCounts;
}

const positionOf = (parsed: ParsedRecord): EventToStore['position'] => ({
  shardId: parsed.record.shardId,
  sequenceNumber: parsed.record.sequenceNumber,
  ...(parsed.record.subSequenceNumber === undefined
    ? {}
    : { subSequenceNumber: parsed.record.subSequenceNumber }),
  partitionKey: parsed.record.partitionKey,
  approximateArrivalTimestamp: parsed.record.approximateArrivalTimestamp.toISOString(),
});

/** The event as the sink stores it. */
export const toEventToStore = (
  parsed: Extract<ParsedRecord, { kind: 'cloudevent' | 'json' }>,
): EventToStore => {
  if (parsed.kind === 'json') {
    return {
      identity: parsed.identity,
      kind: 'json',
      attributes: {},
      data: parsed.value,
      position: positionOf(parsed),
    };
  }
  return {
    identity: parsed.identity,
    kind: 'cloudevent',
    ...cloudEventParts(parsed.event),
    position: positionOf(parsed),
  };
};

/**
 * Processes one batch of stream records: the Lambda handler's, a DLQ replay's or a reprocess's, all through the
 * same code. Records are grouped by partition key and each key runs in sequence-number order, stopping at its
 * first failure (see KeyOrderedBatchProcessor). Permanent failures go to the quarantine and count as processed;
 * any other failure is a batch item failure. Throws `FullBatchFailureError` when every record failed.
 */
export const processRecords = async (
  records: StreamRecord[],
  deps: ConsumerDependencies,
): Promise<ConsumerReport> => {
  const { store, quarantine, logger } = deps;
  const counts: ConsumerCounts = { written: 0, duplicates: 0, staleVersions: 0, quarantined: 0, failed: 0 };
  let conflicts = 0;

  const quarantineRecord = async (parsed: ParsedRecord, reason: QuarantineReason, detail: string) => {
    const { record } = parsed;
    await quarantine.put({
      reason,
      detail,
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      ...(record.subSequenceNumber === undefined ? {} : { subSequenceNumber: record.subSequenceNumber }),
      partitionKey: record.partitionKey,
      approximateArrivalTimestamp: record.approximateArrivalTimestamp,
      data: record.data,
    });
    counts.quarantined += 1;
    logger.warn('record quarantined', {
      reason,
      detail,
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      subSequenceNumber: record.subSequenceNumber,
    });
  };

  const handleUserRecord = async (parsed: ParsedRecord): Promise<void> => {
    if (parsed.kind === 'undecodable' || parsed.kind === 'invalid' || parsed.kind === 'unstorable') {
      await quarantineRecord(parsed, parsed.kind, parsed.reason);
      return;
    }
    let result: Awaited<ReturnType<EventStore['put']>>;
    try {
      result = await store.put(toEventToStore(parsed));
    } catch (error) {
      if (!(error instanceof UnstorableEventError)) throw error;
      await quarantineRecord(parsed, 'unstorable', error.message);
      return;
    }
    if (result.outcome === 'written') counts.written += 1;
    else if (result.outcome === 'duplicate') {
      counts.duplicates += 1;
      if (result.conflict) {
        conflicts += 1;
        // Two events under one identity with other content: a producer's bug, which the first write wins.
        logger.warn('duplicate with other content skipped: the item keeps the first event of this identity', {
          identity: parsed.identity,
          sequenceNumber: parsed.record.sequenceNumber,
          storedSequenceNumber: result.stored?.sequenceNumber,
        });
      }
      logger.debug('duplicate skipped', {
        identity: parsed.identity,
        sequenceNumber: parsed.record.sequenceNumber,
        storedSequenceNumber: result.stored?.sequenceNumber,
      });
    } else {
      counts.staleVersions += 1;
      logger.info('older projection version refused', {
        identity: parsed.identity,
        projectionVersion: store.projectionVersion,
        storedProjectionVersion: result.stored?.projectionVersion,
      });
    }
  };

  // The record handler Powertools runs for each stream record; an error fails that record (and blocks its key).
  const handleRecord = async (entry: BatchEntry): Promise<void> => {
    try {
      const { settled } = deps;
      let started = false;
      for (const parsed of entry.users ? decodeUserRecords(entry.users) : decodeStreamRecord(entry.record)) {
        // Only the recovery functions' retries keep this: the consumer's records make no key.
        const key =
          settled === undefined
            ? undefined
            : `${parsed.record.sequenceNumber}/${parsed.record.subSequenceNumber ?? ''}`;
        if (key !== undefined && settled!.has(key)) continue;
        // The processor checked the time before the record; an aggregate's user records are checked one by one, as
        // hundreds of them can take longer than the time kept back. The aggregate fails, and its retry finds the
        // user records written here duplicate.
        const remainingMs = started ? deps.processor.remainingUnderReserve() : undefined;
        if (remainingMs !== undefined) {
          throw new DeadlineApproachingError(
            remainingMs,
            `user record ${parsed.record.subSequenceNumber} and the later ones of the aggregate not attempted`,
          );
        }
        started = true;
        await handleUserRecord(parsed);
        if (key !== undefined) settled!.add(key);
      }
    } catch (error) {
      logger.warn('record failed; reported as a batch item failure', {
        shardId: entry.record.shardId,
        sequenceNumber: entry.record.sequenceNumber,
        error: error as Error,
      });
      throw error;
    }
  };

  try {
    const response = await processPartialResponse(
      { Records: records.map(toBatchEntry) as unknown as Array<Record<string, unknown>> },
      handleRecord,
      deps.processor,
      {
        ...(deps.context ? { context: deps.context } : {}),
        throwOnFullBatchFailure: deps.throwOnFullBatchFailure ?? true,
      },
    );
    counts.failed = response.batchItemFailures.length;
    // A fresh array: Powertools' empty response is one shared object.
    return {
      batchItemFailures: response.batchItemFailures.map(({ itemIdentifier }) => ({ itemIdentifier })),
      counts,
    };
  } catch (error) {
    if (error instanceof FullBatchFailureError) {
      counts.failed = records.length;
      logger.error('every record of the batch failed; failing the invocation so that the batch is bisected', {
        records: records.length,
      });
    }
    throw error;
  } finally {
    publish(records, counts, conflicts, deps);
  }
};

const publish = (
  records: StreamRecord[],
  counts: ConsumerCounts,
  conflicts: number,
  deps: ConsumerDependencies,
): void => {
  const { metrics } = deps;
  // Among DuplicatesSkipped, those whose item holds other content under the same identity; only when there are.
  if (conflicts > 0) metrics.addMetric('ConflictingDuplicates', MetricUnit.Count, conflicts);
  const processed = counts.written + counts.duplicates + counts.staleVersions + counts.quarantined;
  metrics.addMetric('RecordsProcessed', MetricUnit.Count, processed);
  metrics.addMetric('EventsWritten', MetricUnit.Count, counts.written);
  metrics.addMetric('DuplicatesSkipped', MetricUnit.Count, counts.duplicates);
  metrics.addMetric('StaleVersionsRefused', MetricUnit.Count, counts.staleVersions);
  metrics.addMetric('RecordsQuarantined', MetricUnit.Count, counts.quarantined);
  metrics.addMetric('RecordsFailed', MetricUnit.Count, counts.failed);
  let lagMs: number | undefined;
  if (records.length > 0) {
    const oldest = records.reduce(
      (min, record) => Math.min(min, record.approximateArrivalTimestamp.getTime()),
      Number.POSITIVE_INFINITY,
    );
    lagMs = Math.max(0, (deps.now ?? Date.now)() - oldest);
    metrics.addMetric('BatchLag', MetricUnit.Milliseconds, lagMs);
  }
  // A batch comes from one shard: shardId and lagMs tell which shard is behind (docs/operations.md).
  deps.logger.info('batch processed', {
    records: records.length,
    shardId: records[0]?.shardId,
    lagMs,
    ...counts,
  });
};
