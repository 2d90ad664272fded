import { describe, expect, it } from 'vitest';
import { classifyBatchResponse } from '#local/esm/batch-response.ts';

const ids = new Set([
  '49590338271490256608559692538361571095921575989136588898',
  '49590338271490256608559692538361571095921575989136588899',
]);
const [first, second] = [...ids] as [string, string];

describe('Partial batch responses (ReportBatchItemFailures)', () => {
  it.each([
    ['an empty string', ''],
    ['an empty list', []],
    ['null', null],
    ['an empty body', undefined],
    ['an empty object', {}],
    ['an empty failure list', { batchItemFailures: [] }],
    ['a null failure list', { batchItemFailures: null }],
    ['a misspelt top-level key (inferred fail-open)', { failedItems: [{ itemIdentifier: first }] }],
  ])('reads %s as a complete success', (_, payload) => {
    expect(classifyBatchResponse({ payload }, ids, true)).toEqual({ kind: 'success' });
  });

  it.each([
    ['an identifier that is not in the batch', [{ itemIdentifier: '123' }]],
    ['a numeric identifier', [{ itemIdentifier: 123 }]],
    ['an empty-string identifier', [{ itemIdentifier: '' }]],
    ['a null identifier', [{ itemIdentifier: null }]],
    ['a bad key with a value', [{ foo: 123 }]],
    ['a bad key with null', [{ foo: null }]],
    ['one bad entry among good ones', [{ itemIdentifier: first }, { foo: 'x' }]],
  ])('fails the whole batch with functionError null on %s', (_, batchItemFailures) => {
    // Act
    const outcome = classifyBatchResponse({ payload: { batchItemFailures } }, ids, true);

    // Assess
    expect(outcome).toMatchObject({ kind: 'failure', functionError: null, reason: 'invalid-response' });
  });

  it.each([
    ['a failure list that is not a list', { batchItemFailures: 'all' }],
    ['a non-empty list', [{ itemIdentifier: first }]],
    ['a number', 5],
    ['a non-empty string', 'ok'],
  ])('conservatively fails the whole batch on %s (not confirmed by AWS)', (_, payload) => {
    expect(classifyBatchResponse({ payload }, ids, true)).toMatchObject({
      kind: 'failure',
      functionError: null,
    });
  });

  it('fails the whole batch with functionError "Unhandled" when the function threw', () => {
    // Act
    const outcome = classifyBatchResponse(
      { functionError: 'Unhandled', payload: { errorType: 'TypeError', errorMessage: 'boom' } },
      ids,
      true,
    );

    // Assess
    expect(outcome).toEqual({
      kind: 'failure',
      functionError: 'Unhandled',
      reason: 'function-error',
      detail: 'TypeError: boom',
    });
  });

  it('returns the failed identifiers once each', () => {
    // Act
    const outcome = classifyBatchResponse(
      {
        payload: {
          batchItemFailures: [
            { itemIdentifier: second },
            { itemIdentifier: first },
            { itemIdentifier: second },
          ],
        },
      },
      ids,
      true,
    );

    // Assess
    expect(outcome).toEqual({ kind: 'partial', failedIds: [second, first] });
  });

  it('ignores a failure list when ReportBatchItemFailures is off', () => {
    expect(
      classifyBatchResponse({ payload: { batchItemFailures: [{ itemIdentifier: first }] } }, ids, false),
    ).toEqual({ kind: 'success' });
    expect(classifyBatchResponse({ payload: { batchItemFailures: [{ foo: 1 }] } }, ids, false)).toEqual({
      kind: 'success',
    });
  });

  it('still fails on a function error when ReportBatchItemFailures is off', () => {
    expect(classifyBatchResponse({ functionError: 'Unhandled' }, ids, false)).toMatchObject({
      kind: 'failure',
      functionError: 'Unhandled',
    });
  });
});
