import { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { UnstorableEventError } from '#shared/sink/event-store.ts';
import { estimateItemSize, MAX_NUMBER_DIGITS, numberProblem } from '#shared/sink/item-size.ts';

describe('Sink: what DynamoDB stores', () => {
  it.each([
    ['0', undefined],
    ['-0.000e+500', undefined],
    ['1e-130', undefined],
    ['0.1e-129', undefined],
    ['-1E-130', undefined],
    ['9.9999999999999999999999999999999999999E+125', undefined],
    ['99999999999999999999999999999999999999e88', undefined],
    // Leading and trailing zeros are not significant.
    [`000${'1'.repeat(MAX_NUMBER_DIGITS)}000`, undefined],
    [`0.000${'7'.repeat(MAX_NUMBER_DIGITS)}`, undefined],
    ['1e126', 'a number larger in magnitude'],
    ['10e125', 'a number larger in magnitude'],
    ['-1e+126', 'a number larger in magnitude'],
    ['1e99999999999999999999', 'a number larger in magnitude'],
    ['0.9e-130', 'a number smaller in magnitude'],
    ['1e-131', 'a number smaller in magnitude'],
    [`1.${'0'.repeat(37)}1`, 'a number of 39 significant digits'],
    [`${'9'.repeat(40)}`, 'a number of 40 significant digits'],
    ['1.2.3', 'which is not a number'],
    ['e5', 'which is not a number'],
    ['', 'which is not a number'],
  ])('judges %s as DynamoDB does', (text, problem) => {
    // Act
    const found = numberProblem(text);
    // Assess
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('cuts a long number short in its message', () => {
    // Act
    const found = numberProblem('1'.repeat(1000));
    // Assess
    expect(found).toBe(
      `holds ${'1'.repeat(45)}…, a number of 1000 significant digits; DynamoDB keeps at most 38`,
    );
  });

  it('counts the significant digits of a number with a long run of zeros in time linear in its length', () => {
    // Prepare: 1, 50,000 zeros, then 1, which trimming the zeros with /0+$/ read in seconds.
    const text = `1${'0'.repeat(50_000)}1`;
    // Act
    const started = performance.now();
    const found = [numberProblem(text), numberProblem(`${text}0e-100000`)];
    const elapsedMs = performance.now() - started;
    // Assess
    expect(found).toEqual([
      expect.stringContaining('a number of 50002 significant digits'),
      expect.stringContaining('a number of 50002 significant digits'),
    ]);
    expect(elapsedMs).toBeLessThan(500);
  });

  it('checks the numbers of an item whatever form the parse gave them', () => {
    // Act
    const bigint = () => estimateItemSize({ data: { n: 10n ** 126n } });
    const numberValue = () => estimateItemSize({ data: [NumberValue.from('1e-131')] });
    const fine = estimateItemSize({ data: { a: 10n ** 125n, b: NumberValue.from('1e125'), c: 2 ** 60 } });
    // Assess
    expect(bigint).toThrow(
      new UnstorableEventError(
        `data.n holds ${'1'}${'0'.repeat(44)}…, a number larger in magnitude than DynamoDB stores (below 1E+126)`,
      ),
    );
    expect(numberValue).toThrow(
      new UnstorableEventError(
        'data[0] holds 1e-131, a number smaller in magnitude than DynamoDB stores (1E-130 or more, or 0)',
      ),
    );
    expect(fine).toBeGreaterThan(0);
  });
});
