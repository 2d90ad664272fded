import {
  type _Record,
  type ChildShard,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import { type Clock, RateLimiter, systemClock } from './rate-limiter.ts';

/**
 * Reads one shard with GetShardIterator and GetRecords, the way the recovery functions need it: from a sequence
 * number, a time or the trim horizon, to a sequence number, a time, the end of a closed shard or the tip. The
 * Kinesis Client Library does this for long-running consumers; nothing in the SDK or Powertools does it for a
 * bounded read inside a Lambda invocation, hence this module.
 */

/** Where reading starts (GetShardIterator's iterator types, less LATEST, which recovery never wants). */
export type ShardPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

/** Sequence numbers are decimal strings of up to 128 bits: compared as BigInt, never as strings or doubles. */
export const compareSequence = (a: string, b: string): number => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * How an AT_TIMESTAMP position is reached:
 * - `iterator`: GetShardIterator with AT_TIMESTAMP (Kinesis).
 * - `scan`: TRIM_HORIZON, skipping records until the first that arrived at or after the time. Same records, more
 *   reads: for emulators whose AT_TIMESTAMP iterator never answers when no record is that recent (kinesalite).
 */
export type TimestampPositioning = 'iterator' | 'scan';

export interface ReadLimits {
  /**
   * Records that arrived before this time are skipped until the first one at or after it, after which every record
   * counts (AT_TIMESTAMP's rule). An AT_TIMESTAMP start read by `scan` gets this from its position.
   */
  startTimestamp?: Date;
  /** Stop after the record with this sequence number; later records are not delivered. */
  endSequenceNumber?: string;
  /** Records that arrived after this time are not delivered. */
  endTimestamp?: Date;
  /** Reading stops at the first record that arrived more than this after `endTimestamp` (arrival is approximate). */
  endTimestampGraceMs?: number;
  /**
   * At the tip (no records, nothing behind): `stop` ends the read (the default), `wait` polls again at the
   * GetRecords rate.
   */
  atTip?: () => 'stop' | 'wait';
  /**
   * Asked before each GetRecords, with the milliseconds the reader would first wait for the bytes of earlier
   * answers (0 when none): true ends the read (`stopped`) without waiting or calling.
   */
  shouldStop?: (waitMs: number) => boolean;
  /** Called after an answer that moved nothing (no record, or the tip): a long reader's chance to renew leases. */
  onIdle?: (millisBehindLatest: number | undefined) => Promise<void>;
  /**
   * Asked before each GetRecords: the most records it asks for, within 1 and the reader's own limit (which is the
   * answer when this is absent). A read that does not yet know how far it must go can start small and widen.
   */
  recordsPerCall?: () => number;
}

export interface ReadBatch {
  /** The records delivered, in sequence-number order. May be empty when everything read was skipped. */
  records: StreamRecord[];
  /** The last sequence number read (delivered or skipped): the position to resume after. */
  position: string;
  millisBehindLatest?: number;
}

/**
 * Why a read ended:
 * - `end-sequence`: the end sequence number was read or passed;
 * - `end-timestamp`: a record arrived after the end time plus its grace;
 * - `shard-end`: the shard is closed and fully read (NextShardIterator null);
 * - `tip`: no more records for now;
 * - `stopped`: `shouldStop` said so (time budget);
 * - `consumer`: the batch callback asked to stop.
 */
export type ReadEnd = 'end-sequence' | 'end-timestamp' | 'shard-end' | 'tip' | 'stopped' | 'consumer';

export interface ReadResult {
  end: ReadEnd;
  /** The first record the shard returned from the starting position, delivered or not. */
  firstSequenceNumber?: string;
  /** The last record read, delivered or not. */
  lastSequenceNumber?: string;
  recordsDelivered: number;
  /** Children of a closed shard, when GetRecords names them at its end. */
  childShards: ChildShard[];
  millisBehindLatest?: number;
  getRecordsCalls: number;
  /** How often an expired iterator was replaced. */
  iteratorRenewals: number;
  /** An AT_TIMESTAMP start got no iterator in time and was read from the trim horizon instead. */
  timestampScanned?: boolean;
}

/** Records asked of one GetRecords call unless a reader is told otherwise. */
export const DEFAULT_READ_LIMIT = 1_000;

/**
 * Kinesis's read throughput per shard, shared by every GetRecords reader: 2 MiB/s (a call that returns 10 MiB
 * makes the calls of the next 5 seconds throttled).
 */
export const SHARD_READ_BYTES_PER_SECOND = 2 * 1024 * 1024;

export interface ShardReadBudgetOptions {
  /**
   * GetRecords calls per second on the shard, and as many GetShardIterator calls on a limit of their own. Kinesis
   * allows 5 of each per shard, shared by every reader, each API counted apart; the default of 2 leaves the live
   * consumer its share.
   */
  callsPerSecond?: number;
  /**
   * Bytes per second taken from the shard (above 0, at most Kinesis's 2 MiB/s per shard, the default): after an
   * answer of B bytes (data plus partition keys), the next GetRecords waits B / rate seconds.
   */
  bytesPerSecond?: number;
  /** The clock of the readers that use the budget. */
  clock?: Clock;
}

/**
 * What reads of one shard may spend: calls and answered bytes per second. Readers given the same budget pace
 * their calls as one reader would, so a read that follows another on the shard waits for the earlier one's
 * calls and bytes. Other readers of the shard (the live consumer, a reader with a budget of its own) are not
 * counted.
 */
export class ShardReadBudget {
  /** GetRecords calls. */
  readonly calls: RateLimiter;
  /** GetShardIterator calls: Kinesis limits them per shard apart from GetRecords. */
  readonly iterators: RateLimiter;
  /** Bytes of GetRecords answers. */
  readonly bytes: RateLimiter;

  constructor(options: ShardReadBudgetOptions = {}) {
    const callsPerSecond = options.callsPerSecond ?? 2;
    if (!(callsPerSecond > 0 && callsPerSecond <= 5)) {
      throw new RangeError(`callsPerSecond must be above 0 and at most 5 (Kinesis's limit per shard)`);
    }
    const bytesPerSecond = options.bytesPerSecond ?? SHARD_READ_BYTES_PER_SECOND;
    if (!(bytesPerSecond > 0 && bytesPerSecond <= SHARD_READ_BYTES_PER_SECOND)) {
      throw new RangeError(
        `bytesPerSecond must be above 0 and at most ${SHARD_READ_BYTES_PER_SECOND} (Kinesis's 2 MiB/s read limit per shard), got ${bytesPerSecond}`,
      );
    }
    const clock = options.clock ?? systemClock;
    this.calls = new RateLimiter({ ratePerSecond: callsPerSecond, clock });
    this.iterators = new RateLimiter({ ratePerSecond: callsPerSecond, clock });
    this.bytes = new RateLimiter({ ratePerSecond: bytesPerSecond, clock });
  }
}

/** The call and byte budget of each shard a run reads, by shard id. */
export type ReadBudgets = (shardId: string) => ShardReadBudget;

/**
 * One budget per shard for a whole run (one invocation), made from `options` when the shard is first read: a run
 * that reads a shard again after an earlier reader (the next message's range, a shard taken back) must wait for
 * that reader's calls and bytes, or it takes more than its share of the shard's 5 calls and 2 MiB a second.
 */
export const readBudgets = (options: ShardReadBudgetOptions = {}): ReadBudgets => {
  const budgets = new Map<string, ShardReadBudget>();
  return (shardId) => {
    let budget = budgets.get(shardId);
    if (!budget) {
      budget = new ShardReadBudget(options);
      budgets.set(shardId, budget);
    }
    return budget;
  };
};

export interface ShardReaderOptions extends Omit<ShardReadBudgetOptions, 'clock'> {
  client: Pick<KinesisClient, 'send'>;
  streamName: string;
  shardId: string;
  /** Most records asked of one GetRecords call (1-10000). */
  limit?: number;
  /**
   * The shard's call and byte budget, shared with the other readers given it. Without one, the reader makes its
   * own from `callsPerSecond` and `bytesPerSecond`, which cannot be given together with a budget.
   */
  budget?: ShardReadBudget;
  /** Paces the records delivered (a records/s limit), shared by several readers when they share it. */
  recordLimiter?: RateLimiter;
  timestampPositioning?: TimestampPositioning;
  clock?: Clock;
  /** Attempts at a throttled call before giving up (the SDK retries each attempt a few times too). */
  throttleAttempts?: number;
  /** How long an AT_TIMESTAMP GetShardIterator may take before the shard is scanned instead (`iterator` mode). */
  timestampIteratorTimeoutMs?: number;
}

/** The error GetShardIterator or GetRecords answered with, by name. */
export const errorName = (error: unknown): string => (error as { name?: string } | undefined)?.name ?? '';

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
]);

/** Failures of the call itself, not of its request: a later attempt may well go through. */
const TRANSIENT_NAMES = new Set(['InternalFailure', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout']);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** Worth another (paced) attempt: throttled, or the call failed on its way. Never a call that was aborted. */
const isWorthRetrying = (error: unknown): boolean => {
  const name = errorName(error);
  if (THROTTLED.has(name) || TRANSIENT_NAMES.has(name)) return true;
  const { code, $metadata } = error as { code?: string; $metadata?: { httpStatusCode?: number } };
  return (code !== undefined && TRANSIENT_CODES.has(code)) || ($metadata?.httpStatusCode ?? 0) >= 500;
};

/**
 * `send`, retried with exponential backoff (200 ms, doubling, at most 5 s) while it fails in a way worth retrying,
 * `attempts` attempts in all; any other error is thrown at once. `pace`, when given, is awaited before each attempt.
 */
export const retryWorthRetrying = async <T>(
  clock: Clock,
  attempts: number,
  send: () => Promise<T>,
  pace?: () => Promise<unknown>,
): Promise<T> => {
  for (let attempt = 1; ; attempt += 1) {
    await pace?.();
    try {
      return await send();
    } catch (error) {
      if (!isWorthRetrying(error) || attempt >= attempts) throw error;
      await clock.sleep(Math.min(5_000, 200 * 2 ** (attempt - 1)));
    }
  }
};

/** What an answer costs of the shard's read throughput: its records' data and partition keys, in bytes. */
const answeredBytes = (records: readonly _Record[] | undefined): number => {
  let bytes = 0;
  for (const record of records ?? []) {
    bytes += (record.Data?.byteLength ?? 0) + Buffer.byteLength(record.PartitionKey ?? '', 'utf8');
  }
  return bytes;
};

const toStreamRecord = (shardId: string, record: _Record): StreamRecord => ({
  shardId,
  sequenceNumber: record.SequenceNumber!,
  partitionKey: record.PartitionKey!,
  data: record.Data ?? new Uint8Array(),
  approximateArrivalTimestamp: record.ApproximateArrivalTimestamp ?? new Date(0),
});

export class ShardReader {
  readonly shardId: string;
  readonly #client: Pick<KinesisClient, 'send'>;
  readonly #streamName: string;
  readonly #limit: number;
  /**
   * The budget's limiters: GetRecords calls, GetShardIterator calls (each API has its own limit per shard), and
   * GetRecords by the bytes of its answers on top of its call rate.
   */
  readonly #callLimiter: RateLimiter;
  readonly #iteratorLimiter: RateLimiter;
  readonly #byteLimiter: RateLimiter;
  readonly #recordLimiter: RateLimiter | undefined;
  readonly #positioning: TimestampPositioning;
  readonly #clock: Clock;
  readonly #throttleAttempts: number;
  readonly #timestampIteratorTimeoutMs: number;

  constructor(options: ShardReaderOptions) {
    const { budget, callsPerSecond, bytesPerSecond } = options;
    if (budget && (callsPerSecond !== undefined || bytesPerSecond !== undefined)) {
      // The budget's rates are the ones that hold: rates given beside it would be silently ignored.
      throw new TypeError('callsPerSecond and bytesPerSecond cannot be given together with a budget');
    }
    this.shardId = options.shardId;
    this.#client = options.client;
    this.#streamName = options.streamName;
    this.#limit = Math.min(10_000, Math.max(1, options.limit ?? DEFAULT_READ_LIMIT));
    this.#clock = options.clock ?? systemClock;
    const { calls, iterators, bytes } =
      budget ?? new ShardReadBudget({ callsPerSecond, bytesPerSecond, clock: this.#clock });
    this.#callLimiter = calls;
    this.#iteratorLimiter = iterators;
    this.#byteLimiter = bytes;
    this.#recordLimiter = options.recordLimiter;
    this.#positioning = options.timestampPositioning ?? 'iterator';
    this.#throttleAttempts = options.throttleAttempts ?? 8;
    this.#timestampIteratorTimeoutMs = options.timestampIteratorTimeoutMs ?? 5_000;
  }

  /**
   * Reads from `from` until a limit is reached, calling `onBatch` with each GetRecords answer (after filtering)
   * before asking for the next. The records limiter, when there is one, is paid before each batch is delivered.
   */
  async read(
    from: ShardPosition,
    limits: ReadLimits,
    onBatch: (batch: ReadBatch) => Promise<'stop' | undefined> | 'stop' | undefined,
  ): Promise<ReadResult> {
    const result: ReadResult = {
      end: 'stopped',
      recordsDelivered: 0,
      childShards: [],
      getRecordsCalls: 0,
      iteratorRenewals: 0,
    };
    const end = limits.endSequenceNumber === undefined ? undefined : BigInt(limits.endSequenceNumber);
    const endTime = limits.endTimestamp?.getTime();
    const stopTime = endTime === undefined ? undefined : endTime + (limits.endTimestampGraceMs ?? 0);
    // With `scan`, an AT_TIMESTAMP start skips records until the first one at or after the time.
    let skipBefore =
      limits.startTimestamp?.getTime() ??
      (from.type === 'AT_TIMESTAMP' && this.#positioning === 'scan' ? from.timestamp.getTime() : undefined);

    let iterator: string | undefined;
    if (from.type === 'AT_TIMESTAMP' && this.#positioning === 'iterator') {
      const answered = await this.#timestampIterator(from.timestamp);
      result.timestampScanned = answered === undefined;
      if (answered) iterator = answered.iterator;
      else {
        skipBefore ??= from.timestamp.getTime();
        iterator = await this.#iterator({ type: 'TRIM_HORIZON' });
      }
    } else {
      iterator = await this.#iterator(from);
    }
    while (iterator) {
      // Asked with the byte wait ahead: after a large answer it can be seconds, and no wait is started that would
      // end past the caller's budget, nor any call once the budget has run out.
      if (limits.shouldStop?.(this.#byteLimiter.pendingMs())) return { ...result, end: 'stopped' };
      const limit = Math.min(this.#limit, Math.max(1, Math.floor(limits.recordsPerCall?.() ?? this.#limit)));
      const response = await this.#getRecords(iterator, limit).catch(async (error: unknown) => {
        if (errorName(error) !== 'ExpiredIteratorException') throw error;
        result.iteratorRenewals += 1;
        // An iterator lives 5 minutes: a new one continues right after the last record read.
        const again: ShardPosition =
          result.lastSequenceNumber !== undefined
            ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: result.lastSequenceNumber }
            : result.timestampScanned
              ? { type: 'TRIM_HORIZON' }
              : from;
        return { renewed: await this.#iterator(again) };
      });
      if ('renewed' in response) {
        iterator = response.renewed;
        continue;
      }
      result.getRecordsCalls += 1;
      result.millisBehindLatest = response.MillisBehindLatest;
      iterator = response.NextShardIterator;
      if (response.ChildShards?.length) result.childShards = response.ChildShards;

      const delivered: StreamRecord[] = [];
      let consumed = 0;
      let reached: ReadEnd | undefined;
      for (const record of response.Records ?? []) {
        const sequenceNumber = record.SequenceNumber!;
        if (end !== undefined && BigInt(sequenceNumber) > end) {
          reached = 'end-sequence';
          break;
        }
        const arrival = record.ApproximateArrivalTimestamp?.getTime() ?? 0;
        // Past the window and its grace: this record is not read, and not part of the position.
        if (stopTime !== undefined && arrival > stopTime) {
          reached = 'end-timestamp';
          break;
        }
        consumed += 1;
        result.firstSequenceNumber ??= sequenceNumber;
        result.lastSequenceNumber = sequenceNumber;
        if (skipBefore !== undefined) {
          if (arrival < skipBefore) continue;
          skipBefore = undefined;
        }
        if (endTime === undefined || arrival <= endTime) delivered.push(toStreamRecord(this.shardId, record));
        if (end !== undefined && BigInt(sequenceNumber) === end) {
          reached = 'end-sequence';
          break;
        }
      }

      const hadRecords = (response.Records?.length ?? 0) > 0;
      if (consumed > 0) {
        if (delivered.length > 0) await this.#recordLimiter?.take(delivered.length);
        result.recordsDelivered += delivered.length;
        const verdict = await onBatch({
          records: delivered,
          position: result.lastSequenceNumber!,
          ...(response.MillisBehindLatest === undefined
            ? {}
            : { millisBehindLatest: response.MillisBehindLatest }),
        });
        // The consumer's stop comes first: a batch it could not finish must not read as the range's end, even when
        // the same answer also held the first record past it.
        if (verdict === 'stop') return { ...result, end: 'consumer' };
        if (reached) return { ...result, end: reached };
      }
      if (reached) return { ...result, end: reached };
      if (consumed === 0) await limits.onIdle?.(response.MillisBehindLatest);
      if (!iterator) return { ...result, end: 'shard-end' };
      if (!hadRecords && (response.MillisBehindLatest ?? 0) === 0) {
        if ((limits.atTip?.() ?? 'stop') === 'stop') return { ...result, end: 'tip' };
      }
    }
    // GetShardIterator gave no iterator: the shard has nothing at or after the position and is closed.
    return { ...result, end: 'shard-end' };
  }

  /** The first record of the shard's trim horizon, if it has any: what is left of its oldest data. */
  async firstRetained(): Promise<string | undefined> {
    let first: string | undefined;
    await this.read({ type: 'TRIM_HORIZON' }, {}, (batch) => {
      first = batch.records[0]?.sequenceNumber ?? batch.position;
      return 'stop';
    });
    return first;
  }

  async #iterator(position: ShardPosition): Promise<string | undefined> {
    const input: GetShardIteratorCommandInput = {
      StreamName: this.#streamName,
      ShardId: this.shardId,
      ShardIteratorType: position.type,
    };
    if (position.type === 'AT_SEQUENCE_NUMBER' || position.type === 'AFTER_SEQUENCE_NUMBER') {
      input.StartingSequenceNumber = position.sequenceNumber;
    } else if (position.type === 'AT_TIMESTAMP') {
      if (this.#positioning === 'scan') input.ShardIteratorType = 'TRIM_HORIZON';
      else input.Timestamp = position.timestamp;
    }
    const { ShardIterator } = await this.#call(this.#iteratorLimiter, () =>
      this.#client.send(new GetShardIteratorCommand(input)),
    );
    return ShardIterator;
  }

  /**
   * An AT_TIMESTAMP iterator, or undefined when none came within `timestampIteratorTimeoutMs`: Kinesis answers at
   * once, but an emulator may never answer when no record is that recent (kinesalite), and the caller then scans.
   */
  async #timestampIterator(timestamp: Date): Promise<{ iterator: string | undefined } | undefined> {
    // Each attempt has the timeout to itself: a throttled attempt is retried after its backoff, and only an
    // attempt that gets no answer at all means the emulator case.
    let unanswered = false;
    try {
      const { ShardIterator } = await this.#call(this.#iteratorLimiter, async () => {
        const signal = AbortSignal.timeout(this.#timestampIteratorTimeoutMs);
        try {
          return await this.#client.send(
            new GetShardIteratorCommand({
              StreamName: this.#streamName,
              ShardId: this.shardId,
              ShardIteratorType: 'AT_TIMESTAMP',
              Timestamp: timestamp,
            }),
            { abortSignal: signal },
          );
        } catch (error) {
          unanswered = signal.aborted;
          throw error;
        }
      });
      return { iterator: ShardIterator };
    } catch (error) {
      if (unanswered) return undefined;
      throw error;
    }
  }

  /**
   * One GetRecords call, once the bytes of the earlier answers have had their time. The answer's bytes are booked
   * from when its call was sent, as calls are, so the time an answer takes to arrive adds no wait of its own. The
   * byte wait comes before the call limiter's turn, so calls stay spaced too.
   */
  async #getRecords(iterator: string, limit: number): Promise<GetRecordsCommandOutput> {
    await this.#byteLimiter.take(0);
    let sentAt = this.#clock.now();
    const response = await this.#call(this.#callLimiter, () => {
      sentAt = this.#clock.now();
      return this.#client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
    });
    await this.#byteLimiter.charge(answeredBytes(response.Records), sentAt);
    return response;
  }

  /**
   * One paced call, retried with exponential backoff while Kinesis throttles it or the call fails on its way.
   * Every attempt is paced: the client should make one attempt per call (`kinesisReader`), or its own retries
   * would go out unpaced and take the other readers' share of the shard's 5 calls a second (of each API).
   */
  #call<T>(limiter: RateLimiter, send: () => Promise<T>): Promise<T> {
    return retryWorthRetrying(this.#clock, this.#throttleAttempts, send, () => limiter.take());
  }
}
