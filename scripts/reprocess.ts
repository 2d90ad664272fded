import {
  type JobStatus,
  type ParsedRequest,
  parseReprocessRequest,
  type ReprocessAnswer,
  ReprocessRequestError,
  refuseFutureWindow,
  refuseOtherParameters,
} from '#shared/recovery/reprocessor.ts';
import { formatDuration } from './lib/duration.ts';
import { flagErrorMessage, isFlagError, numberFlag, parseFlags } from './lib/flags.ts';
import { isWorkedOn, RECENTLY_WORKED_MS, windowProgress } from './lib/job-follow.ts';
import { createProgress } from './lib/progress.ts';
import {
  DEFAULT_LOCAL_ENDPOINT,
  explainFailure,
  TARGET_OPTIONS,
  type Target,
  TargetError,
  targetFrom,
} from './lib/stack-target.ts';

/**
 * `npm run reprocess -- --from <time> [--to <time>] ...`: starts a reprocessing job on ReprocessorFunction and
 * follows it to the end; `--job <id>` resumes (or follows) an existing job.
 */

const USAGE = `usage: npm run reprocess -- --from <time> [options]
       npm run reprocess -- --job <id> [--status]

  --from <time>        start of the window: an RFC 3339 time with its offset (2026-11-27T10:00:00Z,
                       2026-11-27T11:00:00+01:00), a date (2026-11-27, midnight UTC) or epoch milliseconds;
                       a time without an offset is refused, as each machine would read it in its own zone
  --to <time>          end of the window, in the forms --from takes (default: the tip of the stream when the
                       job starts)
  --shards <a,b>       only these shards (default: every shard that holds the window)
  --rate <n>           at most n records per second (default: the function's setting)
  --dry-run            read and report only: nothing is written
  --job <id>           a job id: a new job gets it; an existing one is resumed with its own parameters, or
                       only followed while it is being worked on; a job followed here is resumed when
                       nothing has worked on it for a minute (its invocations were cut off)
  --status             show the job's status once and exit
  --poll <ms>          how often progress is read, 50 to 3600000 (default: 1000)
  --endpoint <url>     the local runtime's AWS endpoint (default: ${DEFAULT_LOCAL_ENDPOINT})
  --stack <name>       a deployed stack instead; its outputs name the function
  --region <region>    the deployed stack's region
  --json               print the final status on stdout as JSON, its summary going to stderr with the
                       progress (without --json the summary is on stdout); pipe it with npm run -s, as
                       npm prints its own lines on stdout first

Exit status: 0 when the job finished with nothing failed and all of its window still on the stream; 1 when
records failed, the job failed, or part of the window had passed the stream's retention (the warnings say
which, or a job of an older projection version cannot be resumed), or the function answered a state this
command does not know; 2 for bad usage, a request the function
refuses, or when the function could not be called; 130 when stopped with Ctrl-C (the job goes on in the
function). --status answers the same for the job as it is now, so 0 for a job still running well and 1
for one nothing works on any more. The window and the other flags are checked here before anything is sent.`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const NOT_WORKED_ON = `no shard lease, no update of the job or its shards for ${RECENTLY_WORKED_MS / 1000} s`;

/**
 * One line for the job: the figures a user watches first, so that a terminal's width cuts the least useful. The
 * live line leaves the window's share out (its bar shows it). That share is of the window's time, up to the
 * arrival time of the last record done: how many records the window holds is not known before it is read, so a
 * window whose records came in a burst near its end reads 99% while the burst is still being read. Hence the
 * records read beside it, and its name.
 */
const describe = (status: JobStatus, { live = false } = {}): string => {
  const done = status.shards.filter((s) => s.state === 'done').length;
  const t = status.totals;
  const running = status.state === 'running';
  const state =
    running && !workedOn(status, Date.now()) ? `running, not worked on (${NOT_WORKED_ON})` : status.state;
  const figures = [
    ...(live ? [] : [`window time ${Math.floor(windowProgress(status) * 100)}% read`]),
    `read ${t.recordsRead}`,
    `written ${t.written}`,
    `failed ${t.failed}`,
    ...(running ? [lagFigure(status)] : []),
    `duplicates ${t.duplicates}`,
    ...staleFigure(t.staleVersions),
    `quarantined ${t.quarantined}`,
    `shards ${done}/${status.shards.length}`,
  ];
  return `${status.jobId}${status.dryRun ? ' (dry run)' : ''} ${state}: ${figures.join(', ')}`;
};

/**
 * How far behind the window's end the shards being read are. A shard that has read no record yet has no position
 * of its own: the function measures it from the window's start (years, for a window from long before the stream's
 * oldest record), which says nothing of where its reading will begin. Such shards are counted, not measured.
 */
const lagFigure = (status: JobStatus): string => {
  const open = status.shards.filter((s) => s.state !== 'done');
  const read = open.filter((s) => s.lastArrival !== undefined);
  const unread = open.length - read.length;
  if (read.length === 0 && unread > 0) return 'not read yet';
  const lag = formatDuration(Math.max(0, ...read.map((s) => s.lagMs)));
  return `lag ${lag}${unread > 0 ? ` (${unread} shard${unread === 1 ? '' : 's'} not read yet)` : ''}`;
};

/** Records the table holds at a newer projection version (left as they are), when there are any. */
const staleFigure = (n: number): string[] => (n > 0 ? [`stale versions ${n}`] : []);

/** What stale versions are, once, beside the totals that count some. */
const STALE_NOTE =
  '  stale versions: events the table already holds at a newer projection version than the function writes, ' +
  'left as they are (is code older than the data running?)';

/** What the stream could no longer give back of the window (the job's warnings). */
const warningLines = (status: JobStatus): string[] => (status.warnings ?? []).map((w) => `warning: ${w}`);

/** The request fields the function's messages name, as the flags that set them here. */
const FLAG_OF: Record<string, string> = {
  from: '--from',
  to: '--to',
  shardIds: '--shards',
  maxRecordsPerSecond: '--rate',
  jobId: '--job',
};

/** A message of the function's, which names its request's fields, in the terms of this command's flags. */
const inFlagTerms = (message: string): string =>
  message
    .replace(/^(\w+)\b/, (field) => FLAG_OF[field] ?? field)
    .replace(/^--to must be after from$/, '--to must be after --from')
    .replace('give from (and to) to start one', 'give --from (and --to) to start one');

/**
 * The function's own checks of a start request, run here before anything is sent (the look at a `--job` too): a
 * typo is refused at once (exit 2), and never reaches the function as an invocation error. What only the function
 * can know (the job store, the stream) is still its to refuse.
 */
const checkRequest = (request: Record<string, unknown>): ParsedRequest =>
  inFlagTermsOnRefusal(() => parseReprocessRequest(request, { defaultMaxRecordsPerSecond: 1 }));

/**
 * The function's refusals of a start request, asked here once the job is known: a job that exists refuses other
 * parameters (also one the command would only follow, which the function then never sees: following it would
 * show another job's work as the one asked for), and a new job's window must not be in the future.
 */
const checkAgainst = (job: JobStatus | undefined, request: ParsedRequest, now: number): void =>
  inFlagTermsOnRefusal(() => {
    if (job) refuseOtherParameters(job, request);
    else if (request.parameters) refuseFutureWindow(request.parameters, now);
  });

const inFlagTermsOnRefusal = <T>(check: () => T): T => {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ReprocessRequestError)) throw error;
    throw new Error(inFlagTerms(error.message));
  }
};

/** A job that cannot go on as asked: an answer about the job (exit status 1), not a usage error. */
class JobStateError extends Error {}

/** Every state an answer of the function's can have, as this command knows them. */
const KNOWN_STATES: Record<ReprocessAnswer['state'], true> = {
  running: true,
  done: true,
  failed: true,
  'not-found': true,
};

/**
 * The function's answer about `jobId`, once its state is one this command knows: a function newer than the command
 * may answer others, whose shape it cannot read. Named, with exit status 1, instead of failing on a missing field.
 */
const knownAnswer = (answer: unknown, jobId: string | undefined): ReprocessAnswer => {
  const state = (answer as { state?: unknown } | null)?.state;
  if (typeof state === 'string' && Object.hasOwn(KNOWN_STATES, state)) return answer as ReprocessAnswer;
  const named =
    state === undefined ? 'no state' : `state '${typeof state === 'string' ? state : JSON.stringify(state)}'`;
  throw new JobStateError(
    `the function answered ${jobId === undefined ? 'the start of a new job' : `job ${jobId}`} with ${named}, ` +
      'which this command does not know (is the function newer than this copy of the command?)',
  );
};

/** A job's status from an answer that must hold one (a start, a look at a job that exists). */
const jobAnswer = (answer: unknown, jobId: string | undefined): JobStatus => {
  const known = knownAnswer(answer, jobId);
  if (known.state === 'not-found') throw new Error(`there is no job ${known.jobId}`);
  return known;
};

/** The job's status, or undefined when the function answers that there is no such job. */
const lookUp = async (target: Target, jobId: string): Promise<JobStatus | undefined> => {
  const answer = await target
    .invoke<unknown>('ReprocessorFunction', { action: 'status', jobId })
    .catch((error: Error) => {
      // A function deployed before status answered not-found refuses the request instead.
      if (error instanceof TargetError && /ReprocessRequestError: there is no job /.test(error.message)) {
        return undefined;
      }
      throw error;
    });
  if (answer === undefined) return undefined;
  const known = knownAnswer(answer, jobId);
  return known.state === 'not-found' ? undefined : known;
};

/** The status of a job that must exist (one named by --status, or one being followed). */
const statusOf = async (target: Target, jobId: string): Promise<JobStatus> => {
  const status = await lookUp(target, jobId);
  if (status === undefined) throw new Error(`there is no job ${jobId}`);
  return status;
};

/** Why a job not done can no longer be resumed by the function that answered, or undefined when it can. */
const unresumable = (status: JobStatus): string | undefined =>
  status.state !== 'done' &&
  status.functionProjectionVersion !== undefined &&
  status.functionProjectionVersion !== status.projectionVersion
    ? `job ${status.jobId} writes projection version ${status.projectionVersion}, and the function now writes ` +
      `${status.functionProjectionVersion}: it cannot be resumed; start a new job with --from for version ${status.functionProjectionVersion}`
    : undefined;

/** When this command last handed the job to a new invocation (a start or a resume), if it did. */
let handedOverAt: number | undefined;

/**
 * Whether the job is worked on, or was handed to a new invocation less than a minute ago: a detached start answers
 * before its invocation runs, so the job shows neither a lease nor an update until that invocation takes it up, and
 * resuming it again meanwhile would run a second chain beside the first.
 */
const workedOn = (status: JobStatus, now: number): boolean =>
  isWorkedOn(status, now) ||
  (status.state === 'running' && handedOverAt !== undefined && now - handedOverAt < RECENTLY_WORKED_MS);

/** The job this command started or follows, once known: named when the command stops before the job does. */
let currentJob: string | undefined;

/** How to pick the job up again, for a command that stops while the job may still be running. */
const resumeHint = () =>
  currentJob === undefined
    ? ''
    : `. Job ${currentJob} goes on in the function, or waits to be resumed: run npm run reprocess -- --job ${currentJob} to follow or resume it`;

const main = async (): Promise<number> => {
  const { values } = parseFlags({
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      shards: { type: 'string' },
      rate: { type: 'string' },
      job: { type: 'string' },
      status: { type: 'boolean', default: false },
      poll: { type: 'string', default: '1000' },
      ...TARGET_OPTIONS,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  // An unset shell variable gives an empty value, which would otherwise read as the flag left out (--to as the tip).
  for (const flag of ['from', 'to', 'job'] as const) {
    if (values[flag] === '')
      throw new Error(`--${flag} is empty (an unset variable?): give it a value, or leave it out`);
  }
  if (!values.from && !values.job)
    throw new Error(`--from (a new job) or --job (an existing one) is required\n\n${USAGE}`);
  const jobParameters = (['to', 'shards', 'rate', 'dry-run'] as const).filter((flag) =>
    flag === 'dry-run' ? values[flag] : values[flag] !== undefined,
  );
  // --status shows the job as it is: parameters given with it would be ignored without a word.
  if (values.status && (values.from !== undefined || jobParameters.length > 0)) {
    const given = [...(values.from !== undefined ? ['from'] : []), ...jobParameters];
    throw new Error(
      `--status shows job ${values.job ?? '(none given)'} as it is: ${given.map((flag) => `--${flag}`).join(', ')} ` +
        `${given.length === 1 ? 'is' : 'are'} not taken with it; use --job alone with --status`,
    );
  }
  if (values.job && !values.from && !values.status && jobParameters.length > 0) {
    throw new Error(
      `${jobParameters.map((flag) => `--${flag}`).join(', ')} set${jobParameters.length === 1 ? 's' : ''} the parameters of a new job, with --from; ` +
        `job ${values.job} keeps its own: resume it with --job alone, or start a new job with --from`,
    );
  }
  const shardIds = values.shards
    ?.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (shardIds?.length === 0)
    throw new Error(`--shards needs at least one shard id (shardId-000000000000), got '${values.shards}'`);
  // At most an hour: past setTimeout's largest delay (about 24.8 days) Node would wait 1 ms, polling without a pause.
  const pollMs = numberFlag(
    'poll',
    values.poll,
    { checks: [{ integer: true }, { min: 50 }, { max: 3_600_000 }] },
    Error,
  );
  // The function's own bounds, checked here too so that a typo fails before a job is started.
  const rate =
    values.rate === undefined
      ? undefined
      : numberFlag('rate', values.rate, { checks: [{ integer: true }, { min: 1 }, { max: 100_000 }] }, Error);
  const time = (value: string | undefined) =>
    value !== undefined && /^\d+$/.test(value) ? Number(value) : value;
  const target = targetFrom(values);
  const progress = createProgress(values['dry-run'] ? 'reprocess (dry run)' : 'reprocess');
  try {
    let status: JobStatus;
    if (values.status) {
      if (!values.job) throw new Error('--status needs --job');
      checkRequest({ action: 'status', jobId: values.job });
      status = await statusOf(target, values.job);
    } else {
      const request = {
        action: 'start',
        detach: true,
        ...(values.job ? { jobId: values.job } : {}),
        ...(values.from ? { from: time(values.from) } : {}),
        ...(values.to ? { to: time(values.to) } : {}),
        ...(shardIds === undefined ? {} : { shardIds }),
        ...(rate === undefined ? {} : { maxRecordsPerSecond: rate }),
        ...(values['dry-run'] ? { dryRun: true } : {}),
      };
      const parsed = checkRequest(request);
      // A job already worked on is only followed: starting it again would run a second chain beside the first.
      const current = values.job ? await lookUp(target, values.job) : undefined;
      if (values.job && current === undefined && !parsed.parameters) {
        throw new Error(`there is no job ${values.job}; give --from (and --to) to start one`);
      }
      const refused = current && unresumable(current);
      if (refused) throw new JobStateError(refused);
      checkAgainst(current, parsed, Date.now());
      const following = current !== undefined && isWorkedOn(current, Date.now());
      if (!following) handedOverAt = Date.now();
      status = following
        ? current
        : jobAnswer(await target.invoke<unknown>('ReprocessorFunction', request), values.job);
      currentJob = status.jobId;
      progress.line(
        `${following ? 'following running ' : ''}job ${status.jobId} on the ${target.description}: window ${status.parameters.from} → ${status.windowEnd}${status.dryRun ? ' (dry run)' : ''}`,
      );
      // Each warning once, as it appears: a shard can fall behind the retention while the job runs.
      const shown = new Set<string>();
      const showNewWarnings = () => {
        for (const line of warningLines(status).filter((w) => !shown.has(w))) {
          shown.add(line);
          progress.line(line);
        }
      };
      showNewWarnings();
      while (status.state === 'running') {
        progress.update(
          Math.floor(windowProgress(status) * 1000),
          1000,
          `of window time · ${describe(status, { live: true })}`,
        );
        await sleep(pollMs);
        status = await statusOf(target, status.jobId);
        showNewWarnings();
        // Nothing works on it any more (its invocations were cut off: a stop, a crash): resumed, as `--job` would.
        if (status.state === 'running' && !workedOn(status, Date.now())) {
          const refused = unresumable(status);
          if (refused !== undefined) {
            currentJob = undefined;
            throw new JobStateError(refused);
          }
          progress.line(`job ${status.jobId} is no longer worked on (${NOT_WORKED_ON}): resuming it`);
          handedOverAt = Date.now();
          status = jobAnswer(
            await target.invoke<unknown>('ReprocessorFunction', {
              action: 'start',
              detach: true,
              jobId: status.jobId,
            }),
            status.jobId,
          );
        }
      }
    }
    // Finished, or only looked at: nothing left to pick up.
    currentJob = undefined;
    progress.finish();
    // The job's status is the command's answer: on stdout, unless --json puts it there as JSON.
    const report = values.json ? console.error : console.log;
    report(describe(status));
    if (status.lastError) report(`  last error: ${status.lastError}`);
    if (status.totals.staleVersions > 0) report(STALE_NOTE);
    // Beside the totals they explain (a job followed here showed them at its start too).
    for (const line of warningLines(status)) report(line);
    // A job nothing works on any more, or one the function can no longer resume (a projection-version raise),
    // however recently it was updated: either way it will not finish by itself.
    const refused = values.status ? unresumable(status) : undefined;
    const stalled =
      values.status &&
      status.state === 'running' &&
      (refused !== undefined || !isWorkedOn(status, Date.now()));
    if (stalled) {
      report(
        `  ${refused ?? `its invocations were cut off (a stop, a crash): resume it with npm run reprocess -- --job ${status.jobId}`}`,
      );
    }
    for (const shard of status.shards) {
      const figures = [
        `read ${shard.recordsRead}`,
        `written ${shard.written}`,
        `duplicates ${shard.duplicates}`,
        ...staleFigure(shard.staleVersions),
        `quarantined ${shard.quarantined}`,
        `failed ${shard.failed}`,
        ...(shard.lastError ? [`last error: ${shard.lastError}`] : []),
      ];
      report(
        `  ${shard.shardId} ${shard.state}${shard.endReason ? ` (${shard.endReason})` : ''}: ${figures.join(', ')}`,
      );
    }
    if (values.json) console.log(JSON.stringify(status, null, 2));
    // Part of the window gone is not a success either: a script must be able to tell.
    const incomplete = (status.warnings ?? []).length > 0;
    // A job nothing works on any more is not running well either.
    return status.state === 'failed' || status.totals.failed > 0 || incomplete || stalled ? 1 : 0;
  } finally {
    progress.finish();
    target.destroy();
  }
};

process.once('SIGINT', () => {
  console.error(`\nreprocess: stopped following${resumeHint()}`);
  process.exit(130);
});

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    if (isFlagError(error)) {
      console.error(`reprocess: ${flagErrorMessage(error)}\n\n${USAGE}`);
      process.exit(2);
    }
    // A request the function refused was not started, nor resumed: the hint to resume would only repeat it.
    const refused = /ReprocessRequestError/.test(error.message);
    console.error(`reprocess failed: ${inFlagTerms(explainFailure(error))}${refused ? '' : resumeHint()}`);
    process.exit(error instanceof JobStateError ? 1 : 2);
  },
);
