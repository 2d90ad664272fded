import { describe, expect, it } from 'vitest';
import { EmulatorThreadError, emulatorFailure } from '#local/emulators/thread.ts';

/** What kinesalite's thread dies of when LevelDB cannot open its store (a CURRENT file cut short by a crash). */
const corrupt = Object.assign(new Error('Corruption: CURRENT file does not end with newline'), {
  name: 'OpenError',
});

describe('Local runtime: an emulator thread that dies', () => {
  it('names the data folder and the ways on when the store in it cannot be opened', () => {
    // Act
    const error = emulatorFailure('kinesis', corrupt, '/data/kinesis');
    // Assess
    expect(error).toBeInstanceOf(EmulatorThreadError);
    expect(error.message).toBe(
      'kinesis emulator failed: Corruption: CURRENT file does not end with newline: the kinesis data in ' +
        '/data/kinesis cannot be opened; move that folder away to start without it, or start with --fresh ' +
        '(which drops all the local data)',
    );
    expect(error.cause).toBe(corrupt);
  });

  it('gives any other failure as it is, and a store kept in memory no advice about a folder', () => {
    // Act / Assess
    expect(emulatorFailure('dynamodb', new Error('boom'), '/data/dynamodb').message).toBe(
      'dynamodb emulator failed: boom',
    );
    expect(emulatorFailure('kinesis', corrupt).message).toBe(
      'kinesis emulator failed: Corruption: CURRENT file does not end with newline',
    );
  });
});
