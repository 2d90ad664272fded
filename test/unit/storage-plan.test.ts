import { describe, expect, it } from 'vitest';
import { UnstorableEventError } from '#shared/sink/event-store.ts';
import { estimateItemSize, MAX_ITEM_BYTES } from '#shared/sink/item-size.ts';
import { DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, planStorage } from '#shared/sink/storage-plan.ts';
import { eventToStore } from '#test/helpers/factories.ts';

const THRESHOLD = DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES;

/** An event whose item is estimated at exactly `bytes`, most of it in one attribute. */
const withAttribute = (bytes: number, data?: unknown) => {
  const { data: _, ...event } = eventToStore({ attributes: { ...eventToStore().attributes, note: '' } });
  const base = planStorage({ ...event }, 1, Number.POSITIVE_INFINITY, false);
  const baseBytes = estimateItemSize((base as { item: unknown } as { item: Record<string, unknown> }).item);
  return {
    ...event,
    ...(data === undefined ? {} : { data }),
    attributes: { ...event.attributes, note: 'x'.repeat(bytes - baseBytes) },
  };
};

describe('Sink: how an event becomes an item', () => {
  it('stores an item under the threshold whole, and moves the data of a larger one to the claim check', () => {
    // Act
    const small = planStorage(eventToStore(), 1, THRESHOLD, true);
    const large = planStorage(eventToStore({ data: { text: 'x'.repeat(THRESHOLD) } }), 1, THRESHOLD, true);
    // Assess
    expect(small).toHaveProperty('item');
    expect(large).toMatchObject({ claim: { field: 'data', value: { text: 'x'.repeat(THRESHOLD) } } });
  });

  it('stores whole an item over the threshold that has no data to move, while DynamoDB takes its size', () => {
    // Prepare: 360 KB of attributes, under DynamoDB's 400 KB, with no data
    const event = withAttribute(360 * 1024);
    // Act
    const plan = planStorage(event, 1, THRESHOLD, true);
    // Assess
    expect(plan).toHaveProperty('item');
    expect(planStorage(withAttribute(MAX_ITEM_BYTES), 1, THRESHOLD, true)).toHaveProperty('item');
    expect(() => planStorage(withAttribute(MAX_ITEM_BYTES + 1), 1, THRESHOLD, true)).toThrow(
      new UnstorableEventError(
        `the item would be about ${MAX_ITEM_BYTES + 1} bytes (the limit is ${MAX_ITEM_BYTES}), and it has no data to claim-check`,
      ),
    );
  });

  it('stores whole an item over the threshold when there is no claim check, while DynamoDB takes its size', () => {
    // Prepare
    const fits = eventToStore({ data: { text: 'x'.repeat(THRESHOLD) } });
    const over = eventToStore({ data: { text: 'x'.repeat(MAX_ITEM_BYTES) } });
    // Act
    const plan = planStorage(fits, 1, THRESHOLD, false);
    // Assess
    expect(plan).toHaveProperty('item');
    expect(() => planStorage(over, 1, THRESHOLD, false)).toThrow(/there is no claim check for its data/);
  });

  it('refuses an event whose item is too large even without its data', () => {
    // Act / Assess
    expect(() => planStorage(withAttribute(MAX_ITEM_BYTES, { a: 1 }), 1, THRESHOLD, true)).toThrow(
      /even without its data/,
    );
  });
});
