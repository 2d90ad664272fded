import { describe, expect, it } from 'vitest';
import { DryRunEventStore } from '#shared/recovery/dry-run.ts';
import { UnstorableEventError } from '#shared/sink/event-store.ts';
import { eventToStore } from '#test/helpers/factories.ts';

const event = eventToStore;

describe('Recovery: the dry run sink', () => {
  it('refuses, as the store would, an event DynamoDB could never store, and reads nothing for it', async () => {
    // Prepare
    const looked: string[] = [];
    const store = new DryRunEventStore(1, async (identity) => {
      looked.push(identity);
      return undefined;
    });
    // Act
    const number = store.put(event({ data: { n: 1e-131 } }));
    const attributes = store.put(event({ attributes: { big: 'x'.repeat(401 * 1024) } }));
    // Assess
    await expect(number).rejects.toThrow(
      new UnstorableEventError(
        'data.n holds 1e-131, a number smaller in magnitude than DynamoDB stores (1E-130 or more, or 0)',
      ),
    );
    await expect(attributes).rejects.toThrow(/even without its data/);
    expect(looked).toEqual([]);
  });

  it('counts data the claim check would take as written, by the threshold it is given', async () => {
    // Prepare
    const store = new DryRunEventStore(1, async () => undefined, 1024);
    // Act
    const claimed = await store.put(event({ data: { text: 'x'.repeat(2048) } }));
    // Assess
    expect(claimed).toEqual({ outcome: 'written' });
  });

  it('answers duplicate and stale-version from the stored item', async () => {
    // Prepare
    const stored = { projectionVersion: 2, sequenceNumber: '7' };
    // Act
    const same = await new DryRunEventStore(2, async () => stored).put(event());
    const older = await new DryRunEventStore(1, async () => stored).put(event());
    const newer = await new DryRunEventStore(3, async () => stored).put(event());
    // Assess
    expect([same.outcome, older.outcome, newer.outcome]).toEqual(['duplicate', 'stale-version', 'written']);
  });
});
