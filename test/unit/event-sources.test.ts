import { describe, expect, it } from 'vitest';
import { createEventSources, EventSourceError } from '#local/event-sources.ts';
import type { LocalFunction } from '#local/functions/runner.ts';
import type { LocalStack, PlannedFunction } from '#local/stack.ts';

/** A stack of one function with one Kinesis event, wired with clients that are never called. */
const wire = (properties: Record<string, unknown>) => {
  const definition: PlannedFunction = {
    logicalId: 'Consumer',
    name: 'Consumer',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:Consumer',
    roleArn: 'arn:aws:iam::000000000000:role/local-ConsumerRole',
    handler: 'handler.handler',
    runtime: 'nodejs24.x',
    timeoutSeconds: 3,
    memoryMb: 128,
    environment: {},
    events: [{ name: 'Stream', type: 'Kinesis', properties: { StartingPosition: 'LATEST', ...properties } }],
  };
  return createEventSources({
    stack: { functions: { Consumer: definition } } as unknown as LocalStack,
    functions: new Map([['Consumer', { invoke: async () => ({}) } as unknown as LocalFunction]]),
    clients: { kinesis: {}, sqs: {} } as never,
    faults: { settings: () => ({}) } as never,
    region: 'us-east-1',
    accountId: '000000000000',
    log: () => undefined,
  });
};

const STREAM = 'arn:aws:kinesis:us-east-1:000000000000:stream/local-EventStream';

describe('Local runtime: wiring the template events as event source mappings', () => {
  it.each([
    ['an SNS topic', 'arn:aws:sns:us-east-1:000000000000:alarms', 'SNS'],
    ['an S3 bucket', 'arn:aws:s3:::failures', 'S3'],
  ])('refuses %s as an on-failure destination even when Type is left out', (_, destination, kind) => {
    // Act
    const act = () =>
      wire({ Stream: STREAM, DestinationConfig: { OnFailure: { Destination: destination } } });
    // Assess
    expect(act).toThrow(EventSourceError);
    expect(act).toThrow(`only SQS on-failure destinations are emulated, not ${kind} (${destination})`);
  });

  it('accepts an SQS destination with or without Type', () => {
    for (const OnFailure of [
      { Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
      { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
    ]) {
      expect(wire({ Stream: STREAM, DestinationConfig: { OnFailure } }).kinesis).toHaveLength(1);
    }
  });

  it('refuses an enhanced fan-out consumer ARN, which it does not emulate, instead of polling its stream', () => {
    // Act
    const act = () => wire({ Stream: `${STREAM}/consumer/efo:1573143478` });
    // Assess
    expect(act).toThrow('consumer ARNs are not emulated');
  });
});
