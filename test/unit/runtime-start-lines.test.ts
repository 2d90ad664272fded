import { describe, expect, it } from 'vitest';
import { restoredMessagesLines } from '#local/runtime.ts';

describe('Local runtime: the start-up lines for the SQS messages kept from the last stop', () => {
  it.each([
    [1, 'queue gone: its 1 message from the last stop is dropped'],
    [3, 'queue gone: its 3 messages from the last stop are dropped'],
  ])('agrees in number with %i dropped message(s)', (count, tail) => {
    // Act
    const lines = restoredMessagesLines({
      restored: { kept: count },
      dropped: { gone: count },
      expired: { old: count },
    });
    // Assess
    expect(lines).toEqual([
      `queue kept: ${count} message${count === 1 ? '' : 's'} kept from the last stop`,
      tail.replace('queue gone:', 'queue gone is no longer in the template:'),
      `queue old: ${tail.slice('queue gone: its '.length)}, sent longer ago than its retention period`,
    ]);
  });
});
