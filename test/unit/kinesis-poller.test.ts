import { describe, expect, it } from 'vitest';
import { isTrimmedSequenceRefusal } from '#local/esm/kinesis-poller.ts';

const awsError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

describe('Function: isTrimmedSequenceRefusal', () => {
  it.each([
    [awsError('InvalidArgumentException', 'StartingSequenceNumber 4961 is no longer available'), true],
    [awsError('InvalidArgumentException', 'The data you are trying to access has been trimmed.'), true],
    [
      awsError(
        'InvalidArgumentException',
        'Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard with shardId-000000000000',
      ),
      false,
    ],
    [awsError('InvalidArgumentException', 'StartingSequenceNumber 12x is invalid.'), false],
    [awsError('ResourceNotFoundException', 'Stream s is no longer available'), false],
    ['StartingSequenceNumber 4961 is no longer available', false],
  ])('takes %s as a refused trimmed record: %s', (error, expected) => {
    // Act / Assess
    expect(isTrimmedSequenceRefusal(error)).toBe(expected);
  });
});
