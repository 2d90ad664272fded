import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createFaultInjector,
  DEFAULT_FAULTS,
  FaultSettingsError,
  hashKeyOf,
  parsePattern,
  patternMatcher,
  validateFaults,
} from '#local/faults/faults.ts';

describe('Local faults: settings', () => {
  it.each([
    ['a non-string pattern', { dynamodbPattern: 123 }, 'dynamodbPattern must be a string'],
    ['a non-string function pattern', { functionPattern: true }, 'functionPattern must be a string'],
    ['a boolean given as a string', { shardWriteLimits: 'false' }, 'shardWriteLimits must be true or false'],
    ['a boolean given as a number', { shardWriteLimits: 1 }, 'shardWriteLimits must be true or false'],
    ['a rate given as a string', { putRecordsFailureRate: '0.5' }, 'must be a number between 0 and 1'],
    ['a rate given as a boolean', { putRecordsFailureRate: true }, 'must be a number between 0 and 1'],
    ['a rate given as null', { putRecordsFailureRate: null }, 'must be a number between 0 and 1'],
    ['a rate over 1', { putRecordsFailureRate: 1.5 }, 'putRecordsFailureRate must be between 0 and 1'],
    ['a rate that is not a number', { putRecordsFailureRate: Number.NaN }, 'must be between 0 and 1'],
    ['an unknown mode', { dynamodbMode: 'sometimes' }, 'dynamodbMode must be throttle or error'],
    ['a function name that is not a string', { functionName: ['A'] }, 'functionName must be a string'],
    ['an invalid regular expression', { functionPattern: '/[/' }, 'functionPattern is not a valid regular'],
    [
      'invalid regular expression flags',
      { dynamodbPattern: '/a/q' },
      'dynamodbPattern is not a valid regular',
    ],
    ['a misspelt setting', { putRecordFailureRate: 0.5 }, "unknown fault setting 'putRecordFailureRate'"],
    ['a list', [], 'the fault settings must be a JSON object, got a list'],
    ['a string', 'x', 'the fault settings must be a JSON object, got the string "x"'],
    ['null', null, 'the fault settings must be a JSON object, got null'],
  ])('refuses %s', (_case, input, message) => {
    // Act
    const act = () => validateFaults(input);
    // Assess
    expect(act).toThrow(FaultSettingsError);
    expect(act).toThrow(message);
  });

  it('names every problem of a change at once', () => {
    // Act
    const act = () => validateFaults({ shardWriteLimits: 'yes', colour: 'red' });
    // Assess
    expect(act).toThrow(
      'shardWriteLimits must be true or false, got the string "yes"; unknown fault setting \'colour\'; the settings are putRecordsFailureRate, shardWriteLimits, dynamodbPattern, dynamodbMode, functionPattern, functionName',
    );
  });

  it("refuses a function name that is not one of the template's functions, naming them", () => {
    // Act
    const act = () =>
      validateFaults({ functionName: 'NoSuchFunction' }, DEFAULT_FAULTS, [
        { logicalId: 'ConsumerFunction' },
        { logicalId: 'ReprocessorFunction', functionName: 'local-reprocessor' },
      ]);
    // Assess
    expect(act).toThrow(
      "functionName 'NoSuchFunction' is not a function of the template; the functions are ConsumerFunction, ReprocessorFunction (local-reprocessor)",
    );
    expect(
      validateFaults({ functionName: 'IngestFunction' }, DEFAULT_FAULTS, [{ logicalId: 'IngestFunction' }])
        .functionName,
    ).toBe('IngestFunction');
  });

  it.each(['ReprocessorFunction', 'local-reprocessor'])(
    'takes %s, a function by its logical id or its FunctionName, as the Invoke API does',
    (name) => {
      // Prepare
      const functions = [
        { logicalId: 'ConsumerFunction' },
        { logicalId: 'ReprocessorFunction', functionName: 'local-reprocessor' },
      ];
      // Act
      const faults = createFaultInjector({ functionName: name }, async () => [], Math.random, functions);
      // Assess
      expect(faults.settings().functionName).toBe(name);
      expect(faults.update({ functionName: name }).functionName).toBe(name);
    },
  );

  it('refuses it from the injector, at its creation and on a change, changing nothing', () => {
    // Prepare
    const noShards = async () => [];
    const faults = createFaultInjector({ functionPattern: 'poison' }, noShards, Math.random, [
      { logicalId: 'ConsumerFunction' },
    ]);
    // Act / Assess
    expect(() =>
      createFaultInjector({ functionName: 'Typo' }, noShards, Math.random, [
        { logicalId: 'ConsumerFunction' },
      ]),
    ).toThrow("functionName 'Typo' is not a function of the template");
    expect(() => faults.update({ functionName: 'Typo', functionPattern: 'other' })).toThrow(
      FaultSettingsError,
    );
    expect(faults.settings().functionPattern).toBe('poison');
  });

  it('changes only the settings given, on top of the current ones', () => {
    // Prepare
    const current = validateFaults({ functionPattern: 'poison', functionName: 'ConsumerFunction' });
    // Act
    const next = validateFaults({ putRecordsFailureRate: 0.2, shardWriteLimits: true }, current);
    // Assess
    expect(next).toEqual({
      ...DEFAULT_FAULTS,
      functionPattern: 'poison',
      functionName: 'ConsumerFunction',
      putRecordsFailureRate: 0.2,
      shardWriteLimits: true,
    });
    expect(current).toEqual({
      ...DEFAULT_FAULTS,
      functionPattern: 'poison',
      functionName: 'ConsumerFunction',
    });
  });

  it.each([null, ''])('clears patterns and the function name given as %j', (cleared) => {
    // Prepare
    const current = validateFaults({ dynamodbPattern: 'a', functionPattern: '/b/', functionName: 'F' });
    // Act
    const next = validateFaults(
      { dynamodbPattern: cleared, functionPattern: cleared, functionName: cleared },
      current,
    );
    // Assess
    expect(next).toEqual(DEFAULT_FAULTS);
  });

  it('takes the settings a JSON body gives', () => {
    // Act
    const settings = validateFaults(
      JSON.parse(
        '{"putRecordsFailureRate":0,"shardWriteLimits":false,"dynamodbPattern":"/x/i","dynamodbMode":"error","functionPattern":"p","functionName":"F"}',
      ),
    );
    // Assess
    expect(settings).toEqual({
      putRecordsFailureRate: 0,
      shardWriteLimits: false,
      dynamodbPattern: '/x/i',
      dynamodbMode: 'error',
      functionPattern: 'p',
      functionName: 'F',
    });
  });
});

describe('Local faults: patterns and hash keys', () => {
  it('matches the same text every time, even with the g or y flag', () => {
    // Prepare
    const matches = patternMatcher('/poison/gy');
    // Act
    const answers = [matches('poison'), matches('poison'), matches('poison')];
    // Assess
    expect(answers).toEqual([true, true, true]);
    expect(parsePattern('/poison/giy')).toEqual(/poison/i);
  });

  it('hashes the partition key when the explicit hash key is null, as Kinesis does', () => {
    // Prepare
    const md5 = BigInt(`0x${createHash('md5').update('key-1', 'utf8').digest('hex')}`);
    // Act
    const hash = hashKeyOf({ PartitionKey: 'key-1', ExplicitHashKey: null });
    // Assess
    expect(hash).toBe(md5);
    expect(hashKeyOf({ PartitionKey: 'key-1', ExplicitHashKey: '7' })).toBe(7n);
  });
});
