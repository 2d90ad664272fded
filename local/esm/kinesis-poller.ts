import { createHash } from 'node:crypto';
import {
  type _Record,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import { compareSequence } from '#shared/kinesis/shard-reader.ts';
import { classifyBatchResponse } from './batch-response.ts';
import type { CheckpointStore, ShardCheckpoint } from './checkpoint-store.ts';
import { EventSourceMappingConfigError, kinesisMappingConfig } from './config.ts';
import {
  eventBytes,
  INVOCATION_PAYLOAD_LIMIT_BYTES,
  type KinesisEventContext,
  kinesisEvent,
  kinesisEventRecord,
  serialisedBytes,
  streamIdentity,
} from './kinesis-events.ts';
import { kinesisOnFailureRecord } from './on-failure.ts';
import {
  asError,
  backoffMs,
  CallTimeoutError,
  DEFAULT_CALL_TIMEOUT_MS,
  sleep,
  Wakeup,
  withCallTimeout,
} from './signal.ts';
import type {
  FailureCondition,
  InvokeResult,
  KinesisEventProperties,
  KinesisInvoke,
  KinesisMappingConfig,
  KinesisPollerEvent,
  KinesisPollerStats,
  OnFailureSink,
  ShardState,
  ShardStats,
} from './types.ts';

export interface KinesisPollerOptions {
  /** A client pointed at the stream's endpoint (the emulator). */
  client: KinesisClient;
  /** The stream's name or ARN (SAM's `Stream`). */
  stream: string;
  /** The event's properties as SAM names them; validated when the poller is created. */
  properties: KinesisEventProperties;
  /** Stands for the Lambda function. */
  invoke: KinesisInvoke;
  /** Where discarded batches are reported; required when DestinationConfig.OnFailure is set. */
  onFailure?: OnFailureSink;
  checkpoints: CheckpointStore;
  /** This mapping's key in the checkpoint store; stable across restarts (e.g. `<FunctionId>/<EventName>`). */
  mappingId: string;
  functionName: string;
  /** Defaults to `arn:aws:lambda:<region>:<account>:function:<functionName>`. */
  functionArn?: string;
  region: string;
  accountId: string;
  /** The function's role, reported in every record; defaults to `arn:aws:iam::<account>:role/<functionName>Role`. */
  invokeIdentityArn?: string;
  /** How long an idle shard waits before polling again; AWS polls once per second. */
  pollIntervalMs?: number;
  /** Backoff between retries of a failed batch and after service errors: base, doubling, capped. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /**
   * How long one call to Kinesis (ListShards, GetShardIterator, GetRecords) may go unanswered before it is
   * abandoned and retried like any other failed call; default 10 s.
   */
  callTimeoutMs?: number;
  /**
   * Records read ahead per shard before reading pauses; defaults to max(2 × BatchSize × ParallelizationFactor, 1000).
   * Records held back behind a failing batch (its lane's) do not count, so a failing key does not stop the other lanes;
   * with every lane held (ParallelizationFactor 1: its one lane), nothing is read until one is released.
   */
  maxBufferedRecords?: number;
  /**
   * The most records a shard keeps read and not yet behind its checkpoint, held back ones included, before reading
   * pauses; bounds memory while a key keeps failing. Defaults to 10 × maxBufferedRecords.
   */
  maxPendingRecords?: number;
  /** The current time in epoch ms, for record age and record timestamps. */
  clock?: () => number;
  onEvent?: (event: KinesisPollerEvent) => void;
}

/** Where a shard starts reading. `notBeforeMs` skips records that arrived earlier (AT_TIMESTAMP semantics). */
type Position =
  | { kind: 'after'; sequenceNumber: string }
  | { kind: 'trim-horizon'; notBeforeMs?: number }
  | { kind: 'latest' };

interface TrackedRecord {
  sequenceNumber: string;
  arrivalMs: number;
  partitionKey: string;
  event: KinesisStreamRecord;
  bytes: number;
  /** When it entered its lane's buffer (real time), for the batching window. */
  bufferedAt: number;
  done: boolean;
}

/** A run of batches that must stay in order: one per hash(partitionKey) bucket. */
interface Lane {
  queue: TrackedRecord[];
  bytes: number;
  wakeup: Wakeup;
  /** Records of the batch being processed. */
  inFlight: number;
  /** Its batch failed and is being retried: the lane's records wait, and do not count against the read-ahead. */
  held: boolean;
}

interface PollerContext {
  client: KinesisClient;
  streamName: string;
  streamArn: string;
  config: KinesisMappingConfig;
  invoke: KinesisInvoke;
  onFailure: OnFailureSink | undefined;
  store: CheckpointStore;
  mappingId: string;
  functionArn: string;
  eventContext: KinesisEventContext;
  pollIntervalMs: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  callTimeoutMs: number;
  maxBufferedRecords: number;
  maxPendingRecords: number;
  clock: () => number;
  emit: (event: KinesisPollerEvent) => void;
  abort: AbortSignal;
  stopping: () => boolean;
  closed: () => boolean;
  /**
   * After a call failed with ResourceNotFoundException, or with no error while reading waits for a failing batch: true
   * when the stream itself is gone (deleted, or being deleted), in which case the mapping has stopped polling it.
   */
  streamGone: (error?: unknown) => Promise<boolean>;
}

const notFound = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ResourceNotFoundException';

const isInvalidArgument = (error: unknown): boolean =>
  error instanceof Error && error.name === 'InvalidArgumentException';

/**
 * Reads one shard and feeds its records to the function, one lane per ParallelizationFactor bucket. The shard's
 * checkpoint only moves past a record once it and every earlier record are done (processed or discarded).
 */
class ShardWorker {
  readonly shardId: string;
  private readonly ctx: PollerContext;
  private readonly position: Position;
  private readonly lanes: Lane[];
  /** Records read and not yet behind the checkpoint, in sequence order, from `head` on. */
  private pending: TrackedRecord[] = [];
  private head = 0;
  private checkpoint: string | undefined;
  /** The checkpoint as last written to the store. */
  private saved: string | undefined;
  private lastRead: string | undefined;
  /** A record at or after the position's `notBeforeMs` was read: every record after it is read too. */
  private startReached = false;
  private ended = false;
  private readonly space = new Wakeup();
  private state: ShardState = 'reading';
  private counters = {
    recordsIn: 0,
    recordsOut: 0,
    recordsFailed: 0,
    invocations: 0,
    failedInvocations: 0,
    millisBehindLatest: 0,
  };
  private lastError: { message: string; at: string } | undefined;
  private readonly readyPromise: Promise<void>;
  private resolveReady: () => void = () => undefined;

  constructor(ctx: PollerContext, shardId: string, position: Position, checkpoint: string | undefined) {
    this.ctx = ctx;
    this.shardId = shardId;
    this.position = position;
    this.checkpoint = checkpoint;
    this.saved = checkpoint;
    this.lanes = Array.from({ length: ctx.config.ParallelizationFactor }, () => ({
      queue: [],
      bytes: 0,
      wakeup: new Wakeup(),
      inFlight: 0,
      held: false,
    }));
    this.readyPromise = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  /**
   * Resolves once the shard has its first iterator, so that a LATEST mapping sees every later record, or once a
   * first attempt to get one failed.
   */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  snapshot(): ShardStats {
    const oldest = this.pending.slice(this.head).find((record) => !record.done);
    return {
      shardId: this.shardId,
      state: this.state,
      ...this.counters,
      iteratorAgeMs: oldest ? Math.max(0, this.ctx.clock() - oldest.arrivalMs) : 0,
      ...(this.saved ? { checkpoint: this.saved } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  async run(): Promise<'finished' | 'stopped'> {
    await Promise.all([this.read(), ...this.lanes.map((lane) => this.drive(lane))]);
    if (this.ctx.stopping() || !this.ended) {
      this.state = 'stopped';
      return 'stopped';
    }
    await this.advanceCheckpoint();
    await this.save({ ...(this.checkpoint ? { sequenceNumber: this.checkpoint } : {}), finished: true });
    this.state = 'finished';
    this.ctx.emit({ type: 'shard-finished', shardId: this.shardId });
    return 'finished';
  }

  private unprocessed(): number {
    return this.pending.length - this.head;
  }

  /**
   * Whether reading waits for a failing batch: every lane is held behind one (nothing read could be processed), or
   * maxPendingRecords records are not yet behind the checkpoint, which a failing (or slow) record keeps from moving.
   */
  private heldBack(): boolean {
    return this.lanes.every((lane) => lane.held) || this.unprocessed() >= this.ctx.maxPendingRecords;
  }

  /** Records read and not done, leaving out the lanes held behind a failing batch. */
  private readAhead(): number {
    let count = 0;
    for (const lane of this.lanes) if (!lane.held) count += lane.queue.length + lane.inFlight;
    return count;
  }

  /** Shows the error in the shard's status (`lastError`) and reports it. */
  fail(operation: string, error: unknown): void {
    const cause = asError(error);
    this.lastError = {
      message: `${operation}: ${cause.message}`,
      at: new Date(this.ctx.clock()).toISOString(),
    };
    this.ctx.emit({ type: 'error', shardId: this.shardId, operation, error: cause });
  }

  private async iteratorFor(position: Position): Promise<string | undefined> {
    const input: GetShardIteratorCommandInput =
      position.kind === 'after'
        ? {
            StreamName: this.ctx.streamName,
            ShardId: this.shardId,
            ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
            StartingSequenceNumber: position.sequenceNumber,
          }
        : {
            StreamName: this.ctx.streamName,
            ShardId: this.shardId,
            // AT_TIMESTAMP is read from TRIM_HORIZON, skipping earlier records: GetShardIterator refuses a timestamp in
            // the future, and plain kinesalite (tests start their own) never answers when no record is that recent.
            ShardIteratorType: position.kind === 'latest' ? 'LATEST' : 'TRIM_HORIZON',
          };
    for (let attempt = 1; !this.ctx.stopping(); attempt += 1) {
      try {
        const { ShardIterator } = await this.send((abortSignal) =>
          this.ctx.client.send(new GetShardIteratorCommand(input), { abortSignal }),
        );
        return ShardIterator;
      } catch (error) {
        if (this.ctx.stopping()) break;
        // Asked again, the refusal would come back for ever: when the shard's oldest record left is past the
        // number, that record was trimmed, and the shard reads on from the oldest left.
        if (input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER' && isInvalidArgument(error)) {
          const horizon = await this.trimHorizonPast(input.StartingSequenceNumber!);
          if (horizon !== undefined) {
            this.ctx.emit({
              type: 'records-trimmed',
              shardId: this.shardId,
              after: input.StartingSequenceNumber!,
              detail: asError(error).message,
            });
            return horizon;
          }
        }
        this.fail('GetShardIterator', error);
        // start() must not wait for a shard that may never answer (stream deleted, checkpoint refused): the shard
        // keeps trying in the background, its error shown in the status.
        this.resolveReady();
        if (await this.ctx.streamGone(error)) break;
        await sleep(backoffMs(attempt, this.ctx.retryBaseDelayMs, this.ctx.retryMaxDelayMs), this.ctx.abort);
      }
    }
    return undefined;
  }

  /**
   * Whether an AFTER_SEQUENCE_NUMBER refused with InvalidArgumentException asked for a record retention trimmed,
   * confirmed against the shard rather than read from the refusal's wording, which differs between Kinesis and its
   * emulators: a TRIM_HORIZON iterator whose first record is past `sequenceNumber` gives that iterator, to read on
   * from. Any other refusal (a number of another shard, of another stream, malformed) leaves the oldest record at
   * or before it, or the shard empty, and gives undefined: the refusal stands and is retried like any other.
   */
  private async trimHorizonPast(sequenceNumber: string): Promise<string | undefined> {
    try {
      const { ShardIterator } = await this.send((abortSignal) =>
        this.ctx.client.send(
          new GetShardIteratorCommand({
            StreamName: this.ctx.streamName,
            ShardId: this.shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
          { abortSignal },
        ),
      );
      if (!ShardIterator) return undefined;
      // An iterator serves any number of GetRecords until it expires: the one that found the oldest record reads
      // it again.
      const oldest = (await this.getRecords(ShardIterator, 1)).Records?.[0]?.SequenceNumber;
      return oldest !== undefined && compareSequence(oldest, sequenceNumber) > 0 ? ShardIterator : undefined;
    } catch {
      // Not confirmed: the refusal is reported and retried, and the next attempt asks again.
      return undefined;
    }
  }

  private async read(): Promise<void> {
    let iterator: string | undefined;
    try {
      iterator = await this.iteratorFor(this.position);
    } finally {
      this.resolveReady();
    }
    let errors = 0;
    // The most records a GetRecords asks for, fitted to how long answers take (kinesalite's time grows with the
    // bytes it returns): halved after a call that got no answer within callTimeoutMs or took over half of it,
    // doubled after one that took under a quarter. A backlog of large records would otherwise time out for ever.
    let limitCap = 10_000;
    while (iterator && !this.ctx.stopping()) {
      // A lane held behind a failing batch keeps its records without stopping the others (AWS: the key blocks, not
      // the shard, aws-behaviour.md §2), up to maxPendingRecords not yet behind the checkpoint. With every lane
      // held (always so with one lane) nothing read could be processed: reading waits until a lane is released.
      const held = this.heldBack();
      const room = held
        ? 0
        : Math.min(
            this.ctx.maxBufferedRecords - this.readAhead(),
            this.ctx.maxPendingRecords - this.unprocessed(),
          );
      if (room <= 0) {
        // Held back, no GetRecords would find the stream deleted for as long as a batch fails: it is looked at once
        // a poll interval instead, so that a deleted stream disables the mapping, not a batch retried for ever.
        await this.space.wait(held ? this.ctx.pollIntervalMs : undefined, this.ctx.abort);
        if (held && this.heldBack() && (await this.ctx.streamGone())) break;
        continue;
      }
      const asked = Math.min(room, limitCap);
      let response: GetRecordsCommandOutput;
      try {
        const sentAt = performance.now();
        response = await this.getRecords(iterator, asked);
        const tookMs = performance.now() - sentAt;
        if (tookMs > this.ctx.callTimeoutMs / 2) limitCap = Math.max(1, Math.floor(asked / 2));
        else if (tookMs < this.ctx.callTimeoutMs / 4) limitCap = Math.min(10_000, asked * 2);
        errors = 0;
      } catch (error) {
        if (error instanceof CallTimeoutError) limitCap = Math.max(1, Math.floor(asked / 2));
        if (this.ctx.stopping()) break;
        if ((error as Error).name === 'ExpiredIteratorException') {
          iterator = await this.iteratorFor(
            this.lastRead ? { kind: 'after', sequenceNumber: this.lastRead } : this.position,
          );
          continue;
        }
        errors += 1;
        this.fail('GetRecords', error);
        if (await this.ctx.streamGone(error)) break;
        await sleep(backoffMs(errors, this.ctx.retryBaseDelayMs, this.ctx.retryMaxDelayMs), this.ctx.abort);
        continue;
      }
      const records = response.Records ?? [];
      this.counters.millisBehindLatest = response.MillisBehindLatest ?? 0;
      await this.accept(records);
      iterator = response.NextShardIterator;
      if (!iterator) {
        // A closed shard is exhausted: no more records, so the lanes flush without waiting for their window.
        this.ended = true;
        this.state = 'draining';
        break;
      }
      if (records.length === 0) await sleep(this.ctx.pollIntervalMs, this.ctx.abort);
    }
    for (const lane of this.lanes) lane.wakeup.notify();
  }

  /**
   * A call that gets no answer fails after `callTimeoutMs` and is retried with the same iterator, so a timeout
   * neither skips nor repeats records.
   */
  private getRecords(iterator: string, limit: number): Promise<GetRecordsCommandOutput> {
    return this.send((abortSignal) =>
      this.ctx.client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(10_000, limit) }),
        { abortSignal },
      ),
    );
  }

  private send<T>(call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withCallTimeout(this.ctx.callTimeoutMs, this.ctx.abort, call);
  }

  private laneOf(partitionKey: string): Lane {
    const count = this.lanes.length;
    const index = count === 1 ? 0 : createHash('md5').update(partitionKey).digest().readUInt32BE(0) % count;
    return this.lanes[index]!;
  }

  private async accept(records: _Record[]): Promise<void> {
    if (records.length === 0) return;
    const notBeforeMs = this.position.kind === 'trim-horizon' ? this.position.notBeforeMs : undefined;
    const now = Date.now();
    let skipped = false;
    let accepted = 0;
    for (const record of records) {
      const event = kinesisEventRecord(this.shardId, record, this.ctx.eventContext);
      const tracked: TrackedRecord = {
        sequenceNumber: event.kinesis.sequenceNumber,
        arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? now,
        partitionKey: event.kinesis.partitionKey,
        event,
        bytes: serialisedBytes(event),
        bufferedAt: now,
        done: false,
      };
      this.pending.push(tracked);
      this.lastRead = tracked.sequenceNumber;
      // An AT_TIMESTAMP iterator starts at the first record that arrived at or after the time and reads on from
      // there; arrival times are approximate, so a later record dated earlier is still read, not skipped.
      if (!this.startReached && notBeforeMs !== undefined && tracked.arrivalMs < notBeforeMs) {
        tracked.done = true;
        skipped = true;
        continue;
      }
      this.startReached = true;
      accepted += 1;
      const lane = this.laneOf(tracked.partitionKey);
      lane.queue.push(tracked);
      lane.bytes += tracked.bytes;
    }
    this.counters.recordsIn += accepted;
    this.ctx.emit({
      type: 'records-read',
      shardId: this.shardId,
      count: accepted,
      millisBehindLatest: this.counters.millisBehindLatest,
    });
    for (const lane of this.lanes) lane.wakeup.notify();
    if (skipped) await this.advanceCheckpoint();
  }

  /** Sends the lane's batches one after another: a full batch, an expired window or 6 MB, whichever first. */
  private async drive(lane: Lane): Promise<void> {
    const windowMs = this.ctx.config.MaximumBatchingWindowInSeconds * 1000;
    while (!this.ctx.stopping()) {
      const first = lane.queue[0];
      if (!first) {
        if (this.ended) return;
        await lane.wakeup.wait(undefined, this.ctx.abort);
        continue;
      }
      const full =
        lane.queue.length >= this.ctx.config.BatchSize ||
        eventBytes(lane.bytes, lane.queue.length) >= INVOCATION_PAYLOAD_LIMIT_BYTES;
      const remainingMs = first.bufferedAt + windowMs - Date.now();
      if (!full && !this.ended && remainingMs > 0) {
        await lane.wakeup.wait(remainingMs, this.ctx.abort);
        continue;
      }
      const completed = await this.sendBatch(lane);
      lane.inFlight = 0;
      lane.held = false;
      if (!completed) return;
      await this.advanceCheckpoint();
      this.space.notify();
    }
  }

  /** Takes the lane's next batch and processes it; its records are not kept once it returns. */
  private sendBatch(lane: Lane): Promise<boolean> {
    const batch = this.take(lane);
    lane.inFlight = batch.length;
    return this.processBatch(lane, batch, 0, 0);
  }

  private take(lane: Lane): TrackedRecord[] {
    const batch: TrackedRecord[] = [];
    let bytes = 0;
    while (batch.length < this.ctx.config.BatchSize) {
      const next = lane.queue[0];
      if (!next) break;
      // A record too large for a payload on its own still goes, alone (not confirmed what AWS does).
      if (
        batch.length > 0 &&
        eventBytes(bytes + next.bytes, batch.length + 1) > INVOCATION_PAYLOAD_LIMIT_BYTES
      )
        break;
      batch.push(next);
      lane.queue.shift();
      bytes += next.bytes;
    }
    lane.bytes -= bytes;
    return batch;
  }

  /**
   * Invokes the function with `records` until they are all done: processed, or discarded after
   * MaximumRetryAttempts or MaximumRecordAgeInSeconds. `failures` counts the failed invocations that used up
   * retries (1 + retries when exhausted); `invocations` counts every invocation these records were part of.
   * Returns false when the work was abandoned because the poller is stopping.
   */
  private async processBatch(
    lane: Lane,
    records: TrackedRecord[],
    failures: number,
    invocations: number,
  ): Promise<boolean> {
    const { config } = this.ctx;
    let batch = records;
    let lastFunctionError: 'Unhandled' | null = null;
    let lastRequestId: string | undefined;
    let invokeErrors = 0;
    let delayAttempt = 0;
    while (batch.length > 0) {
      if (this.ctx.stopping()) return false;
      if (delayAttempt > 0) {
        await sleep(
          backoffMs(delayAttempt, this.ctx.retryBaseDelayMs, this.ctx.retryMaxDelayMs),
          this.ctx.abort,
        );
        if (this.ctx.stopping()) return false;
      }
      const fresh = await this.discardExpired(batch, invocations + 1);
      if (!fresh) return false;
      batch = fresh;
      if (batch.length === 0) return true;

      const first = batch[0]!;
      const last = batch[batch.length - 1]!;
      this.counters.invocations += 1;
      this.ctx.emit({
        type: 'invoke',
        shardId: this.shardId,
        count: batch.length,
        firstSequenceNumber: first.sequenceNumber,
        lastSequenceNumber: last.sequenceNumber,
      });
      let result: InvokeResult;
      try {
        result = await this.ctx.invoke(kinesisEvent(batch.map((record) => record.event)));
      } catch (error) {
        // The batch never reached the function (throttled, not runnable): retried until the records expire,
        // without counting against MaximumRetryAttempts.
        invokeErrors += 1;
        delayAttempt = invokeErrors;
        this.counters.failedInvocations += 1;
        this.fail('Invoke', error);
        this.ctx.emit({
          type: 'batch-failed',
          shardId: this.shardId,
          count: batch.length,
          reason: 'invoke-error',
          detail: asError(error).message,
        });
        continue;
      }
      invocations += 1;
      lastRequestId = result.requestId;
      const ids = new Set(batch.map((record) => record.sequenceNumber));
      const outcome = classifyBatchResponse(
        result,
        ids,
        config.FunctionResponseTypes.includes('ReportBatchItemFailures'),
      );
      if (outcome.kind === 'success') {
        this.markDone(batch, 'out');
        this.ctx.emit({ type: 'batch-succeeded', shardId: this.shardId, count: batch.length });
        return true;
      }
      this.counters.failedInvocations += 1;
      if (!lane.held) {
        lane.held = true;
        this.space.notify();
      }
      if (outcome.kind === 'partial') {
        // Checkpoint at the lowest failed sequence number and retry from there.
        const lowest = outcome.failedIds.reduce((a, b) => (compareSequence(a, b) <= 0 ? a : b));
        const index = batch.findIndex((record) => record.sequenceNumber === lowest);
        this.ctx.emit({
          type: 'batch-failed',
          shardId: this.shardId,
          count: batch.length,
          reason: 'partial-failure',
          detail: `lowest failed sequence number ${lowest}`,
        });
        this.lastError = {
          message: `Partial batch failure from sequence number ${lowest}`,
          at: new Date(this.ctx.clock()).toISOString(),
        };
        this.markDone(batch.slice(0, index), 'out');
        if (index > 0) await this.advanceCheckpoint();
        batch = batch.slice(index);
        lastFunctionError = null;
      } else {
        lastFunctionError = outcome.functionError;
        this.lastError = { message: outcome.detail, at: new Date(this.ctx.clock()).toISOString() };
        this.ctx.emit({
          type: 'batch-failed',
          shardId: this.shardId,
          count: batch.length,
          reason: outcome.reason,
          detail: outcome.detail,
        });
        if (config.BisectBatchOnFunctionError && batch.length > 1) {
          if (this.ctx.stopping()) return false;
          // Not confirmed by AWS: the split point and order. First half, then second half, keeps the order;
          // the split itself uses no retry, so both halves start from the failures counted so far.
          const middle = Math.ceil(batch.length / 2);
          this.ctx.emit({
            type: 'bisected',
            shardId: this.shardId,
            left: middle,
            right: batch.length - middle,
          });
          if (!(await this.processBatch(lane, batch.slice(0, middle), failures, invocations))) return false;
          await this.advanceCheckpoint();
          return this.processBatch(lane, batch.slice(middle), failures, invocations);
        }
      }
      if (this.ctx.stopping()) return false;
      failures += 1;
      if (config.MaximumRetryAttempts !== -1 && failures > config.MaximumRetryAttempts) {
        return this.discard(batch, 'RetryAttemptsExhausted', failures, lastFunctionError, lastRequestId);
      }
      delayAttempt = failures;
    }
    return true;
  }

  /**
   * Discards the batch's records older than MaximumRecordAgeInSeconds from the oldest: every record up to the
   * last one past the limit, as one contiguous range; returns the rest (null when stopping). Arrival times are
   * approximate and not always in sequence order (kinesalite's split or merged shards), but a record written
   * before an expired one is at least as old, so it goes with it: the on-failure range then holds exactly the
   * records it names, and no record past the limit reaches the function. `attempt` is reported as
   * approximateInvokeCount: the invocation these records were about to get (1 when they were never sent; not
   * confirmed beyond that case).
   */
  private async discardExpired(batch: TrackedRecord[], attempt: number): Promise<TrackedRecord[] | null> {
    const maxAge = this.ctx.config.MaximumRecordAgeInSeconds;
    if (maxAge === -1) return batch;
    const now = this.ctx.clock();
    const end = batch.findLastIndex((record) => now - record.arrivalMs > maxAge * 1000) + 1;
    if (end === 0) return batch;
    if (!(await this.discard(batch.slice(0, end), 'RecordAgeExceeded', attempt, null, undefined)))
      return null;
    return batch.slice(end);
  }

  /**
   * Reports discarded records to the on-failure destination (retrying until delivered) and moves past them: the
   * checkpoint follows at once, as the records after them may still be retried, and a restart meanwhile would
   * report them a second time.
   */
  private async discard(
    records: TrackedRecord[],
    condition: FailureCondition,
    approximateInvokeCount: number,
    functionError: 'Unhandled' | null,
    requestId: string | undefined,
  ): Promise<boolean> {
    const record = kinesisOnFailureRecord({
      shardId: this.shardId,
      streamArn: this.ctx.streamArn,
      functionArn: this.ctx.functionArn,
      records,
      condition,
      approximateInvokeCount,
      functionError,
      ...(requestId ? { requestId } : {}),
      nowMs: this.ctx.clock(),
    });
    const sink = this.ctx.config.DestinationConfig.OnFailure ? this.ctx.onFailure : undefined;
    if (sink) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await sink(record, {
            payload: kinesisEvent(records.map((tracked) => tracked.event)),
            signal: this.ctx.abort,
          });
          break;
        } catch (error) {
          // A send that stop() aborted is no failure of the destination.
          if (this.ctx.stopping()) return false;
          this.fail('OnFailure', error);
          await sleep(
            backoffMs(attempt, this.ctx.retryBaseDelayMs, this.ctx.retryMaxDelayMs),
            this.ctx.abort,
          );
          if (this.ctx.stopping()) return false;
        }
      }
    }
    this.ctx.emit({ type: 'on-failure', shardId: this.shardId, record, delivered: sink !== undefined });
    this.markDone(records, 'failed');
    await this.advanceCheckpoint();
    return true;
  }

  private markDone(records: TrackedRecord[], outcome: 'out' | 'failed'): void {
    for (const record of records) record.done = true;
    if (outcome === 'out') this.counters.recordsOut += records.length;
    else this.counters.recordsFailed += records.length;
  }

  /** Moves the checkpoint to the last record before the first one not yet done, and saves it. */
  private async advanceCheckpoint(): Promise<void> {
    let moved = false;
    while (this.head < this.pending.length && this.pending[this.head]!.done) {
      this.checkpoint = this.pending[this.head]!.sequenceNumber;
      this.head += 1;
      moved = true;
    }
    // Records behind the checkpoint are let go: kept, they would hold their data for as long as the shard is idle,
    // or finished. Cutting once they are half of the array copies each record left at most once per record passed.
    if (this.head > 0 && this.head * 2 >= this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    // Records skipped before the start (AT_TIMESTAMP, a LATEST restart) are not saved as a checkpoint: a restart
    // resumes AFTER_SEQUENCE_NUMBER without the filter, and would deliver the rest of them.
    if (moved && this.checkpoint && this.startReached) await this.save({ sequenceNumber: this.checkpoint });
  }

  private async save(checkpoint: ShardCheckpoint): Promise<void> {
    // After stop() has returned, late results must not move the checkpoint.
    if (this.ctx.closed()) return;
    try {
      await this.ctx.store.save(this.ctx.mappingId, this.shardId, checkpoint);
      const { sequenceNumber } = checkpoint;
      if (sequenceNumber && (!this.saved || compareSequence(sequenceNumber, this.saved) > 0)) {
        this.saved = sequenceNumber;
      }
      this.ctx.emit({
        type: 'checkpoint',
        shardId: this.shardId,
        ...(checkpoint.sequenceNumber ? { sequenceNumber: checkpoint.sequenceNumber } : {}),
        finished: checkpoint.finished === true,
      });
    } catch (error) {
      this.fail('Checkpoint', error);
    }
  }
}

/**
 * Emulates a Lambda event source mapping on a Kinesis stream (aws-behaviour.md §1–§3, §6): batching, starting
 * positions, ParallelizationFactor, retries, bisection, partial batch responses, record age, the on-failure
 * record, resharding (parents drained before children) and checkpoints that survive a restart.
 */
export class KinesisPoller {
  readonly config: KinesisMappingConfig;
  readonly streamName: string;
  readonly streamArn: string;
  private readonly options: KinesisPollerOptions;
  private readonly ctx: PollerContext;
  private state: KinesisPollerStats['state'] = 'created';
  private readonly abortController = new AbortController();
  private stopRequested = false;
  private isClosed = false;
  private shards: Shard[] = [];
  private checkpoints: Record<string, ShardCheckpoint> = {};
  private readonly workers = new Map<string, ShardWorker>();
  private readonly finished = new Set<string>();
  private readonly runs = new Set<Promise<void>>();
  /** Settles once every shard has ended, after stop() or after the stream was found deleted. */
  private settled: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Why the mapping stopped polling on its own (its stream was deleted); as AWS's StateTransitionReason. */
  private stateTransitionReason: string | undefined;
  private streamCheck: Promise<boolean> | undefined;

  constructor(options: KinesisPollerOptions) {
    this.config = kinesisMappingConfig(options.properties);
    if (this.config.DestinationConfig.OnFailure && !options.onFailure) {
      throw new EventSourceMappingConfigError('Kinesis', [
        'DestinationConfig.OnFailure is set but no on-failure sink was given to the poller',
      ]);
    }
    this.options = options;
    const { streamName, streamArn } = streamIdentity(options.stream, options.region, options.accountId);
    this.streamName = streamName;
    this.streamArn = streamArn;
    const onEvent = options.onEvent;
    const maxBufferedRecords =
      options.maxBufferedRecords ??
      Math.max(2 * this.config.BatchSize * this.config.ParallelizationFactor, 1000);
    this.ctx = {
      client: options.client,
      streamName,
      streamArn,
      config: this.config,
      invoke: options.invoke,
      onFailure: options.onFailure,
      store: options.checkpoints,
      mappingId: options.mappingId,
      functionArn:
        options.functionArn ??
        `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`,
      eventContext: {
        region: options.region,
        streamArn,
        invokeIdentityArn:
          options.invokeIdentityArn ?? `arn:aws:iam::${options.accountId}:role/${options.functionName}Role`,
      },
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
      retryMaxDelayMs: options.retryMaxDelayMs ?? 10_000,
      callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      maxBufferedRecords,
      maxPendingRecords: Math.max(options.maxPendingRecords ?? 10 * maxBufferedRecords, maxBufferedRecords),
      clock: options.clock ?? Date.now,
      emit: (event) => {
        try {
          onEvent?.(event);
        } catch {
          // A listener's failure must not stop the stream.
        }
      },
      abort: this.abortController.signal,
      stopping: () => this.stopRequested,
      closed: () => this.isClosed,
      streamGone: (error) => this.streamGone(error),
    };
  }

  /**
   * Lists the shards, loads the checkpoints and starts every shard whose parents are done. Resolves once each
   * started shard holds an iterator or failed a first time to get one; rejects when the stream cannot be listed.
   */
  async start(): Promise<void> {
    if (this.state !== 'created')
      throw new Error(`The poller for ${this.options.mappingId} was already started`);
    if (!this.config.Enabled) {
      this.state = 'disabled';
      return;
    }
    this.state = 'starting';
    const store = this.options.checkpoints;
    try {
      this.checkpoints = await store.load(this.options.mappingId);
      this.shards = await this.listShards();
    } catch (error) {
      // Nothing was started: the caller may try again, e.g. once the stream exists.
      this.state = 'created';
      throw error;
    }
    // A stream deleted and made again under its name has new shards of the same ids: the old checkpoints point
    // before their first records, and GetShardIterator would refuse them for good. AWS makes a new mapping then.
    const stale = this.shards.find((shard) => {
      const saved = this.checkpoints[shard.ShardId!]?.sequenceNumber;
      const first = shard.SequenceNumberRange?.StartingSequenceNumber;
      return saved !== undefined && first !== undefined && compareSequence(saved, first) < 0;
    });
    if (stale) {
      await store.remove(this.options.mappingId);
      this.checkpoints = {};
      this.ctx.emit({
        type: 'checkpoints-discarded',
        reason:
          `the checkpoint of ${stale.ShardId} is before the shard's first record: stream ${this.streamName} ` +
          'was made again since it was saved, so the mapping starts at its StartingPosition',
      });
    }
    const latest = new Set<string>();
    if (Object.keys(this.checkpoints).length === 0 && this.config.StartingPosition === 'LATEST') {
      // Remember where LATEST began, so that a restart before the first checkpoint loses nothing.
      const startedAtMs = Date.now();
      for (const shard of this.shards) {
        const id = shard.ShardId!;
        const checkpoint: ShardCheckpoint = shard.SequenceNumberRange?.EndingSequenceNumber
          ? { finished: true }
          : { startedAtMs };
        await store.save(this.options.mappingId, id, checkpoint);
        this.checkpoints[id] = checkpoint;
        if (!checkpoint.finished) latest.add(id);
      }
    }
    for (const [shardId, checkpoint] of Object.entries(this.checkpoints)) {
      if (checkpoint.finished) this.finished.add(shardId);
    }
    const started = this.schedule(latest);
    await Promise.all(started.map((worker) => worker.ready()));
    if (this.state === 'starting') this.state = 'running';
  }

  /**
   * Stops polling. In-flight invocations are awaited (up to `timeoutMs`, then abandoned); a batch that
   * succeeds meanwhile is checkpointed, and nothing else is: unprocessed records are read again next start.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.state === 'created' || (this.state === 'disabled' && !this.settled)) {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.stopping ??= (async () => {
      // A mapping disabled because its stream was deleted stays 'disabled', with its reason.
      if (this.state !== 'disabled') this.state = 'stopping';
      const settled = this.endShards();
      await (options.timeoutMs === undefined ? settled : Promise.race([settled, sleep(options.timeoutMs)]));
      this.isClosed = true;
      if (this.state !== 'disabled') this.state = 'stopped';
    })();
    return this.stopping;
  }

  /** Stops reading and retrying; settles once every shard has ended (in-flight invocations finish first). */
  private endShards(): Promise<void> {
    if (!this.settled) {
      this.stopRequested = true;
      this.abortController.abort();
      this.settled = Promise.allSettled([...this.runs]).then(() => undefined);
    }
    return this.settled;
  }

  /**
   * After a ResourceNotFoundException (or, with no error, while reading waits for a failing batch):
   * whether the stream itself is gone. When it is, the mapping stops polling (state 'disabled', with the reason)
   * instead of retrying for ever; AWS's own answer to a deleted stream is not documented, a mapping whose source is
   * gone can only fail.
   */
  private streamGone(error?: unknown): Promise<boolean> {
    if (error !== undefined && !notFound(error)) return Promise.resolve(false);
    if (this.stateTransitionReason) return Promise.resolve(true);
    this.streamCheck ??= this.checkStream().finally(() => {
      this.streamCheck = undefined;
    });
    return this.streamCheck;
  }

  private async checkStream(): Promise<boolean> {
    try {
      const { StreamDescriptionSummary } = await withCallTimeout(
        this.ctx.callTimeoutMs,
        this.ctx.abort,
        (abortSignal) =>
          this.options.client.send(new DescribeStreamSummaryCommand({ StreamName: this.streamName }), {
            abortSignal,
          }),
      );
      if (StreamDescriptionSummary?.StreamStatus !== 'DELETING') return false;
    } catch (error) {
      if (!notFound(error)) return false;
    }
    if (this.stopRequested) return true;
    this.stateTransitionReason = `stream ${this.streamName} was deleted: the mapping stopped polling it`;
    this.state = 'disabled';
    this.ctx.emit({ type: 'source-deleted', reason: this.stateTransitionReason });
    void this.endShards();
    return true;
  }

  stats(): KinesisPollerStats {
    const known = this.shards.map((shard) => shard.ShardId!);
    for (const shardId of this.workers.keys()) if (!known.includes(shardId)) known.push(shardId);
    return {
      mappingId: this.options.mappingId,
      functionName: this.options.functionName,
      streamName: this.streamName,
      state: this.state,
      ...(this.stateTransitionReason ? { stateTransitionReason: this.stateTransitionReason } : {}),
      shards: known.map((shardId) => {
        const worker = this.workers.get(shardId);
        if (worker) return worker.snapshot();
        const checkpoint = this.checkpoints[shardId]?.sequenceNumber;
        return {
          shardId,
          state: this.finished.has(shardId) ? 'finished' : 'waiting',
          recordsIn: 0,
          recordsOut: 0,
          recordsFailed: 0,
          invocations: 0,
          failedInvocations: 0,
          iteratorAgeMs: 0,
          millisBehindLatest: 0,
          ...(checkpoint ? { checkpoint } : {}),
        } satisfies ShardStats;
      }),
    };
  }

  private async listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      const input = nextToken ? { NextToken: nextToken } : { StreamName: this.streamName };
      const page = await withCallTimeout(this.ctx.callTimeoutMs, this.ctx.abort, (abortSignal) =>
        this.options.client.send(new ListShardsCommand(input), { abortSignal }),
      );
      shards.push(...(page.Shards ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return shards;
  }

  private positionFor(shardId: string, latest: boolean): Position {
    const checkpoint = this.checkpoints[shardId];
    if (checkpoint?.sequenceNumber) return { kind: 'after', sequenceNumber: checkpoint.sequenceNumber };
    if (latest) return { kind: 'latest' };
    if (checkpoint?.startedAtMs !== undefined)
      return { kind: 'trim-horizon', notBeforeMs: checkpoint.startedAtMs };
    if (this.config.StartingPosition === 'AT_TIMESTAMP') {
      return { kind: 'trim-horizon', notBeforeMs: (this.config.StartingPositionTimestamp ?? 0) * 1000 };
    }
    // TRIM_HORIZON, and every child shard: children start at their beginning once their parents are drained.
    return { kind: 'trim-horizon' };
  }

  /** Starts each shard that is not done and whose listed parents (both, after a merge) are all finished. */
  private schedule(latest: ReadonlySet<string>): ShardWorker[] {
    if (this.stopRequested) return [];
    const listed = new Set(this.shards.map((shard) => shard.ShardId!));
    const started: ShardWorker[] = [];
    for (const shard of this.shards) {
      const shardId = shard.ShardId!;
      if (this.finished.has(shardId) || this.workers.has(shardId)) continue;
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (parent): parent is string => parent !== undefined && listed.has(parent),
      );
      if (!parents.every((parent) => this.finished.has(parent))) continue;
      const position = this.positionFor(shardId, latest.has(shardId));
      const worker = new ShardWorker(this.ctx, shardId, position, this.checkpoints[shardId]?.sequenceNumber);
      this.workers.set(shardId, worker);
      this.ctx.emit({ type: 'shard-started', shardId, position: describePosition(position) });
      const run: Promise<void> = worker
        .run()
        .then((outcome) => this.onShardDone(shardId, outcome))
        .catch((error: unknown) => {
          this.ctx.emit({ type: 'error', shardId, operation: 'Shard', error: asError(error) });
        })
        .finally(() => {
          this.runs.delete(run);
        });
      this.runs.add(run);
      started.push(worker);
    }
    return started;
  }

  /** A drained parent lets its children start: list the shards again to find them. */
  private async onShardDone(shardId: string, outcome: 'finished' | 'stopped'): Promise<void> {
    if (outcome !== 'finished') return;
    this.finished.add(shardId);
    for (let attempt = 1; !this.stopRequested; attempt += 1) {
      try {
        this.shards = await this.listShards();
        break;
      } catch (error) {
        if (this.stopRequested || (await this.streamGone(error))) return;
        // Shown in the finished shard's status: its children wait for this listing.
        const worker = this.workers.get(shardId);
        if (worker) worker.fail('ListShards', error);
        else this.ctx.emit({ type: 'error', shardId, operation: 'ListShards', error: asError(error) });
        await sleep(backoffMs(attempt, this.ctx.retryBaseDelayMs, this.ctx.retryMaxDelayMs), this.ctx.abort);
      }
    }
    this.schedule(new Set());
  }
}

const describePosition = (position: Position): string => {
  if (position.kind === 'after') return `AFTER_SEQUENCE_NUMBER ${position.sequenceNumber}`;
  if (position.kind === 'latest') return 'LATEST';
  return position.notBeforeMs === undefined
    ? 'TRIM_HORIZON'
    : `TRIM_HORIZON, skipping records before ${new Date(position.notBeforeMs).toISOString()}`;
};
