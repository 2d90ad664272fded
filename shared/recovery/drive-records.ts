import type { Context } from 'aws-lambda';
import {
  DeadlineApproachingError,
  KeyBlockedError,
  KeyOrderedBatchProcessor,
} from '#shared/consumer/key-ordered-processor.ts';
import {
  type ConsumerCounts,
  type ConsumerDependencies,
  processRecords,
} from '#shared/consumer/process-records.ts';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import { type Clock, systemClock } from '#shared/kinesis/rate-limiter.ts';
import type { Quarantine } from '#shared/quarantine/quarantine.ts';
import type { EventStore } from '#shared/sink/event-store.ts';

/** Where processed records go: the consumer's sink and quarantine, or a dry run's stand-ins. */
export interface Sink {
  store: EventStore;
  quarantine: Quarantine;
}

/** A Lambda context reduced to what processing reads of it: the time left. */
export const budgetContext = (remainingMs: () => number): Context =>
  ({ getRemainingTimeInMillis: remainingMs }) as unknown as Context;

/**
 * An invocation that starts with no more than STOP_RESERVE_MS left can read nothing: every read would stop before
 * it began, and the work would be handed on (the reprocessor's continuations, the DLQ replay's messages going back
 * to the queue, each receive counted toward parking) without end. That is a function Timeout too short for its
 * stop reserve; it fails at once, saying so.
 */
export const assertTimeToWork = (remainingMs: number, stopReserveMs: number): void => {
  if (remainingMs > stopReserveMs) return;
  throw new Error(
    `the invocation starts with ${remainingMs} ms left, no more than STOP_RESERVE_MS (${stopReserveMs} ms), so ` +
      'it could read nothing: give the function a Timeout well above STOP_RESERVE_MS, or lower STOP_RESERVE_MS',
  );
};

/** What the recovery functions pass to the consumer's processing: its sink, quarantine, logger and metrics. */
export interface DriveDependencies
  extends Pick<ConsumerDependencies, 'store' | 'quarantine' | 'logger' | 'metrics'> {
  keyConcurrency: number;
  /** No record is started with less than this left before `context`'s deadline. */
  timeReserveMs: number;
  context?: Context;
  /** Runs of the failed records before they are left failed (1 = no retry). */
  attempts?: number;
  retryDelayMs?: number;
  clock?: Clock;
}

export interface DriveResult {
  /** Summed over the attempts; `failed` counts the stream records still failed after the last one. */
  counts: ConsumerCounts;
  /** The stream records still failed, lowest sequence number first. */
  failedSequenceNumbers: string[];
  /** True when records were left because the time budget ran out, not because they failed. */
  deadline: boolean;
  /** Why the first record still failed in the last attempt (`Name: message`), when one did. */
  error?: string;
}

export const emptyCounts = (): ConsumerCounts => ({
  written: 0,
  duplicates: 0,
  staleVersions: 0,
  quarantined: 0,
  failed: 0,
});

/**
 * Drives stream records through the consumer's own `processRecords` (per-key order, quarantine, idempotent sink),
 * then runs the failed records again a few times: a failed record and the later records of its key are exactly
 * the batch item failures, so running only those keeps each key in order. The user records of a KPL aggregate
 * that an attempt settled before one of them failed are skipped by the next, so that none is counted twice.
 */
export const driveRecords = async (
  records: StreamRecord[],
  deps: DriveDependencies,
): Promise<DriveResult> => {
  const counts = emptyCounts();
  const attempts = Math.max(1, deps.attempts ?? 3);
  const clock = deps.clock ?? systemClock;
  let pending = records;
  // The user records settled by an attempt, so that a retried KPL aggregate does not count them again.
  const settled = new Set<string>();
  let deadline = false;
  let cause: string | undefined;
  for (let attempt = 1; pending.length > 0 && attempt <= attempts; attempt += 1) {
    let outOfTime = false;
    cause = undefined;
    const processor = new KeyOrderedBatchProcessor({
      keyConcurrency: deps.keyConcurrency,
      timeReserveMs: deps.timeReserveMs,
      onFailure: (_entry, error) => {
        if (error instanceof DeadlineApproachingError) outOfTime = true;
        // A later record of a failed key fails for its key, not for a cause of its own.
        else if (!(error instanceof KeyBlockedError)) cause ??= `${error.name}: ${error.message}`;
      },
    });
    const report = await processRecords(pending, {
      store: deps.store,
      quarantine: deps.quarantine,
      processor,
      logger: deps.logger,
      metrics: deps.metrics,
      ...(deps.context ? { context: deps.context } : {}),
      throwOnFullBatchFailure: false,
      settled,
    });
    counts.written += report.counts.written;
    counts.duplicates += report.counts.duplicates;
    counts.staleVersions += report.counts.staleVersions;
    counts.quarantined += report.counts.quarantined;
    const failed = new Set(report.batchItemFailures.map((failure) => failure.itemIdentifier));
    pending = pending.filter((record) => failed.has(record.sequenceNumber));
    if (outOfTime) {
      deadline = true;
      break;
    }
    if (pending.length > 0 && attempt < attempts) {
      await clock.sleep((deps.retryDelayMs ?? 200) * 2 ** (attempt - 1));
    }
  }
  counts.failed = pending.length;
  return {
    counts,
    failedSequenceNumbers: pending.map((record) => record.sequenceNumber),
    deadline,
    ...(pending.length > 0 && cause ? { error: cause } : {}),
  };
};
