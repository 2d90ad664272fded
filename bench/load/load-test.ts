import { setTimeout as delay } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import {
  type IteratorAgeSample,
  type IteratorAgeSource,
  IteratorAgeUnavailableError,
} from './iterator-age.ts';

/**
 * The classic Kinesis load test: PutRecords of `{u, a: 'click', ts, n}` for random users, paced to a target rate in
 * batches of up to 500. `n` numbers the run's records from 0: the sink identifies plain JSON by its content, so
 * without it two clicks of one user in the same millisecond (a batch is built within one) would be one item. Entries
 * that fail (ProvisionedThroughputExceededException above all) are counted and reported, never retried: a retry
 * would hide the very throttling the test is there to show.
 */

export const MAX_BATCH = 500;
export const THROTTLED = 'ProvisionedThroughputExceededException';
/** How often the pacer wakes to send what has fallen due. */
export const TICK_MS = 50;
/** PutRecords calls in flight at once; the pacer waits when this many have not answered. */
export const MAX_IN_FLIGHT = 16;
/**
 * PutRecords calls that fail in a row (other than throttled) before the run stops: an endpoint where nothing
 * listens, or a stream that is gone, would otherwise fail every call for the whole run.
 */
export const STOP_AFTER_FAILED_CALLS = 10;
/**
 * While waiting after the run for late iterator-age data points, how often the source is read at most: CloudWatch
 * publishes a minute's data point some minutes late, at no set moment.
 */
export const LATE_SAMPLE_EVERY_MS = 15_000;
/**
 * Iterator-age readings in a row that may get no answer in time (a status page slow under the load it measures, a
 * throttled GetMetricData) before the source is given up on; each one is skipped and counted.
 */
export const MAX_MISSED_IN_A_ROW = 5;

export interface LoadRun {
  client: KinesisClient;
  stream: string;
  rate: number;
  seconds: number;
  users: number;
  iteratorAge?: IteratorAgeSource;
  /**
   * After sending, how long to go on reading the iterator age for data points that arrive late (CloudWatch's), until
   * the source has one for the run's end (`IteratorAgeSource.settled`). 0 (the default): one last read.
   */
  metricsWaitMs?: number;
  /**
   * Aborted to stop the run (SIGINT, SIGTERM): while sending, no call is made after it and the report, of the calls
   * answered, is marked `interrupted` with the abort's reason; while waiting for late data points, the wait ends.
   */
  signal?: AbortSignal;
  now?: () => number;
  random?: () => number;
  log?: (message: string) => void;
  /** Called with each PutRecords call that failed as a whole, other than a throttle (for the command to explain). */
  failedCall?: (error: Error) => void;
}

export interface SecondStats {
  second: number;
  sent: number;
  written: number;
  throttled: number;
  failed: number;
}

export interface LoadReport {
  stream: string;
  requested: { rate: number; seconds: number; records: number };
  startedAt: string;
  elapsedMs: number;
  sent: number;
  written: number;
  throttled: number;
  /** Entries failed for another reason, by error code (whole-request errors count every entry of the request). */
  failed: Record<string, number>;
  requests: number;
  failedRequests: number;
  /** Written records ÷ the seconds the run took (`elapsedMs`); sent records ÷ the same for `attemptedRate`. */
  achievedRate: number;
  attemptedRate: number;
  perSecond: SecondStats[];
  shards: Record<string, { written: number; throttled: number }>;
  iteratorAge: {
    source: string;
    /** Whether there are samples: when the source failed after giving some, the samples taken are kept. */
    available: boolean;
    /** Why there are no samples, or why there are none after `stoppedAtMs`. */
    reason?: string;
    samples: IteratorAgeSample[];
    /** When the source failed after giving samples (ms since the start). */
    stoppedAtMs?: number;
    /** How long the run went on reading the source after sending, for late data points. */
    waitedMs?: number;
    /** Readings that got no answer in time (or were throttled) and were skipped; the last one's reason. */
    missed?: { count: number; lastReason: string };
  };
  /** Why the run stopped before its time: calls kept failing (nothing listens, the stream is gone), or a signal. */
  stoppedEarly?: string;
  /** The reason the run was stopped with (SIGINT, SIGTERM): the report holds the calls answered until then. */
  interrupted?: string;
}

/**
 * Whole records due `elapsedMs` into a run at `rate` per second, rounded down so the run never goes faster than
 * asked. The product is first cut to 12 significant digits: in binary floating point 33.3 × 30 s is
 * 998.9999999999999, which would round down to one record short.
 */
export const recordsIn = (rate: number, elapsedMs: number): number =>
  Math.floor(Number(((rate * elapsedMs) / 1000).toPrecision(12)));

/** How many records are due by `elapsedMs` at `rate` per second, capped at the run's total. */
export const dueBy = (elapsedMs: number, rate: number, total: number): number =>
  Math.min(total, recordsIn(rate, elapsedMs));

/** `n` records split into PutRecords batches of at most `MAX_BATCH`. */
export const batchSizes = (n: number, max = MAX_BATCH): number[] =>
  Array.from({ length: Math.ceil(n / max) }, (_, i) => Math.min(max, n - i * max));

/** The shard a throttled entry names: "Rate exceeded for shard shardId-000000000001 in stream …". */
export const shardOfMessage = (message: string | undefined): string =>
  /shard (shardId-\d+)/.exec(message ?? '')?.[1] ?? 'unknown';

const sleep = (ms: number): Promise<void> => delay(ms);

/** Resolves after `ms`, or at once when `signal` is aborted (Node clears the timer then). */
const pause = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

/** Resolves when `signal` is aborted; never without one. */
const abortOf = (signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) resolve();
    else signal?.addEventListener('abort', () => resolve(), { once: true });
  });

export const runLoad = async (run: LoadRun): Promise<LoadReport> => {
  const now = run.now ?? Date.now;
  const random = run.random ?? Math.random;
  const durationMs = run.seconds * 1000;
  // What the schedule reaches at the end of the run, so that every record reported as requested is sent.
  const total = recordsIn(run.rate, durationMs);
  const perSecond: SecondStats[] = Array.from({ length: Math.ceil(run.seconds) }, (_, second) => ({
    second,
    sent: 0,
    written: 0,
    throttled: 0,
    failed: 0,
  }));
  const report: LoadReport = {
    stream: run.stream,
    requested: { rate: run.rate, seconds: run.seconds, records: total },
    startedAt: new Date(now()).toISOString(),
    elapsedMs: 0,
    sent: 0,
    written: 0,
    throttled: 0,
    failed: {},
    requests: 0,
    failedRequests: 0,
    achievedRate: 0,
    attemptedRate: 0,
    perSecond,
    shards: {},
    iteratorAge: {
      source: run.iteratorAge?.name ?? 'none',
      available: run.iteratorAge !== undefined,
      samples: [],
    },
  };
  const shard = (id: string) => {
    report.shards[id] ??= { written: 0, throttled: 0 };
    return report.shards[id];
  };
  const fail = (code: string, n: number, bucket: SecondStats) => {
    report.failed[code] = (report.failed[code] ?? 0) + n;
    bucket.failed += n;
  };

  const started = now();
  let failedInARow = 0;
  let numbered = 0;
  const logged = new Set<string>();
  const send = async (count: number): Promise<void> => {
    const bucket = perSecond[Math.min(perSecond.length - 1, Math.floor((now() - started) / 1000))]!;
    const records: PutRecordsRequestEntry[] = Array.from({ length: count }, () => {
      const u = `user-${Math.floor(random() * run.users)}`;
      const record = { u, a: 'click', ts: Date.now(), n: numbered++ };
      return { PartitionKey: u, Data: Buffer.from(JSON.stringify(record)) };
    });
    report.sent += count;
    bucket.sent += count;
    report.requests += 1;
    try {
      const answer = await run.client.send(
        new PutRecordsCommand({ StreamName: run.stream, Records: records }),
      );
      (answer.Records ?? []).forEach((entry) => {
        if (!entry.ErrorCode) {
          report.written += 1;
          bucket.written += 1;
          shard(entry.ShardId ?? 'unknown').written += 1;
        } else if (entry.ErrorCode === THROTTLED) {
          report.throttled += 1;
          bucket.throttled += 1;
          shard(shardOfMessage(entry.ErrorMessage)).throttled += 1;
        } else {
          fail(entry.ErrorCode, 1, bucket);
        }
      });
      failedInARow = 0;
    } catch (error) {
      report.failedRequests += 1;
      // A call that never reached the stream (ECONNREFUSED, ENOTFOUND) is named by its code, not as a bare Error.
      const code = (error as Error & { code?: string }).code;
      const name = (error as Error).name === 'Error' && code ? code : (error as Error).name;
      if (name === THROTTLED) {
        report.throttled += count;
        bucket.throttled += count;
        failedInARow = 0;
      } else {
        fail(name, count, bucket);
        run.failedCall?.(error as Error);
        failedInARow += 1;
        if (failedInARow >= STOP_AFTER_FAILED_CALLS && report.stoppedEarly === undefined) {
          report.stoppedEarly = `${failedInARow} PutRecords calls in a row failed (last: ${name}: ${(error as Error).message})`;
        }
      }
      // Each kind of failure is shown once; the summary counts them all.
      if (!logged.has(name)) {
        logged.add(name);
        run.log?.(
          `PutRecords failed: ${name}: ${(error as Error).message} (further ${name} failures are counted, not shown)`,
        );
      }
    }
  };

  // Iterator age, sampled beside the load until the source gives up. A data point read again replaces the earlier
  // reading: CloudWatch revises a minute's Maximum while that minute's data is still arriving. A failure of the
  // source ends the sampling, with the reason in the report (the samples taken before it are kept); it never stops
  // the load.
  let sampling = true;
  let failed = false;
  const giveUp = (error: unknown) => {
    failed = true;
    report.iteratorAge.reason =
      error instanceof IteratorAgeUnavailableError
        ? error.message
        : `${report.iteratorAge.source} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    if (report.iteratorAge.samples.length > 0) report.iteratorAge.stoppedAtMs = now() - started;
    sampling = false;
  };
  const sampler = (async () => {
    const source = run.iteratorAge;
    if (!source) return;
    let lastTaken = Number.NEGATIVE_INFINITY;
    let missedInARow = 0;
    const take = async () => {
      lastTaken = now() - started;
      try {
        for (const sample of await source.sample(lastTaken)) {
          const seen = report.iteratorAge.samples.findIndex((s) => s.atMs === sample.atMs);
          if (seen === -1) report.iteratorAge.samples.push(sample);
          else report.iteratorAge.samples[seen] = sample;
        }
      } catch (error) {
        // A reading that got no answer in time is skipped, unless the source has missed too many in a row.
        if (
          error instanceof IteratorAgeUnavailableError &&
          error.transient &&
          missedInARow < MAX_MISSED_IN_A_ROW
        ) {
          missedInARow += 1;
          const missed = report.iteratorAge.missed;
          report.iteratorAge.missed = { count: (missed?.count ?? 0) + 1, lastReason: error.message };
          return;
        }
        giveUp(error);
        return;
      }
      missedInARow = 0;
    };
    await take();
    while (sampling) {
      await sleep(Math.min(source.everyMs, 250));
      if (sampling && now() - started >= lastTaken + source.everyMs) await take();
    }
    if (failed) return;
    // One last look once the load has stopped; then, when asked, more until a data point of the run's end arrives.
    await take();
    const waitMs = run.metricsWaitMs ?? 0;
    const settled = () => source.settled?.(report.iteratorAge.samples, report.elapsedMs) ?? false;
    if (waitMs <= 0 || failed || settled() || run.signal?.aborted) return;
    const waitFrom = now();
    const everyMs = Math.min(source.everyMs, LATE_SAMPLE_EVERY_MS);
    run.log?.(
      `waiting up to ${waitMs / 1000} s for late iterator-age data points from ${source.name}, reading every ${everyMs / 1000} s (Ctrl-C stops waiting)`,
    );
    while (!failed && !settled() && !run.signal?.aborted) {
      const left = waitMs - (now() - waitFrom);
      if (left <= 0) break;
      await pause(Math.min(everyMs, left), run.signal);
      if (run.signal?.aborted) break;
      const before = report.iteratorAge.samples.length;
      await take();
      const count = report.iteratorAge.samples.length;
      run.log?.(
        `iterator age: ${count} data point${count === 1 ? '' : 's'} so far (${count - before} new), ${Math.max(0, Math.round((waitMs - (now() - waitFrom)) / 1000))} s of the wait left`,
      );
    }
    report.iteratorAge.waitedMs = now() - waitFrom;
  })().catch(giveUp); // handled from the start: the load runs on while the sampler works beside it

  const stopped = abortOf(run.signal);
  const stopRequested = () => run.signal?.aborted === true;
  const inFlight = new Set<Promise<void>>();
  let scheduled = 0;
  pacing: for (;;) {
    const elapsed = Math.min(now() - started, durationMs);
    for (const size of batchSizes(dueBy(elapsed, run.rate, total) - scheduled)) {
      while (inFlight.size >= MAX_IN_FLIGHT && !stopRequested()) await Promise.race([...inFlight, stopped]);
      // The calls waited for may have stopped the run: no more is sent then, even of what has fallen due.
      if (stopRequested() || report.stoppedEarly !== undefined) break pacing;
      scheduled += size;
      const call = send(size).finally(() => inFlight.delete(call));
      inFlight.add(call);
    }
    if (elapsed >= durationMs || report.stoppedEarly !== undefined || stopRequested()) break;
    await Promise.race([sleep(TICK_MS), stopped]);
  }
  if (stopRequested()) {
    report.interrupted = typeof run.signal?.reason === 'string' ? run.signal.reason : 'interrupted';
    report.stoppedEarly ??= `interrupted by ${report.interrupted} after ${((now() - started) / 1000).toFixed(1)} s`;
    if (inFlight.size > 0)
      run.log?.(`waiting for the answers to ${inFlight.size} PutRecords calls in flight`);
  }
  // Every call ends: answered, failed, or timed out by the client's own request timeout.
  await Promise.all(inFlight);
  report.elapsedMs = now() - started;
  sampling = false;
  await sampler;

  // Over the time the run took: a run that stopped early is not spread over the time it was asked to take.
  const seconds = report.elapsedMs / 1000;
  report.achievedRate = seconds > 0 ? report.written / seconds : 0;
  report.attemptedRate = seconds > 0 ? report.sent / seconds : 0;
  report.iteratorAge.samples.sort((a, b) => a.atMs - b.atMs);
  report.iteratorAge.available = report.iteratorAge.samples.length > 0;
  if (run.iteratorAge && !report.iteratorAge.available && report.iteratorAge.reason === undefined) {
    report.iteratorAge.reason = `${report.iteratorAge.source} gave no data point during the run${report.iteratorAge.waitedMs === undefined ? '' : ` or the ${(report.iteratorAge.waitedMs / 1000).toFixed(1)} s waited after it`}`;
  }
  return report;
};
