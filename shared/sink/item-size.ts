// The class lib-dynamodb exports as NumberValue, from the package that defines it (lib-dynamodb is not in every bundle).
import { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';
import { UnstorableEventError } from './event-store.ts';

/** DynamoDB's item size limit: 400 KB, attribute names included. */
export const MAX_ITEM_BYTES = 400 * 1024;

/** DynamoDB accepts at most 32 levels of nested maps and lists. */
export const MAX_NESTING_DEPTH = 32;

/**
 * An upper estimate of an item's size by DynamoDB's rules (names and strings in UTF-8 bytes, up to 21 bytes a
 * number, 3 bytes plus 1 per element for maps and lists). Written by hand because the SDK does not expose a
 * size calculation. Throws `UnstorableEventError` for a value DynamoDB can never store.
 */
export const estimateItemSize = (item: Record<string, unknown>): number => {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    total += Buffer.byteLength(name) + valueSize(value, 0, name);
  }
  return total;
};

const valueSize = (value: unknown, depth: number, path: string): number => {
  if (value === null || typeof value === 'boolean') return 1;
  switch (typeof value) {
    case 'string':
      return Buffer.byteLength(value);
    case 'bigint':
      return 21;
    case 'number':
      if (!Number.isFinite(value))
        throw new UnstorableEventError(`${path} holds ${value}, which is not a number`);
      return 21;
    case 'object': {
      if (value instanceof Uint8Array) return value.byteLength;
      if (value instanceof NumberValue) return 21;
      if (depth + 1 > MAX_NESTING_DEPTH) {
        throw new UnstorableEventError(
          `${path} is nested deeper than DynamoDB's ${MAX_NESTING_DEPTH} levels`,
        );
      }
      let size = 3;
      if (Array.isArray(value)) {
        value.forEach((element, index) => {
          size += 1 + valueSize(element ?? null, depth + 1, `${path}[${index}]`);
        });
        return size;
      }
      for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
        if (member === undefined) continue;
        if (name === '') {
          throw new UnstorableEventError(
            `${path} has a member whose name is empty, and DynamoDB refuses an empty attribute name`,
          );
        }
        size += 1 + Buffer.byteLength(name) + valueSize(member, depth + 1, `${path}.${name}`);
      }
      return size;
    }
    default:
      throw new UnstorableEventError(`${path} holds a ${typeof value}, which DynamoDB cannot store`);
  }
};
