import type { InvokeResult } from './types.ts';

/** How the event source mapping reads one invocation's outcome. */
export type BatchOutcome =
  | { kind: 'success' }
  | {
      kind: 'failure';
      functionError: 'Unhandled' | null;
      reason: 'function-error' | 'invalid-response';
      detail: string;
    }
  | { kind: 'partial'; failedIds: string[] };

const invalid = (detail: string): BatchOutcome => ({
  kind: 'failure',
  functionError: null,
  reason: 'invalid-response',
  detail,
});

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Classifies an invocation result the way Lambda does for Kinesis and SQS mappings (aws-behaviour.md §2, §4):
 *
 * - a function error fails the whole batch with functionError "Unhandled";
 * - without ReportBatchItemFailures any returned value is a success, failure list included;
 * - `""`, `[]`, `null`, `{}`, `{"batchItemFailures":[]}` and `{"batchItemFailures":null}` are a success;
 * - an itemIdentifier that is empty, null, not a string, under a bad key name, or not an id of this batch fails
 *   the whole batch with functionError null;
 * - otherwise the listed ids failed.
 *
 * `ids` are the batch's sequence numbers (Kinesis) or message ids (SQS).
 */
export const classifyBatchResponse = (
  result: InvokeResult,
  ids: ReadonlySet<string>,
  reportBatchItemFailures: boolean,
): BatchOutcome => {
  if (result.functionError) {
    return {
      kind: 'failure',
      functionError: 'Unhandled',
      reason: 'function-error',
      detail: errorDetail(result.payload),
    };
  }
  if (!reportBatchItemFailures) return { kind: 'success' };
  const { payload } = result;
  if (payload === undefined || payload === null || payload === '') return { kind: 'success' };
  if (Array.isArray(payload)) {
    // Not confirmed by AWS beyond `[]`: a non-empty list is no valid response, so it conservatively fails.
    return payload.length === 0 ? { kind: 'success' } : invalid('the response is a non-empty list');
  }
  // Not confirmed for Kinesis: other scalars are an invalid response, which the SQS docs call a complete failure.
  if (!isPlainObject(payload)) return invalid(`the response is ${JSON.stringify(payload)}`);
  const failures = payload.batchItemFailures;
  // A missing key (a misspelt top-level name included) reads as `{}`: AWS's inferred fail-open behaviour.
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return invalid('batchItemFailures is not a list');
  if (failures.length === 0) return { kind: 'success' };
  const failedIds: string[] = [];
  for (const failure of failures) {
    if (!isPlainObject(failure) || !('itemIdentifier' in failure)) {
      return invalid(`batchItemFailures entry ${JSON.stringify(failure)} has no itemIdentifier`);
    }
    const id = failure.itemIdentifier;
    if (typeof id !== 'string' || id === '') {
      return invalid(`itemIdentifier ${JSON.stringify(id)} is not a non-empty string`);
    }
    if (!ids.has(id)) return invalid(`itemIdentifier ${id} is not in the batch`);
    if (!failedIds.includes(id)) failedIds.push(id);
  }
  return { kind: 'partial', failedIds };
};

const errorDetail = (payload: unknown): string => {
  if (isPlainObject(payload)) {
    const type = typeof payload.errorType === 'string' ? payload.errorType : 'Error';
    const message = typeof payload.errorMessage === 'string' ? payload.errorMessage : '';
    return message ? `${type}: ${message}` : type;
  }
  return 'Unhandled';
};
