import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { GetQueueAttributesCommand, PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { parseParameterOverrides } from '#local/template/resolve.ts';
import { eventually, scanItems, startTestRuntime, tempDataDir } from '#test/helpers/runtime.ts';

/**
 * Runs docs/RUNBOOK.md's own commands — the blocks marked `<!-- runbook-test: name -->` — against the local
 * runtime, in the runbook's order, and checks what each step must achieve.
 */

const RUNBOOK = readFileSync('docs/RUNBOOK.md', 'utf8');

/** The runbook's tested blocks by name. */
const blocks = (() => {
  const found = new Map<string, string>();
  for (const match of RUNBOOK.matchAll(/<!-- runbook-test: ([\w-]+) -->\s*```bash\n([\s\S]*?)```/g)) {
    found.set(match[1]!, match[2]!);
  }
  return found;
})();

/** The parameters of §4's local restart (`npm start -- --parameter-overrides "…"   # local`), as the doc gives them. */
const restartOverrides = (() => {
  const line = /^npm start -- --parameter-overrides "([^"]+)"\s+# local$/m.exec(RUNBOOK);
  if (!line) throw new Error('docs/RUNBOOK.md §4 has no local `npm start -- --parameter-overrides "…"` line');
  return parseParameterOverrides(line[1]!);
})();

let runtime: LocalRuntime;
let dataDir: string;
const windowFrom = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Runs one block after the setup block, in bash, with this runtime's endpoints. `out` is what a terminal shows,
 * `stdout` alone what a pipe or a redirection takes.
 */
const step = async (name: string): Promise<{ code: number; out: string; stdout: string; stderr: string }> => {
  const block = blocks.get(name);
  if (!block) throw new Error(`docs/RUNBOOK.md has no block marked runbook-test: ${name}`);
  const script = `set -eo pipefail\n${blocks.get('setup')}\n${block}`;
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', ['-c', script], {
      encoding: 'utf8',
      env: { ...process.env, ENDPOINT: runtime.endpoint, API: runtime.apiEndpoint, WINDOW_FROM: windowFrom },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: `${stdout}${stderr}`, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}`, stdout: e.stdout, stderr: e.stderr };
  }
};

const queueDepth = async (logicalId: string): Promise<number> => {
  const url = runtime.stack.resources[logicalId]!.refs.ref;
  const { Attributes = {} } = await runtime.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
};

const drillIdentities = async () =>
  (await scanItems(runtime))
    .map((item) => (item.identity as { S: string }).S)
    .filter((identity) => identity.startsWith('ce:urn%3Adrill:'))
    .sort();

describe('E2E: docs/RUNBOOK.md, run against the local runtime', () => {
  beforeAll(async () => {
    dataDir = tempDataDir();
    ({ runtime } = await startTestRuntime({ dataDir }));
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('takes a failure from the alarm to every event landed once, and reprocesses the window', async () => {
    // 1. Inject a failure (the runbook's drill).
    const broken = await step('drill-break');
    expect(broken.code, broken.out).toBe(0);

    // 2. It reaches the failure queue, and the runbook's detect step shows it.
    await eventually(
      () => queueDepth('ConsumerFailureQueue'),
      (n) => n === 1,
      'the pointer in the failure queue',
    );
    const detected = await step('detect');
    expect(detected.code, detected.out).toBe(0);
    expect(detected.out).toMatch(/"ApproximateNumberOfMessages": "1"/);
    // Bisection isolated the poisoned record; its neighbours, even later ones of its key, landed.
    expect(await drillIdentities()).toEqual([
      'ce:urn%3Adrill:drill-1',
      'ce:urn%3Adrill:drill-3',
      'ce:urn%3Adrill:drill-4',
    ]);

    // Triage looks without changing anything.
    const triage = await step('triage-dry-run');
    expect(triage.code, triage.out).toBe(0);
    // The summary is on stdout, the progress on stderr (docs/RUNBOOK.md §6).
    expect(triage.stdout).toContain('messages 0 still failing');
    expect(triage.stderr).toContain('replaying the failure queue');
    expect(triage.stdout).not.toContain('replaying the failure queue');
    await eventually(
      () => queueDepth('ConsumerFailureQueue'),
      (n) => n === 1,
      'the peeked message back on the queue',
    );

    // Time-box: retention can be raised.
    const retention = await step('retention');
    expect(retention.code, retention.out).toBe(0);

    // 3. Fix it by turning the fault injection off.
    expect((await step('drill-fix')).code).toBe(0);

    // 4. Replay.
    const replay = await step('replay');
    expect(replay.code, replay.out).toBe(0);
    expect(replay.stdout).toMatch(/1 message, \d+ records? read back from the stream: \d+ written/);

    // 5. Every event is present once; the queues are empty.
    const verify = await step('verify');
    expect(verify.code, verify.out).toBe(0);
    expect(await drillIdentities()).toEqual([
      'ce:urn%3Adrill:drill-1',
      'ce:urn%3Adrill:drill-2',
      'ce:urn%3Adrill:drill-3',
      'ce:urn%3Adrill:drill-4',
    ]);
    expect(await queueDepth('ConsumerFailureQueue')).toBe(0);
    expect(await queueDepth('FailureParkingQueue')).toBe(0);

    // 6. A reprocess of the window writes nothing new.
    const same = await step('reprocess');
    expect(same.code, same.out).toBe(0);
    expect(same.stdout).toMatch(/ done: .*read 4, written 0, failed 0, duplicates 4/);
    expect(same.stderr).toMatch(/^job \S+ on the local runtime/m);
    expect(same.stdout).not.toMatch(/^job \S+ on the local runtime/m);

    // Clean up, with a message parked: the cleanup looks at it, and the runbook's redrive, run right after, moves
    // it back to the failure queue.
    await runtime.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: runtime.stack.resources.FailureParkingQueue!.refs.ref,
        MessageBody: '{"parked":true}',
      }),
    );
    const cleanup = await step('cleanup');
    expect(cleanup.code, cleanup.out).toBe(0);
    expect(cleanup.out).toContain('parked');
    const unparked = await step('unpark');
    expect(unparked.code, unparked.out).toBe(0);
    await eventually(
      async () => [await queueDepth('FailureParkingQueue'), await queueDepth('ConsumerFailureQueue')],
      ([parked, failing]) => parked === 0 && failing === 1,
      'the parked message back on the failure queue',
    );
    await runtime.clients.sqs.send(
      new PurgeQueueCommand({ QueueUrl: runtime.stack.resources.ConsumerFailureQueue!.refs.ref }),
    );
  }, 180_000);

  it('after a projection-version raise, a reprocess rewrites each item once', async () => {
    // Prepare: "deploy" the fix with §4's local restart, on the same data.
    expect(restartOverrides.ProjectionVersion).toBe('2');
    await runtime.stop();
    ({ runtime } = await startTestRuntime({ dataDir, parameterOverrides: restartOverrides }));
    // Act
    const raised = await step('reprocess');
    const again = await step('reprocess');
    const json = await step('reprocess-json');
    // Assess
    // The local runtime applies the parameters at every start: the stream takes the flag's RetentionHours (§4).
    const { StreamDescriptionSummary } = await runtime.clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: 'local-EventStream' }),
    );
    expect(StreamDescriptionSummary?.RetentionPeriodHours).toBe(Number(restartOverrides.RetentionHours));
    expect(raised.code, raised.out).toBe(0);
    expect(raised.out).toMatch(/ done: .*read 4, written 4, failed 0, duplicates 0/);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/ done: .*read 4, written 0, failed 0, duplicates 4/);
    // Piped, stdout holds the JSON alone.
    expect(json.code, json.out).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'done',
      totals: { recordsRead: 4, written: 0, duplicates: 4, failed: 0 },
    });
    const items = await scanItems(runtime);
    const drill = items.filter((item) => (item.identity as { S: string }).S.startsWith('ce:urn%3Adrill:'));
    expect(drill).toHaveLength(4);
    for (const item of drill) expect(item.projectionVersion).toEqual({ N: '2' });
  }, 180_000);
});
