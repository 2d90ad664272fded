import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { PartialItemFailures } from '@aws-lambda-powertools/batch/types';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, LogItemExtraInput } from '@aws-lambda-powertools/logger/types';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { MetricsSink } from '#shared/consumer/process-records.ts';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import type { Clock } from '#shared/kinesis/rate-limiter.ts';
import {
  compareSequence,
  DEFAULT_READ_LIMIT,
  errorName,
  type ReadBudgets,
  readBudgets,
  ShardReader,
} from '#shared/kinesis/shard-reader.ts';
import { MetricUnit } from '#shared/powertools/metrics.ts';
import {
  assertTimeToWork,
  budgetContext,
  type DriveResult,
  driveRecords,
  emptyCounts,
  type Sink,
} from './drive-records.ts';
import { dryRunMetrics } from './dry-run.ts';
import {
  type FailureRecord,
  InvalidFailureRecordError,
  parseFailureRecord,
  streamNameOf,
} from './failure-record.ts';
import type { MessageQuarantine } from './message-quarantine.ts';

/**
 * DLQ replay: each failure-queue message is an on-failure record that points at a range of one shard. The
 * records are read back from the stream and driven through the consumer's own processing and sink, so records
 * that already landed are counted duplicates. A message is deleted only when every record of its range
 * succeeded or was quarantined; otherwise it stays, and the queue's redrive policy parks it after
 * maxReceiveCount receives. When the range can no longer be read (past retention, or its shard is gone), the
 * message itself is quarantined as `expired`, counted, and deleted: the loss is recorded, never silent.
 */

/** The most messages one on-demand request may ask for. */
export const MAX_MESSAGES_PER_REQUEST = 10_000;

/** The on-demand request: `{ maxMessages?, dryRun?, visibilityTimeoutSeconds? }`. */
export interface DrainRequest {
  /** Most messages handled in this run (1-10000, default 10). */
  maxMessages?: number;
  /** Read and report only: nothing is written, quarantined or deleted, and the messages are made visible again. */
  dryRun?: boolean;
  /** How long a received message stays hidden (0-43200 s); by default the time left in the run plus 30 s. */
  visibilityTimeoutSeconds?: number;
}

/**
 * - `replayed`: every record of the range succeeded or was quarantined; the message is (or, dry, would be) deleted.
 * - `expired`: part or all of the range is gone from the stream; what was left succeeded; the message is
 *   quarantined and deleted.
 * - `still-failing`: records failed, the message could not be read, or time ran out; the message stays.
 */
export type MessageOutcome = 'replayed' | 'expired' | 'still-failing';

export interface MessageDetail {
  messageId: string;
  outcome: MessageOutcome;
  shardId?: string;
  startSequenceNumber?: string;
  endSequenceNumber?: string;
  /** How many times SQS has handed out the message, this time included. */
  receiveCount?: number;
  /** Stream records read back from the range and driven through processing (an aggregate counts once). */
  recordsReplayed: number;
  /** User records (after de-aggregation) written, found already stored, refused as older, or quarantined. */
  written: number;
  duplicates: number;
  staleVersions: number;
  quarantined: number;
  /** Stream records still failed. */
  failed: number;
  deleted: boolean;
  detail?: string;
  /**
   * For a message left on the queue still failing (not in a dry run): when its visibility timeout, set at this
   * run's receive, ends and it can be received again (ISO 8601).
   */
  visibleAgainAt?: string;
}

export interface ReplayReport {
  messages: number;
  recordsReplayed: number;
  written: number;
  duplicates: number;
  staleVersions: number;
  quarantined: number;
  /** Messages left on the queue. */
  stillFailing: number;
  /** Messages whose records had aged out; each was quarantined as `expired`. */
  expired: number;
  deleted: number;
  dryRun: boolean;
  details: MessageDetail[];
  /**
   * The failure queue once the run is over (on-demand mode; absent when it could not be read): messages waiting,
   * and in flight, received by this run, another one or a peek and not deleted. An in-flight message comes back
   * when its visibility timeout ends, so a run that found nothing to do may still have messages to come.
   */
  queue?: { waiting: number; inFlight: number };
}

export interface ReplayDependencies {
  kinesis: Pick<KinesisClient, 'send'>;
  /** The stream this function replays; a message pointing at another stream is refused. */
  streamName: string;
  /**
   * The stream's whole ARN, when known: a message must name it exactly, not only a stream of the same name in
   * another region or account.
   */
  streamArn?: string;
  sink: Sink;
  /** The sink of a dry run: reads, never writes. */
  dryRunSink: () => Sink;
  messageQuarantine: MessageQuarantine;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  metrics: MetricsSink;
  keyConcurrency: number;
  /** No record is started with less than this many milliseconds left. */
  timeReserveMs: number;
  /** Milliseconds left in this run (the Lambda context's, or a test's). */
  remainingMs: () => number;
  /** No message and no GetRecords call is started with less than this many milliseconds left. */
  stopReserveMs: number;
  reader?: { limit?: number; callsPerSecond?: number; bytesPerSecond?: number; throttleAttempts?: number };
  /** Runs of failed records within one message before the message is left. */
  attempts?: number;
  clock?: Clock;
}

export interface QueueDependencies {
  sqs: Pick<SQSClient, 'send'>;
  queueUrl: string;
  /** Long-poll wait of each receive, in seconds (0-20). */
  waitTimeSeconds?: number;
}

/** True when less than the stop reserve would be left after waiting `waitMs` first. */
const shouldStop = (deps: Pick<ReplayDependencies, 'remainingMs' | 'stopReserveMs'>, waitMs = 0): boolean =>
  deps.remainingMs() - waitMs < deps.stopReserveMs;

/** A request the function cannot act on. */
export class ReplayRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayRequestError';
  }
}

const failedDetail = (
  messageId: string,
  detail: string,
  extra: Partial<MessageDetail> = {},
): MessageDetail => ({
  messageId,
  outcome: 'still-failing',
  recordsReplayed: 0,
  ...emptyCounts(),
  deleted: false,
  detail,
  ...extra,
});

interface ReadBack {
  records: StreamRecord[];
  /** Why part or all of the range cannot be read any more. */
  expired?: string;
  /** The time budget ran out before the range was read. */
  stopped?: boolean;
}

/** The most records one GetRecords asks for (`GET_RECORDS_LIMIT`). */
const readerLimit = (deps: ReplayDependencies): number => deps.reader?.limit ?? DEFAULT_READ_LIMIT;

/** A reader of one shard, asking for at most `limit` records a call, within the run's budget of the shard. */
const readerOf = (shardId: string, limit: number, deps: ReplayDependencies, budgets: ReadBudgets) =>
  new ShardReader({
    client: deps.kinesis,
    streamName: deps.streamName,
    shardId,
    budget: budgets(shardId),
    limit,
    throttleAttempts: deps.reader?.throttleAttempts,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

/**
 * The range holds batchSize records: asking for more would read (and charge to the shard's 2 MB/s) records past
 * its end. A short answer is continued as usual, so a wrong batchSize costs calls, never records.
 */
const readLimit = (record: FailureRecord, deps: ReplayDependencies): number => {
  const limit = readerLimit(deps);
  const { batchSize } = record.KinesisBatchInfo;
  return Number.isInteger(batchSize) && batchSize! > 0 ? Math.min(limit, batchSize!) : limit;
};

/**
 * One budget per shard for a whole run (one invocation, either mode): a run reads the messages of one shard one
 * after another, and each message's first call waits for the calls and bytes of the message before it.
 */
const replayBudgets = (deps: Pick<ReplayDependencies, 'reader' | 'clock'>): ReadBudgets =>
  readBudgets({
    callsPerSecond: deps.reader?.callsPerSecond,
    bytesPerSecond: deps.reader?.bytesPerSecond,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

/** Reads the range back; tells records that aged out from records that can still be read. */
const readRange = async (
  record: FailureRecord,
  deps: ReplayDependencies,
  budgets: ReadBudgets,
): Promise<ReadBack> => {
  const { shardId, startSequenceNumber: start, endSequenceNumber: end } = record.KinesisBatchInfo;
  const reader = readerOf(shardId, readLimit(record, deps), deps, budgets);
  const records: StreamRecord[] = [];
  /** Reads from `from` to the range's end, keeping every record delivered. */
  const readFrom = (from: string) =>
    reader.read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: from },
      { endSequenceNumber: end, shouldStop: (waitMs) => shouldStop(deps, waitMs) },
      (batch) => {
        records.push(...batch.records);
        return undefined;
      },
    );
  try {
    const result = await readFrom(start);
    if (result.end === 'stopped') return { records, stopped: true };
    // AT_SEQUENCE_NUMBER answers with the start record itself when the shard still has it.
    if (result.firstSequenceNumber === undefined) {
      return { records, expired: `no record of the range ${start}..${end} is left on ${shardId}` };
    }
    if (result.firstSequenceNumber !== start) {
      return {
        records,
        expired:
          `the range starts at ${start}, but the oldest record left at that place on ${shardId} is ` +
          `${result.firstSequenceNumber}: the records before it aged out of the stream's retention`,
      };
    }
    return { records };
  } catch (error) {
    const name = errorName(error);
    if (name === 'ResourceNotFoundException') {
      return { records, expired: `${shardId} is gone from the stream: ${(error as Error).message}` };
    }
    if (name !== 'InvalidArgumentException') throw error;
    // A sequence number of another shard is refused too, and Kinesis names the shard it encodes: the message does
    // not point at records of its own shard, which is no sign of their expiry.
    const encoded = /encodes (shardId-\d+)/.exec((error as Error).message)?.[1];
    if (encoded !== undefined && encoded !== shardId) {
      throw new Error(
        `${start} is a sequence number of ${encoded}, not of ${shardId}: the message does not point at records ` +
          `of its shard (${(error as Error).message})`,
        { cause: error },
      );
    }
    // A sequence number below the trim horizon may be refused outright: compare it with what is left.
    const oldest = await reader.firstRetained();
    if (oldest !== undefined && compareSequence(oldest, start) <= 0) throw error;
    const lost = `${start} is no longer on ${shardId} (the oldest record left is ${oldest ?? 'none'})`;
    if (oldest === undefined || compareSequence(oldest, end) > 0) return { records, expired: lost };
    // The range's later records are still there: read them from the oldest one left, as when Kinesis itself
    // starts an iterator there.
    const rest = await readFrom(oldest);
    if (rest.end === 'stopped') return { records, stopped: true };
    return { records, expired: `${lost}: the records before it aged out of the stream's retention` };
  }
};

/** A failure-queue message as the replay takes it. */
export interface QueueMessage {
  messageId: string;
  body: string;
  receiveCount?: number;
}

/** A message whose body is a checked on-failure record of this function's stream. */
interface CheckedMessage {
  message: QueueMessage;
  record: FailureRecord;
  /** The detail fields that say where the range is. */
  range: Pick<MessageDetail, 'receiveCount' | 'shardId' | 'startSequenceNumber' | 'endSequenceNumber'>;
}

/** Checks a message's body; answers the message's failed detail when it cannot be replayed. */
const checkMessage = (
  message: QueueMessage,
  deps: ReplayDependencies,
): { checked: CheckedMessage } | { detail: MessageDetail } => {
  const base = message.receiveCount === undefined ? {} : { receiveCount: message.receiveCount };
  // The range is shown whenever the record names one, also for a message refused because of its stream.
  let range: CheckedMessage['range'] = base;
  try {
    const record = parseFailureRecord(message.body);
    const info = record.KinesisBatchInfo;
    range = {
      ...base,
      shardId: info.shardId,
      startSequenceNumber: info.startSequenceNumber,
      endSequenceNumber: info.endSequenceNumber,
    };
    const streamName = streamNameOf(info.streamArn);
    if (deps.streamArn !== undefined ? info.streamArn !== deps.streamArn : streamName !== deps.streamName) {
      throw new InvalidFailureRecordError(
        `the message points at stream ${deps.streamArn !== undefined ? info.streamArn : streamName}; this function ` +
          `replays ${deps.streamArn ?? deps.streamName}`,
      );
    }
    return { checked: { message, record, range } };
  } catch (error) {
    if (!(error instanceof InvalidFailureRecordError)) throw error;
    deps.logger.error('failure-queue message cannot be replayed', { messageId: message.messageId, error });
    return { detail: failedDetail(message.messageId, error.message, range) };
  }
};

/**
 * Replays one message; deleting it is the caller's business. Never throws for a message's own faults. A run of
 * several messages passes the same `budgets` to each, so that reads of one shard share its limits.
 */
export const replayMessage = async (
  message: QueueMessage,
  dryRun: boolean,
  deps: ReplayDependencies,
  budgets: ReadBudgets = replayBudgets(deps),
): Promise<MessageDetail> => {
  const check = checkMessage(message, deps);
  if ('detail' in check) return check.detail;
  return replayChecked(check.checked, dryRun, deps, budgets);
};

/** Reads a checked message's range back on its own, then drives its records. */
const replayChecked = async (
  checked: CheckedMessage,
  dryRun: boolean,
  deps: ReplayDependencies,
  budgets: ReadBudgets,
): Promise<MessageDetail> => {
  const { message, range } = checked;
  let read: ReadBack;
  try {
    read = await readRange(checked.record, deps, budgets);
  } catch (error) {
    deps.logger.warn('records could not be read back; the message stays', {
      messageId: message.messageId,
      error,
    });
    return failedDetail(message.messageId, `reading the range failed: ${(error as Error).message}`, range);
  }
  return driveMessage(checked, read, dryRun, deps);
};

/**
 * Drives the records read back from a message's range through processing and the sink, and decides the
 * message's outcome (quarantining it as expired when its range aged out).
 */
const driveMessage = async (
  { message, record, range }: CheckedMessage,
  read: ReadBack,
  dryRun: boolean,
  deps: ReplayDependencies,
): Promise<MessageDetail> => {
  const { logger, metrics } = deps;
  const info = record.KinesisBatchInfo;
  if (read.stopped) {
    return failedDetail(message.messageId, 'the time budget ran out while reading the range', range);
  }

  let driven: DriveResult = { counts: emptyCounts(), failedSequenceNumbers: [], deadline: false };
  if (read.records.length > 0) {
    const sink = dryRun ? deps.dryRunSink() : deps.sink;
    driven = await driveRecords(read.records, {
      store: sink.store,
      quarantine: sink.quarantine,
      // Every line of a dry run says so: its counts ("written") are what a replay would do.
      logger: dryRun ? markedDryRun(logger) : logger,
      metrics: dryRun ? dryRunMetrics : metrics,
      keyConcurrency: deps.keyConcurrency,
      timeReserveMs: deps.timeReserveMs,
      context: budgetContext(deps.remainingMs),
      ...(deps.attempts === undefined ? {} : { attempts: deps.attempts }),
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
  }
  const detail: MessageDetail = {
    messageId: message.messageId,
    outcome: 'replayed',
    ...range,
    recordsReplayed: read.records.length,
    ...driven.counts,
    deleted: false,
  };

  if (driven.counts.failed > 0) {
    detail.outcome = 'still-failing';
    detail.detail =
      `${driven.counts.failed} record(s) still failed, from ${driven.failedSequenceNumbers[0]}` +
      (driven.deadline ? ' (the time budget ran out)' : '') +
      (driven.error ? ` (${driven.error})` : '') +
      (read.expired ? `; besides, ${read.expired}` : '');
    return detail;
  }
  if (read.expired) {
    detail.outcome = 'expired';
    detail.detail = read.expired;
    if (!dryRun) {
      await deps.messageQuarantine.put({
        reason: 'expired',
        detail: read.expired,
        messageId: message.messageId,
        shardId: info.shardId,
        startSequenceNumber: info.startSequenceNumber,
        endSequenceNumber: info.endSequenceNumber,
        streamArn: info.streamArn,
        recordsReplayed: read.records.length,
        body: message.body,
        quarantinedAt: new Date(deps.clock?.now() ?? Date.now()),
      });
      metrics.addMetric('ReplayExpired', MetricUnit.Count, 1);
    }
    logger.error('records of a failure-queue message aged out of the stream; the message is quarantined', {
      messageId: message.messageId,
      ...range,
      reason: read.expired,
      dryRun,
    });
  }
  return detail;
};

/**
 * Reads the ranges of several messages of one shard, each starting after the one before ends, with one reader
 * from the first range's start: one GetShardIterator, and GetRecords of up to their batch sizes together.
 * Records between two ranges belong to no message (the consumer wrote them: the good half of a bisected batch,
 * say) and are passed over, up to one GetRecords' worth (`readerLimit`) in all; past that, reading each range
 * from its own start costs less. Answers the records of each range read whole, for the first messages in order:
 * it stops at a range whose first record is missing (aged out, or never there), past that many records between
 * ranges, when the time budget runs out, or when a read fails; the caller replays the rest one by one, which
 * tells those cases apart.
 */
const readJointly = async (
  group: CheckedMessage[],
  deps: ReplayDependencies,
  budgets: ReadBudgets,
): Promise<StreamRecord[][]> => {
  const ranges = group.map(({ record }) => ({
    start: BigInt(record.KinesisBatchInfo.startSequenceNumber),
    end: BigInt(record.KinesisBatchInfo.endSequenceNumber),
  }));
  const { shardId, startSequenceNumber } = group[0]!.record.KinesisBatchInfo;
  const batchSizes = group.reduce((total, { record }) => total + readLimit(record, deps), 0);
  const reader = readerOf(shardId, readerLimit(deps), deps, budgets);
  const slices: StreamRecord[][] = [[]];
  let whole = 0;
  let between = 0;
  try {
    await reader.read(
      { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: startSequenceNumber },
      {
        endSequenceNumber: group.at(-1)!.record.KinesisBatchInfo.endSequenceNumber,
        shouldStop: (waitMs) => shouldStop(deps, waitMs),
        // As many as the batches hold while the ranges follow one another; once records lie between them (a
        // batch the consumer finished, between two it gave up on), as many as a call may, so that reading past
        // them takes a few calls, not one for every few records.
        recordsPerCall: () => (between > 0 ? readerLimit(deps) : batchSizes),
      },
      ({ records }) => {
        for (const record of records) {
          const sequence = BigInt(record.sequenceNumber);
          let at = slices.length - 1;
          if (sequence > ranges[at]!.end) {
            // Past a range that was not read whole (its last record missing): left to the one-by-one replay.
            if (whole !== at + 1) return 'stop';
            // Between this range and the next: no message's record.
            if (at + 1 < ranges.length && sequence < ranges[at + 1]!.start) {
              between += 1;
              if (between > readerLimit(deps)) return 'stop';
              continue;
            }
            at += 1;
            slices.push([]);
          }
          // Each range must begin with its own start record: anything else is left to the one-by-one replay.
          if (slices[at]!.length === 0 && sequence !== ranges[at]?.start) return 'stop';
          slices[at]!.push(record);
          if (sequence === ranges[at]!.end) whole = at + 1;
        }
        return undefined;
      },
    );
  } catch (error) {
    deps.logger.debug('a joint read of ranges failed; they are read one by one', { shardId, error });
  }
  return slices.slice(0, whole);
};

/** Most messages of one shard whose ranges one reader reads together. */
const JOINT_READ_MESSAGES = 100;

/**
 * Replays messages of one shard, in the order given (oldest range first), deleting none. Runs of messages whose
 * ranges follow one another on the shard, as the event source mapping's batches of one outage do, are read
 * together (`readJointly`): their records cost a GetShardIterator and as few GetRecords as their number needs,
 * instead of both for every message. The others are read one by one. Each message's detail goes to `onDone` as
 * soon as it is known; the answer holds them all, undefined for a message not started because the time budget
 * ran out.
 */
export const replayShardMessages = async (
  messages: readonly QueueMessage[],
  dryRun: boolean,
  deps: ReplayDependencies,
  budgets: ReadBudgets = replayBudgets(deps),
  onDone: (index: number, detail: MessageDetail) => Promise<void> | void = () => undefined,
): Promise<Array<MessageDetail | undefined>> => {
  const checks = messages.map((message) => checkMessage(message, deps));
  const details: Array<MessageDetail | undefined> = messages.map(() => undefined);
  const limit = readerLimit(deps);
  let next = 0;
  while (next < checks.length && !shouldStop(deps)) {
    const check = checks[next]!;
    if ('detail' in check) {
      details[next] = check.detail;
      await onDone(next, check.detail);
      next += 1;
      continue;
    }
    // The messages from here whose ranges come one after another, and whose batches one GetRecords can hold.
    const group = [check.checked];
    let records = readLimit(check.checked.record, deps);
    for (const following of checks.slice(next + 1, next + JOINT_READ_MESSAGES)) {
      if ('detail' in following) break;
      const info = following.checked.record.KinesisBatchInfo;
      const previous = group.at(-1)!.record.KinesisBatchInfo;
      const size = readLimit(following.checked.record, deps);
      if (
        info.shardId !== previous.shardId ||
        compareSequence(info.startSequenceNumber, previous.endSequenceNumber) <= 0 ||
        records + size > limit
      ) {
        break;
      }
      group.push(following.checked);
      records += size;
    }
    const slices = group.length > 1 ? await readJointly(group, deps, budgets) : [];
    let driven = 0;
    // A message read together with others is still not started once the time budget has run out.
    for (const slice of slices) {
      if (driven > 0 && shouldStop(deps)) break;
      details[next + driven] = await driveMessage(group[driven]!, { records: slice }, dryRun, deps);
      await onDone(next + driven, details[next + driven]!);
      driven += 1;
    }
    next += driven;
    if (driven < slices.length) break;
    // The first message the joint read did not cover (or a message alone) is read on its own.
    if (slices.length < group.length && !shouldStop(deps)) {
      details[next] = await replayChecked(group[driven]!, dryRun, deps, budgets);
      await onDone(next, details[next]!);
      next += 1;
    }
  }
  return details;
};

const isDone = (detail: MessageDetail): boolean => detail.outcome !== 'still-failing';

/** Sums the details into the report. */
export const replayReport = (details: MessageDetail[], dryRun: boolean): ReplayReport => {
  const sum = (pick: (detail: MessageDetail) => number) => details.reduce((total, d) => total + pick(d), 0);
  return {
    messages: details.length,
    recordsReplayed: sum((d) => d.recordsReplayed),
    written: sum((d) => d.written),
    duplicates: sum((d) => d.duplicates),
    staleVersions: sum((d) => d.staleVersions),
    quarantined: sum((d) => d.quarantined),
    stillFailing: details.filter((d) => d.outcome === 'still-failing').length,
    expired: details.filter((d) => d.outcome === 'expired').length,
    deleted: details.filter((d) => d.deleted).length,
    dryRun,
    details,
  };
};

/** A line's extra input with `dryRun: true` added (an error or a string given alone keeps its Powertools key). */
export const withDryRun = (extra: LogItemExtraInput): LogItemExtraInput => {
  const [first] = extra;
  if (first instanceof Error) return [{ dryRun: true, error: first }];
  if (typeof first === 'string') return [{ dryRun: true, extra: first }];
  return [{ dryRun: true }, ...(extra as LogAttributes[])];
};

/** A logger whose every line carries `dryRun: true`. */
const markedDryRun = (logger: ReplayDependencies['logger']): ReplayDependencies['logger'] => ({
  debug: (input, ...extra) => logger.debug(input, ...withDryRun(extra)),
  info: (input, ...extra) => logger.info(input, ...withDryRun(extra)),
  warn: (input, ...extra) => logger.warn(input, ...withDryRun(extra)),
  error: (input, ...extra) => logger.error(input, ...withDryRun(extra)),
});

const count = (report: ReplayReport, deps: Pick<ReplayDependencies, 'metrics'>): void => {
  deps.metrics.addMetric('ReplayMessages', MetricUnit.Count, report.messages);
  deps.metrics.addMetric('ReplayMessagesDeleted', MetricUnit.Count, report.deleted);
  deps.metrics.addMetric('ReplayMessagesStillFailing', MetricUnit.Count, report.stillFailing);
};

const publish = (report: ReplayReport, deps: Pick<ReplayDependencies, 'metrics' | 'logger'>): void => {
  count(report, deps);
  const { details: _details, ...totals } = report;
  deps.logger.info('failure-queue replay finished', totals);
};

const integerIn = (name: string, value: unknown, min: number, max: number): number => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ReplayRequestError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
};

/** Checks the on-demand request; unknown fields are refused, so that a typo is not silently ignored. */
export const parseDrainRequest = (
  input: unknown,
): Required<Pick<DrainRequest, 'maxMessages' | 'dryRun'>> & DrainRequest => {
  const request = (input ?? {}) as Record<string, unknown>;
  if (typeof request !== 'object' || Array.isArray(request)) {
    throw new ReplayRequestError('the request must be a JSON object');
  }
  const unknown = Object.keys(request).filter(
    (key) => !['maxMessages', 'dryRun', 'visibilityTimeoutSeconds'].includes(key),
  );
  if (unknown.length > 0) {
    throw new ReplayRequestError(
      `unknown field(s) ${unknown.join(', ')}; expected { maxMessages?, dryRun?, visibilityTimeoutSeconds? }`,
    );
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') {
    throw new ReplayRequestError(`dryRun must be true or false, got ${JSON.stringify(request.dryRun)}`);
  }
  return {
    maxMessages:
      request.maxMessages === undefined
        ? 10
        : integerIn('maxMessages', request.maxMessages, 1, MAX_MESSAGES_PER_REQUEST),
    dryRun: request.dryRun === true,
    ...(request.visibilityTimeoutSeconds === undefined
      ? {}
      : {
          visibilityTimeoutSeconds: integerIn(
            'visibilityTimeoutSeconds',
            request.visibilityTimeoutSeconds,
            0,
            43_200,
          ),
        }),
  };
};

const receiveCountOf = (message: Message): number | undefined => {
  const raw = message.Attributes?.ApproximateReceiveCount;
  return raw === undefined ? undefined : Number(raw);
};

const positionOf = (body: string | undefined): [string, bigint] => {
  try {
    const info = (JSON.parse(body ?? '') as FailureRecord).KinesisBatchInfo;
    return [info.shardId ?? '', BigInt(info.startSequenceNumber ?? 0)];
  } catch {
    return ['', 0n];
  }
};

/**
 * Oldest range first within each shard, so that a replay keeps the order the records had on the stream; each
 * body is parsed once. An unreadable body sorts first, under shard ''.
 */
const inStreamOrder = <T>(
  items: readonly T[],
  bodyOf: (item: T) => string | undefined,
): Array<{ item: T; shardId: string; start: bigint }> =>
  items
    .map((item) => ({ item, position: positionOf(bodyOf(item)) }))
    .sort(
      ({ position: [shardA, startA] }, { position: [shardB, startB] }) =>
        shardA.localeCompare(shardB) || (startA < startB ? -1 : startA > startB ? 1 : 0),
    )
    .map(({ item, position: [shardId, start] }) => ({ item, shardId, start }));

/**
 * Messages received and not yet finished that the on-demand mode holds at most: it receives again while a receive
 * of 10 fits, so each shard has its next message at hand when it finishes one (4 shards replay about 20 a second
 * at Kinesis's limits), and no shard waits for the messages of another that came in the same receive. Each held
 * message stays invisible on the queue for the run's visibility timeout.
 */
const DRAIN_PREFETCH = 40;

/**
 * The on-demand mode: receives from the failure queue and handles up to `maxMessages` messages. A dry run
 * reads and reports; it writes and deletes nothing, and makes every message it received visible again at the
 * end (each receive still counts toward the queue's maxReceiveCount).
 */
export const drainFailureQueue = async (
  input: unknown,
  deps: ReplayDependencies & QueueDependencies,
): Promise<ReplayReport> => {
  const request = parseDrainRequest(input);
  assertTimeToWork(deps.remainingMs(), deps.stopReserveMs);
  // Imported here, not at the top: only the on-demand mode calls SQS (shared/clients/lazy.ts).
  const { DeleteMessageCommand, ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
  const visibility =
    request.visibilityTimeoutSeconds ?? Math.min(43_200, Math.ceil(deps.remainingMs() / 1000) + 30);
  const details: MessageDetail[] = [];
  const budgets = replayBudgets(deps);
  /** Every message this run received, by id. */
  const seen = new Map<string, Message>();
  // Messages received but not finished with (a dry run's, or those the budget left): made visible again.
  const release: Message[] = [];
  /** Replays messages of one shard, oldest range first, and deletes each one done (never in a dry run). */
  const handleMessages = async (messages: Message[]): Promise<void> => {
    await replayShardMessages(
      messages.map((message) => {
        const receiveCount = receiveCountOf(message);
        return {
          messageId: message.MessageId!,
          body: message.Body ?? '',
          ...(receiveCount === undefined ? {} : { receiveCount }),
        };
      }),
      request.dryRun,
      deps,
      budgets,
      async (index, detail) => {
        const message = messages[index]!;
        if (!request.dryRun && isDone(detail)) await deleteDone(message, detail);
        done.set(message, detail);
      },
    );
  };
  const deleteDone = async (message: Message, detail: MessageDetail): Promise<void> => {
    try {
      await deps.sqs.send(
        new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
      detail.deleted = true;
    } catch (error) {
      // Done but not deleted: it comes back and replays as duplicates.
      detail.detail = `${detail.detail ? `${detail.detail}; ` : ''}delete failed: ${(error as Error).message}`;
      deps.logger.warn('a replayed message could not be deleted', { messageId: message.MessageId, error });
    }
  };
  // Every message taken, in the order it is reported: receive by receive, each in stream order.
  // Each with the time of its receive: it is hidden from then until `visibility` seconds later.
  const taken: Array<{ item: Message; shardId: string; receivedAt: number }> = [];
  const done = new Map<Message, MessageDetail>();
  // The shards' messages at once, each shard's one after another, oldest range first: a shard is read by one
  // reader at a time (its GetRecords limits hold) and its records land in the order they had on the stream. A
  // shard's queue lives while its worker has messages to handle.
  const queues = new Map<string, Array<{ item: Message; start: bigint }>>();
  const workers = new Set<Promise<void>>();
  let unfinished = 0;
  let failure: { error: unknown } | undefined;
  let wakeReceiver: (() => void) | undefined;
  const work = async (shardId: string, queue: Array<{ item: Message; start: bigint }>) => {
    // Whatever the shard has queued goes together, so that ranges that follow one another are read together.
    for (let next = queue.splice(0); next.length > 0; next = queue.splice(0)) {
      try {
        // Those the time budget (or a failure) leaves are shown again at the end.
        if (!shouldStop(deps) && !failure) await handleMessages(next.map(({ item }) => item));
      } catch (error) {
        failure ??= { error };
      } finally {
        unfinished -= next.length;
        wakeReceiver?.();
      }
    }
    queues.delete(shardId);
  };
  /** Queues a message in stream order; answers true when its shard had no queue, and so no worker, yet. */
  const enqueue = (entry: { item: Message; shardId: string; start: bigint }): boolean => {
    const queue = queues.get(entry.shardId) ?? [];
    const idle = !queues.has(entry.shardId);
    queues.set(entry.shardId, queue);
    let at = queue.length;
    while (at > 0 && queue[at - 1]!.start > entry.start) at -= 1;
    queue.splice(at, 0, { item: entry.item, start: entry.start });
    return idle;
  };
  try {
    while (taken.length < request.maxMessages && !shouldStop(deps) && !failure) {
      // Room for a whole receive of 10: at most DRAIN_PREFETCH messages are held at once.
      while (unfinished + 10 > DRAIN_PREFETCH && !failure) {
        await new Promise<void>((resolve) => {
          wakeReceiver = resolve;
        });
      }
      wakeReceiver = undefined;
      if (failure || shouldStop(deps)) break;
      const receiving = deps.clock?.now() ?? Date.now();
      const { Messages = [] } = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.queueUrl,
          MaxNumberOfMessages: Math.min(10, request.maxMessages - taken.length),
          VisibilityTimeout: visibility,
          WaitTimeSeconds: deps.waitTimeSeconds ?? 1,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The older field, which some SQS emulators still read instead ('All': it has no value of its own for this).
          AttributeNames: ['All'],
        }),
      );
      // Nothing at all: the queue is drained; what was taken is finished below.
      if (Messages.length === 0) break;
      // A message already taken in this run may come again (a visibility timeout shorter than its work): it is not
      // replayed twice, and its newest receipt handle is the one to delete it or show it again with (SQS may
      // ignore an older one).
      const fresh: Message[] = [];
      for (const message of new Map(Messages.map((message) => [message.MessageId!, message])).values()) {
        const held = seen.get(message.MessageId!);
        if (held) held.ReceiptHandle = message.ReceiptHandle;
        else fresh.push(message);
      }
      if (fresh.length === 0) {
        // Only this run's own messages, come round again: not drained while some are unfinished. The next receive
        // waits until one of them is; with none left, what comes round is finished work, and the run ends.
        if (unfinished === 0) break;
        await new Promise<void>((resolve) => {
          wakeReceiver = resolve;
        });
        wakeReceiver = undefined;
        continue;
      }
      const idleShards: string[] = [];
      for (const entry of inStreamOrder(fresh, (message) => message.Body)) {
        seen.set(entry.item.MessageId!, entry.item);
        if (taken.length >= request.maxMessages) release.push(entry.item);
        else {
          taken.push({ ...entry, receivedAt: receiving });
          unfinished += 1;
          if (enqueue(entry)) idleShards.push(entry.shardId);
        }
      }
      // Once the whole receive is queued, so that a shard's worker takes all of its messages together.
      for (const shardId of idleShards) {
        const worker = work(shardId, queues.get(shardId)!);
        workers.add(worker);
        void worker.finally(() => workers.delete(worker));
      }
    }
  } finally {
    while (workers.size > 0) await Promise.all(workers);
    // Reported in the order taken; a dry run's messages and those never started are shown again.
    for (const { item: message, receivedAt } of taken) {
      const detail = done.get(message);
      if (detail?.outcome === 'still-failing' && !request.dryRun) {
        detail.visibleAgainAt = new Date(receivedAt + visibility * 1000).toISOString();
      }
      if (detail) details.push(detail);
      if (!detail || request.dryRun) release.push(message);
    }
    await makeVisible(release, deps);
  }
  const report = replayReport(details, request.dryRun);
  // A run that fails still counts the messages it replayed and deleted before the failure.
  if (failure) {
    count(report, deps);
    throw failure.error;
  }
  const queue = await queueDepth(deps);
  if (queue) report.queue = queue;
  publish(report, deps);
  return report;
};

/** The failure queue's waiting and in-flight messages, or undefined when they cannot be read. */
const queueDepth = async (
  deps: QueueDependencies & Pick<ReplayDependencies, 'logger'>,
): Promise<ReplayReport['queue']> => {
  const { GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
  try {
    const answer = await deps.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: deps.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const waiting = Number(answer?.Attributes?.ApproximateNumberOfMessages);
    const inFlight = Number(answer?.Attributes?.ApproximateNumberOfMessagesNotVisible);
    return Number.isFinite(waiting) && Number.isFinite(inFlight) ? { waiting, inFlight } : undefined;
  } catch (error) {
    deps.logger.warn('the failure queue could not be measured after the run', { error });
    return undefined;
  }
};

const makeVisible = async (
  messages: Message[],
  deps: QueueDependencies & Pick<ReplayDependencies, 'logger'>,
) => {
  const { ChangeMessageVisibilityBatchCommand } = await import('@aws-sdk/client-sqs');
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: deps.queueUrl,
          Entries: chunk.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle!,
            VisibilityTimeout: 0,
          })),
        }),
      );
    } catch (error) {
      // They reappear when their visibility timeout ends anyway.
      deps.logger.warn('messages could not be made visible again', { count: chunk.length, error });
    }
  }
};

/**
 * The SQS-trigger mode: the event source mapping hands over failure-queue messages and deletes those not
 * reported as failures (partial batch response, `ReportBatchItemFailures`). Powertools' batch processor runs
 * the messages; those of different shards at once, those of one shard one after another, oldest range first.
 */
export const replaySqsEvent = async (
  event: SQSEvent,
  deps: ReplayDependencies,
): Promise<{ batchItemFailures: PartialItemFailures[]; report: ReplayReport }> => {
  assertTimeToWork(deps.remainingMs(), deps.stopReserveMs);
  const ordered = inStreamOrder(event.Records, (record) => record.body);
  const budgets = replayBudgets(deps);
  // Each shard's messages replayed together (ranges that follow one another read at once), the shards at the
  // same time; a shard's messages in stream order, so its records land in the order they had on the stream.
  // Each message's outcome as soon as it is known: a detail, undefined when it was not started, or the error that
  // stopped its shard's replay before it.
  const finished = new Map<SQSRecord, PromiseWithResolvers<MessageDetail | undefined>>(
    ordered.map(({ item }) => [item, Promise.withResolvers()]),
  );
  for (const shardMessages of Map.groupBy(ordered, (entry) => entry.shardId).values()) {
    const outcomeOf = (index: number) => finished.get(shardMessages[index]!.item)!;
    void replayShardMessages(
      shardMessages.map(({ item }) => {
        const receiveCount = Number(item.attributes.ApproximateReceiveCount);
        return {
          messageId: item.messageId,
          body: item.body,
          ...(Number.isFinite(receiveCount) ? { receiveCount } : {}),
        };
      }),
      false,
      deps,
      budgets,
      (index, detail) => outcomeOf(index).resolve(detail),
    ).then(
      () => {
        for (const index of shardMessages.keys()) outcomeOf(index).resolve(undefined);
      },
      (error: unknown) => {
        for (const index of shardMessages.keys()) outcomeOf(index).reject(error);
      },
    );
  }
  // Powertools' processor turns each message's outcome into the partial batch response.
  const handleMessage = async (message: SQSRecord): Promise<void> => {
    const detail = await finished.get(message)!.promise;
    if (!detail) throw new Error('not attempted: the time budget ran out');
    if (!isDone(detail)) throw new Error(detail.detail ?? 'records still failing');
    // The event source mapping deletes it once the batch response leaves it out.
    detail.deleted = true;
  };
  const response = await processPartialResponse(
    { Records: ordered.map(({ item }) => item) },
    handleMessage,
    new BatchProcessor(EventType.SQS),
    {
      processInParallel: true,
      throwOnFullBatchFailure: false,
    },
  );
  // Reported in stream order, whatever order the shards finished in.
  const details = (
    await Promise.all(ordered.map(({ item }) => finished.get(item)!.promise.catch(() => undefined)))
  ).filter((detail): detail is MessageDetail => detail !== undefined);
  const report = replayReport(details, false);
  publish(report, deps);
  return {
    batchItemFailures: response.batchItemFailures.map(({ itemIdentifier }) => ({ itemIdentifier })),
    report,
  };
};
