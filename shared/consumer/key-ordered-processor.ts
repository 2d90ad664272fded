import { BatchProcessingError, BatchProcessor, EventType } from '@aws-lambda-powertools/batch';
import type {
  EventSourceDataClassTypes,
  FailureResponse,
  SuccessResponse,
} from '@aws-lambda-powertools/batch/types';
import type { KinesisStreamRecord } from 'aws-lambda';
import { isKplAggregate } from '#shared/events/kpl-aggregate.ts';
import { type DeaggregatedRecord, deaggregate, type StreamRecord } from '#shared/events/stream-record.ts';

/**
 * One record of the batch as the processor holds it: `kinesis.sequenceNumber` is what Powertools' Kinesis
 * failure collector reports as the `itemIdentifier`; `record` is the record itself.
 */
export interface BatchEntry {
  kinesis: { sequenceNumber: string; partitionKey: string };
  record: StreamRecord;
  /**
   * The partition keys of a KPL aggregate's user records, when they differ from the outer one. The KPL packs the
   * records bound for one shard together under the first one's key, so one user key can be in aggregates of
   * different outer keys: records that share any key are processed in one sequence.
   */
  userKeys?: string[];
  /** A KPL aggregate's user records, read once here for their keys and decoded from these when processed. */
  users?: DeaggregatedRecord[];
}

export const toBatchEntry = (record: StreamRecord): BatchEntry => {
  const entry: BatchEntry = {
    kinesis: { sequenceNumber: record.sequenceNumber, partitionKey: record.partitionKey },
    record,
  };
  if (!isKplAggregate(record.data)) return entry;
  // A corrupt aggregate comes back as one error, and is quarantined whole under its outer key.
  entry.users = deaggregate(record);
  const keys = new Set<string>();
  for (const user of entry.users) {
    if (!('error' in user) && user.partitionKey !== record.partitionKey) keys.add(user.partitionKey);
  }
  if (keys.size > 0) entry.userKeys = [...keys];
  return entry;
};

/** Reported for the records of a key after its first failure: they were not attempted, to keep the key in order. */
export class KeyBlockedError extends BatchProcessingError {
  constructor(failedSequenceNumber: string) {
    super(
      `not attempted: record ${failedSequenceNumber} of the same partition key failed before it, ` +
        'and the records of one key are processed in order',
    );
    this.name = 'KeyBlockedError';
  }
}

/** Reported for records (or an aggregate's user records) not started because the invocation was about to time out. */
export class DeadlineApproachingError extends BatchProcessingError {
  constructor(remainingMs: number, what = 'not attempted') {
    super(`${what}: only ${remainingMs} ms were left before the function's timeout`);
    this.name = 'DeadlineApproachingError';
  }
}

/** Decimal sequence numbers (up to 56 digits, no leading zeros) in numeric order, without BigInt. */
export const compareSequenceNumbers = (a: string, b: string): number =>
  a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

export interface KeyOrderedBatchProcessorOptions {
  /** How many partition keys are processed at the same time. */
  keyConcurrency: number;
  /** No record is started with less than this many milliseconds left (when the batch has a Lambda context). */
  timeReserveMs?: number;
  /** Told about every failed record, with the error that failed it. */
  onFailure?: (entry: BatchEntry, error: Error) => void;
}

type Result = SuccessResponse | FailureResponse;

/** Records processed in one sequence; a group merged into another points at it. */
interface Group {
  entries: BatchEntry[];
  parent?: Group;
}

const newGroup = (roots: Group[]): Group => {
  const group: Group = { entries: [] };
  roots.push(group);
  return group;
};

/** The group `group` was merged into; every group on the way is pointed at it, so no chain of merges is walked twice. */
const rootOf = (group: Group): Group => {
  let root = group;
  while (root.parent !== undefined) root = root.parent;
  for (let at = group; at.parent !== undefined && at.parent !== root; ) {
    const next: Group = at.parent;
    at.parent = root;
    at = next;
  }
  return root;
};

/**
 * Powertools' BatchProcessor for Kinesis with the ordering it lacks: Powertools runs records either all in
 * parallel or all one at a time, and has per-group stop-on-failure only for SQS FIFO. Written by hand here, and
 * only this: records are grouped by partition key; keys run concurrently up to `keyConcurrency`; one key runs
 * strictly in sequence-number order and stops at its first failure, which fails that record and every later
 * record of the key. Powertools still runs each record (`processRecord`), collects the failures, builds
 * `{ batchItemFailures: [{ itemIdentifier }] }` and throws `FullBatchFailureError` when every record failed.
 *
 * Holds the state of one batch at a time, like every Powertools processor: give each concurrent caller its own.
 */
export class KeyOrderedBatchProcessor extends BatchProcessor {
  readonly #keyConcurrency: number;
  readonly #timeReserveMs: number;
  readonly #onFailure: KeyOrderedBatchProcessorOptions['onFailure'];

  constructor(options: KeyOrderedBatchProcessorOptions) {
    super(EventType.KinesisDataStreams);
    if (!Number.isInteger(options.keyConcurrency) || options.keyConcurrency < 1) {
      throw new RangeError(`keyConcurrency must be a positive integer, got ${options.keyConcurrency}`);
    }
    this.#keyConcurrency = options.keyConcurrency;
    this.#timeReserveMs = options.timeReserveMs ?? 0;
    this.#onFailure = options.onFailure;
  }

  /**
   * The time left when it is under the reserve, else undefined: checked before each record, and by the record handler
   * before each further user record of a KPL aggregate, which can hold hundreds of them.
   */
  remainingUnderReserve(): number | undefined {
    const remainingMs = this.options?.context?.getRemainingTimeInMillis();
    return remainingMs !== undefined && remainingMs < this.#timeReserveMs ? remainingMs : undefined;
  }

  override failureHandler(record: EventSourceDataClassTypes, error: Error): FailureResponse {
    this.#onFailure?.(record as unknown as BatchEntry, error);
    return super.failureHandler(record, error);
  }

  override async process(): Promise<Result[]> {
    this.prepare();
    const entries = this.records as unknown as BatchEntry[];
    const results = new Map<BatchEntry, Result>();

    // One group per partition key; an aggregate whose user records have other keys joins their groups into one.
    const groupOf = new Map<string, Group>();
    const roots: Group[] = [];
    const entryGroups: Group[] = [];
    for (const entry of entries) {
      let group: Group | undefined;
      for (const key of [entry.kinesis.partitionKey, ...(entry.userKeys ?? [])]) {
        const found = groupOf.get(key);
        const root = found ? rootOf(found) : undefined;
        if (root === undefined) {
          group ??= newGroup(roots);
          groupOf.set(key, group);
        } else if (group === undefined) {
          group = root;
        } else if (root !== group) {
          root.parent = group;
        }
      }
      entryGroups.push(group!);
    }
    // Each entry joins the group its own was merged into once every merge is known: a merge moves no entries, so
    // aggregates that chain their keys one to the next are not copied from group to group.
    entries.forEach((entry, index) => {
      rootOf(entryGroups[index]!).entries.push(entry);
    });

    const runKey = async (group: BatchEntry[]): Promise<void> => {
      group.sort((a, b) => compareSequenceNumbers(a.kinesis.sequenceNumber, b.kinesis.sequenceNumber));
      let blockedBy: Error | undefined;
      for (const entry of group) {
        if (blockedBy === undefined) {
          const remainingMs = this.remainingUnderReserve();
          if (remainingMs !== undefined) blockedBy = new DeadlineApproachingError(remainingMs);
        }
        if (blockedBy !== undefined) {
          results.set(entry, this.failureHandler(entry as unknown as KinesisStreamRecord, blockedBy));
          continue;
        }
        const result = await this.processRecord(entry as unknown as KinesisStreamRecord);
        results.set(entry, result);
        if (result[0] === 'fail') {
          blockedBy = new KeyBlockedError(entry.kinesis.sequenceNumber);
        }
      }
    };

    // A bounded pool of key workers: each takes the next key when it finishes one.
    const groups = roots.filter((group) => group.parent === undefined).map((group) => group.entries);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < groups.length) {
        const group = groups[next]!;
        next += 1;
        await runKey(group);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#keyConcurrency, groups.length) }, worker));

    // Report failures in sequence-number order, whatever order the keys finished in.
    this.failureMessages = [...this.failureMessages].sort((a, b) =>
      compareSequenceNumbers(
        (a as KinesisStreamRecord).kinesis.sequenceNumber,
        (b as KinesisStreamRecord).kinesis.sequenceNumber,
      ),
    );
    this.clean();
    return entries.map((entry) => results.get(entry)!);
  }
}
