import { describe, expect, it } from 'vitest';
import { isLevelDbLockHeld } from '#local/emulators/index.ts';
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

describe('Local runtime: a LevelDB store held by another runtime', () => {
  it.each([
    ['IO error: lock /data/kinesis/LOCK: Resource temporarily unavailable', true],
    ['IO error: lock /data/kinesis/LOCK: already held by process', true],
    ['IO error: lock /home/me/My Projects/.local/kinesis/LOCK: Resource temporarily unavailable', true],
    ['IO error: /data/kinesis/LOCK: Permission denied', false],
    ['IO error: /data/never/kinesis/LOCK: No such file or directory', false],
    ['Corruption: CURRENT file does not end with newline', false],
  ])('reads "%s" as a lock held: %s', (message, held) => {
    expect(isLevelDbLockHeld(Object.assign(new Error(message), { name: 'OpenError' }))).toBe(held);
  });

  it('gives no advice to start over a store another runtime holds, which --fresh refuses', () => {
    // Act
    const message = emulatorFailure(
      'kinesis',
      Object.assign(new Error('IO error: lock /data/kinesis/LOCK: Resource temporarily unavailable'), {
        name: 'OpenError',
      }),
      '/data/kinesis',
    ).message;
    // Assess
    expect(message).toBe(
      'kinesis emulator failed: IO error: lock /data/kinesis/LOCK: Resource temporarily unavailable',
    );
  });
});
