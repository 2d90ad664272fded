import { describe, expect, it } from 'vitest';
import type { EventSources } from '#local/event-sources.ts';
import type { FaultInjector } from '#local/faults/faults.ts';
import type { LocalFunction } from '#local/functions/runner.ts';
import type { ResourceClients } from '#local/resources.ts';
import type { LocalStack } from '#local/stack.ts';
import { collectStatus } from '#local/status.ts';

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:local-ConsumerFailureQueue';

/** A stack with one stream mapping and one queue mapping, each of a function with a template FunctionName. */
const stack = {
  name: 'local',
  resources: {
    ConsumerFailureQueue: {
      logicalId: 'ConsumerFailureQueue',
      type: 'AWS::SQS::Queue',
      refs: {
        ref: 'http://127.0.0.1:4566/000000000000/local-ConsumerFailureQueue',
        attributes: { QueueName: 'local-ConsumerFailureQueue', Arn: QUEUE_ARN },
      },
    },
  },
} as unknown as LocalStack;

const clients = {
  sqs: { send: async () => ({ Attributes: { ApproximateNumberOfMessages: '2' } }) },
  s3: { send: async () => ({ KeyCount: 0 }) },
} as unknown as ResourceClients;

// The pollers name the function by its logical id, as the runtime's log lines do.
const eventSources = {
  mappings: [
    {
      uuid: 'a5d1c0de-0000-4000-8000-000000000001',
      kind: 'Kinesis',
      function: { logicalId: 'ConsumerFunction', name: 'ConsumerFunction', functionName: 'local-consumer' },
      poller: {
        stats: () => ({
          functionName: 'ConsumerFunction',
          streamName: 'events',
          state: 'running',
          shards: [],
        }),
      },
    },
    {
      uuid: 'a5d1c0de-0000-4000-8000-000000000002',
      kind: 'SQS',
      function: {
        logicalId: 'DlqReplayFunction',
        name: 'DlqReplayFunction',
        functionName: 'local-dlq-replay',
      },
      poller: {
        stats: () => ({ functionName: 'DlqReplayFunction', queueArn: QUEUE_ARN, state: 'disabled' }),
      },
    },
  ],
} as unknown as EventSources;

const faults = { settings: () => ({}), counts: { functionErrors: 0 } } as unknown as FaultInjector;

const functions = new Map([
  [
    'ReprocessorFunction',
    {
      definition: { logicalId: 'ReprocessorFunction', name: 'ReprocessorFunction' },
      functionName: 'local-reprocessor',
      counts: { invocations: 1, errors: 0 },
    },
  ],
]) as unknown as Map<string, LocalFunction>;

describe('Local runtime: GET /_local/status', () => {
  it('names the function of every mapping by its logical id and by its FunctionName, stream and queue alike', async () => {
    // Act
    const status = await collectStatus(stack, clients, eventSources, faults, functions);
    // Assess: the name the Invoke API, ListEventSourceMappings and the function's context use, beside the logical id.
    expect(status.streams).toEqual([
      expect.objectContaining({
        uuid: 'a5d1c0de-0000-4000-8000-000000000001',
        logicalId: 'ConsumerFunction',
        functionName: 'local-consumer',
      }),
    ]);
    expect(status.queues[0]!.consumers).toEqual([
      expect.objectContaining({
        uuid: 'a5d1c0de-0000-4000-8000-000000000002',
        logicalId: 'DlqReplayFunction',
        functionName: 'local-dlq-replay',
      }),
    ]);
    expect(status.functions).toEqual([
      { name: 'ReprocessorFunction', functionName: 'local-reprocessor', invocations: 1, errors: 0 },
    ]);
  });

  it('names a function with no FunctionName by its logical id', async () => {
    // Prepare
    const unnamed = {
      mappings: eventSources.mappings.map((m) => ({
        ...m,
        function: { logicalId: m.function.logicalId, name: m.function.name },
      })),
    } as unknown as EventSources;
    // Act
    const status = await collectStatus(stack, clients, unnamed, faults, functions);
    // Assess
    expect(status.streams[0]).toMatchObject({
      logicalId: 'ConsumerFunction',
      functionName: 'ConsumerFunction',
    });
    expect(status.queues[0]!.consumers[0]).toMatchObject({
      logicalId: 'DlqReplayFunction',
      functionName: 'DlqReplayFunction',
    });
  });
});
