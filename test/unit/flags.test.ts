import { describe, expect, it } from 'vitest';
import { type NumberRule, numberFlag, parseFlags, RepeatedFlagError } from '#scripts/lib/flags.ts';

class ExampleInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExampleInputError';
  }
}

/** The error `numberFlag` throws, or a failure when it returns instead. */
const thrown = (raw: string | undefined, rule: NumberRule): Error => {
  try {
    numberFlag('count', raw, rule, ExampleInputError);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`numberFlag accepted '${raw}'`);
};

describe('Bench: numberFlag', () => {
  it('returns the fallback when the flag is absent', () => {
    // Act
    const value = numberFlag('count', undefined, { fallback: 7, checks: [{ min: 10 }] }, ExampleInputError);
    // Assess
    expect(value).toBe(7);
  });

  it('requires the flag when it has no fallback', () => {
    // Act
    const error = thrown(undefined, { checks: [{ above: 0 }] });
    // Assess
    expect(error).toBeInstanceOf(ExampleInputError);
    expect(error.message).toBe('--count is required');
  });

  it.each([
    { case: 'a word', raw: 'many' },
    { case: 'an empty string', raw: '' },
    { case: 'blanks only', raw: '  ' },
    { case: 'an infinite value', raw: 'Infinity' },
  ])('refuses $case as not a number', ({ raw }) => {
    // Act
    const error = thrown(raw, {});
    // Assess
    expect(error).toBeInstanceOf(ExampleInputError);
    expect(error.message).toBe(`--count must be a number, got '${raw}'`);
  });

  it.each([
    { case: 'hexadecimal', raw: '0x10' },
    { case: 'binary', raw: '0b101' },
    { case: 'octal', raw: '0o17' },
    { case: 'hexadecimal with blanks around it', raw: ' 0x10 ' },
  ])('refuses $case, which Number() would read', ({ raw }) => {
    // Act
    const error = thrown(raw, {});
    // Assess
    expect(error).toBeInstanceOf(ExampleInputError);
    expect(error.message).toBe(`--count must be a decimal number, got '${raw}'`);
  });

  it.each([
    { raw: '12', value: 12 },
    { raw: '-1.5', value: -1.5 },
    { raw: '+3', value: 3 },
    { raw: '.5', value: 0.5 },
    { raw: '5.', value: 5 },
    { raw: '2e3', value: 2000 },
    { raw: '1E-6', value: 0.000001 },
  ])('reads the decimal $raw', ({ raw, value }) => {
    // Act / Assess
    expect(numberFlag('count', raw, {}, ExampleInputError)).toBe(value);
  });

  it.each([
    {
      case: 'not above the lower bound',
      raw: '0',
      rule: { checks: [{ above: 0 }] },
      reason: 'greater than 0',
    },
    { case: 'below the minimum', raw: '127', rule: { checks: [{ min: 128 }] }, reason: 'at least 128' },
    { case: 'above the maximum', raw: '501', rule: { checks: [{ max: 500 }] }, reason: 'at most 500' },
    {
      case: 'a fraction where a whole number is required',
      raw: '2.5',
      rule: { checks: [{ integer: true }] },
      reason: 'a whole number',
    },
  ] satisfies { case: string; raw: string; rule: NumberRule; reason: string }[])(
    'refuses a value $case',
    ({ raw, rule, reason }) => {
      // Act
      const error = thrown(raw, rule);
      // Assess
      expect(error).toBeInstanceOf(ExampleInputError);
      expect(error.message).toBe(`--count must be ${reason}, got ${raw}`);
    },
  );

  it.each([
    { order: 'bounds first', checks: [{ max: 10 }, { integer: true }], reason: 'at most 10' },
    { order: 'whole number first', checks: [{ integer: true }, { max: 10 }], reason: 'a whole number' },
  ] satisfies { order: string; checks: NumberRule['checks']; reason: string }[])(
    'reports the first failing check, $order',
    ({ checks, reason }) => {
      // Act
      const error = thrown('10.5', { checks });
      // Assess
      expect(error.message).toBe(`--count must be ${reason}, got 10.5`);
    },
  );

  it('returns a value that meets every check, bounds included', () => {
    // Prepare
    const rule: NumberRule = { fallback: 1, checks: [{ integer: true }, { min: 1 }, { max: 500 }] };
    // Act
    const values = ['1', '250', '500'].map((raw) => numberFlag('count', raw, rule, ExampleInputError));
    // Assess
    expect(values).toEqual([1, 250, 500]);
  });

  it('returns a fractional value when no whole number is required', () => {
    // Act
    const value = numberFlag('count', '1.5', { checks: [{ above: 0 }, { max: 2 }] }, ExampleInputError);
    // Assess
    expect(value).toBe(1.5);
  });
});

describe('Commands: parseFlags', () => {
  const options = {
    rate: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    tag: { type: 'string', multiple: true },
  } as const;

  it('reads flags as parseArgs does', () => {
    // Act
    const { values, positionals } = parseFlags({
      args: ['--rate', '5', '-q', '--tag', 'a', '--tag=b', 'extra'],
      options,
      allowPositionals: true,
    });
    // Assess
    expect(values).toEqual({ rate: '5', quiet: true, tag: ['a', 'b'] });
    expect(positionals).toEqual(['extra']);
  });

  it.each([
    [
      ['--rate', '100', '--rate=2000'],
      '--rate is given more than once (--rate 100, --rate 2000): give it once',
    ],
    [['-q', '--quiet'], '--quiet is given more than once (-q, --quiet): give it once'],
  ])('refuses %j, which parseArgs would read as its last value', (args, message) => {
    // Act
    const act = () => parseFlags({ args, options });
    // Assess
    expect(act).toThrow(RepeatedFlagError);
    expect(act).toThrow(message);
  });

  it.each([
    [['--rate', '-1'], { rate: '-1' }, []],
    [['--rate', '-0.5', '-q'], { rate: '-0.5', quiet: true }, []],
    [['--tag', '-2', '--tag', 'a'], { tag: ['-2', 'a'] }, []],
    // After `--` every argument is a positional, as parseArgs reads it.
    [['--', '--rate', '-1'], {}, ['--rate', '-1']],
  ])('takes a negative number as the value of the flag before it: %j', (args, values, positionals) => {
    // Act
    const parsed = parseFlags({ args, options, allowPositionals: true });
    // Assess
    expect(parsed.values).toEqual(values);
    expect(parsed.positionals).toEqual(positionals);
  });

  it("so that the flag's own check reports it, naming the bounds", () => {
    // Act
    const { values } = parseFlags({ args: ['--rate', '-1'], options });
    const act = () => numberFlag('rate', values.rate, { checks: [{ min: 1 }] }, RangeError);
    // Assess
    expect(act).toThrow('--rate must be at least 1, got -1');
  });

  it('leaves a flag after a flag that takes a value to parseArgs, which refuses the pair', () => {
    // Act / Assess
    expect(() => parseFlags({ args: ['--rate', '-q'], options })).toThrow('argument is ambiguous');
  });

  it('lets parseArgs report what it refuses itself', () => {
    // Act / Assess
    expect(() => parseFlags({ args: ['--nope'], options })).toThrow("Unknown option '--nope'");
  });
});
