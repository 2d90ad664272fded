import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandInput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { MetricsSink } from '#shared/consumer/process-records.ts';
import { isRfc3339 } from '#shared/events/cloudevent.ts';
import { type Clock, RateLimiter, systemClock } from '#shared/kinesis/rate-limiter.ts';
import {
  compareSequence,
  errorName,
  type ReadBudgets,
  type ReadResult,
  readBudgets,
  retryWorthRetrying,
  type ShardPosition,
  ShardReader,
  type TimestampPositioning,
} from '#shared/kinesis/shard-reader.ts';
import { MetricUnit } from '#shared/powertools/metrics.ts';
import { assertTimeToWork, budgetContext, driveRecords, type Sink } from './drive-records.ts';
import { dryRunMetrics } from './dry-run.ts';
import {
  type AgedOutRange,
  type JobItem,
  type JobParameters,
  type JobStore,
  LeaseLostError,
  type ShardCounts,
  type ShardItem,
  type ShardProgress,
  shardCounts,
} from './job-store.ts';

/**
 * The reprocessor: re-reads a time window of the stream on demand and drives it through the consumer's own
 * processing and sink, resumably.
 *
 * - A job has an id; its parameters, and one checkpoint per shard, are stored under that id (job-store.ts).
 *   Naming the job again resumes it from its checkpoints, never from the start; naming it with other
 *   parameters is refused. (The KCL instead lets an existing checkpoint silently override a requested
 *   timestamp.)
 * - Shards: those open at `from` (ListShards with an AT_TIMESTAMP filter) and their descendants. A shard is read
 *   only once all its parents in the job are done, so each partition key is read in order across splits and
 *   merges; children start at TRIM_HORIZON, as the KCL does.
 * - A shard stops at the first record that arrived after `to` plus a grace period (arrival times are
 *   approximate), at the end of a closed shard, or at the tip; records after `to` are not processed.
 * - Before the Lambda timeout the invocation checkpoints, gives its leases up and continues the job in a new
 *   invocation of itself (an injectable `continueJob`), until the job is done.
 */

export type ReprocessAction = 'start' | 'status';

/** The request: `{ from, to?, shardIds?, dryRun?, jobId?, maxRecordsPerSecond?, action? }` plus two extras. */
export interface ReprocessRequest {
  action?: ReprocessAction;
  jobId?: string;
  /** ISO 8601, or epoch milliseconds. */
  from?: string | number;
  to?: string | number;
  shardIds?: string[];
  dryRun?: boolean;
  maxRecordsPerSecond?: number;
  /** Create or check the job, hand the work to a new invocation, and answer at once. */
  detach?: boolean;
  /** Set by the function itself when it continues a job: how many invocations came before. */
  continuation?: number;
}

export interface ReprocessSettings {
  streamName: string;
  projectionVersion: number;
  keyConcurrency: number;
  /** No record is started with less than this many milliseconds left. */
  timeReserveMs: number;
  /** No GetRecords call is started with less than this many milliseconds left; then the job continues. */
  stopReserveMs: number;
  leaseDurationMs: number;
  /** How far past `to` a record may have arrived before reading stops (arrival times are approximate). */
  windowGraceMs: number;
  defaultMaxRecordsPerSecond: number;
  /** GetRecords calls per second per shard (at most 5, Kinesis's limit, shared with the live consumer). */
  getRecordsPerSecond: number;
  /**
   * Bytes per second per shard taken by GetRecords answers (at most 2 MiB/s, Kinesis's limit, shared with the
   * live consumer): after an answer of B bytes the next call waits B / rate seconds.
   */
  getRecordsBytesPerSecond: number;
  getRecordsLimit: number;
  /** Shards read at the same time by one invocation. */
  shardConcurrency: number;
  timestampPositioning: TimestampPositioning;
  /** How long an AT_TIMESTAMP GetShardIterator may take before the shard is scanned from its trim horizon instead. */
  timestampIteratorTimeoutMs: number;
  /** Runs of failed records before a shard is left failed. */
  retryAttempts: number;
  /** The longest chain of continuations one job may have. */
  maxInvocations: number;
  /** Days the jobs table keeps a job after its last update. */
  jobRetentionDays: number;
}

export interface ContinueRequest {
  action: 'start';
  jobId: string;
  continuation: number;
}

export interface ReprocessDependencies {
  kinesis: Pick<KinesisClient, 'send'>;
  jobs: JobStore;
  sink: Sink;
  dryRunSink: () => Sink;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  metrics: MetricsSink;
  /** Who this invocation is, as a lease owner (the request id). */
  owner: string;
  /** Milliseconds left in this invocation. */
  remainingMs: () => number;
  /** Starts the next invocation of the job (asynchronously: it must not wait for that invocation). */
  continueJob: (request: ContinueRequest) => Promise<void>;
  settings: ReprocessSettings;
  clock?: Clock;
}

export interface ShardStatus extends ShardCounts {
  shardId: string;
  parents: string[];
  state: ShardItem['state'];
  endReason?: ShardItem['endReason'];
  /** The last sequence number done. */
  position?: string;
  lastArrival?: string;
  /** Milliseconds the position is behind the window's end (the job's start when no `to` was given). */
  lagMs: number;
  lease?: { owner: string; expiresAt: string };
  /** When the shard's checkpoint or state was last written. */
  updatedAt: string;
  lastError?: string;
  /** Ranges of the window that passed the stream's retention before the shard was read up to them. */
  agedOut?: AgedOutRange[];
}

export interface JobStatus {
  jobId: string;
  state: JobItem['state'];
  dryRun: boolean;
  parameters: JobParameters;
  projectionVersion: number;
  windowEnd: string;
  createdAt: string;
  updatedAt: string;
  invocations: number;
  totals: ShardCounts;
  shards: ShardStatus[];
  /** For a start: whether this invocation handed the job on to another. */
  continued?: boolean;
  /**
   * The projection version the function that answered writes. A job not done that writes another can no longer be
   * resumed by it: a new job is needed for the new version.
   */
  functionProjectionVersion?: number;
  lastError?: string;
  /**
   * What the stream could no longer give back of the window: when the job was created (windowWarnings), and
   * ranges of a shard that passed the retention before they were read (its `agedOut`).
   */
  warnings?: string[];
}

/**
 * The answer to a status request for a job the store does not hold: an answer, not a refusal, so that a look before
 * a start (as `npm run reprocess -- --job <new id>` makes) is no failed invocation.
 */
export interface JobNotFound {
  jobId: string;
  state: 'not-found';
  message: string;
}

/** What the function answers: a job's status, or, to a status request only, that there is no such job. */
export type ReprocessAnswer = JobStatus | JobNotFound;

/** A request the function refuses, with the reason. */
export class ReprocessRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReprocessRequestError';
  }
}

const JOB_ID = /^[A-Za-z0-9._-]{1,80}$/;
const SHARD_ID = /^shardId-\d{12}$/;
const FIELDS = [
  'action',
  'jobId',
  'from',
  'to',
  'shardIds',
  'dryRun',
  'maxRecordsPerSecond',
  'detach',
  'continuation',
];
const JOB_FIELDS = ['from', 'to', 'shardIds', 'dryRun', 'maxRecordsPerSecond'] as const;

const iso = (ms: number): string => new Date(ms).toISOString();

const HOUR_MS = 3_600_000;

/** What the reprocessor needs to know of the stream: when it was created and how long it keeps records. */
export interface StreamFacts {
  /** Epoch milliseconds. */
  createdAt: number;
  retentionHours: number;
}

/** The arrival time before which the stream has dropped its records, at `now`. */
const oldestKept = (stream: StreamFacts, now: number): number => now - stream.retentionHours * HOUR_MS;

/** A full-date alone (2026-11-27), read as midnight UTC. */
const FULL_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Epoch milliseconds below this (March 1973) are taken for seconds given by mistake. */
const EPOCH_MS_FLOOR = 100_000_000_000;

/**
 * A window bound as epoch milliseconds. Only forms every machine reads alike are taken: an RFC 3339 date-time
 * with its offset, a date alone (UTC), or epoch milliseconds. Date.parse alone would read a time without an offset
 * in the local time zone (a laptop and Lambda would pick different windows), roll February 30th over into March,
 * and take free text such as "Sun Nov 29 2026".
 */
const timeOf = (name: string, value: unknown): number => {
  const refuse = (why: string): never => {
    throw new ReprocessRequestError(`${name} ${why}, got ${JSON.stringify(value)}`);
  };
  const forms =
    'must be an RFC 3339 time with its offset (2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00), a date ' +
    '(2026-11-27, midnight UTC) or epoch milliseconds';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) refuse(forms);
    if (value < EPOCH_MS_FLOOR) {
      refuse(
        `looks like epoch seconds (${iso(value * 1000)}): in epoch milliseconds that is ${value * 1000}`,
      );
    }
    return value;
  }
  if (typeof value !== 'string') return refuse(forms);
  const text = value.trim();
  if (FULL_DATE.test(text)) {
    const midnight = `${text}T00:00:00Z`;
    if (!isRfc3339(midnight)) refuse(`is not a real date: ${forms}`);
    return Date.parse(midnight);
  }
  if (isRfc3339(text)) return Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) {
    refuse("has no UTC offset: add Z or ±hh:mm (a time without one is read in each machine's own time zone)");
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt]/.test(text) && Number.isFinite(Date.parse(text))) {
    refuse(`is not a real time: ${forms}`);
  }
  return refuse(forms);
};

export interface ParsedRequest {
  action: ReprocessAction;
  jobId?: string;
  /** Present when the request names the job's parameters (normalized, defaults filled in). */
  parameters?: JobParameters;
  /** The parameters the request left to their defaults: a job that exists keeps its own for them. */
  defaulted?: Array<keyof JobParameters>;
  detach: boolean;
  continuation: number;
}

/** Checks a request; unknown fields are refused, so that a typo is never silently ignored. */
export const parseReprocessRequest = (
  input: unknown,
  settings: Pick<ReprocessSettings, 'defaultMaxRecordsPerSecond'>,
): ParsedRequest => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ReprocessRequestError('the request must be a JSON object');
  }
  const request = input as Record<string, unknown>;
  const unknown = Object.keys(request).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) {
    throw new ReprocessRequestError(
      `unknown field(s) ${unknown.join(', ')}; expected { from, to?, shardIds?, dryRun?, jobId?, maxRecordsPerSecond?, action? }`,
    );
  }
  const action = request.action ?? 'start';
  if (action !== 'start' && action !== 'status') {
    throw new ReprocessRequestError(`action must be 'start' or 'status', got ${JSON.stringify(action)}`);
  }
  if (request.jobId !== undefined && (typeof request.jobId !== 'string' || !JOB_ID.test(request.jobId))) {
    throw new ReprocessRequestError(
      `jobId must be 1-80 letters, digits, '.', '_' or '-', got ${JSON.stringify(request.jobId)}`,
    );
  }
  const jobId = request.jobId as string | undefined;
  const given = JOB_FIELDS.filter((field) => request[field] !== undefined);
  if (action === 'status') {
    if (jobId === undefined) throw new ReprocessRequestError('a status request needs the jobId');
    if (given.length > 0) {
      throw new ReprocessRequestError(`a status request takes only the jobId, not ${given.join(', ')}`);
    }
    return { action, jobId, detach: false, continuation: 0 };
  }
  const continuation = request.continuation ?? 0;
  if (typeof continuation !== 'number' || !Number.isInteger(continuation) || continuation < 0) {
    throw new ReprocessRequestError(
      `continuation must be a whole number, got ${JSON.stringify(continuation)}`,
    );
  }
  if (request.detach !== undefined && typeof request.detach !== 'boolean') {
    throw new ReprocessRequestError(`detach must be true or false, got ${JSON.stringify(request.detach)}`);
  }
  const detach = request.detach === true;
  if (given.length === 0) {
    if (jobId === undefined) throw new ReprocessRequestError('from is required to start a job');
    return { action, jobId, detach, continuation };
  }
  if (request.from === undefined) {
    throw new ReprocessRequestError(`from is required with ${given.join(', ')}`);
  }
  const from = timeOf('from', request.from);
  const to = request.to === undefined ? undefined : timeOf('to', request.to);
  if (to !== undefined && to <= from) throw new ReprocessRequestError('to must be after from');
  let shardIds: string[] | undefined;
  if (request.shardIds !== undefined) {
    if (
      !Array.isArray(request.shardIds) ||
      request.shardIds.length === 0 ||
      request.shardIds.some((id) => typeof id !== 'string' || !SHARD_ID.test(id))
    ) {
      throw new ReprocessRequestError(
        `shardIds must be a non-empty list of shard ids such as shardId-000000000000, got ${JSON.stringify(request.shardIds)}`,
      );
    }
    shardIds = [...new Set(request.shardIds as string[])].sort();
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') {
    throw new ReprocessRequestError(`dryRun must be true or false, got ${JSON.stringify(request.dryRun)}`);
  }
  const rate = request.maxRecordsPerSecond ?? settings.defaultMaxRecordsPerSecond;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1 || rate > 100_000) {
    throw new ReprocessRequestError(
      `maxRecordsPerSecond must be a whole number from 1 to 100000, got ${JSON.stringify(rate)}`,
    );
  }
  return {
    action,
    ...(jobId === undefined ? {} : { jobId }),
    parameters: {
      from: iso(from),
      ...(to === undefined ? {} : { to: iso(to) }),
      ...(shardIds === undefined ? {} : { shardIds }),
      dryRun: request.dryRun === true,
      maxRecordsPerSecond: rate,
    },
    ...(request.maxRecordsPerSecond === undefined ? { defaulted: ['maxRecordsPerSecond'] } : {}),
    detach,
    continuation,
  };
};

/**
 * The parameters that differ between two requests of one job, for the refusal; those the second request left
 * to their defaults are not compared (a resume without the rate keeps the job's own).
 */
const differences = (
  stored: JobParameters,
  asked: JobParameters,
  defaulted: ReadonlyArray<keyof JobParameters> = [],
): string[] =>
  JOB_FIELDS.filter(
    (field) => !defaulted.includes(field) && JSON.stringify(stored[field]) !== JSON.stringify(asked[field]),
  ).map(
    (field) =>
      `${field} (${shownParameter(stored[field], 'the job')}, ${shownParameter(asked[field], 'this request')})`,
  );

/**
 * A parameter for a refusal. One not given is said so: a job started without `to` reads up to the moment it
 * started, and that end (which the commands print) given later is another parameter than none.
 */
const shownParameter = (value: unknown, whose: 'the job' | 'this request'): string =>
  value === undefined
    ? `not given in ${whose === 'the job' ? "the job's start" : 'this request'}`
    : `${whose === 'the job' ? 'stored' : 'asked'} ${JSON.stringify(value)}`;

/**
 * Refuses a request that names an existing job with other parameters than the job's own. `npm run reprocess`
 * asks the same of a job it would only follow, which the function is then never asked about.
 */
export const refuseOtherParameters = (
  job: { jobId: string; parameters: JobParameters },
  request: Pick<ParsedRequest, 'parameters' | 'defaulted'>,
): void => {
  if (!request.parameters) return;
  const differ = differences(job.parameters, request.parameters, request.defaulted);
  if (differ.length > 0) {
    throw new ReprocessRequestError(
      `job ${job.jobId} exists with other parameters: ${differ.join('; ')}. Resume it with its own parameters ` +
        '(or with the jobId alone), or start a new job with another jobId',
    );
  }
};

/** Attempts at a ListShards or DescribeStreamSummary call that is throttled or fails on its way. */
const CONTROL_PLANE_ATTEMPTS = 6;

/**
 * A ListShards or DescribeStreamSummary call, retried with backoff while it is throttled or fails on its way (a
 * 5xx, a reset connection): the recovery functions' Kinesis client makes one attempt per call, for the shard
 * reader's sake, and DescribeStreamSummary allows only 20 calls a second per account. Any other error (access
 * denied, a validation error) is thrown at once.
 */
const controlPlaneCall = <T>(clock: Clock, call: () => Promise<T>): Promise<T> =>
  retryWorthRetrying(clock, CONTROL_PLANE_ATTEMPTS, call);

const listAllShards = async (
  kinesis: Pick<KinesisClient, 'send'>,
  first: ListShardsCommandInput,
  clock: Clock,
): Promise<Shard[]> => {
  const shards: Shard[] = [];
  let input: ListShardsCommandInput = first;
  for (;;) {
    const request = input;
    const page = await controlPlaneCall(clock, () => kinesis.send(new ListShardsCommand(request)));
    shards.push(...(page.Shards ?? []));
    if (!page.NextToken) return shards;
    // A follow-up page is asked by its token alone.
    input = { NextToken: page.NextToken };
  }
};

/** What the plan needs of a listed shard: its id and its parents. */
type ShardLineage = Pick<Shard, 'ShardId' | 'ParentShardId' | 'AdjacentParentShardId'>;

const parentsOf = (shard: ShardLineage): string[] =>
  [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => id !== undefined);

/** Adds every descendant of `roots` found in `all` to `ids`. */
const withDescendants = (roots: Iterable<string>, all: Shard[]): Set<string> => {
  const ids = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const shard of all) {
      if (!ids.has(shard.ShardId!) && parentsOf(shard).some((parent) => ids.has(parent))) {
        ids.add(shard.ShardId!);
        grew = true;
      }
    }
  }
  return ids;
};

/** A shard of the job, not yet read; its parents are those of `shard` that belong to the job. */
export const newShardItem = (
  jobId: string,
  shard: ShardLineage,
  jobShards: Set<string>,
  start: ShardItem['start'],
  at: string,
): ShardItem => ({
  jobId,
  shardId: shard.ShardId!,
  parents: parentsOf(shard).filter((parent) => jobShards.has(parent)),
  start,
  state: 'pending',
  recordsRead: 0,
  written: 0,
  duplicates: 0,
  staleVersions: 0,
  quarantined: 0,
  failed: 0,
  updatedAt: at,
});

/**
 * The job's shards: those open at or after `from` (the FROM_TIMESTAMP shard filter) whose parents are not listed,
 * and their descendants, narrowed to the asked shards and theirs. The roots are the shards open at `from`, and
 * those created since whose parents have expired (ListShards lists no EXPIRED shard): a shard open at `from` that
 * split and then passed the retention leaves children whose records are still in the window, and that no listed
 * shard names as a descendant. A shard whose parent is also listed is a descendant, whatever the filter answered
 * (an emulator may ignore the filter and list every shard). When the filter lists nothing, the plan starts from
 * the oldest shards left, those whose parents are gone: their records are the oldest still in the window.
 */
export const planShards = async (
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  jobId: string,
  parameters: JobParameters,
  at: string,
  clock: Clock,
): Promise<ShardItem[]> => {
  const openFrom = await listAllShards(
    kinesis,
    {
      StreamName: streamName,
      ShardFilter: { Type: 'FROM_TIMESTAMP', Timestamp: new Date(parameters.from) },
    },
    clock,
  );
  const all = await listAllShards(kinesis, { StreamName: streamName }, clock);
  const allIds = new Set(all.map((shard) => shard.ShardId!));
  const open =
    openFrom.length > 0
      ? openFrom
      : all.filter((shard) => !parentsOf(shard).some((parent) => allIds.has(parent)));
  if (open.length === 0) {
    throw new ReprocessRequestError(`stream ${streamName} lists no shard to read`);
  }
  const openIds = new Set(open.map((shard) => shard.ShardId!));
  const roots = open.filter((shard) => !parentsOf(shard).some((parent) => openIds.has(parent)));
  let ids = withDescendants(
    roots.map((shard) => shard.ShardId!),
    all,
  );
  if (parameters.shardIds) {
    const unknown = parameters.shardIds.filter((id) => !ids.has(id));
    if (unknown.length > 0) {
      throw new ReprocessRequestError(
        `shard(s) ${unknown.join(', ')} were not open at or after ${parameters.from} in stream ${streamName}`,
      );
    }
    const asked = withDescendants(parameters.shardIds, all);
    ids = new Set([...ids].filter((id) => asked.has(id)));
  }
  const byId = new Map([...all, ...open].map((shard) => [shard.ShardId!, shard]));
  return [...ids].sort().map((id) => {
    const item = newShardItem(jobId, byId.get(id)!, ids, 'TRIM_HORIZON', at);
    item.start = item.parents.length === 0 && openIds.has(id) ? 'AT_TIMESTAMP' : 'TRIM_HORIZON';
    return item;
  });
};

const sumCounts = (shards: ShardCounts[]): ShardCounts =>
  shards.reduce(
    (total, shard) => ({
      recordsRead: total.recordsRead + shard.recordsRead,
      written: total.written + shard.written,
      duplicates: total.duplicates + shard.duplicates,
      staleVersions: total.staleVersions + shard.staleVersions,
      quarantined: total.quarantined + shard.quarantined,
      failed: total.failed + shard.failed,
    }),
    { recordsRead: 0, written: 0, duplicates: 0, staleVersions: 0, quarantined: 0, failed: 0 },
  );

/** The job as a status answer: per shard, its counts, position, lag and state. */
export const jobStatus = (job: JobItem, shards: ShardItem[], now: number): JobStatus => {
  const windowEnd = Date.parse(job.windowEnd);
  const from = Date.parse(job.parameters.from);
  const statuses = [...shards]
    .sort((a, b) => a.shardId.localeCompare(b.shardId))
    .map((shard): ShardStatus => {
      const arrival = shard.lastArrival === undefined ? from : Date.parse(shard.lastArrival);
      // Behind the window's end, which a job started without `to` took at its start: the stream's tip moves on,
      // and measuring against it would show a job that is nearly done falling behind.
      const lagMs = shard.state === 'done' ? 0 : Math.max(0, windowEnd - arrival);
      const leased =
        shard.leaseOwner !== undefined && shard.leaseExpiresAt !== undefined && shard.leaseExpiresAt >= now;
      return {
        shardId: shard.shardId,
        parents: shard.parents,
        state: shard.state,
        ...(shard.endReason === undefined ? {} : { endReason: shard.endReason }),
        ...shardCounts(shard),
        ...(shard.position === undefined ? {} : { position: shard.position }),
        ...(shard.lastArrival === undefined ? {} : { lastArrival: shard.lastArrival }),
        lagMs,
        ...(leased ? { lease: { owner: shard.leaseOwner!, expiresAt: iso(shard.leaseExpiresAt!) } } : {}),
        updatedAt: shard.updatedAt,
        ...(shard.lastError === undefined ? {} : { lastError: shard.lastError }),
        ...(shard.agedOut === undefined ? {} : { agedOut: shard.agedOut }),
      };
    });
  const warnings = [
    ...(job.warnings ?? []),
    ...statuses.flatMap((shard) =>
      (shard.agedOut ?? []).map(
        (range) =>
          `${shard.shardId}: records that arrived from ${range.from} to ${range.to} passed the stream's retention ` +
          'before they were read: any there were are gone',
      ),
    ),
  ];
  return {
    jobId: job.jobId,
    state: job.state,
    dryRun: job.parameters.dryRun,
    parameters: job.parameters,
    projectionVersion: job.projectionVersion,
    windowEnd: job.windowEnd,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    invocations: job.invocations,
    totals: sumCounts(statuses),
    shards: statuses,
    ...(job.lastError === undefined ? {} : { lastError: job.lastError }),
    ...(warnings.length === 0 ? {} : { warnings }),
  };
};

type ShardOutcome = 'done' | 'shard-end' | 'failed' | 'budget' | 'lease-lost';

interface RunContext {
  job: JobItem;
  deps: ReprocessDependencies;
  clock: Clock;
  recordLimiter: RateLimiter;
  /**
   * The call and byte budget of each shard, for the whole invocation: a shard read again (its lease lost and
   * taken back) goes on with the budget its earlier readers spent, not with a fresh one.
   */
  budgets: ReadBudgets;
  /**
   * True once the budget runs out (or would, after waiting `waitMs` first), or once a worker met an error it cannot
   * record.
   */
  shouldStop: (waitMs?: number) => boolean;
  /** The first such error: the other workers stop at their next call, and the invocation then fails with it. */
  abort: { error?: unknown };
  /** The stream's creation time and retention, asked once per invocation when a shard with a position is taken up. */
  stream?: Promise<StreamFacts>;
}

/**
 * The shard's `agedOut` with the range its reader can no longer have, if any: from its last checkpoint's arrival
 * time to the oldest time the stream keeps (or the window's end, if earlier). A shard not started yet has none
 * here: the job's window warning covers a window that starts before the retention. A range that starts where the
 * last one did (the shard has not moved since) replaces it.
 */
export const agedOutRanges = (
  shard: Pick<ShardItem, 'lastArrival' | 'agedOut'>,
  windowEnd: number,
  stream: StreamFacts,
  now: number,
): AgedOutRange[] | undefined => {
  if (shard.lastArrival === undefined) return undefined;
  const kept = Math.min(oldestKept(stream, now), windowEnd);
  if (Date.parse(shard.lastArrival) >= kept) return undefined;
  const range = { from: shard.lastArrival, to: iso(kept) };
  const earlier = (shard.agedOut ?? []).filter((known) => known.from !== range.from);
  return [...earlier, range];
};

/** Reads one leased shard until it is done, fails, or the budget runs out; checkpoints after every batch. */
const runShard = async (shard: ShardItem, run: RunContext): Promise<ShardOutcome> => {
  const { job, deps, clock } = run;
  const { settings, jobs, owner, logger } = deps;
  const parameters = job.parameters;
  const windowEnd = Date.parse(job.windowEnd);
  const counts: ShardCounts = shardCounts(shard);
  let position = shard.position;
  let lastRenewal = clock.now();
  const save = async (progress: ShardProgress): Promise<void> => {
    const now = clock.now();
    await jobs.checkpoint(
      job.jobId,
      shard.shardId,
      owner,
      progress,
      now + settings.leaseDurationMs,
      iso(now),
    );
    lastRenewal = now;
  };
  if (shard.lastArrival !== undefined) {
    run.stream ??= describeStream(deps.kinesis, settings.streamName, clock);
    // The check only informs: a stream that cannot be described now leaves the shard to be read as it is.
    const stream = await run.stream.catch((error: unknown) => {
      logger.warn("could not describe the stream; the shard is not checked against the stream's retention", {
        jobId: job.jobId,
        shardId: shard.shardId,
        error,
      });
      return undefined;
    });
    const agedOut = stream && agedOutRanges(shard, windowEnd, stream, clock.now());
    if (agedOut !== undefined) {
      try {
        await save({ agedOut });
      } catch (error) {
        // Another worker took the shard since this one was given it: it is that worker's to read.
        if (error instanceof LeaseLostError) return 'lease-lost';
        throw error;
      }
      logger.warn("records of the window passed the stream's retention before they were read", {
        jobId: job.jobId,
        shardId: shard.shardId,
        ...agedOut.at(-1)!,
      });
    }
  }
  const reader = new ShardReader({
    client: deps.kinesis,
    streamName: settings.streamName,
    shardId: shard.shardId,
    limit: Math.min(settings.getRecordsLimit, parameters.maxRecordsPerSecond),
    budget: run.budgets(shard.shardId),
    recordLimiter: run.recordLimiter,
    timestampPositioning: settings.timestampPositioning,
    timestampIteratorTimeoutMs: settings.timestampIteratorTimeoutMs,
    clock,
  });
  const start: ShardPosition =
    position !== undefined
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: position }
      : shard.start === 'AT_TIMESTAMP'
        ? { type: 'AT_TIMESTAMP', timestamp: new Date(parameters.from) }
        : { type: 'TRIM_HORIZON' };
  const sink = parameters.dryRun ? deps.dryRunSink() : deps.sink;
  let stoppedBy: 'failed' | 'budget' | undefined;

  /**
   * Kinesis may refuse a checkpoint whose record has aged out of the stream (InvalidArgumentException) rather
   * than start after it at the trim horizon: the shard then goes on from its oldest record left, and says so.
   */
  const readResuming: ShardReader['read'] = async (from, limits, onBatch) => {
    // Only a refusal of the checkpoint itself, before any batch was read from it: a later InvalidArgumentException
    // says nothing of the checkpoint, and reading on from the oldest record would drive the batches read again.
    let read = false;
    try {
      return await reader.read(from, limits, (batch) => {
        read = true;
        return onBatch(batch);
      });
    } catch (error) {
      if (read || from.type !== 'AFTER_SEQUENCE_NUMBER' || errorName(error) !== 'InvalidArgumentException')
        throw error;
      const oldest = await reader.firstRetained();
      if (oldest === undefined || compareSequence(oldest, from.sequenceNumber) <= 0) throw error;
      logger.warn(
        'the records after the checkpoint aged out before they were read; going on from the oldest left',
        {
          jobId: job.jobId,
          shardId: shard.shardId,
          checkpoint: from.sequenceNumber,
          oldest,
        },
      );
      return reader.read({ type: 'TRIM_HORIZON' }, limits, onBatch);
    }
  };

  let result: ReadResult;
  try {
    result = await readResuming(
      start,
      {
        // Until the first record of the window has been processed, earlier records are skipped (AT_TIMESTAMP's
        // rule), whichever way the shard was entered.
        ...(counts.recordsRead === 0 ? { startTimestamp: new Date(parameters.from) } : {}),
        endTimestamp: new Date(windowEnd),
        endTimestampGraceMs: settings.windowGraceMs,
        atTip: () => (clock.now() >= windowEnd + settings.windowGraceMs ? 'stop' : 'wait'),
        shouldStop: run.shouldStop,
        onIdle: async () => {
          if (clock.now() - lastRenewal >= settings.leaseDurationMs / 3) await save({});
        },
      },
      async (batch) => {
        if (batch.records.length === 0) {
          position = batch.position;
          await save({ position, state: 'reading' });
          return undefined;
        }
        const driven = await driveRecords(batch.records, {
          store: sink.store,
          quarantine: sink.quarantine,
          logger,
          metrics: parameters.dryRun ? dryRunMetrics : deps.metrics,
          keyConcurrency: settings.keyConcurrency,
          timeReserveMs: settings.timeReserveMs,
          context: budgetContext(deps.remainingMs),
          attempts: settings.retryAttempts,
          clock,
        });
        counts.written += driven.counts.written;
        counts.duplicates += driven.counts.duplicates;
        counts.staleVersions += driven.counts.staleVersions;
        counts.quarantined += driven.counts.quarantined;
        if (driven.counts.failed === 0) {
          position = batch.position;
          counts.recordsRead += batch.records.length;
          counts.failed = 0;
          await save({
            ...counts,
            position,
            lastArrival: batch.records.at(-1)!.approximateArrivalTimestamp.toISOString(),
            state: 'reading',
          });
          return undefined;
        }
        // The checkpoint stays before the first failed record: everything from it on is read again later.
        const firstFailed = BigInt(driven.failedSequenceNumbers[0]!);
        const done = batch.records.filter((record) => BigInt(record.sequenceNumber) < firstFailed);
        counts.recordsRead += done.length;
        if (done.length > 0) position = done.at(-1)!.sequenceNumber;
        stoppedBy = driven.deadline ? 'budget' : 'failed';
        if (!driven.deadline) counts.failed = driven.counts.failed;
        await save({
          ...counts,
          ...(position === undefined ? {} : { position }),
          ...(done.length > 0 ? { lastArrival: done.at(-1)!.approximateArrivalTimestamp.toISOString() } : {}),
          state: driven.deadline ? 'reading' : 'failed',
          ...(driven.deadline
            ? {}
            : {
                lastError:
                  `${driven.counts.failed} record(s) still failed after ${settings.retryAttempts} attempt(s), ` +
                  `from ${driven.failedSequenceNumbers[0]}${driven.error ? `: ${driven.error}` : ''}`,
              }),
        });
        return 'stop';
      },
    );
  } catch (error) {
    if (error instanceof LeaseLostError) {
      logger.warn('lease lost; another worker has the shard', { jobId: job.jobId, shardId: shard.shardId });
      return 'lease-lost';
    }
    logger.error('reading the shard failed; it is left failed until the job is run again', {
      jobId: job.jobId,
      shardId: shard.shardId,
      error: error as Error,
    });
    try {
      await save({ state: 'failed', lastError: (error as Error).message });
    } catch (saveError) {
      if (saveError instanceof LeaseLostError) return 'lease-lost';
      // The shard stays `reading` at its last checkpoint: taken up again, it would fail the same way at once, in a
      // loop. Like any error the invocation cannot record, this one fails the invocation; the next run of the job
      // goes on from the checkpoint.
      logger.error('the failure could not be recorded; the invocation stops', {
        jobId: job.jobId,
        shardId: shard.shardId,
        error: saveError as Error,
      });
      await jobs.releaseLease(job.jobId, shard.shardId, owner).catch(() => undefined);
      throw new Error(
        `reading ${shard.shardId} of job ${job.jobId} failed (${(error as Error).message}), and the failure ` +
          `could not be recorded (${(saveError as Error).message}); the shard goes on from its last checkpoint ` +
          'when the job runs again',
        { cause: saveError },
      );
    }
    await jobs.releaseLease(job.jobId, shard.shardId, owner).catch(() => undefined);
    return 'failed';
  }

  let outcome: ShardOutcome;
  if (result.end === 'consumer') outcome = stoppedBy ?? 'failed';
  else if (result.end === 'stopped') {
    // Handed over with its checkpoint touched: until the continuation takes the lease, the shard's recent update is
    // what tells `npm run reprocess` that the job is still worked on (scripts/lib/job-follow.ts).
    try {
      await save({ state: 'reading' });
    } catch (error) {
      if (error instanceof LeaseLostError) return 'lease-lost';
      throw error;
    }
    outcome = 'budget';
  } else {
    const endReason =
      result.end === 'end-timestamp' ? 'window-end' : result.end === 'tip' ? 'tip' : 'shard-end';
    try {
      await save({ state: 'done', endReason });
    } catch (error) {
      if (error instanceof LeaseLostError) return 'lease-lost';
      throw error;
    }
    outcome = endReason === 'shard-end' ? 'shard-end' : 'done';
    logger.info('shard done', { jobId: job.jobId, shardId: shard.shardId, endReason, ...counts });
  }
  await jobs.releaseLease(job.jobId, shard.shardId, owner);
  return outcome;
};

/** Adds the children of closed shards that appeared after the job was planned. */
const extendPlan = async (run: RunContext): Promise<void> => {
  const { job, deps } = run;
  const known = await deps.jobs.listShards(job.jobId);
  const all = await listAllShards(deps.kinesis, { StreamName: deps.settings.streamName }, run.clock);
  const knownIds = new Set(known.map((shard) => shard.shardId));
  const ids = withDescendants(knownIds, all);
  const at = iso(run.clock.now());
  for (const shard of all) {
    if (!ids.has(shard.ShardId!) || knownIds.has(shard.ShardId!)) continue;
    await deps.jobs.addShard(newShardItem(job.jobId, shard, ids, 'TRIM_HORIZON', at));
  }
};

const isLive = (shard: ShardItem, owner: string, now: number): boolean =>
  shard.leaseOwner !== undefined && shard.leaseOwner !== owner && (shard.leaseExpiresAt ?? 0) >= now;

interface RunOutcome {
  /** Every shard is done or failed, or nothing can go on (failed parents). */
  finished: boolean;
  /** The budget ran out with work this invocation could have done. */
  continueNeeded: boolean;
}

/** Works on the job's shards until they are all done, or the budget runs out. */
const runJob = async (run: RunContext): Promise<RunOutcome> => {
  const { job, deps, clock } = run;
  const { jobs, owner, settings } = deps;
  const active = new Map<string, Promise<{ shardId: string; outcome: ShardOutcome }>>();
  /**
   * Shards whose read stopped for lack of time (the stop reserve, a byte wait past it, or the time reserve): time
   * only runs down, so taking one up again in this invocation would stop it again at once, in a loop. They are
   * the next invocation's.
   */
  const handedOver = new Set<string>();
  let outOfBudget = false;
  let waitingOnOthers = false;
  let finished = false;
  let stuck: string | undefined;

  /** Takes up the shards the job can read now, one after another as they end, until none is left or time is. */
  const planAndRunShards = async (): Promise<void> => {
    while (run.abort.error === undefined) {
      if (run.shouldStop()) {
        outOfBudget = true;
        break;
      }
      const now = clock.now();
      const shards = await jobs.listShards(job.jobId);
      const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
      // A shard whose parent stopped at the window's end holds only records after it.
      for (const shard of shards) {
        if (shard.state !== 'pending') continue;
        const endedParent = shard.parents.some((id) => {
          const parent = byId.get(id);
          return (
            parent?.state === 'done' && (parent.endReason === 'window-end' || parent.endReason === 'skipped')
          );
        });
        if (endedParent) {
          await jobs.skipShard(job.jobId, shard.shardId, now, iso(now));
          shard.state = 'done';
          shard.endReason = 'skipped';
        }
      }
      const open = shards.filter((shard) => shard.state === 'pending' || shard.state === 'reading');
      if (open.length === 0 && active.size === 0) {
        finished = true;
        break;
      }
      const ready = open.filter(
        (shard) =>
          !active.has(shard.shardId) &&
          !handedOver.has(shard.shardId) &&
          shard.parents.every((id) => byId.get(id)?.state === 'done' || !byId.has(id)),
      );
      let contended = false;
      for (const shard of ready) {
        if (active.size >= settings.shardConcurrency) break;
        if (isLive(shard, owner, now)) continue;
        const leased = await jobs.acquireLease(
          job.jobId,
          shard.shardId,
          owner,
          now,
          now + settings.leaseDurationMs,
        );
        if (!leased) {
          contended = true;
          continue;
        }
        active.set(
          shard.shardId,
          runShard(leased, run).then(
            (outcome) => ({ shardId: shard.shardId, outcome }),
            (error: unknown) => {
              run.abort.error ??= error;
              return { shardId: shard.shardId, outcome: 'failed' as const };
            },
          ),
        );
      }
      if (active.size === 0) {
        // What is left of this invocation's own work waits for the next one.
        if (open.some((shard) => handedOver.has(shard.shardId))) break;
        if (contended || shards.some((shard) => isLive(shard, owner, now))) {
          // Another invocation holds the work that is left: wait for it, or for its lease to run out.
          waitingOnOthers = true;
          await clock.sleep(Math.min(1_000, settings.leaseDurationMs));
          continue;
        }
        const blocked = open.map((shard) => shard.shardId);
        stuck = `shard(s) ${blocked.join(', ')} wait on parents that failed`;
        break;
      }
      waitingOnOthers = false;
      const { shardId, outcome } = await Promise.race(active.values());
      active.delete(shardId);
      if (outcome === 'budget') {
        outOfBudget = true;
        handedOver.add(shardId);
      }
      if (outcome === 'shard-end') await extendPlan(run);
    }
  };
  try {
    await planAndRunShards();
  } catch (error) {
    // The shards under way stop at their next look at the time left (shouldStop sees the error), and are waited for
    // below before the invocation fails: none goes on reading and writing after it, beside a retry of it.
    run.abort.error ??= error;
  }
  for (const { outcome } of await Promise.all(active.values())) {
    if (outcome === 'budget') outOfBudget = true;
  }
  if (run.abort.error !== undefined) throw run.abort.error;

  const at = iso(clock.now());
  if (finished || stuck !== undefined) {
    const shards = await jobs.listShards(job.jobId);
    const failedShards = shards.filter((shard) => shard.state === 'failed');
    const failed = stuck !== undefined || failedShards.length > 0;
    // The job says why it failed: its failed shards' own errors, and the shards left waiting on them.
    const fromShards =
      failedShards.length === 0
        ? undefined
        : `${failedShards.length} shard(s) failed: ${failedShards
            .map((shard) => `${shard.shardId}: ${shard.lastError ?? 'no error recorded'}`)
            .join('; ')}`;
    const lastError =
      stuck === undefined ? fromShards : fromShards === undefined ? stuck : `${fromShards}; ${stuck}`;
    await jobs.updateJob(job.jobId, {
      state: failed ? 'failed' : 'done',
      updatedAt: at,
      ...(lastError === undefined ? {} : { lastError }),
    });
    return { finished: true, continueNeeded: false };
  }
  return { finished: false, continueNeeded: outOfBudget && !waitingOnOthers };
};

/**
 * What the stream can no longer give back of a window, from its creation time and retention: a window that ends
 * before the stream was created is refused (it holds nothing); one that starts before the oldest records the
 * stream keeps gets a warning, as reading it from AT_TIMESTAMP silently starts at the oldest record left.
 */
export const windowWarnings = (
  streamName: string,
  window: { from: number; end: number },
  stream: StreamFacts,
  now: number,
): string[] => {
  if (window.end < stream.createdAt) {
    throw new ReprocessRequestError(
      `the window ends (${iso(window.end)}) before stream ${streamName} was created (${iso(stream.createdAt)}): ` +
        'it holds no record of it',
    );
  }
  const kept = oldestKept(stream, now);
  // A stream younger than its retention has dropped nothing yet.
  if (window.from >= kept || stream.createdAt >= kept) return [];
  const retention = `stream ${streamName} keeps records for ${stream.retentionHours} hours`;
  if (window.end < kept) {
    return [
      `the whole window is older than the stream's retention (${retention}): records that arrived before ` +
        `${iso(kept)} are dropped, so little or nothing of it is left to read`,
    ];
  }
  return [
    `the window starts before the oldest records the stream keeps (${retention}): records that arrived from ` +
      `${iso(window.from)} to ${iso(kept)} are dropped and are not reprocessed`,
  ];
};

/** The stream's creation time and retention (DescribeStreamSummary). */
const describeStream = async (
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  clock: Clock,
): Promise<StreamFacts> => {
  const { StreamDescriptionSummary: summary } = await controlPlaneCall(clock, () =>
    kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName })),
  );
  return {
    createdAt: summary!.StreamCreationTimestamp!.getTime(),
    retentionHours: summary!.RetentionPeriodHours!,
  };
};

/** Refuses a new job's window that starts, or ends, after `now`. */
export const refuseFutureWindow = ({ from, to }: Pick<JobParameters, 'from' | 'to'>, now: number): void => {
  if (Date.parse(from) > now) throw new ReprocessRequestError(`from (${from}) is in the future`);
  if (to !== undefined && Date.parse(to) > now) {
    throw new ReprocessRequestError(`to (${to}) is in the future; leave it out to reprocess up to now`);
  }
};

const newJobId = (now: number): string =>
  `reprocess-${iso(now)
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;

/** Finds the job the request names, or creates it; refuses a request that contradicts the stored job. */
const jobFor = async (request: ParsedRequest, deps: ReprocessDependencies, now: number): Promise<JobItem> => {
  const { jobs, settings } = deps;
  const clock = deps.clock ?? systemClock;
  if (!request.parameters) {
    const job = await jobs.getJob(request.jobId!);
    if (!job)
      throw new ReprocessRequestError(`there is no job ${request.jobId}; give from (and to) to start one`);
    return planned(job, deps, now);
  }
  const jobId = request.jobId ?? newJobId(now);
  const existing = await jobs.getJob(jobId);
  const refuseIfDifferent = (job: JobItem): JobItem => {
    refuseOtherParameters(job, request);
    return job;
  };
  if (existing) return planned(refuseIfDifferent(existing), deps, now);

  refuseFutureWindow(request.parameters, now);
  const { from, to } = request.parameters;
  const at = iso(now);
  const warnings = windowWarnings(
    settings.streamName,
    { from: Date.parse(from), end: to === undefined ? now : Date.parse(to) },
    await describeStream(deps.kinesis, settings.streamName, clock),
    now,
  );
  const shards = await planShards(deps.kinesis, settings.streamName, jobId, request.parameters, at, clock);
  const job: JobItem = {
    jobId,
    parameters: request.parameters,
    projectionVersion: settings.projectionVersion,
    windowEnd: to ?? at,
    state: 'running',
    createdAt: at,
    updatedAt: at,
    invocations: 0,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  if ((await jobs.createJob(job)) === 'exists') {
    // Another request created it a moment ago.
    return planned(refuseIfDifferent((await jobs.getJob(jobId))!), deps, now);
  }
  for (const shard of shards) await jobs.addShard(shard);
  await jobs.updateJob(jobId, { planned: true });
  job.planned = true;
  deps.logger.info('reprocessing job created', { jobId, ...request.parameters, shards: shards.length });
  for (const warning of warnings) deps.logger.warn(`reprocessing job ${jobId}: ${warning}`, { jobId });
  return job;
};

/**
 * A job whose shards may not all be there yet: another request is still adding them, or stopped half-way. Its
 * plan is made again from its own parameters and the missing shards are added (never over a checkpoint), so no
 * shard can be found finished while one of the plan is still missing.
 */
const planned = async (job: JobItem, deps: ReprocessDependencies, now: number): Promise<JobItem> => {
  if (job.planned || job.state !== 'running') return job;
  let shards: ShardItem[];
  try {
    shards = await planShards(
      deps.kinesis,
      deps.settings.streamName,
      job.jobId,
      job.parameters,
      iso(now),
      deps.clock ?? systemClock,
    );
  } catch (error) {
    // The asked shards have expired since: a job that has shards keeps them, and one that has none cannot run.
    if (!(error instanceof ReprocessRequestError)) throw error;
    if ((await deps.jobs.listShards(job.jobId)).length === 0) throw error;
    shards = [];
  }
  for (const shard of shards) await deps.jobs.addShard(shard);
  await deps.jobs.updateJob(job.jobId, { planned: true });
  return { ...job, planned: true };
};

/**
 * Answers one request: `status`, or `start` (which creates, resumes or continues a job). A start answers the job's
 * status or is refused; a status request for a job the store does not hold answers JobNotFound.
 */
export function handleReprocessRequest(
  input: ContinueRequest | (ReprocessRequest & { action?: 'start' }),
  deps: ReprocessDependencies,
): Promise<JobStatus>;
export function handleReprocessRequest(input: unknown, deps: ReprocessDependencies): Promise<ReprocessAnswer>;
export async function handleReprocessRequest(
  input: unknown,
  deps: ReprocessDependencies,
): Promise<ReprocessAnswer> {
  const clock = deps.clock ?? systemClock;
  const { jobs, settings, logger } = deps;
  const request = parseReprocessRequest(input, settings);
  const now = clock.now();
  if (request.action === 'status') {
    const job = await jobs.getJob(request.jobId!);
    if (!job)
      return { jobId: request.jobId!, state: 'not-found', message: `there is no job ${request.jobId}` };
    return {
      ...jobStatus(job, await jobs.listShards(job.jobId), now),
      functionProjectionVersion: settings.projectionVersion,
    };
  }

  const job = await jobFor(request, deps, now);
  const status = async (continued: boolean): Promise<JobStatus> => ({
    ...jobStatus((await jobs.getJob(job.jobId))!, await jobs.listShards(job.jobId), clock.now()),
    functionProjectionVersion: settings.projectionVersion,
    continued,
  });
  // A finished job answers its status, whatever version this function writes now: it reads nothing.
  if (job.state === 'done') return status(false);
  if (job.projectionVersion !== settings.projectionVersion) {
    throw new ReprocessRequestError(
      `job ${job.jobId} writes projection version ${job.projectionVersion}, and this function writes ` +
        `${settings.projectionVersion}: start a new job for the new version`,
    );
  }
  const isContinuation = request.continuation > 0;
  if (job.state === 'failed') {
    // A job is retried only when someone asks again, never by its own continuations.
    if (isContinuation) return status(false);
    for (const shard of await jobs.listShards(job.jobId)) {
      if (shard.state === 'failed') await jobs.retryShard(job.jobId, shard.shardId, iso(now));
    }
    // Taken up again: the error that stopped it no longer describes it.
    await jobs.updateJob(job.jobId, { state: 'running', updatedAt: iso(now), lastError: null });
    job.state = 'running';
  }
  if (request.continuation >= settings.maxInvocations) {
    // Nothing runs the job any more: it says so, as `failed`, which a new `start` of the job goes on from.
    await jobs.updateJob(job.jobId, {
      state: 'failed',
      updatedAt: iso(now),
      lastError: `stopped after ${request.continuation} invocations; run the job again to go on`,
    });
    logger.error('reprocessing job reached its invocation limit', { jobId: job.jobId });
    return status(false);
  }
  const next: ContinueRequest = { action: 'start', jobId: job.jobId, continuation: request.continuation + 1 };
  if (request.detach) {
    await deps.continueJob(next);
    return status(true);
  }

  assertTimeToWork(deps.remainingMs(), settings.stopReserveMs);
  await jobs.countInvocation(job.jobId, iso(now));
  const abort: RunContext['abort'] = {};
  const outcome = await runJob({
    job,
    deps,
    clock,
    recordLimiter: new RateLimiter({ ratePerSecond: job.parameters.maxRecordsPerSecond, clock }),
    budgets: readBudgets({
      callsPerSecond: settings.getRecordsPerSecond,
      bytesPerSecond: settings.getRecordsBytesPerSecond,
      clock,
    }),
    shouldStop: (waitMs = 0) =>
      abort.error !== undefined || deps.remainingMs() - waitMs < settings.stopReserveMs,
    abort,
  });
  let continued = false;
  if (outcome.continueNeeded) {
    await deps.continueJob(next);
    continued = true;
    deps.metrics.addMetric('ReprocessContinuations', MetricUnit.Count, 1);
  }
  const answer = await status(continued);
  logger.info('reprocessing invocation finished', {
    jobId: job.jobId,
    state: answer.state,
    continued,
    ...answer.totals,
  });
  return answer;
}
