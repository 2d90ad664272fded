import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A write refused by its ConditionExpression (by class, or by name when the error crossed a serialiser). */
export const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error as Error | undefined)?.name === 'ConditionalCheckFailedException';

/** Runs a conditional write whose refused condition means there is nothing to do; any other error is thrown. */
export const unlessConditionFails = async (write: Promise<unknown>): Promise<void> => {
  try {
    await write;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
};
