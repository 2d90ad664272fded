import type { KinesisClient, PutRecordsRequestEntry, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';

/**
 * PutRecords partial failures, which kinesalite never produces. The failing entries are taken out of the
 * request before it reaches the stream (so they are really not written) and their error results are put back
 * in place, exactly as Kinesis answers: HTTP 200, FailedRecordCount > 0, and ErrorCode/ErrorMessage without
 * SequenceNumber or ShardId for each failed entry.
 */

export type FaultDecider = (
  entry: PutRecordsRequestEntry,
  position: number,
) => PutRecordsResultEntry | undefined;

export const throughputExceeded = (shardHint = 'shardId-000000000000'): PutRecordsResultEntry => ({
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: `Rate exceeded for shard ${shardHint} in stream local under account 000000000000.`,
});

export const internalFailure = (): PutRecordsResultEntry => ({
  ErrorCode: 'InternalFailure',
  ErrorMessage: 'Internal service failure.',
});

/** Splits a request into the entries to forward and a function that merges the forwarded results back. */
export const applyFaults = (entries: readonly PutRecordsRequestEntry[], decide: FaultDecider) => {
  const injected = entries.map((entry, position) => decide(entry, position));
  const forward = entries.filter((_, position) => injected[position] === undefined);
  const merge = (forwarded: readonly PutRecordsResultEntry[]) => {
    let next = 0;
    const records = injected.map((fault) => fault ?? forwarded[next++]!);
    return { FailedRecordCount: records.filter((r) => r.ErrorCode).length, Records: records };
  };
  return { forward, merge };
};

/** Adds fault injection to one SDK client's PutRecords calls (for tests of code that takes a client). */
export const injectPutRecordsFaults = (client: KinesisClient, decide: FaultDecider): void => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const input = args.input as { Records: PutRecordsRequestEntry[] };
      const { forward, merge } = applyFaults(input.Records, decide);
      if (forward.length === 0) {
        return { output: { ...merge([]), $metadata: {} }, response: {} } as Awaited<ReturnType<typeof next>>;
      }
      const result = await next({ ...args, input: { ...input, Records: forward } });
      const output = result.output as unknown as { Records: PutRecordsResultEntry[] };
      return { ...result, output: { ...output, ...merge(output.Records) } } as typeof result;
    },
    { step: 'initialize', name: 'putRecordsFaultInjection' },
  );
};
