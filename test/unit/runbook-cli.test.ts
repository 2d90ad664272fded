import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listenOn } from '#local/net.ts';
import { replayReport as reportOf } from '#shared/recovery/dlq-replay.ts';

/** Runs one of the runbook's commands; bad flags must fail before anything is called. */
const run = async (script: string, args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: { ...process.env, AWS_REGION: 'us-east-1' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

// An endpoint nothing listens on: reaching it would fail differently from the failures expected here.
const FROM = ['--from', '2026-11-27T10:00:00Z', '--endpoint', 'http://127.0.0.1:9'];

/**
 * A Lambda Invoke API standing in for the runtime: each call is answered with what `answer` returns for its path
 * and JSON payload, or has its connection dropped when that is undefined (the runtime gone).
 */
const invokeApi = (answer: (call: { url: string; payload: Record<string, unknown> }) => unknown) =>
  listenOn(
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const body = answer({ url: req.url ?? '', payload: text ? JSON.parse(text) : {} });
        if (body === undefined) {
          res.destroy();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    }),
    0,
  );

/** A DLQ replay's report as the function answers it: nothing done, but for `fields`. */
const replayReport = (fields: Record<string, unknown> = {}) => ({
  ...reportOf([], false),
  ...fields,
});

/** A reprocess job's status as the function answers it: one shard, or none. */
const jobStatus = (
  jobId: string,
  state: string,
  {
    shard,
    updatedAt = new Date().toISOString(),
  }: { shard?: Record<string, unknown>; updatedAt?: string } = {},
) => {
  const counts = shard
    ? { recordsRead: 100, written: 100, duplicates: 0, quarantined: 0, failed: 0 }
    : { recordsRead: 0, written: 0, duplicates: 0, quarantined: 0, failed: 0 };
  return {
    jobId,
    state,
    dryRun: false,
    parameters: { from: '2026-11-27T10:00:00.000Z' },
    projectionVersion: 1,
    windowEnd: '2026-11-27T11:00:00.000Z',
    createdAt: '2026-11-27T11:00:00.000Z',
    updatedAt,
    invocations: 1,
    totals: counts,
    shards: shard ? [{ shardId: 'shardId-000000000000', parents: [], lagMs: 0, ...counts, ...shard }] : [],
  };
};

/** `npm run reprocess -- --job <jobId> --status` against a function answering `answer`, with the requests it got. */
const statusOf = async (jobId: string, answer: unknown) => {
  const requests: Array<Record<string, unknown>> = [];
  const { endpoint, close } = await invokeApi(({ payload }) => {
    requests.push(payload);
    return answer;
  });
  try {
    const result = await run('scripts/reprocess.ts', ['--job', jobId, '--status', '--endpoint', endpoint]);
    return { ...result, requests };
  } finally {
    await close();
  }
};

/** `npm run replay` against a function answering each call with the next of `answers`. */
const replayAnswering = async (answers: unknown[]) => {
  const { endpoint, close } = await invokeApi(() => answers.shift());
  try {
    return await run('scripts/replay.ts', ['--endpoint', endpoint]);
  } finally {
    await close();
  }
};

describe('Runbook commands: numeric flags are checked before the function is called', () => {
  it.each([
    [['--rate', 'abc'], "--rate must be a number, got 'abc'"],
    [['--rate', '0'], '--rate must be at least 1, got 0'],
    [['--rate', '100001'], '--rate must be at most 100000, got 100001'],
    [['--rate', '2.5'], '--rate must be a whole number, got 2.5'],
    [['--poll', '10'], '--poll must be at least 50, got 10'],
    // Past setTimeout's largest delay (about 24.8 days) Node waits 1 ms instead: a poll of the function every 1 ms.
    [['--poll', '3000000000'], '--poll must be at most 3600000, got 3000000000'],
  ])('npm run reprocess -- %j fails with exit status 2', async (flags, message) => {
    // Act
    const result = await run('scripts/reprocess.ts', [...FROM, ...flags]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`reprocess failed: ${message}`);
  });

  it.each([
    [['--from', '2026-11-29T13:00:00'], '--from has no UTC offset: add Z or ±hh:mm'],
    [['--from', 'yesterday'], '--from must be an RFC 3339 time with its offset'],
    [['--from', '2099-01-01'], '--from (2099-01-01T00:00:00.000Z) is in the future'],
    [['--from', '2026-11-27', '--to', '2099-01-01'], '--to (2099-01-01T00:00:00.000Z) is in the future'],
    [['--from', '2026-11-28', '--to', '2026-11-27'], '--to must be after --from'],
    [['--from', '2026-11-27', '--shards', 'shard-1'], '--shards must be a non-empty list of shard ids'],
    [['--from', '2026-11-27', '--job', 'has space'], '--job must be 1-80 letters, digits'],
    // An unset shell variable: an empty --to would run the job to the tip of the stream, an empty --job under a new id.
    [
      ['--from', '2026-11-27', '--to', ''],
      '--to is empty (an unset variable?): give it a value, or leave it out',
    ],
    [
      ['--from', '2026-11-27', '--job', ''],
      '--job is empty (an unset variable?): give it a value, or leave it out',
    ],
    [
      ['--job', 'job-1', '--from', ''],
      '--from is empty (an unset variable?): give it a value, or leave it out',
    ],
    // --status shows a job as it is: a window or rate given with it would be ignored without a word.
    [
      ['--job', 'job-1', '--status', '--to', '2026-11-28T00:00:00Z', '--dry-run'],
      '--status shows job job-1 as it is: --to, --dry-run are not taken with it; use --job alone with --status',
    ],
    [
      ['--job', 'job-1', '--status', '--from', '2026-11-27T00:00:00Z'],
      '--status shows job job-1 as it is: --from is not taken with it; use --job alone with --status',
    ],
  ])(
    'npm run reprocess -- %j is refused before the function is called, so no invocation fails',
    async (flags, message) => {
      // Prepare: a function that records every call.
      const calls: unknown[] = [];
      const { endpoint, close } = await invokeApi(({ payload }) => {
        calls.push(payload);
        return payload.action === 'status' ? undefined : jobStatus('job-1', 'done');
      });
      try {
        // Act
        const result = await run('scripts/reprocess.ts', [...flags, '--endpoint', endpoint]);
        // Assess: a --job is looked up first (a status request), and nothing is started.
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`reprocess failed: ${message}`);
        expect(result.stderr).not.toContain('to follow or resume it');
        expect(calls.filter((call) => (call as { action?: string }).action !== 'status')).toEqual([]);
      } finally {
        await close();
      }
    },
  );

  it.each([
    [['--batch', '10001'], '--batch must be at most 10000, got 10001'],
    [['--batch', '0'], '--batch must be at least 1, got 0'],
    [['--max', 'many'], "--max must be a number, got 'many'"],
    [['--max', '1.5'], '--max must be a whole number, got 1.5'],
  ])('npm run replay -- %j fails with exit status 2', async (flags, message) => {
    // Act
    const result = await run('scripts/replay.ts', ['--endpoint', 'http://127.0.0.1:9', ...flags]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe('Runbook commands: targets and help', () => {
  it.each([
    ['scripts/replay.ts', []],
    ['scripts/reprocess.ts', ['--from', '2026-11-27T10:00:00Z']],
  ])(
    '%s refuses --stack with --endpoint, and --region without --stack, with exit status 2',
    async (script, args) => {
      // Act
      const both = await run(script, [...args, '--stack', 'pipeline', '--endpoint', 'http://127.0.0.1:9']);
      const regionAlone = await run(script, [
        ...args,
        '--region',
        'eu-west-1',
        '--endpoint',
        'http://127.0.0.1:9',
      ]);
      // Assess
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--endpoint and --stack exclude each other');
      expect(regionAlone.code).toBe(2);
      expect(regionAlone.stderr).toContain('--region applies to --stack only');
    },
  );

  it.each([
    ['scripts/replay.ts', 'usage: npm run replay'],
    ['scripts/reprocess.ts', 'usage: npm run reprocess'],
    ['scripts/load.ts', 'npm run load'],
    ['scripts/plan.ts', 'npm run plan'],
    ['scripts/validate-template.ts', 'npm run validate'],
  ])('%s --help shows its usage and exits 0', async (script, usage) => {
    // Act
    const result = await run(script, ['--help']);
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(usage);
  });
});

describe('npm run load: its help gives the bounds of --rate and --seconds', () => {
  it('names the largest rate and duration it takes', async () => {
    // Act
    const result = await run('scripts/load.ts', ['--help']);
    // Assess
    expect(result.stdout).toContain('records per second to send, above 0 and at most 100000');
    expect(result.stdout).toContain('how long to send, above 0 and at most 3600');
  });
});

describe('npm run validate: bad usage', () => {
  it.each([
    [['--template', 'x'], "Unknown option '--template'"],
    [['no-such-template.yaml'], 'no template at '],
    [['a.yaml', 'b.yaml'], 'one template at a time, got 2'],
  ])('%j exits 2 with the usage, not a stack trace', async (args, message) => {
    // Act
    const result = await run('scripts/validate-template.ts', args);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('usage: npm run validate');
    expect(result.stderr).not.toContain('    at ');
  });
});

describe('npm run validate: --replacements', () => {
  it('lists the parameters that replace a stateful resource after the findings, and keeps the exit status', async () => {
    // Act
    const plain = await run('scripts/validate-template.ts', []);
    const listed = await run('scripts/validate-template.ts', ['--replacements']);
    // Assess
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('KmsKeyMode');
    expect(listed.code).toBe(0);
    expect(listed.stdout.startsWith(plain.stdout)).toBe(true);
    expect(listed.stdout).toContain(
      '  KmsKeyMode: PipelineKey (AWS::KMS::Key) Condition CreatesCustomerKey, created or deleted;',
    );
  });
});

describe('Runbook commands: what replay says of the failure queue', () => {
  it('says how many messages are in flight when the last run left some, and when they come back', async () => {
    // Prepare: a Lambda Invoke API whose DlqReplayFunction answers a run that found nothing, one message in flight.
    const report = replayReport({ queue: { waiting: 0, inFlight: 1 } });
    const invoked: string[] = [];
    const { endpoint, close } = await invokeApi(({ url }) => {
      invoked.push(url);
      return report;
    });
    try {
      // Act
      const result = await run('scripts/replay.ts', ['--endpoint', endpoint]);
      // Assess: not a success, since a message is not replayed yet.
      expect(result.code).toBe(1);
      expect(invoked).toEqual(['/2015-03-31/functions/DlqReplayFunction/invocations']);
      expect(result.stdout).toContain(
        '0 messages, 0 records read back from the stream: 0 written, 0 duplicates, 0 quarantined; messages 0 still failing, 0 expired, 0 deleted from the queue',
      );
      // The progress line counts the messages once.
      expect(result.stderr).toContain('replay 0 messages: records 0, written 0');
      expect(result.stdout).toContain(
        '1 message is in flight on the failure queue: received and not deleted (by a replay that left it still failing, another replay, or a peek)',
      );
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: a replay dry run reads the whole queue in one invocation', () => {
  const dryReport = (messages: number, waiting: number) =>
    replayReport({
      messages,
      recordsReplayed: messages,
      written: messages,
      dryRun: true,
      queue: { waiting, inFlight: 0 },
    });

  it('asks for every message at once, since the messages it read are visible again after it', async () => {
    // Prepare
    const payloads: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      payloads.push(payload);
      return dryReport(12, 12);
    });
    try {
      // Act
      const result = await run('scripts/replay.ts', ['--endpoint', endpoint, '--dry-run']);
      // Assess
      expect(result.code).toBe(0);
      expect(payloads).toEqual([{ maxMessages: 2_000, dryRun: true }]);
      expect(result.stdout).toContain(
        '12 messages, 12 records read back from the stream: 12 would be written, 0 duplicates, 0 would be quarantined;',
      );
      expect(result.stdout).toContain('(dry run: nothing was changed)');
      expect(result.stdout).not.toContain('more message');
    } finally {
      await close();
    }
  });

  it('says when the queue held more than it read, and does not call that a success', async () => {
    // Prepare: the function read 4 of 7 (its time ran out), or --max stopped it.
    const payloads: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      payloads.push(payload);
      return dryReport(4, 7);
    });
    try {
      // Act
      const timedOut = await run('scripts/replay.ts', ['--endpoint', endpoint, '--dry-run']);
      const capped = await run('scripts/replay.ts', ['--endpoint', endpoint, '--dry-run', '--max', '4']);
      // Assess
      expect(timedOut.code).toBe(1);
      expect(timedOut.stdout).toContain(
        "The failure queue holds about 3 more messages than this dry run read (the function's time ran out first, or they came after it read the queue)",
      );
      expect(capped.code).toBe(1);
      expect(capped.stdout).toContain('(it stopped at --max)');
      expect(payloads.map((payload) => payload.maxMessages)).toEqual([2_000, 4]);
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: replay stopped by a failed call', () => {
  it('still prints the summary of the calls that answered before it, and exits 2', async () => {
    // Prepare: the first call replays and deletes one message (one more waiting); the runtime is gone at the second.
    let calls = 0;
    const { endpoint, close } = await invokeApi(() => {
      calls += 1;
      return calls === 1
        ? replayReport({
            messages: 1,
            recordsReplayed: 3,
            written: 3,
            deleted: 1,
            queue: { waiting: 1, inFlight: 0 },
          })
        : undefined;
    });
    try {
      // Act
      const result = await run('scripts/replay.ts', ['--endpoint', endpoint]);
      // Assess: what was deleted is said, and why the run stopped.
      expect(calls).toBe(2);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain(
        '1 message, 3 records read back from the stream: 3 written, 0 duplicates, 0 quarantined; messages 0 still failing, 0 expired, 1 deleted from the queue',
      );
      expect(result.stdout).toContain(
        'The replay stopped early: a call failed after the ones counted above had answered (',
      );
      expect(result.stderr).not.toContain('replay failed');
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: replay stopped by --max or by Ctrl-C says what is left', () => {
  it('names the messages --max left waiting, and does not call that a failure', async () => {
    // Prepare: one message replayed, two more waiting.
    const { endpoint, close } = await invokeApi(() =>
      replayReport({
        messages: 1,
        recordsReplayed: 1,
        written: 1,
        deleted: 1,
        queue: { waiting: 2, inFlight: 0 },
      }),
    );
    try {
      // Act
      const result = await run('scripts/replay.ts', ['--endpoint', endpoint, '--max', '1']);
      // Assess
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        '2 messages are still waiting on the failure queue (--max 1 stopped the run): run the replay again for them.',
      );
    } finally {
      await close();
    }
  });

  /** Runs replay with `args`, and sends it Ctrl-C (SIGINT) once it has said it started. */
  const interruptedReplay = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['scripts/replay.ts', ...args], {
        env: { ...process.env, AWS_REGION: 'us-east-1' },
      });
      let stderr = '';
      let interrupted = false;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (!interrupted && stderr.includes('replaying the failure queue')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  it('exits 130 on Ctrl-C, saying the invocation goes on and when its messages come back', async () => {
    // Prepare: a function that never answers.
    const { endpoint, close } = await listenOn(
      createServer(() => undefined),
      0,
    );
    try {
      // Act
      const replay = await interruptedReplay(['--endpoint', endpoint]);
      const dryRun = await interruptedReplay(['--endpoint', endpoint, '--dry-run']);
      // Assess
      expect(replay.code).toBe(130);
      expect(replay.stderr).toContain('replay: stopped. The invocation under way goes on in the function');
      expect(replay.stderr).toContain('Run npm run replay again after that');
      // A dry run deletes nothing, and says so.
      expect(dryRun.code).toBe(130);
      expect(dryRun.stderr).toContain(
        'The dry run under way goes on in the function: it writes and deletes nothing',
      );
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: replay says when the messages it left still failing come back', () => {
  it('names the latest time, and counts records and messages apart', async () => {
    // Prepare: one message of two records, one written and one still failing, hidden for 5 more minutes.
    const backAt = new Date(Date.now() + 5 * 60_000).toISOString();
    const detail = {
      messageId: 'm-1',
      outcome: 'still-failing',
      shardId: 'shardId-000000000000',
      startSequenceNumber: '1',
      endSequenceNumber: '2',
      recordsReplayed: 2,
      written: 1,
      duplicates: 0,
      staleVersions: 0,
      quarantined: 0,
      failed: 1,
      deleted: false,
      detail: 'InternalServerError: injected fault',
      visibleAgainAt: backAt,
    };
    const report = replayReport({
      messages: 1,
      recordsReplayed: 2,
      written: 1,
      stillFailing: 1,
      details: [detail],
      queue: { waiting: 0, inFlight: 1 },
    });
    const answers = [
      report,
      { ...report, messages: 0, stillFailing: 0, recordsReplayed: 0, written: 0, details: [] },
    ];
    // Act
    const result = await replayAnswering(answers);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      '1 message, 2 records read back from the stream: 1 written, 0 duplicates, 0 quarantined; messages 1 still failing, 0 expired, 0 deleted from the queue',
    );
    expect(result.stdout).toContain(
      `Those this replay left still failing come back by ${backAt} (in about 5 min). Run the replay again then.`,
    );
  });
});

describe('Runbook commands: records refused as stale versions are counted, not left out', () => {
  it('replay names them in its summary', async () => {
    // Prepare: two records read back, the table holding both at a newer projection version.
    const report = replayReport({
      messages: 1,
      recordsReplayed: 2,
      staleVersions: 2,
      deleted: 1,
      details: [],
      queue: { waiting: 0, inFlight: 0 },
    });
    const answers = [report, replayReport({ queue: { waiting: 0, inFlight: 0 } })];
    // Act
    const result = await replayAnswering(answers);
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      '1 message, 2 records read back from the stream: 0 written, 0 duplicates, 2 stale versions, 0 quarantined;',
    );
    expect(result.stdout).toContain('newer projection version');
  });

  it('replay counts one duplicate and one stale version in the singular', async () => {
    // Prepare
    const report = replayReport({
      messages: 1,
      recordsReplayed: 3,
      written: 1,
      duplicates: 1,
      staleVersions: 1,
      deleted: 1,
      details: [],
      queue: { waiting: 0, inFlight: 0 },
    });
    const answers = [report, replayReport({ queue: { waiting: 0, inFlight: 0 } })];
    // Act
    const result = await replayAnswering(answers);
    // Assess
    expect(result.stdout).toContain(
      '1 message, 3 records read back from the stream: 1 written, 1 duplicate, 1 stale version, 0 quarantined;',
    );
  });

  it('reprocess names them in the totals and per shard', async () => {
    // Prepare: a job done whose 100 records the table holds at a newer projection version.
    const answer = jobStatus('job-stale', 'done', { shard: { state: 'done' } });
    const stale = {
      recordsRead: 100,
      written: 0,
      duplicates: 0,
      staleVersions: 100,
      quarantined: 0,
      failed: 0,
    };
    const result = await statusOf('job-stale', {
      ...answer,
      totals: stale,
      shards: answer.shards.map((shard) => ({ ...shard, ...stale })),
    });
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'read 100, written 0, failed 0, duplicates 0, stale versions 100, quarantined 0',
    );
    expect(result.stdout).toContain(
      'shardId-000000000000 done: read 100, written 0, duplicates 0, stale versions 100, quarantined 0, failed 0',
    );
    expect(result.stdout).toContain('newer projection version');
  });
});

describe('Runbook commands: reprocess --job takes over a job nothing works on any more', () => {
  it('refuses, instead of following, a job worked on whose parameters are not the ones asked', async () => {
    // Prepare: a dry run of another window, worked on.
    const leased = {
      state: 'reading',
      lease: { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() },
    };
    const parameters = { from: '2026-11-27T10:00:00.000Z', dryRun: true, maxRecordsPerSecond: 10 };
    const running = { ...jobStatus('job-7', 'running', { shard: leased }), parameters };
    const done = { ...jobStatus('job-7', 'done', { shard: { state: 'done' } }), parameters };
    // The first command's look, then the second's look and its first poll.
    const answers = [running, running, done];
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      requests.push(payload);
      return answers.shift();
    });
    try {
      // Act
      const other = await run('scripts/reprocess.ts', [
        '--job',
        'job-7',
        '--from',
        '2026-11-27T09:00:00Z',
        '--rate',
        '7',
        '--endpoint',
        endpoint,
      ]);
      const same = await run('scripts/reprocess.ts', [
        '--job',
        'job-7',
        '--from',
        '2026-11-27T10:00:00Z',
        '--dry-run',
        '--poll',
        '50',
        '--endpoint',
        endpoint,
      ]);
      // Assess: refused as the function refuses it, naming each difference; only the same job is followed.
      expect(other.code).toBe(2);
      expect(other.stderr).toContain('reprocess failed: job job-7 exists with other parameters: ');
      expect(other.stderr).toContain(
        'from (stored "2026-11-27T10:00:00.000Z", asked "2026-11-27T09:00:00.000Z")',
      );
      expect(other.stderr).toContain('dryRun (stored true, asked false)');
      expect(other.stderr).toContain('maxRecordsPerSecond (stored 10, asked 7)');
      expect(other.stderr).not.toContain('following running job');
      expect(same.stderr).toContain('following running job job-7');
      expect(requests.map((request) => request.action)).toEqual(['status', 'status', 'status']);
    } finally {
      await close();
    }
  });

  it('resumes a followed job once its lease is gone and it has not moved for a minute', async () => {
    // Prepare: a job worked on when the command starts (a lease held), whose invocations then stop.
    const leased = {
      state: 'reading',
      lease: { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() },
    };
    const answers = [
      jobStatus('job-1', 'running', { shard: leased }),
      jobStatus('job-1', 'running', { shard: { state: 'reading' }, updatedAt: '2026-11-27T11:00:00.000Z' }),
      jobStatus('job-1', 'running', { shard: leased }),
      jobStatus('job-1', 'done', { shard: { state: 'done' } }),
    ];
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      requests.push(payload);
      return answers.shift();
    });
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [
        '--job',
        'job-1',
        '--poll',
        '50',
        '--endpoint',
        endpoint,
      ]);
      // Assess: followed, taken over once, then followed to the end.
      expect(requests.map((r) => r.action)).toEqual(['status', 'status', 'start', 'status']);
      expect(requests[2]).toEqual({ action: 'start', detach: true, jobId: 'job-1' });
      expect(result.stderr).toContain('following running job job-1');
      expect(result.stderr).toContain(
        'job job-1 is no longer worked on (no shard lease, no update of the job or its shards for 60 s): resuming it',
      );
      expect(result.code).toBe(0);
    } finally {
      await close();
    }
  });
  it('resumes a job once: the continuation it started is given a minute to take the job up', async () => {
    // Prepare: a job nothing has worked on for hours. The function answers a detached start of it at once, before
    // its continuation has run, so the job still shows no lease and its old updatedAt for a few polls.
    const stalled = jobStatus('job-2', 'running', {
      shard: { state: 'reading' },
      updatedAt: '2026-11-27T11:00:00.000Z',
    });
    const answers = [
      stalled,
      stalled,
      stalled,
      stalled,
      stalled,
      jobStatus('job-2', 'done', { shard: { state: 'done' } }),
    ];
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      requests.push(payload);
      return answers.shift();
    });
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [
        '--job',
        'job-2',
        '--poll',
        '50',
        '--endpoint',
        endpoint,
      ]);
      // Assess: one start, then only looks: a second start would run a second chain beside the first.
      expect(requests.map((r) => r.action)).toEqual([
        'status',
        'start',
        'status',
        'status',
        'status',
        'status',
      ]);
      expect(result.stderr).not.toContain('resuming it');
      expect(result.code).toBe(0);
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: the answer goes to stdout, as JSON with --json, and progress and errors to stderr', () => {
  it.each([
    [
      'scripts/reprocess.ts',
      ['--job', 'job-9', '--status'],
      jobStatus('job-9', 'done', { shard: { state: 'done' } }),
      'job-9 done: window time 100% read',
    ],
    [
      'scripts/replay.ts',
      [],
      replayReport({ queue: { waiting: 0, inFlight: 0 } }),
      '0 messages, 0 records read back from the stream',
    ],
  ])('%s %j', async (script, args, answer, summary) => {
    // Prepare
    const { endpoint, close } = await invokeApi(() => answer);
    try {
      // Act
      const plain = await run(script, [...args, '--endpoint', endpoint]);
      const json = await run(script, [...args, '--json', '--endpoint', endpoint]);
      // Assess: the summary is the answer; with --json the answer is the JSON alone, and the summary is shown apart.
      expect(plain.code).toBe(0);
      expect(plain.stdout).toContain(summary);
      expect(plain.stderr).not.toContain(summary);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject(
        script === 'scripts/replay.ts' ? { messages: 0 } : { jobId: 'job-9' },
      );
      expect(json.stderr).toContain(summary);
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: reprocess --job looks a job up without failing an invocation', () => {
  /** The function's answer to a status request for a job it does not hold. */
  const notFound = (jobId: string) => ({ jobId, state: 'not-found', message: `there is no job ${jobId}` });

  /** Runs reprocess with `args` against a function answering `answer`, with the requests it got. */
  const reprocessAgainst = async (args: string[], answer: (payload: Record<string, unknown>) => unknown) => {
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      requests.push(payload);
      return answer(payload);
    });
    try {
      return { ...(await run('scripts/reprocess.ts', [...args, '--endpoint', endpoint])), requests };
    } finally {
      await close();
    }
  };

  it('starts a new job named by --job once the function answers that there is no such job', async () => {
    // Act
    const result = await reprocessAgainst(['--job', 'new-1', ...FROM.slice(0, 2)], (payload) =>
      payload.action === 'status' ? notFound('new-1') : jobStatus('new-1', 'done'),
    );
    // Assess
    expect(result.requests.map((request) => request.action)).toEqual(['status', 'start']);
    expect(result.stderr).toContain('job new-1 on the local runtime');
    expect(result.code).toBe(0);
  });

  it('refuses --job of a job that does not exist without --from, and sends no start the function would refuse', async () => {
    // Act
    const result = await reprocessAgainst(['--job', 'nope'], () => notFound('nope'));
    // Assess
    expect(result.requests).toEqual([{ action: 'status', jobId: 'nope' }]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'reprocess failed: there is no job nope; give --from (and --to) to start one',
    );
    expect(result.stderr).not.toContain('to follow or resume it');
  });

  it('--status of a job that does not exist says so, with exit status 2 and nothing on stdout', async () => {
    // Act
    const result = await reprocessAgainst(['--job', 'nope', '--status', '--json'], () => notFound('nope'));
    // Assess
    expect(result.requests).toEqual([{ action: 'status', jobId: 'nope' }]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('reprocess failed: there is no job nope\n');
    expect(result.stdout).toBe('');
  });

  it('starts no job when the look at --job fails: the job may be running', async () => {
    // Act: the status request's connection is dropped.
    const result = await reprocessAgainst(['--job', 'fix-2', ...FROM.slice(0, 2)], (payload) =>
      payload.action === 'status' ? undefined : jobStatus('fix-2', 'done'),
    );
    // Assess
    expect(result.requests.map((request) => request.action)).toEqual(['status']);
    expect(result.code).toBe(2);
  });

  it('takes the refusal of a function deployed before status answered not-found as no such job', async () => {
    // Prepare: the older function fails the status request with its refusal.
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await listenOn(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          requests.push(payload);
          const refused = payload.action === 'status';
          res.writeHead(200, {
            'content-type': 'application/json',
            ...(refused ? { 'x-amz-function-error': 'Unhandled' } : {}),
          });
          res.end(
            JSON.stringify(
              refused
                ? { errorType: 'ReprocessRequestError', errorMessage: 'there is no job old-1' }
                : jobStatus('old-1', 'done'),
            ),
          );
        });
      }),
      0,
    );
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [
        '--job',
        'old-1',
        ...FROM.slice(0, 2),
        '--endpoint',
        endpoint,
      ]);
      // Assess
      expect(requests.map((request) => request.action)).toEqual(['status', 'start']);
      expect(result.code).toBe(0);
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: reprocess shows the lag of a running job as a duration', () => {
  /** A running job, worked on, of a window from 2020 to now, whose shards are `shards`. */
  const running = (shards: Array<Record<string, unknown>>) => {
    const lease = { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() };
    const base = jobStatus('job-9', 'running', { shard: { state: 'reading', lease } });
    const windowEnd = Date.parse('2026-11-27T11:00:00.000Z');
    return {
      ...base,
      parameters: { from: '2020-01-01T00:00:00.000Z' },
      shards: shards.map((shard, i) => ({
        ...base.shards[0],
        shardId: `shardId-00000000000${i}`,
        // As the function measures it: a shard not read yet is behind by the whole window.
        lagMs:
          windowEnd - Date.parse((shard.lastArrival as string | undefined) ?? '2020-01-01T00:00:00.000Z'),
        ...shard,
      })),
    };
  };

  it.each([
    [
      'one shard read two hours and five minutes behind, one not read yet',
      [{ lastArrival: '2026-11-27T08:55:00.000Z' }, {}],
      'lag 2h 5m (1 shard not read yet)',
    ],
    ['no shard read yet', [{}, {}], 'not read yet'],
    ['a shard read far behind', [{ lastArrival: '2026-11-20T10:00:00.000Z' }], 'lag 7d 1h'],
  ])('%s', async (_, shards, figure) => {
    // Act
    const result = await statusOf('job-9', running(shards));
    // Assess: never the window's length in seconds.
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`failed 0, ${figure}, duplicates 0`);
    expect(result.stdout).not.toMatch(/lag \d+ s/);
  });
});

describe('Runbook commands: reprocess takes an answer of a state it does not know as an answer, not a crash', () => {
  it.each([
    ['--status of a job', ['--job', 'job-8', '--status'], () => ({ jobId: 'job-8', state: 'paused' })],
    [
      'a job it follows',
      ['--job', 'job-8'],
      (() => {
        // Running and worked on at the first look (followed, not started), then in a state of a newer function.
        const lease = { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() };
        const answers: unknown[] = [
          jobStatus('job-8', 'running', { shard: { state: 'reading', lease } }),
          { ...jobStatus('job-8', 'paused'), shards: undefined, totals: undefined },
        ];
        return () => answers.shift();
      })(),
    ],
  ])('%s: names the state, exits 1, and throws no TypeError', async (_, flags, answer) => {
    // Prepare
    const { endpoint, close } = await invokeApi(answer);
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [...flags, '--poll', '50', '--endpoint', endpoint]);
      // Assess
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "reprocess failed: the function answered job job-8 with state 'paused', which this command does not know",
      );
      expect(result.stderr).not.toMatch(/TypeError|\n\s+at /);
    } finally {
      await close();
    }
  });

  it('says so, with exit status 1, when the answer has no state at all', async () => {
    // Act
    const result = await statusOf('job-8', { jobId: 'job-8' });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('reprocess failed: the function answered job job-8 with no state');
  });
});

describe('Runbook commands: reprocess --status says what a job needs', () => {
  it('shows a job nothing works on as such, with the command that resumes it, and the window warnings', async () => {
    // Prepare: a running job, no lease, untouched for an hour, whose window started past the retention.
    const warning = 'the window starts before the oldest records the stream keeps';
    const answer = {
      ...jobStatus('job-3', 'running', {
        shard: { state: 'reading', lastArrival: '2026-11-27T10:30:00.000Z' },
        updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
      }),
      warnings: [warning],
    };
    // Act
    const result = await statusOf('job-3', answer);
    // Assess: only looked at, never resumed.
    expect(result.requests).toEqual([{ action: 'status', jobId: 'job-3' }]);
    expect(result.stdout).toContain(
      'job-3 running, not worked on (no shard lease, no update of the job or its shards for 60 s): window time 50% read, read 100, written 100, failed 0, lag 0 ms, duplicates 0, quarantined 0, shards 0/1',
    );
    expect(result.stdout).toContain(`warning: ${warning}`);
    expect(result.stdout).toContain('resume it with npm run reprocess -- --job job-3');
    // Part of its window is gone: not a success.
    expect(result.code).toBe(1);
  });

  it('says a job of another projection version cannot be resumed, and exits 1, where it would say to resume it', async () => {
    // Prepare: a job of version 1, nothing working on it, and a function that now writes version 2.
    const answer = {
      ...jobStatus('job-5', 'running', {
        shard: { state: 'reading', lastArrival: '2026-11-27T10:30:00.000Z' },
        updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
      }),
      functionProjectionVersion: 2,
    };
    const requests: Array<Record<string, unknown>> = [];
    const { endpoint, close } = await invokeApi(({ payload }) => {
      requests.push(payload);
      return answer;
    });
    try {
      // Act
      const status = await run('scripts/reprocess.ts', [
        '--job',
        'job-5',
        '--status',
        '--endpoint',
        endpoint,
      ]);
      const resume = await run('scripts/reprocess.ts', ['--job', 'job-5', '--endpoint', endpoint]);
      // Assess: looked at twice, never resumed.
      expect(status.code).toBe(1);
      expect(status.stdout).toContain(
        'job job-5 writes projection version 1, and the function now writes 2: it cannot be resumed; start a new job with --from for version 2',
      );
      expect(status.stdout).not.toContain('resume it with npm run reprocess');
      expect(resume.code).toBe(1);
      expect(resume.stderr).toContain('reprocess failed: job job-5 writes projection version 1');
      expect(resume.stderr).not.toContain('to follow or resume it');
      expect(requests).toEqual([
        { action: 'status', jobId: 'job-5' },
        { action: 'status', jobId: 'job-5' },
      ]);
    } finally {
      await close();
    }
  });

  it('says at once that a job of another projection version cannot be resumed, however recently it was updated', async () => {
    // Prepare: updated a moment ago (before a deploy that raised the version), a dry run.
    const answer = {
      ...jobStatus('job-8', 'running', { shard: { state: 'reading' } }),
      dryRun: true,
      functionProjectionVersion: 2,
    };
    // Act
    const result = await statusOf('job-8', answer);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('job-8 (dry run) running: window');
    expect(result.stdout).toContain(
      'job job-8 writes projection version 1, and the function now writes 2: it cannot be resumed',
    );
  });

  it('exits 1 for a job nothing works on, warnings or not', async () => {
    // Prepare
    const answer = jobStatus('job-6', 'running', {
      shard: { state: 'reading', lastArrival: '2026-11-27T10:30:00.000Z' },
      updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
    });
    // Act
    const result = await statusOf('job-6', answer);
    // Assess
    expect(result.stdout).toContain('resume it with npm run reprocess -- --job job-6');
    expect(result.code).toBe(1);
  });

  it('shows a job worked on as running, with no resume hint', async () => {
    // Prepare
    const answer = jobStatus('job-4', 'running', {
      shard: {
        state: 'reading',
        lease: { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() },
      },
    });
    // Act
    const result = await statusOf('job-4', answer);
    // Assess
    expect(result.stdout).toContain('job-4 running: window time 0% read');
    expect(result.stdout).not.toContain('resume it');
    expect(result.stdout).not.toContain('warning:');
  });
});

describe('Runbook commands: reprocess says how a job ended, and exits so that a script can tell', () => {
  it.each([
    ['a job done with all of its window', {}, 0, []],
    [
      'a job done without part of its window',
      { warnings: ['the window starts before the oldest records the stream keeps'] },
      1,
      ['warning: the window starts before the oldest records the stream keeps'],
    ],
    [
      'a failed job, with why',
      {
        state: 'failed',
        lastError: '1 shard(s) failed: shardId-000000000000: InternalServerError: injected fault',
      },
      1,
      ['  last error: 1 shard(s) failed: shardId-000000000000: InternalServerError: injected fault'],
    ],
  ])('%s', async (_, fields, code, lines) => {
    // Prepare
    const answer = { ...jobStatus('job-5', 'done', { shard: { state: 'done' } }), ...fields };
    // Act
    const result = await statusOf('job-5', answer);
    // Assess
    expect(result.code).toBe(code);
    for (const line of lines) expect(result.stdout).toContain(line);
  });

  it('shows a warning that appears while the job runs once, as it appears, and again beside the totals', async () => {
    // Prepare: a shard falls behind the retention after the job started.
    const warning = "shardId-000000000000: records that arrived from A to B passed the stream's retention";
    const lease = { owner: 'a', expiresAt: new Date(Date.now() + 60_000).toISOString() };
    const answers = [
      jobStatus('job-6', 'running', { shard: { state: 'reading', lease } }),
      { ...jobStatus('job-6', 'running', { shard: { state: 'reading', lease } }), warnings: [warning] },
      { ...jobStatus('job-6', 'running', { shard: { state: 'reading', lease } }), warnings: [warning] },
      { ...jobStatus('job-6', 'done', { shard: { state: 'done' } }), warnings: [warning] },
    ];
    const { endpoint, close } = await invokeApi(() => answers.shift());
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [
        ...FROM.slice(0, 2),
        '--poll',
        '50',
        '--endpoint',
        endpoint,
      ]);
      // Assess: the bar says it is the share of the window's time read (the records read follow it).
      expect(result.stderr).toContain(
        'reprocess [------------------------] 0% of window time · job-6 running: read 100, written 100',
      );
      // Once with the progress, once with the job's summary.
      expect(result.stderr.split(`warning: ${warning}`)).toHaveLength(2);
      expect(result.stdout.split(`warning: ${warning}`)).toHaveLength(2);
      expect(result.code).toBe(1);
    } finally {
      await close();
    }
  });

  it('refuses --shards without a shard id before anything is called', async () => {
    // Act
    const result = await run('scripts/reprocess.ts', [...FROM, '--shards', ' , ']);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "reprocess failed: --shards needs at least one shard id (shardId-000000000000), got ' , '",
    );
  });
});

describe('Runbook commands: reprocess names the job when it stops before the job does', () => {
  it('says how to follow or resume the job when the function cannot be reached any more', async () => {
    // Prepare: a start answered, then the endpoint goes away (the local runtime stopped).
    let calls = 0;
    const { endpoint, close } = await invokeApi(() => {
      calls += 1;
      return calls > 1 ? undefined : jobStatus('job-2', 'running');
    });
    try {
      // Act
      const result = await run('scripts/reprocess.ts', [
        '--from',
        '2026-11-27T10:00:00Z',
        '--poll',
        '50',
        '--endpoint',
        endpoint,
      ]);
      // Assess
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('reprocess failed: ');
      expect(result.stderr).toContain(
        'Job job-2 goes on in the function, or waits to be resumed: run npm run reprocess -- --job job-2 to follow or resume it',
      );
    } finally {
      await close();
    }
  });
});

describe('Runbook commands: errors say what to do', () => {
  it.each([
    [
      'scripts/replay.ts',
      ['--max', '10', '--max', '1000'],
      'replay: --max is given more than once (--max 10, --max 1000): give it once',
    ],
    [
      'scripts/reprocess.ts',
      [...FROM, '--rate', '100', '--rate', '2000'],
      'reprocess: --rate is given more than once (--rate 100, --rate 2000): give it once',
    ],
  ])('%s refuses a flag given twice instead of keeping the last', async (script, flags, message) => {
    // Act
    const result = await run(script, flags);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it.each([
    ['scripts/replay.ts', 'usage: npm run replay'],
    ['scripts/reprocess.ts', 'usage: npm run reprocess'],
    ['scripts/build.ts', 'usage: npm run build'],
  ])('%s answers an unknown option with the usage, as the other commands do', async (script, usage) => {
    // Act
    const result = await run(script, ['--bogus']);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--bogus'\n");
    expect(result.stderr).toContain(usage);
    expect(result.stderr).not.toMatch(/^\w+ failed: /m);
    // No stack trace (a frame ends with its file, line and column).
    expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it('names the AWS endpoint a command needs when --endpoint is not a URL, or another server answers there', async () => {
    // Prepare: a server that answers 404 {"message":"Not Found"} to everything, as the local HTTP API does.
    const { endpoint, close } = await listenOn(
      createServer((_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"message":"Not Found"}');
      }),
      0,
    );
    try {
      // Act
      const noScheme = await run('scripts/replay.ts', ['--endpoint', '127.0.0.1:4566']);
      const httpApi = await run('scripts/replay.ts', ['--endpoint', endpoint]);
      // Assess
      expect(noScheme.code).toBe(2);
      expect(noScheme.stderr).toContain(
        "--endpoint must be a URL such as http://127.0.0.1:4566 (the local runtime's AWS endpoint), got '127.0.0.1:4566'",
      );
      expect(httpApi.code).toBe(2);
      expect(httpApi.stderr).toContain(
        "the endpoint has no Lambda Invoke API. Is it the local runtime's AWS endpoint (npm start's --endpoint-port, 4566 by default) and not its HTTP API (--port, 3000)?",
      );
    } finally {
      await close();
    }
  });

  it('replay says to start the local runtime or name a target when nothing answers at the endpoint', async () => {
    // Act
    const result = await run('scripts/replay.ts', ['--endpoint', 'http://127.0.0.1:9']);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nothing answers there. Is the local runtime running (npm start)?');
  });

  it.each([
    [['--rate', '5'], '--rate sets the parameters of a new job'],
    [['--dry-run', '--to', '2026-11-27T11:00:00Z'], '--to, --dry-run set the parameters of a new job'],
  ])('reprocess --job %j without --from says the job keeps its own parameters', async (flags, message) => {
    // Act
    const result = await run('scripts/reprocess.ts', [
      '--job',
      'fix-1',
      ...flags,
      '--endpoint',
      'http://127.0.0.1:9',
    ]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('job fix-1 keeps its own: resume it with --job alone');
  });
});
