import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import type { InvokeFunction, InvokeResult } from './types.ts';

export interface InjectedFunctionErrors {
  /** Records whose payload (Kinesis data decoded as UTF-8, or SQS body) matches fail their batch. */
  pattern: RegExp | string;
  /** Consulted on every invocation, so that a live view can switch the fault on and off. */
  enabled?: () => boolean;
  /** Told of each invocation the fault failed (the function was not run). */
  onInjected?: () => void;
}

const payloadOf = (record: KinesisStreamEvent['Records'][number] | SQSEvent['Records'][number]): string =>
  'kinesis' in record ? Buffer.from(record.kinesis.data, 'base64').toString('utf8') : record.body;

const idOf = (record: KinesisStreamEvent['Records'][number] | SQSEvent['Records'][number]): string =>
  'kinesis' in record ? record.kinesis.sequenceNumber : record.messageId;

/**
 * Wraps a function so that any batch holding a matching record fails as if the function had thrown, without
 * running it. The mapping then retries, bisects and reports exactly as it would for a real error, so bisection
 * isolates the matching records and their neighbours are processed.
 */
export const withInjectedFunctionErrors = <TEvent extends KinesisStreamEvent | SQSEvent>(
  invoke: InvokeFunction<TEvent>,
  fault: InjectedFunctionErrors,
): InvokeFunction<TEvent> => {
  const matches =
    typeof fault.pattern === 'string'
      ? (text: string) => text.includes(fault.pattern as string)
      : (text: string) => {
          (fault.pattern as RegExp).lastIndex = 0;
          return (fault.pattern as RegExp).test(text);
        };
  return async (event: TEvent): Promise<InvokeResult> => {
    if (fault.enabled && !fault.enabled()) return invoke(event);
    const records: Array<KinesisStreamEvent['Records'][number] | SQSEvent['Records'][number]> = event.Records;
    const matching = records.find((record) => matches(payloadOf(record)));
    if (!matching) return invoke(event);
    fault.onInjected?.();
    return {
      functionError: 'Unhandled',
      payload: {
        errorType: 'InjectedFault',
        errorMessage: `Injected failure: record ${idOf(matching)} matches ${String(fault.pattern)}`,
      },
    };
  };
};
