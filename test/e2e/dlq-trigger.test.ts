import { rmSync } from 'node:fs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { type RuntimeStatus, statusLine } from '#local/status.ts';
import { queueDepth } from '#test/helpers/esm-fixtures.ts';
import { eventually, postEvents, scanItems, startTestRuntime, tempDataDir } from '#test/helpers/runtime.ts';

/**
 * DlqReplayTriggerEnabled=true: the failure queue triggers DlqReplayFunction, which replays each pointer as it
 * arrives (docs/recovery.md, "SQS trigger").
 */

let runtime: LocalRuntime;
let dataDir: string;
const replayEvents: SQSEvent[] = [];

/** Messages on one of the template's queues, waiting or in flight. */
const depthOf = (logicalId: string): Promise<number> =>
  queueDepth(runtime.clients.sqs, runtime.stack.resources[logicalId]!.refs.ref);

const triggerIdentities = async () =>
  (await scanItems(runtime))
    .map((item) => (item.identity as { S: string }).S)
    .filter((identity) => identity.startsWith('ce:urn%3Atrigger:'))
    .sort();

describe('E2E: the DLQ replay trigger on the local runtime', () => {
  beforeAll(async () => {
    dataDir = tempDataDir();
    ({ runtime } = await startTestRuntime({
      dataDir,
      parameterOverrides: { DlqReplayTriggerEnabled: 'true' },
      observe: (name, event) => {
        if (name === 'DlqReplayFunction') replayEvents.push(event as SQSEvent);
      },
    }));
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('replays a pointer as soon as it reaches the failure queue, and the queue is left empty', async () => {
    // Prepare: the consumer fails for good on records that contain "poison"; the replay function does not.
    const fault = await fetch(`${runtime.endpoint}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify({ functionPattern: 'poison', functionName: 'ConsumerFunction' }),
    });
    expect(fault.status).toBe(200);
    // Act
    await postEvents(runtime, [
      { specversion: '1.0', id: 't-1', source: 'urn:trigger', type: 't', subject: 'a', data: { n: 1 } },
      {
        specversion: '1.0',
        id: 't-2',
        source: 'urn:trigger',
        type: 't',
        subject: 'a',
        data: { note: 'poison' },
      },
      { specversion: '1.0', id: 't-3', source: 'urn:trigger', type: 't', subject: 'b', data: { n: 3 } },
    ]);
    // Assess: the poisoned event lands through the trigger's replay, and its pointer is deleted.
    await eventually(
      triggerIdentities,
      (identities) => identities.length === 3,
      'every event in the table',
      90_000,
    );
    await eventually(
      () => depthOf('ConsumerFailureQueue'),
      (depth) => depth === 0,
      'the failure queue emptied by the trigger',
    );
    expect(await depthOf('FailureParkingQueue')).toBe(0);
    const replayed = replayEvents.flatMap((event) => event.Records);
    expect(replayed.length).toBeGreaterThanOrEqual(1);
    expect(replayed.every((record) => record.eventSource === 'aws:sqs')).toBe(true);
    const pointer = JSON.parse(replayed[0]!.body) as { KinesisBatchInfo: { shardId: string } };
    expect(pointer.KinesisBatchInfo.shardId).toMatch(/^shardId-/);
    // The live view counts the consumer's invocations the fault failed.
    const status = (await (await fetch(`${runtime.endpoint}/_local/status`)).json()) as RuntimeStatus;
    expect(status.faults.injected.functionErrors).toBeGreaterThanOrEqual(1);
    expect(statusLine(status)).toMatch(/faults injected: [1-9]/);
  }, 150_000);
});
