import { MAX_MESSAGES_PER_REQUEST, type ReplayReport, replayReport } from '#shared/recovery/dlq-replay.ts';
import { flagErrorMessage, isFlagError, numberFlag, parseFlags } from './lib/flags.ts';
import { createProgress } from './lib/progress.ts';
import { DEFAULT_LOCAL_ENDPOINT, explainFailure, TARGET_OPTIONS, targetFrom } from './lib/stack-target.ts';

/**
 * `npm run replay -- [--max N] [--dry-run] [--stack NAME | --endpoint URL]`: drains the failure queue through
 * DlqReplayFunction, a few messages per invocation, until it is empty or N messages were handled.
 */

/**
 * The most messages a dry run reads: all in one invocation, whose answer holds a detail for each (a still-failing
 * one with its error is about 600 bytes), well within Lambda's 6 MB response.
 */
const DRY_RUN_MESSAGES = 2_000;

const USAGE = `usage: npm run replay -- [options]

  --max <n>            handle at most n messages (default: until the failure queue is empty)
  --batch <n>          messages per invocation (default: 10; a dry run is one invocation)
  --dry-run            read and report only: nothing is written, quarantined or deleted. The function
                       makes the messages it read visible again when it is done, so the whole dry run is
                       one invocation of up to ${DRY_RUN_MESSAGES.toLocaleString('en-US')} messages (or --max); it says when the
                       queue held more than it read
  --endpoint <url>     the local runtime's AWS endpoint (default: ${DEFAULT_LOCAL_ENDPOINT})
  --stack <name>       a deployed stack instead; its outputs name the function
  --region <region>    the deployed stack's region
  --json               print the combined report on stdout as JSON, its summary going to stderr with the
                       progress (without --json the summary is on stdout); pipe it with npm run -s, as
                       npm prints its own lines on stdout first

Exit status: 0 when every message handled was replayed, 1 when messages are still failing, had expired or are in
flight on the failure queue (not replayed yet), or a dry run did not read them all; 2 for bad usage or when the
function could not be called (after calls that answered, with the summary of what they did); 130 when stopped with Ctrl-C (the invocation under way goes on in the function).
With --max, messages left waiting are named, and are not a failure.`;

/** A whole number of at least 1. */
const COUNT = [{ integer: true }, { min: 1 }] as const;

const add = (total: ReplayReport, part: ReplayReport): ReplayReport => ({
  messages: total.messages + part.messages,
  recordsReplayed: total.recordsReplayed + part.recordsReplayed,
  written: total.written + part.written,
  duplicates: total.duplicates + part.duplicates,
  staleVersions: total.staleVersions + part.staleVersions,
  quarantined: total.quarantined + part.quarantined,
  stillFailing: total.stillFailing + part.stillFailing,
  expired: total.expired + part.expired,
  deleted: total.deleted + part.deleted,
  dryRun: part.dryRun,
  details: [...total.details, ...part.details],
  // The queue as the last run left it.
  ...(part.queue ? { queue: part.queue } : {}),
});

/** Whether the run under way is a dry run, for what Ctrl-C says. */
let runningDryRun = false;

const main = async (): Promise<number> => {
  const { values } = parseFlags({
    options: {
      max: { type: 'string' },
      batch: { type: 'string' },
      ...TARGET_OPTIONS,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const max = numberFlag('max', values.max, { fallback: Number.POSITIVE_INFINITY, checks: COUNT }, Error);
  // The function's own bound, checked here so that a typo never reaches it as an invocation error.
  const batch = numberFlag(
    'batch',
    values.batch,
    { fallback: 10, checks: [...COUNT, { max: MAX_MESSAGES_PER_REQUEST }] },
    Error,
  );
  const dryRun = values['dry-run'];
  runningDryRun = dryRun;
  const target = targetFrom(values);
  const progress = createProgress(dryRun ? 'replay (dry run)' : 'replay');
  progress.line(`replaying the failure queue of the ${target.description}${dryRun ? ' (dry run)' : ''}`);

  // The function's own report of no messages.
  let total: ReplayReport = replayReport([], dryRun);
  // A call that failed after others had answered: their counts are still the run's (messages were deleted).
  let failure: unknown;
  try {
    while (total.messages < max) {
      // A dry run's messages are visible again when its invocation ends, and a second invocation would read the
      // same ones: so a dry run asks for all of them at once.
      const wanted = Math.min(dryRun ? DRY_RUN_MESSAGES : batch, max - total.messages);
      let report: ReplayReport;
      try {
        report = await target.invoke<ReplayReport>('DlqReplayFunction', { maxMessages: wanted, dryRun });
      } catch (error) {
        if (total.messages === 0) throw error;
        failure = error;
        break;
      }
      total = add(total, report);
      for (const d of report.details) {
        if (d.outcome !== 'replayed') {
          progress.line(
            `  ${d.outcome}: message ${d.messageId} (${d.shardId ?? '?'} ${d.startSequenceNumber ?? ''}…${d.endSequenceNumber ?? ''})${d.detail ? `: ${d.detail}` : ''}`,
          );
        }
      }
      progress.update(
        total.messages,
        Number.isFinite(max) ? max : undefined,
        // After the count of messages the bar shows: "replay 12 messages: records …".
        `message${total.messages === 1 ? '' : 's'}: records ${total.recordsReplayed}, written ${total.written}, duplicates ${total.duplicates}, still failing ${total.stillFailing}, expired ${total.expired}`,
      );
      // An empty receive means the queue is drained; a dry run is one pass (above).
      if (report.messages === 0 || dryRun) break;
    }
  } finally {
    progress.finish();
    target.destroy();
  }

  // The run's report is the command's answer: on stdout, unless --json puts it there as JSON.
  const report = values.json ? console.error : console.log;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  // Records and messages counted apart: a message still failing can hold records that were written.
  report(
    `${plural(total.messages, 'message')}, ${plural(total.recordsReplayed, 'record')} read back from the stream: ` +
      // A dry run writes nothing: its counts are what a replay would do.
      `${total.written} ${dryRun ? 'would be written' : 'written'}, ${plural(total.duplicates, 'duplicate')}, ` +
      `${total.staleVersions > 0 ? `${plural(total.staleVersions, 'stale version')}, ` : ''}${total.quarantined} ${dryRun ? 'would be quarantined' : 'quarantined'}; ` +
      `messages ${total.stillFailing} still failing, ${total.expired} expired` +
      `${dryRun ? ' (dry run: nothing was changed)' : `, ${total.deleted} deleted from the queue`}`,
  );
  if (total.staleVersions > 0) {
    report(
      'Stale versions: events the table already holds at a newer projection version than the function writes, ' +
        'left as they are (is code older than the data running?).',
    );
  }
  // What a dry run left unread: it made the messages it read visible again, so they are among those waiting.
  const unread = dryRun ? Math.max(0, (total.queue?.waiting ?? 0) - total.messages) : 0;
  if (unread > 0) {
    report(
      `The failure queue holds about ${plural(unread, 'more message')} than this dry run read ` +
        `(${total.messages >= max ? 'it stopped at --max' : total.messages >= DRY_RUN_MESSAGES ? `a dry run reads at most ${DRY_RUN_MESSAGES.toLocaleString('en-US')}` : "the function's time ran out first, or they came after it read the queue"}): ` +
        'what it says covers only those it read. The replay itself goes on until the queue is empty.',
    );
  }
  // --max stopped a run the queue had more for: said, not a failure (what was asked for was done).
  const waiting = dryRun ? 0 : (total.queue?.waiting ?? 0);
  if (waiting > 0 && total.messages >= max) {
    report(
      `${plural(waiting, 'message')} ${waiting === 1 ? 'is' : 'are'} still waiting on the failure queue (--max ${max} stopped the run): run the replay again for ${waiting === 1 ? 'it' : 'them'}.`,
    );
  }
  const inFlight = total.queue?.inFlight ?? 0;
  if (inFlight > 0) {
    // Those this run left still failing come back when the visibility timeout it set ends; others are unknown.
    const backAt = total.details
      .map((d) => d.visibleAgainAt)
      .filter((at): at is string => at !== undefined)
      .sort()
      .at(-1);
    const when =
      backAt === undefined
        ? ''
        : ` Those this replay left still failing come back by ${backAt} (in about ${Math.max(1, Math.ceil((Date.parse(backAt) - Date.now()) / 60_000))} min).`;
    report(
      `${inFlight} message${inFlight === 1 ? ' is' : 's are'} in flight on the failure queue: received and not deleted ` +
        '(by a replay that left it still failing, another replay, or a peek). Each comes back when its visibility ' +
        `timeout ends (a replay's time left plus 30 s).${when} Run the replay again then.`,
    );
  }
  if (failure !== undefined) {
    report(
      `The replay stopped early: a call failed after the ones counted above had answered (${explainFailure(failure as Error)}). ` +
        'Run npm run replay again once the cause is mended: it goes on with the messages left.',
    );
  }
  if (values.json) console.log(JSON.stringify(total, null, 2));
  if (failure !== undefined) return 2;
  // A message in flight is not replayed yet (it may be one a replay just left still failing): not a success.
  // A dry run that did not read every message has not said what a replay would do: not a success either.
  return total.stillFailing > 0 || total.expired > 0 || inFlight > 0 || unread > 0 ? 1 : 0;
};

process.once('SIGINT', () => {
  // The invocation under way is the function's: it goes on, replaying and deleting the messages it received.
  console.error(
    runningDryRun
      ? '\nreplay: stopped. The dry run under way goes on in the function: it writes and deletes nothing, and makes ' +
          'the messages it read visible again when it ends (within its time left); until then they show as in flight.'
      : '\nreplay: stopped. The invocation under way goes on in the function: it deletes each message it replays, and ' +
          'those it leaves come back on the failure queue when their visibility timeout ends (its time left plus 30 s, ' +
          'at most about 6 minutes). Run npm run replay again after that; until then they show as in flight.',
  );
  process.exit(130);
});

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(
      isFlagError(error)
        ? `replay: ${flagErrorMessage(error)}\n\n${USAGE}`
        : `replay failed: ${explainFailure(error)}`,
    );
    process.exit(2);
  },
);
